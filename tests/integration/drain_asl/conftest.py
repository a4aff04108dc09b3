"""One deployment of template.yaml for every module of the package, reset before each test.

Messages are sent straight to the queue (the seeds' s3_details contract) and executions are
started by hand (testkit.drain), so each test controls exactly what the state machine sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice_local.emulator.invocations import InvocationStats
from sluice_local.jobs.demo import deployed
from testkit.drain import Stack, empty

ROOT = Path(__file__).resolve().parents[3]
# Uploads ("direct/*.csv") do not match the watched suffix, so only the messages a test sends
# exist; the prefix is theirs, as ProcessObject may read only keys under ObjectKeyPrefix.
# FunctionTimeout 3 s: a postponed message (PostponeMessage waits one FunctionTimeout, in real
# time) comes back within a test. A downstream request of at most 1 s then fits an invocation
# (the template's Rules refuse FunctionTimeout 3 with the default 35 s request).
OVERRIDES = {
    "ObjectKeyPrefix": "direct/",
    "ObjectKeySuffix": ".watched",
    "MaxConcurrency": "3",
    "StaggerSeconds": "1",
    "FunctionTimeout": "3",
    "DownstreamTimeoutSeconds": "1",
}


# Package-scoped: deployed once for the package's modules (when they run one after another in
# a process), and gone before a module outside it deploys (moto is one emulator per process).
@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    with deployed(ROOT / "template.yaml", OVERRIDES) as (pipeline, downstream):
        yield pipeline, downstream


@pytest.fixture
def fresh(stack: Stack) -> Iterator[Stack]:
    """The stack with its downstream, hooks and invocation counts reset, and its queues
    emptied after the test."""
    pipeline, downstream = stack
    downstream.reset()
    pipeline.dispatcher.crash_hook = None
    pipeline.dispatcher.result_hook = None
    pipeline.dispatcher.stats = InvocationStats()
    yield pipeline, downstream
    pipeline.dispatcher.crash_hook = None
    pipeline.dispatcher.result_hook = None
    downstream.configure(failure_rate=0.0)
    for queue in ("ObjectQueueUrl", "PriorityQueueUrl", "ObjectDeadLetterQueueUrl"):
        empty(pipeline, queue)
