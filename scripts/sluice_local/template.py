"""Read template.yaml the way `sam deploy` does, offline: parameters and their Rules,
DefinitionUri, translation.

The result is plain CloudFormation for moto, plus what moto cannot learn from it: which local
folder holds each function's and layer's code, and each state machine's definition with the
DefinitionSubstitutions still to resolve (added as stack Outputs, so CloudFormation resolves
them against the deployed resources).
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CODE_BUCKET = "sluice-local-code"
SUBSTITUTION_OUTPUT_PREFIX = "SluiceLocalSub"

# AWS-managed policies SAM may attach by name; ARNs only matter for the role documents.
_MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for name, path in {
        "AWSLambdaBasicExecutionRole": "service-role/",
        "AWSLambdaSQSQueueExecutionRole": "service-role/",
        "AWSLambdaKinesisExecutionRole": "service-role/",
        "AWSLambdaDynamoDBExecutionRole": "service-role/",
        "AWSXrayWriteOnlyAccess": "",
        "AWSXRayDaemonWriteAccess": "",
        "CloudWatchLambdaInsightsExecutionRolePolicy": "",
    }.items()
}


class TemplateError(Exception):
    """The template cannot be run locally; the message says which resource and why."""


@dataclass(frozen=True)
class FunctionSource:
    logical_id: str
    code_dir: Path
    layer_logical_ids: tuple[str, ...]


@dataclass(frozen=True)
class StateMachineSource:
    logical_id: str
    definition: dict[str, Any]
    substitution_keys: tuple[str, ...]


@dataclass(frozen=True)
class Schedule:
    """An EventBridge schedule rule and the targets it starts."""

    logical_id: str
    expression: str
    targets: tuple[dict[str, Any], ...]


@dataclass
class TranslatedTemplate:
    cloudformation: dict[str, Any]
    parameters: dict[str, str]
    functions: dict[str, FunctionSource] = field(default_factory=dict)
    layers: dict[str, Path] = field(default_factory=dict)
    state_machines: dict[str, StateMachineSource] = field(default_factory=dict)
    schedule_rules: list[str] = field(default_factory=list)
    pipes: list[str] = field(default_factory=list)


def parse_overrides(text: str) -> dict[str, str]:
    """`Key=Value Key2="a b"` as SAM's --parameter-overrides takes it."""
    result: dict[str, str] = {}
    for token in shlex.split(text):
        if "=" not in token:
            raise TemplateError(f"parameter override {token!r} is not Key=Value")
        key, _, value = token.partition("=")
        result[key.removeprefix("ParameterKey=")] = value.removeprefix("ParameterValue=")
    return result


def samconfig_overrides(samconfig: Path, config_env: str) -> dict[str, str]:
    """parameter_overrides of `[<env>.deploy.parameters]` in samconfig.toml (missing: none)."""
    if not samconfig.is_file():
        return {}
    data = tomllib.loads(samconfig.read_text())
    section = data.get(config_env, {}).get("deploy", {}).get("parameters", {})
    overrides = section.get("parameter_overrides", "")
    if isinstance(overrides, list):
        overrides = " ".join(overrides)
    return parse_overrides(overrides)


def command_overrides(template: Path, config_env: str, extra: str) -> dict[str, str]:
    """What a `sluice-local` command deploys with: samconfig.toml's overrides for
    ``config_env`` (next to the template), then ``--parameter-overrides``."""
    overrides = samconfig_overrides(template.parent / "samconfig.toml", config_env)
    overrides.update(parse_overrides(extra or ""))
    return overrides


def _load_yaml(path: Path) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse  # CloudFormation short-form tags

    document = yaml_parse(path.read_text())
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path} is not a SAM/CloudFormation template (no Resources)")
    return document


