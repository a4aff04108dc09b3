"""ProcessPayment's settings: the fee rate, from the template's PaymentFeeBasisPoints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from payment_processing import FeeConfigurationError
from sluice_common.payments import MAX_FEE_BASIS_POINTS
from sluice_common.settings import load, setting


@dataclass(frozen=True)
class ProcessPaymentSettings:
    # Basis points of the amount (140 = 1.40 %); the template's Default when unset.
    fee_basis_points: int = setting(
        "PAYMENT_FEE_BASIS_POINTS",
        140,
        parameter="PaymentFeeBasisPoints",
        minimum=0,
        maximum=MAX_FEE_BASIS_POINTS,
    )


def read_settings(env: Mapping[str, str] | None = None) -> ProcessPaymentSettings:
    """The settings from ``env`` (default: the process environment).

    A bad value is :class:`~payment_processing.FeeConfigurationError`, not SettingsError: the
    workflow's Catch matches that name to keep the event for redelivery once the rate is fixed.
    """
    return load(ProcessPaymentSettings, env, error=FeeConfigurationError)
