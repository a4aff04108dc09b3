"""The Serverless Application Repository accepts what Sluice publishes.

SAR refuses a template, whatever its Conditions, if any resource type in it is off its list of
supported resources (sar_supported_resources.json: the list, its source and the date it was
read). template.yaml has one such type, AWS::Pipes::Pipe (PaymentPipe, the optional payment
pipeline): Sluice publishes scripts/sar_template.py's variant, template.yaml without the payment
pipeline. These tests check both with every optional part on, as SAM translates them.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_optional_parts import ALL_ON  # the parts and their parameters, defined once

from sluice_local.emulator.template import load_and_translate
from testkit.cfn import lint_template

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from sar_template import VARIANT_PHRASE, VariantError, sar_variant  # noqa: E402

SUPPORTED = json.loads((Path(__file__).parent / "sar_supported_resources.json").read_text())
LISTED = set(SUPPORTED["types"])
# The documented exception: off the list, and only in what the published variant leaves out.
EXCEPTION = {"AWS::Pipes::Pipe": {"PaymentPipe"}}
SAR = "AWS::ServerlessRepo::Application"


def _types(template: dict[str, Any]) -> dict[str, set[str]]:
    """resource type -> logical ids."""
    found: dict[str, set[str]] = {}
    for logical_id, resource in template["Resources"].items():
        found.setdefault(resource["Type"], set()).add(logical_id)
    return found


def _unlisted(template: dict[str, Any]) -> dict[str, set[str]]:
    return {t: ids for t, ids in _types(template).items() if t not in LISTED}


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse((ROOT / "template.yaml").read_text())
    return parsed


@pytest.fixture(scope="module")
def variant_path(source: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Beside copies of what it names, as publishing writes it beside the built template.
    work = tmp_path_factory.mktemp("sar")
    for name in ("functions", "layers", "statemachine", "LICENSE", "README.md"):
        if (ROOT / name).exists():
            (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, work / name)
    path = work / "template-sar.json"
    path.write_text(json.dumps(sar_variant(source)))
    return path


@pytest.fixture(scope="module")
def variant(variant_path: Path) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(variant_path.read_text())
    return parsed


def _all_on(template: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in ALL_ON.items() if k in template["Parameters"]}


def test_the_list_is_data_with_its_source_and_date() -> None:
    assert SUPPORTED["source"].startswith("https://docs.aws.amazon.com/serverlessrepo/")
    assert SUPPORTED["read_on"] and SUPPORTED["types"] == sorted(LISTED)
    assert all(t.count("::") == 2 for t in LISTED)
    assert set(SUPPORTED["not_supported"]) == set(EXCEPTION)
    assert not LISTED & set(EXCEPTION)


def test_template_yaml_is_off_the_list_only_by_the_documented_exception(
    source: dict[str, Any],
) -> None:
    translated = load_and_translate(ROOT / "template.yaml", ALL_ON).cloudformation
    assert _unlisted(source) == EXCEPTION  # as published: SAM types and all
    assert _unlisted(translated) == EXCEPTION  # as deployed: what SAM makes of them


def test_every_type_in_the_published_variant_is_on_the_list(
    variant: dict[str, Any], variant_path: Path
) -> None:
    assert _unlisted(variant) == {}
    translated = load_and_translate(variant_path, _all_on(variant)).cloudformation
    assert _unlisted(translated) == {}
    assert "AWS::Serverless::Function" in _types(variant)  # the check saw the SAM template


def test_the_variant_leaves_out_the_payment_pipeline_and_nothing_else(
    source: dict[str, Any], variant: dict[str, Any]
) -> None:
    dropped = set(source["Resources"]) - set(variant["Resources"])
    assert {"PaymentPipe", "PaymentStateMachine", "PaymentTable"} <= dropped
    assert all("Payment" in logical_id for logical_id in dropped), dropped
    assert not [k for k in variant["Parameters"] if "Payment" in k]
    assert not [k for k in variant["Outputs"] if "Payment" in k]
    assert set(variant["Parameters"]) == set(source["Parameters"]) - {
        k for k in source["Parameters"] if "Payment" in k
    }
    grouped = {
        p
        for g in variant["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        for p in g["Parameters"]
    }
    assert grouped <= set(variant["Parameters"])
    assert "payment" not in variant["Metadata"][SAR]["Description"].lower()
    assert VARIANT_PHRASE in variant["Metadata"][SAR]["Description"]
    assert len(variant["Metadata"][SAR]["Description"]) <= 256


def test_the_variant_lints_clean_with_every_optional_part_on(variant: dict[str, Any]) -> None:
    linted = json.loads(json.dumps(variant))
    for name, value in _all_on(variant).items():
        linted["Parameters"][name]["Default"] = value
    assert not [str(m) for m in lint_template(linted)]


def test_the_variant_refuses_a_template_it_cannot_cut_cleanly(source: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(source))
    broken["Resources"]["ProcessObjectFunction"]["Properties"]["Environment"]["Variables"][
        "PAYMENTS"
    ] = {"Ref": "PaymentBatchSize"}  # a payment parameter used outside the pipeline
    with pytest.raises(VariantError, match="PaymentBatchSize"):
        sar_variant(broken)


# "Acknowledging Application Capabilities" (SAR developer guide): the types that make a deployer
# acknowledge each capability. README "Publishing" lists the ones the published variant needs.
CAPABILITY_TYPES = {
    "CAPABILITY_IAM": {
        "AWS::IAM::Group",
        "AWS::IAM::InstanceProfile",
        "AWS::IAM::Policy",
        "AWS::IAM::Role",
        "AWS::IAM::ManagedPolicy",  # CloudFormation asks CAPABILITY_IAM for it too
    },
    "CAPABILITY_RESOURCE_POLICY": {
        "AWS::Lambda::Permission",
        "AWS::IAM::Policy",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::SNS::TopicPolicy",
    },
    "CAPABILITY_AUTO_EXPAND": {"AWS::Serverless::Application"},  # nested applications
}
ACKNOWLEDGED = {"CAPABILITY_IAM", "CAPABILITY_RESOURCE_POLICY"}


def test_the_published_variant_needs_exactly_the_capabilities_the_readme_lists(
    variant: dict[str, Any], variant_path: Path
) -> None:
    translated = load_and_translate(variant_path, _all_on(variant)).cloudformation
    types = set(_types(variant)) | set(_types(translated))
    needed = {c for c, kinds in CAPABILITY_TYPES.items() if kinds & types}
    assert needed == ACKNOWLEDGED
    # No IAM resource is named, so CAPABILITY_NAMED_IAM is not needed.
    named = {"RoleName", "ManagedPolicyName", "GroupName", "InstanceProfileName"}
    for logical_id, resource in translated["Resources"].items():
        assert not named & set(resource.get("Properties", {})), logical_id
