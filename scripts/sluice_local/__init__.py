"""Sluice local runtime: deploys template.yaml into the embedded AWS emulator (moto)."""
