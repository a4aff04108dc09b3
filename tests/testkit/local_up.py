"""`sluice-local up` in a subprocess, for e2e tests that act on it from outside, as an operator
in another shell does: boto3 clients on its endpoint, `sluice` commands with its environment.

    with local_up(tmp_path, "--parameter-overrides", "MaxConcurrency=3") as up:
        up.client("s3").put_object(Bucket=up.outputs["BucketName"], Key=..., Body=...)
        subprocess.run(["sluice", "monitor", "--once", "--json"], env=up.env, ...)
        assert up.stop() == 0

For a module-scoped fixture, ``tmp_path_factory.mktemp("up")`` gives the folder. Leaving the
block stops the process (SIGTERM, then SIGKILL) if the test did not.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 90.0  # deployment takes ~5 s; a loaded CI machine, longer


class LocalUpFailed(AssertionError):
    """`sluice-local up` exited or stayed silent before saying `ready`."""


@dataclass
class LocalUp:
    process: subprocess.Popen[str]
    endpoint: str
    stack_name: str
    outputs: dict[str, str]
    env: dict[str, str]  # os.environ with the lines `up` printed to export applied
    downstream_stats_url: str | None
    lines: list[str] = field(default_factory=list)  # all it printed so far (a reader appends)
    reader: threading.Thread | None = None

    def client(self, service: str) -> Any:
        """A boto3 client on the endpoint, configured explicitly (no environment needed)."""
        import boto3

        make_client: Any = boto3.session.Session().client  # any service name
        return make_client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.env["AWS_DEFAULT_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )

    def downstream_stats(self) -> dict[str, Any]:
        """The local downstream's counts (requests, accepted, in_flight, peak_in_flight...)."""
        assert self.downstream_stats_url, "this stack's DownstreamApiUrl is not the local server"
        with urllib.request.urlopen(self.downstream_stats_url, timeout=5) as response:
            stats: dict[str, Any] = json.loads(response.read())
        return stats

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, as a service manager stops it; its exit status (``lines`` then complete)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        if self.reader is not None:
            self.reader.join(timeout=10)
        return code


def _parse(lines: list[str]) -> tuple[str, str, dict[str, str], dict[str, str], str | None]:
    endpoint = stack = ""
    outputs: dict[str, str] = {}
    exported: dict[str, str] = {}
    stats_url = None
    in_outputs = False
    for line in lines:
        if line.startswith("Endpoint: "):
            endpoint = line.removeprefix("Endpoint: ")
        elif line.startswith("Stack: "):
            stack = line.removeprefix("Stack: ")
        elif line == "Outputs:":
            in_outputs = True
            continue
        elif line.strip().startswith("export "):
            pairs = line.strip().removeprefix("export ").split()
            exported = dict(pair.split("=", 1) for pair in pairs)
        elif "its counts: GET " in line:
            stats_url = line.rsplit("GET ", 1)[1].strip()
        if in_outputs:
            if line.startswith("  ") and ": " in line:
                key, value = line.strip().split(": ", 1)
                outputs[key] = value
            else:
                in_outputs = False
    return endpoint, stack, outputs, exported, stats_url


@contextmanager
def local_up(
    workdir: Path,
    *args: str,
    environment: Mapping[str, str] | None = None,
    ready_timeout: float = READY_TIMEOUT_S,
) -> Iterator[LocalUp]:
    """Start `sluice-local up --port 0` on the project's template (extra ``args`` appended),
    wait for `ready`, yield it; stop it on the way out whatever happened. It starts with this
    process's environment without AWS_ENDPOINT_URL*, plus ``environment``; ``LocalUp.env`` is
    this process's environment with the lines `up` printed to export applied."""
    command = [
        sys.executable,
        "-m",
        "sluice_local.cli",
        "up",
        "--port",
        "0",
        "--template",
        str(ROOT / "template.yaml"),
        "--log-dir",
        str(workdir / "logs"),
        "--report",
        str(workdir / "report.json"),
        *args,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    # At a lower priority (nice execs the command, so the pid stays up's): on two cores, the
    # other test worker's timed runs (Lambda timeouts are real seconds) must not starve.
    nice = shutil.which("nice")
    process = subprocess.Popen(
        [nice, "-n", "10", *command] if nice else command,
        cwd=ROOT,
        env={**env, **(environment or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: list[str] = []
    arrived: queue.Queue[str | None] = queue.Queue()

    def read() -> None:  # drains the pipe for the process's whole life: it never blocks
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            arrived.put(line)
        arrived.put(None)

    reader = threading.Thread(target=read, name="sluice-local-up-output", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                line = arrived.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise LocalUpFailed(
                    f"no `ready` after {ready_timeout:g} s:\n" + "\n".join(lines)
                ) from None
            if line is None:
                process.wait(timeout=10)
                raise LocalUpFailed(
                    f"exited with status {process.returncode} before `ready`:\n" + "\n".join(lines)
                )
            if line == "ready":
                break
        endpoint, stack, outputs, exported, stats_url = _parse(lines)
        yield LocalUp(
            process=process,
            endpoint=endpoint,
            stack_name=stack,
            outputs=outputs,
            env={**env, **exported},
            downstream_stats_url=stats_url,
            lines=lines,
            reader=reader,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        reader.join(timeout=10)
