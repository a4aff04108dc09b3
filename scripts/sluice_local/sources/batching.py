"""What the polling event sources share (a pipe's SQS source, a Kinesis event source mapping):
how many records a batch holds at most, and how long the poller waits to fill one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sluice_local.emulator import timescale


@dataclass(frozen=True, kw_only=True)
class BatchingConfig:
    logical_id: str
    batch_size: int  # BatchSize
    batching_window_s: float  # MaximumBatchingWindowInSeconds, in AWS seconds
    region: str

    @staticmethod
    def batching(props: Mapping[str, Any], default_size: int) -> dict[str, Any]:
        """BatchSize (the source's default when absent) and MaximumBatchingWindowInSeconds."""
        return {
            "batch_size": int(props.get("BatchSize", default_size)),
            "batching_window_s": float(props.get("MaximumBatchingWindowInSeconds", 0)),
        }

    def window_s(self) -> float:
        """The batching window in the emulator's time: time-scaled, read when used."""
        return self.batching_window_s * timescale.current_scale()
