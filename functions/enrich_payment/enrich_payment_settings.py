"""EnrichPayment's settings: none of its own.

The template sets only the Powertools variables (Globals) on this function: its reference data
ships in ``reference/`` beside the code. The class exists so every function declares its
environment in one place, and the template-consistency test can hold this one to "nothing
else".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EnrichPaymentSettings:
    """No environment variables beyond Powertools'."""
