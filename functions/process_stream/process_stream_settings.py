"""ProcessStream's settings: the table it writes and how hard it retries a throttled write."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sluice_common.settings import load, setting


class StreamConfigurationError(Exception):
    """An environment variable of ProcessStream is missing or out of range."""


@dataclass(frozen=True)
class ProcessStreamSettings:
    table: str = setting("STREAM_EVENT_TABLE")  # the StreamEventTable's name (!Ref)
    # Rounds of BatchWriteItem calls, the first included, and the backoff's first ceiling:
    # literals in the template (no parameter), so a redeploy is how they change.
    write_max_attempts: int = setting("WRITE_MAX_ATTEMPTS", 5, minimum=1, maximum=10)
    write_base_delay_ms: int = setting("WRITE_BASE_DELAY_MS", 50, minimum=0, maximum=1000)


def read_settings(env: Mapping[str, str] | None = None) -> ProcessStreamSettings:
    """The settings from ``env`` (default: the process environment).

    A bad value is :class:`StreamConfigurationError` naming every variable to fix: the error
    name this function has always failed with, which its runbooks and log searches use."""
    return load(ProcessStreamSettings, env, error=StreamConfigurationError)
