"""Read template.yaml the way `sam deploy` does, offline: parameters (with their constraints)
and Rules, DefinitionUri, translation.

The result is plain CloudFormation for moto, plus what moto cannot learn from it: which local
folder holds each function's and layer's code, and each state machine's definition with the
DefinitionSubstitutions still to resolve (added as stack Outputs, so CloudFormation resolves
them against the deployed resources).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
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


class ParameterConstraintError(TemplateError):
    """A parameter value breaks its declaration's Type or constraints: CloudFormation refuses the
    create or update (and the change set `sam deploy` makes) with a ValidationError before any
    resource is touched.

    ``message`` is CloudFormation's own text (see :func:`check_parameter_constraints`); the
    exception adds the offending value, which CloudFormation's message leaves out."""

    def __init__(self, name: str, value: str, message: str) -> None:
        self.name = name
        self.value = value
        self.message = message
        shown = value or '""'
        super().__init__(f"ValidationError: {message} (given {name}={shown})")


def _text(value: Any) -> str:
    """A template scalar as CloudFormation reads it (YAML true/false are the words)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# A Number parameter takes "an integer or float" (Parameters reference): decimal notation, an
# optional sign and exponent. CloudFormation's exact grammar is not documented.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _number(text: str) -> Decimal | None:
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        return None


def _members(kind: str, value: str) -> list[str] | None:
    """The members a list-typed parameter's constraints apply to (None: not a list type).

    As the Parameters reference says of CommaDelimitedList: one more member than commas, each
    space trimmed (so an empty value is one empty member)."""
    if kind == "CommaDelimitedList" or kind.startswith("List<"):
        return [member.strip() for member in value.split(",")]
    return None


def _bound(name: str, spec: dict[str, Any], key: str) -> tuple[Decimal, str] | None:
    """MinValue or MaxValue as a number and as the template writes it (None: not declared)."""
    if key not in spec:
        return None
    text = _text(spec[key])
    number = _number(text)
    if number is None:
        raise TemplateError(f"Template format error: {key} of parameter {name} must be a number")
    return number, text


def _violation(name: str, spec: dict[str, Any], value: str) -> str | None:
    """CloudFormation's reason for refusing ``value`` for parameter ``name``, or None."""
    kind = _text(spec.get("Type", "String"))
    members = _members(kind, value)
    items = [value] if members is None else members
    numeric = kind in ("Number", "List<Number>")
    if numeric:
        for item in items:
            number = _number(item)
            if number is None:
                return f"Parameter '{name}' must be a number"
            low, high = _bound(name, spec, "MinValue"), _bound(name, spec, "MaxValue")
            if low is not None and number < low[0]:
                return f"Parameter '{name}' must be a number not less than {low[1]}"
            if high is not None and number > high[0]:
                return f"Parameter '{name}' must be a number not greater than {high[1]}"
    if "AllowedValues" in spec:
        allowed = {_text(choice) for choice in spec["AllowedValues"]}
        if any(item not in allowed for item in items):
            return f"Parameter '{name}' must be one of AllowedValues"
    if kind == "String":
        if "MinLength" in spec and len(value) < int(spec["MinLength"]):
            return f"Parameter '{name}' must contain at least {spec['MinLength']} characters"
        if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
            return f"Parameter '{name}' must contain at most {spec['MaxLength']} characters"
    if "AllowedPattern" in spec and not numeric:
        pattern = _text(spec["AllowedPattern"])
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise TemplateError(
                f"Template error: parameter {name}'s AllowedPattern {pattern!r} is not a"
                f" regular expression the local runtime can read ({exc})"
            ) from exc
        if any(compiled.fullmatch(item) is None for item in items):
            return f"Parameter '{name}' must match pattern {pattern}"
    return None


