"""`sam package` uploads every artifact and the Serverless Application Repository files.

The real `sam package` runs against S3 in a moto server on 127.0.0.1 (`AWS_ENDPOINT_URL`):
no account and no network. It packages template.yaml as it is (the CodeUri folders zipped as
they are) and, as publishing does, a `sam build` output (the metadata's LICENSE and README.md
paths moved by the build). That build skips the dependency install (PIP=true in the functions'
and the layer's Makefiles); test_build.py checks the real one.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from samtranslator.yaml_helper import yaml_parse  # CloudFormation short-form tags

from testkit.cfn import run_sam

ROOT = Path(__file__).resolve().parents[2]
SAR = "AWS::ServerlessRepo::Application"
# sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt (the text as the ASF publishes it).
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.+)$")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def s3(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def sam_env(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """sam's environment: moto's endpoint, dummy credentials, no ~/.aws files, no telemetry."""
    home = tmp_path_factory.mktemp("aws")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") or k in {"AWS_DEFAULT_REGION"}
    }
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        SAM_CLI_TELEMETRY="0",
    )
    return env


def _sam(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_sam(*args, env=env, timeout=300)


def _package(
    template: Path, bucket: str, out: Path, s3: Any, env: dict[str, str]
) -> dict[str, Any]:
    s3.create_bucket(Bucket=bucket)
    # samconfig.toml sets resolve_s3 (a managed bucket made through CloudFormation), which
    # cannot go with --s3-bucket: --no-resolve-s3 turns it off for this run.
    done = _sam(
        "package",
        "--template-file",
        str(template),
        "--s3-bucket",
        bucket,
        "--no-resolve-s3",
        "--output-template-file",
        str(out),
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    packaged: dict[str, Any] = yaml_parse(out.read_text())
    return packaged


@pytest.fixture(scope="module")
def source_packaged(
    s3: Any, sam_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("package") / "packaged.yaml"
    return _package(ROOT / "template.yaml", "sluice-source", out, s3, sam_env)


@pytest.fixture(scope="module")
def build_dir(sam_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("built")
    done = _sam(
        "build",
        "--template-file",
        "template.yaml",
        "--build-dir",
        str(work / "build"),
        # Its own cache: these artifacts (no dependencies) must not reach .aws-sam/cache.
        "--no-cached",
        "--cache-dir",
        str(work / "cache"),
        env={**sam_env, "PIP": "true"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work / "build"


@pytest.fixture(scope="module")
def built_packaged(s3: Any, sam_env: dict[str, str], build_dir: Path) -> dict[str, Any]:
    return _package(
        build_dir / "template.yaml", "sluice-built", build_dir.parent / "packaged.yaml", s3, sam_env
    )


@pytest.fixture(scope="module")
def sar_packaged(s3: Any, sam_env: dict[str, str], build_dir: Path) -> dict[str, Any]:
    """What is published: the SAR variant (README "Publishing") of the build, packaged."""
    variant = build_dir / "template-sar.json"
    script = ROOT / "scripts/sar_template.py"
    done = subprocess.run(
        [sys.executable, str(script), str(build_dir / "template.yaml"), str(variant)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return _package(variant, "sluice-sar", build_dir.parent / "packaged-sar.yaml", s3, sam_env)


def _location(value: Any) -> tuple[str, str]:
    """(bucket, key) of a packaged location: "s3://bucket/key" or {Bucket, Key}."""
    if isinstance(value, dict):
        return value["Bucket"], value["Key"]
    found = S3_URI.match(value)
    assert found, value
    return found["bucket"], found["key"]


def _artifacts(packaged: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Every packaged location by what it belongs to: resource ids and the SAR metadata."""
    where: dict[str, tuple[str, str]] = {}
    for logical_id, resource in packaged["Resources"].items():
        props = resource.get("Properties", {})
        prop = {
            "AWS::Serverless::Function": "CodeUri",
            "AWS::Serverless::LayerVersion": "ContentUri",
            "AWS::Serverless::StateMachine": "DefinitionUri",
        }.get(resource["Type"])
        if prop:
            where[logical_id] = _location(props[prop])
    app = packaged["Metadata"][SAR]
    where["LicenseUrl"] = _location(app["LicenseUrl"])
    where["ReadmeUrl"] = _location(app["ReadmeUrl"])
    return where


def _source_artifact_ids(flavour: str) -> set[str]:
    source = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]
    if flavour == "sar":  # the variant leaves out the payment pipeline, and only that
        source = {k: v for k, v in source.items() if "Payment" not in k}
    kinds = {
        "AWS::Serverless::Function",
        "AWS::Serverless::LayerVersion",
        "AWS::Serverless::StateMachine",
    }
    return {k for k, v in source.items() if v["Type"] in kinds} | {"LicenseUrl", "ReadmeUrl"}


