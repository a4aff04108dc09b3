"""ValidatePayment's settings: none of its own.

The template sets only the Powertools variables (Globals) on this function; the class exists
so every function declares its environment in one place, and the template-consistency test
can hold this one to "nothing else".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ValidatePaymentSettings:
    """No environment variables beyond Powertools'."""
