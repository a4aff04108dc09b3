"""`sluice-local up`: template.yaml deployed into the embedded AWS emulator and served on
127.0.0.1 until Ctrl-C or SIGTERM, so the AWS CLI, boto3 and `sluice` work against it from other
processes as they work against AWS, the endpoint aside.

    sluice-local up                       # http://127.0.0.1:4566, stack "sluice"
    export AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_ACCESS_KEY_ID=testing ...
    aws s3 ls && sluice monitor

One process, one state: moto's server application (the one ``moto_server`` and
``ThreadedMotoServer`` run) answers on the endpoint from the same in-memory backends the runtime
deployed into. Everything the runtime adds lives at that level (handlers run in-process by
moto's Lambda, S3 -> EventBridge -> SQS deliveries and their IAM checks, the emulator fixes, the
time scale), so it applies to requests from other processes as to the runtime's own. Schedules
keep firing, pipes and stream mappings keep polling, and the local downstream keeps answering.

Requests that reach the endpoint are the operator's: like an account's root credentials, no
policy is checked for them (the runtime checks what the pipeline's own roles and services do).
There is no authentication either, which is why it never listens beyond the loopback interface.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.job import (
    IAM_REFUSED,
    downstream_api,
    job_inputs,
    job_pipeline,
    opening,
    substitution_notes,
    time_scale_line,
)
from sluice_local.jobs.report import refused_calls, write_report
from sluice_local.servers.downstream import Latency
from sluice_local.servers.http import ServedThread

HOST = "127.0.0.1"  # no authentication on the endpoint: loopback only, never an option
DEFAULT_PORT = 4566  # the port local AWS endpoints conventionally use
DEFAULT_STACK = "sluice"  # samconfig.toml's stack_name: README commands stay as on AWS
REGION = "us-east-1"
# What other processes need, besides the endpoint: moto accepts any signature; these match
# the account (123456789012) and region the stack is deployed in.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# After Ctrl-C: how long invocations in flight get to return before the emulator goes.
STOP_GRACE_SECONDS = 10.0


class UpError(Exception):
    """Bad input or an unusable port: `sluice-local up: error: <message>`, exit status 2."""


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: a free one), bound before anything is
    deployed so a taken port fails at once, with a message rather than werkzeug's exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # As http.server does: a port left in TIME_WAIT by the last run is free to reuse.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise UpError(
                f"port {port} on {HOST} is in use (another `sluice-local up`, or another local "
                "AWS endpoint?); stop it, or pass --port 0 to take a free port"
            ) from None
        raise UpError(f"cannot listen on {HOST}:{port}: {error.strerror}") from None
    return sock


class LocalEndpoint(ServedThread):
    """moto's server application on a bound socket, served from a thread of its own."""

    thread_name = "sluice-endpoint"
    poll_interval = 0.1
    stop_timeout = 10.0

    def __init__(self, sock: socket.socket) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        self.port = int(sock.getsockname()[1])
        super().__init__(
            make_server(
                HOST,
                self.port,
                DomainDispatcherApplication(create_backend_app),
                threaded=True,  # a long poll must not hold up other callers
                request_handler=MotoRequestHandler,
                fd=sock.fileno(),  # werkzeug duplicates it; the caller closes its own
            )
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def environment(endpoint_url: str) -> dict[str, str]:
    """What a shell exports to reach the endpoint (boto3 and the AWS CLI read each)."""
    return {"AWS_ENDPOINT_URL": endpoint_url, **CREDENTIALS, "AWS_DEFAULT_REGION": REGION}


def serve(args: Any, stop: threading.Event, hurry: threading.Event, out: TextIO) -> int:
    """Deploy, serve until ``stop`` is set, then stop cleanly (``hurry``: without waiting for
    invocations in flight)."""
    from sluice_local.jobs.demo import describe_latency

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)  # a pipe reader waits for `ready` line by line

    template, overrides, report_path = job_inputs(args)
    latency: Latency = args.downstream_latency
    log_dir = Path(args.log_dir)
    # werkzeug logs every request at INFO: an operator's `sluice monitor` would flood the screen.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    sock = bind(args.port)
    try:
        endpoint = LocalEndpoint(sock)
    finally:
        sock.close()
    try:
        with downstream_api(latency, args.time_scale, overrides) as downstream:
            opening(say, "Sluice local", template, overrides)
            what = "Wait states, retries, long polls (yours too) and schedules"
            say(time_scale_line(args.time_scale, what))
            local_downstream = overrides["DownstreamApiUrl"] == downstream.url
            if local_downstream:
                say(
                    f"  downstream API: {downstream.url} (local server, real HTTP),"
                    f" {describe_latency(latency.setting(), args.time_scale)};"
                    f" its counts: GET {downstream.url.removesuffix('/rows')}/stats"
                )
            say(f"  function logs: {log_dir}/<LogicalId>.log, and in CloudWatch Logs")
            with job_pipeline(
                args,
                template,
                overrides,
                say,
                stack_name=args.stack_name,
                region=REGION,
                lambda_metrics=True,  # what `sluice monitor` reads, as on AWS
            ) as pipeline:
                substitution_notes(say, pipeline)
                pipeline.start_schedules(fire_now=True)
                endpoint.start()
                try:
                    _announce(say, endpoint.url, pipeline)
                    while not stop.wait(0.2):
                        pass
                    say("stopping: no new requests, schedules, pipes or stream mappings")
                finally:
                    endpoint.stop()
                    in_flight = sum(pipeline.dispatcher.stats.in_flight.values())
                    if in_flight and not hurry.is_set():
                        say(
                            f"  waiting up to {STOP_GRACE_SECONDS:g} s for {in_flight}"
                            " invocation(s) in flight (Ctrl-C again: stop now)"
                        )
                    if abandoned := pipeline.quiesce(STOP_GRACE_SECONDS, hurry):
                        say(f"  {abandoned} invocation or execution thread(s) abandoned")
                        # They may still act once the emulator is gone and fail noisily; the
                        # process ends in a moment, and their errors are no one's to read.
                        threading.excepthook = lambda _: None
                    write_report(
                        pipeline,
                        report_path,
                        job="up",
                        summary={"stack": pipeline.stack_name, "endpoint": endpoint.url},
                        downstream_latency=latency.setting() if local_downstream else None,
                    )
    finally:
        endpoint.stop()  # idempotent; a failed deployment never started it
    say(f"  report: {report_path}")
    if refused := refused_calls(report_path):
        say(f"  {IAM_REFUSED.format(refused=refused)}")
    say("stopped")
    return 0


def _announce(say: Callable[[str], None], url: str, pipeline: LocalPipeline) -> None:
    """The lines other processes and people read, `ready` last (the contract of `up`)."""
    say(f"Endpoint: {url}")
    say(f"Stack: {pipeline.stack_name}")
    say(f"Region: {pipeline.region}")
    say("Outputs:")
    for key, value in pipeline.outputs.items():
        say(f"  {key}: {value}")
    say("Use it from another shell (the AWS CLI, boto3 and sluice read these):")
    say("  export " + " ".join(f"{k}={v}" for k, v in environment(url).items()))
    say(f"  aws s3 ls && sluice monitor --stack-name {pipeline.stack_name}")
    say("Operator calls to the endpoint are not checked against IAM (as root's would not be).")
    say("Ctrl-C or SIGTERM stops it.")
    say("ready")


def main(args: Any, out: TextIO | None = None) -> int:
    """`sluice-local up`, with SIGINT and SIGTERM stopping it cleanly (exit status 0); a
    second signal stops it without waiting for invocations in flight."""
    import signal

    out = out or sys.stdout
    stop, hurry = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        (hurry if stop.is_set() else stop).set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return serve(args, stop, hurry, out)
    except UpError as error:
        print(f"sluice-local up: error: {error}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