def check_parameter_constraints(declared: dict[str, Any], values: dict[str, str]) -> None:
    """Refuse, as CloudFormation does, a value that breaks its parameter's Type or constraints.

    CloudFormation checks every parameter value (an override or the Default) when a stack or
    change set is created or updated, before any resource is touched (the local runtime checks
    them before the Rules, which read the values). What it checks
    (AWS CloudFormation User Guide, "Parameters", awsdocs/aws-cloudformation-user-guide
    doc_source/parameters-section-structure.md): a ``Number`` is "an integer or float" (so 1.75
    is one), within ``MinValue``/``MaxValue``; ``AllowedValues`` lists every value allowed;
    ``AllowedPattern`` must match the entire value; ``MinLength``/``MaxLength`` bound a
    ``String``'s characters. A ``CommaDelimitedList`` has each member checked against
    AllowedPattern and AllowedValues (aws/aws-cli#7750; cfn-lint PR #2521, which mirrors "the
    same rules enforced on the server-side"); a ``List<Number>``'s members must be numbers
    within the bounds.

    The messages are CloudFormation's ValidationError texts as reported from real deploys:
    "Parameter 'X' must be one of AllowedValues" (aws-amplify/amplify-cli#6224), "Parameter 'X'
    must match pattern <AllowedPattern>" (aws/aws-connected-device-framework#183, CreateChangeSet),
    "Parameter 'X' must be a number not greater than 3" / "... not less than 1" (CreateStack, in
    a test plan of openshift/rosa's `rosa create network`), "Parameter 'X' must contain at least
    12 characters" (a console deploy, Stack Overflow question 77187158). "must be a number" and
    "must contain at most N characters" are worded as Eucalyptus's CloudFormation clone words
    them (eucalyptus/eucalyptus TemplateParser.java); no capture of those two from AWS was found.

    A ``ConstraintDescription`` replaces the reason: "Parameter X failed to satisfy constraint:
    <ConstraintDescription>" (the name unquoted; aws/aws-cli#7750 for an AllowedPattern,
    aws-ia/taskcat#627 for AllowedValues). Applying it to the Number and length checks too
    follows the reference ("explains a constraint when the constraint is violated") and
    Eucalyptus; it is not separately confirmed against AWS.

    Parameters are checked in template order and the first violation is raised as
    :class:`ParameterConstraintError`; which one CloudFormation reports when several break is
    not documented."""
    for name, spec in declared.items():
        if name not in values or not isinstance(spec, dict):
            continue
        reason = _violation(name, spec, values[name])
        if reason is None:
            continue
        description = spec.get("ConstraintDescription")
        if description is not None:
            reason = f"Parameter {name} failed to satisfy constraint: {_text(description)}"
        raise ParameterConstraintError(name, values[name], reason)


def resolve_parameters(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """Every declared parameter's value: the override, else the Default. Refuses, as
    CloudFormation does, an undeclared override, a parameter with neither, and a value that
    breaks its parameter's Type or constraints (:func:`check_parameter_constraints`)."""
    declared = template.get("Parameters", {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"parameter override(s) {unknown} are not declared in the template")
    values = {**parameter_defaults(template), **overrides}
    missing = [name for name in declared if name not in values]
    if missing:
        raise TemplateError(f"parameter {missing[0]} has no default and no override")
    values = {name: values[name] for name in declared}  # the template's order
    check_parameter_constraints(declared, values)
    return values


def parameter_defaults(template: Mapping[str, Any]) -> dict[str, str]:
    """Each declared parameter's Default, as CloudFormation reads it."""
    declared = template.get("Parameters") or {}
    return {name: _text(spec["Default"]) for name, spec in declared.items() if "Default" in spec}


def load_and_translate(
    template_path: Path, overrides: dict[str, str] | None = None
) -> TranslatedTemplate:
    """Translate template.yaml to CloudFormation exactly as SAM would, ready for moto.

    Refuses, as CloudFormation would, parameter values that break their constraints
    (:func:`check_parameter_constraints`) or one of the template's Rules
    (:mod:`sluice_local.emulator.rules`), before anything is deployed."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    root = template_path.resolve().parent
    sam = _load_yaml(template_path)
    parameters = resolve_parameters(sam, overrides or {})
    # CloudFormation checks Rules before it touches a resource (moto ignores them).
    from sluice_local.emulator.rules import (
        check_rules,  # here: sluice_local.emulator.rules imports this module
    )

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
