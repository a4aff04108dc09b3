"""Shared Sluice runtime code, deployed as the CommonLayer (/opt/python in Lambda)."""
