"""ProcessObject handler: parse the event, process the object, shape the summary.

The drain passes ``start_by`` (epoch seconds, the end of its round for starting work): the
invocation starts attempts until then, each only if its worst case fits Lambda's deadline, and
returns ``"unfinished": true`` with its checkpoint saved when the object is not done (see
object_budget and object_processor). An invocation with no time for even one request returns at
once, before touching S3 or the downstream, marked ``"postponed": true`` (all counts 0), and the
drain puts the message back. An unfinished summary is marked postponed too, which is what a
drain from before resumable processing understands. The clients and policies it hands the domain
are built in object_wiring, from ProcessObjectSettings.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from downstream import Downstream
from object_budget import budget_for
from object_processor import process_object
from object_report import postponed, report
from object_wiring import ObjectWiring
from process_object_settings import ProcessObjectSettings
from sluice_common.errors import SluiceError
from sluice_common.events import parse_object_ref
from sluice_common.observability import bind_correlation, logger, metrics, tracer
from sluice_common.settings import load


# One per container: settings, clients and the HTTP pool are reused across invocations.
@cache
def wiring() -> ObjectWiring:
    return ObjectWiring(load(ProcessObjectSettings))


def s3_client() -> Any:
    return wiring().s3


def downstream() -> Downstream:
    return wiring().downstream


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    correlation = event.get("correlation") if isinstance(event, dict) else None
    correlation = correlation if isinstance(correlation, dict) else {}
    try:
        ref = parse_object_ref(event)
        bind_correlation(
            bucket=ref.bucket,
            key=ref.key,
            message_id=correlation.get("message_id"),
            execution=correlation.get("execution"),
        )
        api = downstream()
        budget = budget_for(event, context, api.request_timeout_s)
        if budget is None:
            return postponed(ref, event)
        wired = wiring()
        summary = process_object(
            s3_client(),
            api,
            ref,
            wired.policy,
            store=wired.checkpoint_store(context.aws_request_id),
            budget=budget,
            checkpoints=wired.checkpoints,
            legacy=wired.legacy,
            correlation_id=correlation.get("message_id") or context.aws_request_id,
            auth_token=wired.auth_token(),
            limits=wired.csv_limits,
            key_prefix=wired.key_prefix,
        )
    except SluiceError as exc:
        metrics.add_metric(name="ObjectsFailed", unit=MetricUnit.Count, value=1)
        logger.warning(
            "object not processed", extra={"error": type(exc).__name__, "reason": str(exc)}
        )
        raise
    report(summary)
    # An unfinished object is also "postponed": a drain from before resumable processing reads
    # that as "put the message back", and the object carries on from its checkpoint.
    return {**summary.to_dict(), "postponed": summary.unfinished}
