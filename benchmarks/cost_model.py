"""Cost per million objects (S3 pipeline), per million payment events (payments pipeline) and
per million stream events (stream pipeline) at list price, from counts taken in real local runs.

    .venv/bin/python benchmarks/cost_model.py [--pipeline {objects,rows,payments,stream,all}]
        [--objects 200 --rows 10] [--events 500] [--stream-events 2000]
        [--checkpoint-rows 1 10 100 --row-objects 20 --row-rows 500]
"""

from __future__ import annotations

import argparse

# The models live in benchmarks/cost/: one module per pipeline, the prices in cost/prices.py.
from cost import objects, payments, prices, rows, stream  # benchmarks/ is on sys.path when run


def main() -> None:
    # The help is this docstring, then each model's and the prices', from their modules.
    parts = (objects, rows, payments, stream, prices)
    parser = argparse.ArgumentParser(
        description="\n".join([__doc__ or "", *(part.__doc__ or "" for part in parts)]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--pipeline", choices=("objects", "rows", "payments", "stream", "all"), default="all"
    )
    parser.add_argument("--objects", type=int, default=200, help="objects (objects pipeline)")
    parser.add_argument("--rows", type=int, default=10, help="rows per object (objects pipeline)")
    parser.add_argument(
        "--events", type=int, default=500, help="payment events to publish (payments pipeline)"
    )
    parser.add_argument(
        "--stream-events",
        type=int,
        default=2000,
        help="stream events to produce, about 1%% malformed (stream pipeline)",
    )
    parser.add_argument(
        "--checkpoint-rows",
        type=int,
        nargs="+",
        default=[1, 10, 100],
        help="CheckpointRows values, a run each (rows pipeline)",
    )
    parser.add_argument("--row-objects", type=int, default=20, help="objects (rows pipeline)")
    parser.add_argument("--row-rows", type=int, default=500, help="rows per object (rows pipeline)")
    parser.add_argument(
        "--row-latency",
        default="5-30",
        help="the modelled API's seconds a row, LOW-HIGH uniform (rows pipeline)",
    )
    parser.add_argument("--time-scale", type=float, default=0.02)
    args = parser.parse_args()
    low, _, high = args.row_latency.partition("-")
    latency = (float(low), float(high or low))

    parts = {
        "objects": lambda: objects.print_objects(
            *objects.measure(args.objects, args.rows, args.time_scale)
        ),
        "rows": lambda: rows.print_rows(
            [
                rows.measure_rows(args.row_objects, args.row_rows, args.time_scale, n)
                for n in args.checkpoint_rows
            ],
            latency,
        ),
        "payments": lambda: payments.print_payments(
            payments.measure_payments(args.events, args.time_scale)
        ),
        "stream": lambda: stream.print_stream(
            stream.measure_stream(args.stream_events, args.time_scale)
        ),
    }
    chosen = list(parts) if args.pipeline == "all" else [args.pipeline]
    for number, part in enumerate(chosen):
        if number:
            print("\n" + "-" * 76 + "\n")
        parts[part]()


if __name__ == "__main__":
    main()
