"""What makes an in-process invocation behave as if it had a Lambda sandbox of its own.

Lambda runs each invocation in its own execution environment, one invocation at a time, and
freezes the environment when the function returns or times out. Here many invocations share one
process, so each invocation runs on a thread of its own carrying a :class:`Sandbox`, and:

- a timed-out invocation cannot act. Python threads cannot be killed: once its deadline has
  passed (or the dispatcher has given up on it) the abandoned thread's AWS calls (botocore),
  HTTP requests (urllib3, http.client) and SMTP commands raise :class:`InvocationFrozen` before
  anything is sent, and its log lines are dropped (the invoker checks :attr:`Sandbox.frozen`);
- Powertools' process-wide state is kept per invocation: the Logger formatter's keys
  (``inject_lambda_context`` writes the context onto the one formatter every function shares,
  so a line could carry another function's name and memory) and the EMF metric set (shared by
  every Metrics instance by design, so one EMF blob could carry two invocations' metrics).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


class InvocationFrozen(BaseException):
    """Raised in a timed-out invocation's thread when it tries to reach anything: Lambda froze
    its sandbox at the timeout. A BaseException, so a handler's ``except Exception`` cannot
    swallow it and carry on acting."""


@dataclass(eq=False)
class Sandbox:
    """One invocation's execution environment, as seen from its thread."""

    function_name: str
    request_id: str
    deadline: float  # time.monotonic() at which Lambda stops the invocation
    enforced: bool = True  # False under --lenient: the deadline is measured, not enforced
    expired: bool = False  # set by the dispatcher when it has returned the timeout error
    refused: list[str] = field(default_factory=list)
    on_refused: Callable[[str], None] | None = None
    # Per-invocation values of Powertools attributes: (id(instance), attribute) -> value.
    scoped: dict[tuple[int, str], Any] = field(default_factory=dict)

    @property
    def frozen(self) -> bool:
        return self.expired or (self.enforced and time.monotonic() >= self.deadline)

    def check(self, action: str) -> None:
        if not self.frozen:
            return
        self.refused.append(action)
        if self.on_refused is not None:
            self.on_refused(action)
        raise InvocationFrozen(
            f"{action} refused: {self.function_name} (request {self.request_id}) timed out "
            "and Lambda froze its sandbox"
        )


_local = threading.local()
_installed: set[str] = set()
_install_lock = threading.Lock()


def current() -> Sandbox | None:
    return getattr(_local, "sandbox", None)


@contextmanager
def entered(sandbox: Sandbox | None) -> Iterator[None]:
    """Run the block as ``sandbox``'s invocation, or (None) as the platform itself: the
    runtime's own calls (log shipping, destinations) are never an invocation's."""
    previous = current()
    _local.sandbox = sandbox
    try:
        yield
    finally:
        _local.sandbox = previous


def _guard(action: str) -> None:
    sandbox = current()
    if sandbox is not None:
        sandbox.check(action)


def install_guards() -> None:
    """Refuse every outgoing call of a frozen invocation (idempotent, process-wide)."""
    with _install_lock:
        if "guards" in _installed:
            return
        import http.client
        import smtplib

        import botocore.client
        import urllib3.connectionpool

        client_call = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

        def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
            _guard(f"AWS call {self.meta.service_model.service_name}:{operation_name}")
            return client_call(self, operation_name, api_params)

        pool_urlopen = urllib3.connectionpool.HTTPConnectionPool.urlopen

        def urlopen(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            # Host and port only: a URL's path or query may carry a credential.
            _guard(f"HTTP {method} {self.scheme}://{self.host}:{self.port}")
            return pool_urlopen(self, method, url, *args, **kwargs)

        client_request = http.client.HTTPConnection.request

        def request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> None:
            _guard(f"HTTP {method} {self.host}:{self.port}")
            client_request(self, method, url, *args, **kwargs)

        smtp_connect, smtp_send = smtplib.SMTP.connect, smtplib.SMTP.send

        def connect(self: Any, host: str = "localhost", port: int = 0, *args: Any) -> Any:
            _guard(f"SMTP connect {host}:{port}")
            return smtp_connect(self, host, port, *args)

        def send(self: Any, data: Any) -> None:
            _guard("SMTP command")
            smtp_send(self, data)

        # Typed Any: these are monkeypatches of library classes, on purpose.
        client: Any = botocore.client.BaseClient
        pool: Any = urllib3.connectionpool.HTTPConnectionPool
        connection: Any = http.client.HTTPConnection
        smtp: Any = smtplib.SMTP
        client._make_api_call = _make_api_call
        pool.urlopen = urlopen
        connection.request = request
        smtp.connect, smtp.send = connect, send
        _installed.add("guards")


def _per_invocation(name: str, fresh: Callable[[Any, Any], Any]) -> property:
    """A property standing in for instance attribute ``name``: inside an invocation it reads
    and writes that invocation's own value (``fresh(instance, shared value)`` at first use);
    outside any invocation it is the instance's shared value, as before."""
    slot = f"_sluice_{name}"

    def shared(instance: Any) -> Any:
        values = instance.__dict__
        if slot not in values and name in values:  # set before the property existed
            values[slot] = values.pop(name)
        if slot not in values:
            raise AttributeError(name)
        return values[slot]

    def get(instance: Any) -> Any:
        sandbox = current()
        if sandbox is None:
            return shared(instance)
        key = (id(instance), name)
        if key not in sandbox.scoped:
            sandbox.scoped[key] = fresh(instance, instance.__dict__.get(slot))
        return sandbox.scoped[key]

    def set_(instance: Any, value: Any) -> None:
        sandbox = current()
        if sandbox is None or (slot not in instance.__dict__ and name not in instance.__dict__):
            instance.__dict__.pop(name, None)
            instance.__dict__[slot] = value  # set at creation, even inside an invocation
        if sandbox is not None:
            sandbox.scoped[(id(instance), name)] = value

    return property(get, set_)


def isolate_powertools() -> None:
    """Per-invocation Logger keys and EMF metric sets (idempotent, process-wide).

    In Lambda one process serves one invocation at a time, so Powertools keeps this state on
    shared objects; here several invocations run at once in one process."""
    with _install_lock:
        if "powertools" in _installed:
            return
        from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
            AmazonCloudWatchEMFProvider as Provider,
        )

        # The keys the formatter was created with (service, level, location...) are every
        # invocation's starting point; inject_lambda_context then adds the invocation's own.
        formatter: Any = LambdaPowertoolsFormatter
        formatter.log_format = _per_invocation("log_format", lambda f, keys: dict(keys or {}))
        provider: Any = Provider
        provider.metric_set = _per_invocation("metric_set", lambda p, _: {})
        provider.dimension_set = _per_invocation(
            "dimension_set", lambda p, _: {k: str(v) for k, v in p.default_dimensions.items()}
        )
        provider.dimension_sets = _per_invocation("dimension_sets", lambda p, _: [])
        provider.metadata_set = _per_invocation("metadata_set", lambda p, _: {})
        provider.timestamp = _per_invocation("timestamp", lambda p, _: None)
        _installed.add("powertools")
