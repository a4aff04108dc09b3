"""What `sluice-local` runs against a deployed pipeline: the demo, payments and stream jobs, the
chaos run, `up`, and the run report they write; with the sample data they feed in."""
