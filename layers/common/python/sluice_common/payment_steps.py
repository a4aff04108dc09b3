"""What every payment step's handler does around its own work, written once.

ValidatePayment, ProcessPayment and EnrichPayment each handle one payment per invocation:
their log lines carry the SQS message id (and, once it is known, the transaction id); a payment
the step refuses (:class:`~sluice_common.errors.InvalidPayment`) is counted as
``PaymentsRejected``, logged with its reason and raised, so the workflow dead-letters it with
the message as the reason; a payment the step passes is counted under the step's own metric
and logged with the fields an operator filters on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_common.errors import InvalidPayment
from sluice_common.observability import bind_correlation, logger, metrics, tracer
from sluice_common.payments import message_id_in

StepHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

REJECTED_METRIC = "PaymentsRejected"


def payment_step(work: StepHandler) -> StepHandler:
    """``work`` (a step's handler body) as the step's Lambda handler: Powertools' context,
    tracing (no response or exception copied into X-Ray: they hold the payment) and metrics,
    the message id on every log line, and a rejection counted, logged and raised."""

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False, capture_error=False)
    @metrics.log_metrics
    @functools.wraps(work)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        bind_correlation(message_id=message_id_in(event))
        try:
            return work(event, context)
        except InvalidPayment as exc:
            metrics.add_metric(name=REJECTED_METRIC, unit=MetricUnit.Count, value=1)
            logger.warning(
                "payment rejected", extra={"error": type(exc).__name__, "reason": str(exc)}
            )
            raise

    return handler


def bind_transaction(payment: Mapping[str, Any]) -> None:
    """Every later log line of this invocation carries the payment's transaction id."""
    logger.thread_safe_append_keys(transaction_id=payment["transactionId"])


def passed(
    payment: Mapping[str, Any], metric: str, message: str, logged: Mapping[str, str]
) -> None:
    """The step passed ``payment``: count it under ``metric`` and log ``message`` with the
    transaction id and ``logged`` (log key -> payment field), what an operator filters on."""
    bind_transaction(payment)
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    logger.info(message, extra={key: payment[field] for key, field in logged.items()})
