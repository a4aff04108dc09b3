"""The fault-injection run at full size: every object and row accounted for under faults.

    .venv/bin/python benchmarks/fault_injection.py [--objects 300 --rows 10]

30% of downstream calls answer 429/500/503 and 2% time out, ProcessObject dies mid-object (one
object in five once, one object every time), poison messages arrive, and objects are deleted
(every version) before they are processed. Prints the accounting (sluice_local/jobs/chaos.py);
tests/e2e/test_faults.py runs the same scenario small and asserts it. Asserts nothing.
"""

from __future__ import annotations

import argparse

from local_runs import ROOT  # benchmarks/ is on sys.path when run

from sluice_local.jobs.chaos import run_chaos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--deleted", type=int, default=10)
    args = parser.parse_args()
    report = run_chaos(
        ROOT, objects=args.objects, rows=args.rows, deleted=args.deleted, timeout=3600
    )
    print(report.table())
    print(f"  {'every object and row accounted for':<40} {'yes' if report.ok else 'NO'}")


if __name__ == "__main__":
    main()