def _body(s3: Any, location: tuple[str, str]) -> bytes:
    body: bytes = s3.get_object(Bucket=location[0], Key=location[1])["Body"].read()
    return body


def _zip_names(s3: Any, location: tuple[str, str]) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(_body(s3, location))) as archive:
        return set(archive.namelist())


def test_license_is_the_apache_2_text_verbatim() -> None:
    assert hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_SHA256
    app = yaml_parse((ROOT / "template.yaml").read_text())["Metadata"][SAR]
    assert app["SpdxLicenseId"] == "Apache-2.0"
    assert (ROOT / app["LicenseUrl"]).is_file()
    assert (ROOT / app["ReadmeUrl"]).is_file()


@pytest.mark.parametrize("flavour", ["source", "built", "sar"])
def test_every_artifact_is_uploaded_to_the_bucket(
    flavour: str, request: pytest.FixtureRequest, s3: Any
) -> None:
    packaged = request.getfixturevalue(f"{flavour}_packaged")
    bucket = f"sluice-{flavour}"
    where = _artifacts(packaged)
    assert set(where) == _source_artifact_ids(flavour)
    assert {b for b, _ in where.values()} == {bucket}
    stored = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert {key for _, key in where.values()} <= stored
    assert _body(s3, where["LicenseUrl"]) == (ROOT / "LICENSE").read_bytes()
    readme = _body(s3, where["ReadmeUrl"]).decode()
    assert readme.splitlines()[0] == (ROOT / "README.md").read_text().splitlines()[0]


@pytest.mark.parametrize("flavour", ["source", "built", "sar"])
def test_function_and_layer_zips_hold_the_code(
    flavour: str, request: pytest.FixtureRequest, s3: Any
) -> None:
    packaged = request.getfixturevalue(f"{flavour}_packaged")
    where = _artifacts(packaged)
    for logical_id, resource in packaged["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            module = resource["Properties"]["Handler"].rsplit(".", 1)[0]
            assert f"{module}.py" in _zip_names(s3, where[logical_id]), logical_id
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            assert "python/sluice_common/__init__.py" in _zip_names(s3, where[logical_id])


def test_built_artifacts_are_what_the_makefiles_produce(
    built_packaged: dict[str, Any], s3: Any
) -> None:
    """Publish from `sam build`: packaging template.yaml itself ships the Makefiles and
    requirements.txt instead of the dependencies they install."""
    where = _artifacts(built_packaged)
    for logical_id, resource in built_packaged["Resources"].items():
        if resource["Type"] in {"AWS::Serverless::Function", "AWS::Serverless::LayerVersion"}:
            names = _zip_names(s3, where[logical_id])
            assert not names & {"Makefile", "requirements.txt"}, logical_id


# What the Serverless Application Repository's CreateApplication accepts (API reference, also in
# botocore's serverlessrepo model): `sam package` checks none of it, `sam publish` is refused.
SAR_LIMITS: dict[str, Any] = {
    "Name": re.compile(r"[a-zA-Z0-9\-]{1,140}"),
    "Description": re.compile(r".{1,256}", re.DOTALL),
    "Author": re.compile(r"(?=.{1,127}$)[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?"),
    "SemanticVersion": re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"),
}


@pytest.mark.parametrize("field", list(SAR_LIMITS))
def test_serverless_repo_metadata_fits_what_publish_accepts(field: str) -> None:
    app = yaml_parse((ROOT / "template.yaml").read_text())["Metadata"][SAR]
    assert SAR_LIMITS[field].fullmatch(app[field]), f"{field}: {app[field]!r}"


def test_serverless_repo_labels_and_files_fit_what_publish_accepts() -> None:
    app = yaml_parse((ROOT / "template.yaml").read_text())["Metadata"][SAR]
    assert 1 <= len(app["Labels"]) <= 10
    for label in app["Labels"]:
        assert re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", label), label
    for prop in ("LicenseUrl", "ReadmeUrl"):
        assert (ROOT / app[prop]).stat().st_size <= 5 * 1024 * 1024, prop


def test_parameter_descriptions_fit_what_publish_accepts() -> None:
    # SAR shows each parameter's Description (ParameterDefinition: up to 4,000 characters).
    parameters = yaml_parse((ROOT / "template.yaml").read_text())["Parameters"]
    for name, spec in parameters.items():
        assert 1 <= len(spec.get("Description", "")) <= 4000, name
