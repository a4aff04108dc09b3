"""The large object `large_object.py` measures: rows of ROW_BYTES bytes, 10 M of them the
issue's 1 GB."""

from __future__ import annotations

import random

KEY = "incoming/large/object.csv"  # the bucket's notification filters on ".csv", gzip or not
HEADER = b"id,customer,amount,note\n"
ROW_BYTES = 100  # so that 10 M rows is the 1 GB
TARGET_BYTES = 1024**3
TARGET_ROWS = 10_000_000


def make_csv(rows: int, seed: int) -> bytes:
    """``rows`` rows of ROW_BYTES each (the note padded), random enough that gzip's ratio stays
    realistic (about 3x here), under the template's GzipMaxRatio."""
    rng = random.Random(seed)
    lines = [HEADER]
    for row in range(1, rows + 1):
        start = f"{row},customer {rng.randint(1, 99999)},{rng.randint(0, 10**6) / 100:.2f},"
        note = rng.randbytes((ROW_BYTES - len(start) - 1) // 2).hex()
        line = (start + note).ljust(ROW_BYTES - 1, "x") + "\n"
        lines.append(line.encode())
    return b"".join(lines)
