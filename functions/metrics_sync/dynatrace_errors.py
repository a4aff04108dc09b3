"""The sync's errors. Their class names are what the logs and the on-failure destination show:
keep them stable."""

from __future__ import annotations


class DynatraceError(Exception):
    """The sync could not deliver its metrics to Dynatrace."""


class DynatraceConfigError(DynatraceError):
    """A setting (URL, token, window) cannot work; fix the configuration."""


class DynatraceAuthError(DynatraceError):
    """Dynatrace refused the token (401/403)."""


class DynatraceUnavailable(DynatraceError):
    """429/5xx or no connection, still so after every retry."""
