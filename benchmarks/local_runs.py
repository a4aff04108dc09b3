"""What the benchmarks that deploy the template share: the deployment (samconfig.toml's local
overrides, what `make demo` deploys with), its log folder, a percentile and the command line of
a throughput run."""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.emulator.template import samconfig_overrides

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = ROOT / ".demo" / "bench-logs"


def local_overrides(**extra: str) -> dict[str, str]:
    """samconfig.toml's local overrides, then ``extra``."""
    overrides = samconfig_overrides(ROOT / "samconfig.toml", "local")
    overrides.update(extra)
    return overrides


def local_pipeline(time_scale: float, **extra: str) -> LocalPipeline:
    """The shipped template on the local runtime, with the local overrides and ``extra``."""
    return LocalPipeline(
        ROOT / "template.yaml", local_overrides(**extra), time_scale=time_scale, log_dir=LOG_DIR
    )


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)] if ordered else 0.0


def throughput_args(
    doc: str | None, events: int, events_help: str, time_scale: float
) -> argparse.Namespace:
    """--events and --time-scale, for a run per batch size. Each deployment translates the
    template anew; the SAM translator's metrics object of the previous one warns when collected
    ("There are unpublished metrics"): noise here, silenced."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=events, help=events_help)
    parser.add_argument("--time-scale", type=float, default=time_scale)
    args = parser.parse_args()
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    return args