def resolve_parameters(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    declared = template.get("Parameters", {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"parameter override(s) {unknown} are not declared in the template")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in overrides:
            values[name] = overrides[name]
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            raise TemplateError(f"parameter {name} has no default and no override")
    return values


def load_and_translate(
    template_path: Path, overrides: dict[str, str] | None = None
) -> TranslatedTemplate:
    """Translate template.yaml to CloudFormation exactly as SAM would, ready for moto.

    Refuses, as CloudFormation would, parameters that break one of the template's Rules
    (:mod:`sluice_local.rules`)."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    root = template_path.resolve().parent
    sam = _load_yaml(template_path)
    parameters = resolve_parameters(sam, overrides or {})
    # CloudFormation checks Rules before it touches a resource (moto ignores them).
    from sluice_local.rules import check_rules  # here: sluice_local.rules imports this module

    check_rules(
        sam,
        parameters,
        {
            "AWS::Region": os.environ["AWS_DEFAULT_REGION"],
            "AWS::AccountId": "123456789012",  # moto's default account
        },
    )
    translated = TranslatedTemplate(cloudformation={}, parameters=parameters)
    sam = copy.deepcopy(sam)
    global_code_uri = sam.get("Globals", {}).get("Function", {}).get("CodeUri")
    global_layers = sam.get("Globals", {}).get("Function", {}).get("Layers", [])

    for logical_id, resource in sam["Resources"].items():
        props = resource.setdefault("Properties", {})
        rtype = resource.get("Type")
        if rtype == "AWS::Serverless::Function":
            code_uri = props.get("CodeUri", global_code_uri)
            if not isinstance(code_uri, str) or code_uri.startswith("s3://"):
                raise TemplateError(f"{logical_id}: CodeUri must be a local folder to run locally")
            layers = [*global_layers, *props.get("Layers", [])]
            layer_ids = tuple(ly["Ref"] for ly in layers if isinstance(ly, dict) and "Ref" in ly)
            translated.functions[logical_id] = FunctionSource(
                logical_id, (root / code_uri).resolve(), layer_ids
            )
            props["CodeUri"] = f"s3://{CODE_BUCKET}/{logical_id}.zip"
        elif rtype == "AWS::Serverless::LayerVersion":
            content_uri = props.get("ContentUri")
            if not isinstance(content_uri, str):
                raise TemplateError(f"{logical_id}: ContentUri must be a local folder")
            translated.layers[logical_id] = (root / content_uri).resolve()
            props["ContentUri"] = f"s3://{CODE_BUCKET}/{logical_id}.zip"
        elif rtype == "AWS::Serverless::StateMachine":
            if "DefinitionUri" in props:
                uri = props.pop("DefinitionUri")
                if not isinstance(uri, str):
                    raise TemplateError(f"{logical_id}: DefinitionUri must be a local file")
                props["Definition"] = json.loads((root / uri).read_text())
            substitutions = props.get("DefinitionSubstitutions", {})
            translated.state_machines[logical_id] = StateMachineSource(
                logical_id, copy.deepcopy(props["Definition"]), tuple(substitutions)
            )

    cfn = Translator(_MANAGED_POLICIES, Parser()).translate(
        sam, {"AWS::Region": os.environ["AWS_DEFAULT_REGION"], **parameters}
    )
    # Resolve DefinitionSubstitutions through CloudFormation itself: one Output per value.
    outputs = cfn.setdefault("Outputs", {})
    for logical_id, machine in translated.state_machines.items():
        resource = cfn["Resources"][logical_id]
        subs = resource["Properties"].get("DefinitionSubstitutions", {})
        for key in machine.substitution_keys:
            output: dict[str, Any] = {"Value": subs[key]}
            if "Condition" in resource:  # an optional pipeline: resolved only when it is on
                output["Condition"] = resource["Condition"]
            outputs[f"{SUBSTITUTION_OUTPUT_PREFIX}{logical_id}{key}"] = output
    translated.pipes = [
        logical_id
        for logical_id, resource in cfn["Resources"].items()
        if resource["Type"] == "AWS::Pipes::Pipe"
    ]
    translated.schedule_rules = [
        logical_id
        for logical_id, resource in cfn["Resources"].items()
        if resource["Type"] == "AWS::Events::Rule"
        and "ScheduleExpression" in resource.get("Properties", {})
    ]
    translated.cloudformation = cfn
    return translated


def substitute(definition: dict[str, Any], values: dict[str, str]) -> str:
    """Apply DefinitionSubstitutions the way Step Functions does: ``${Key}`` text replacement."""
    text = json.dumps(definition)
    for key, value in values.items():
        text = text.replace("${" + key + "}", str(value))
    return text
