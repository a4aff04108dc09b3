"""The cost models `benchmarks/cost_model.py` runs: one module per pipeline (objects, rows,
payments, stream), the list prices (prices), how AWS counts billable units (units), the botocore
hooks that count a run's billed calls (meters) and what the models share (measured)."""
