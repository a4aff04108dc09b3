"""What a `sluice doctor` check reports, and how the checks read a refused AWS call."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
ACCESS_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    action: str = ""  # what to do, for warn and fail


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def refused(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    operation = getattr(exc, "operation_name", "the call")
    return f"{operation} refused: {error.get('Code')}: {error.get('Message')}"


def unavailable(exc: Exception, emulated: bool) -> bool:
    """The endpoint does not offer the API (an emulator): report "not checked", not a failure.
    On AWS every API here exists, so a refusal there is a real answer."""
    return emulated and error_code(exc) not in ACCESS_DENIED
