"""Stand-ins for time that tests in several folders share: a recording sleep and a clock that
moves only when told."""

from __future__ import annotations


class Sleeps(list[float]):
    """A sleep() that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class FakeClock:
    """Epoch seconds that move only when told (a Budget's clock)."""

    def __init__(self, start: float = 2_000_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
