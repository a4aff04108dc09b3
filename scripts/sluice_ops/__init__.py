"""Operator tools for a deployed Sluice stack (they also work against the local runtime)."""
