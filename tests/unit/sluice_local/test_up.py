"""`sluice-local up`'s parts that need no deployment: its options, its port, and the endpoint
serving the very backends the in-process emulator (mock_aws) holds."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from sluice_local.cli import main
from sluice_local.jobs.up import HOST, LocalEndpoint, UpError, bind, environment
from sluice_local.servers.downstream import DownstreamServer

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def taken_port() -> Iterator[int]:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind((HOST, 0))
    holder.listen(1)
    try:
        yield int(holder.getsockname()[1])
    finally:
        holder.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "argument --port: port must be a number from 0 to 65535, got 70000"),
        (["--port", "http"], "argument --port: port must be a number from 0 to 65535, got 'http'"),
        (["--stack-name", "9lives"], "'9lives' is not a valid stack name"),
        (["--stack-name", "a_b"], "'a_b' is not a valid stack name"),
        (["--stack-name", "a" * 129], "at most 128 characters"),
        (["--time-scale", "0"], "argument --time-scale: time scale must be in (0, 1], got 0"),
        (["--time-scale", "fast"], "time scale must be a number in (0, 1], got 'fast'"),
    ],
)
def test_bad_options_are_refused_before_anything_starts(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["up", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_taken_port_is_refused_with_the_way_out(
    taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["up", "--template", str(ROOT / "template.yaml"), "--port", str(taken_port)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"sluice-local up: error: port {taken_port} on 127.0.0.1 is in use" in err
    assert "--port 0" in err


def test_port_zero_takes_a_free_port_on_loopback_only() -> None:
    sock = bind(0)
    try:
        host, port = sock.getsockname()[:2]
        assert host == "127.0.0.1"
        assert port > 0
        with pytest.raises(UpError, match=f"port {port} on 127.0.0.1 is in use"):
            bind(port).close()
    finally:
        sock.close()


def test_the_environment_to_export_names_the_endpoint_account_keys_and_region() -> None:
    assert environment("http://127.0.0.1:4566") == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_the_endpoint_serves_the_in_process_emulators_state_both_ways() -> None:
    """What the runtime deploys in-process is what other processes see, and what they do
    there the runtime sees: one set of backends."""
    with mock_aws():
        endpoint = LocalEndpoint(bind(0))
        endpoint.start()
        try:
            inside = boto3.client("s3", region_name="us-east-1")
            outside = boto3.client(
                "s3",
                endpoint_url=endpoint.url,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            inside.create_bucket(Bucket="made-inside")
            outside.put_object(Bucket="made-inside", Key="from outside.csv", Body=b"a,b\n")
            assert [o["Key"] for o in inside.list_objects_v2(Bucket="made-inside")["Contents"]] == [
                "from outside.csv"
            ]
            assert "made-inside" in [b["Name"] for b in outside.list_buckets()["Buckets"]]
        finally:
            endpoint.stop()
    with pytest.raises(OSError):  # stopped: nothing listens there any more
        socket.create_connection((HOST, endpoint.port), timeout=2).close()


def test_the_downstream_answers_its_counts_to_other_processes() -> None:
    with DownstreamServer() as downstream:
        for key in ("a", "a", "b"):
            request = urllib.request.Request(
                downstream.url,
                data=json.dumps({"row": key}).encode(),
                headers={"Idempotency-Key": key, "Content-Type": "application/json"},
                method="POST",
            )
            urllib.request.urlopen(request, timeout=5).close()
        base = downstream.url.removesuffix("/rows")
        with urllib.request.urlopen(f"{base}/stats", timeout=5) as response:
            stats = json.loads(response.read())
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/elsewhere", timeout=5)
        missing.value.close()
    assert stats == {
        "requests": 3,
        "accepted": 3,
        "failed": 0,
        "in_flight": 0,
        "peak_in_flight": 1,
        "duplicate_keys": 1,
    }
    assert missing.value.code == 404
    assert len(downstream.requests) == 3  # reading the counts is not a request it records
