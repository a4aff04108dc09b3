"""Write the template Sluice publishes to the Serverless Application Repository.

SAR refuses a whole template if any resource type in it is off its list of supported resources,
whatever the resource's Condition (tests/template/sar_supported_resources.json). The payment
pipeline's PaymentPipe is an AWS::Pipes::Pipe, which is not on the list: the published variant is
template.yaml without the payment pipeline (its resources, conditions, parameters and the Fn::If
branches that name them). Everything else is unchanged.

    python scripts/sar_template.py .aws-sam/build/template.yaml .aws-sam/build/template-sar.json

Write the variant beside its source: CodeUri, LicenseUrl and ReadmeUrl are relative to it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse  # CloudFormation short-form tags

SAR = "AWS::ServerlessRepo::Application"
INTERFACE = "AWS::CloudFormation::Interface"
# The condition that switches the payment pipeline on, and its parameter.
PAYMENT_CONDITION = "CreatePaymentPipeline"
PAYMENT_SWITCH = "EnablePaymentPipeline"
# The published description, which must not promise the payment pipeline.
PAYMENT_PHRASE = "Optional SNS payment and Kinesis stream pipelines into DynamoDB."
VARIANT_PHRASE = "Optional Kinesis stream pipeline into DynamoDB."
_DROP = object()


class VariantError(Exception):
    """The template no longer has the shape this variant relies on."""


def _payment_conditions(conditions: dict[str, Any]) -> set[str]:
    """CreatePaymentPipeline and every condition that is an Fn::And including one of them."""
    found = {PAYMENT_CONDITION}
    grown = True
    while grown:
        grown = False
        for name, expr in conditions.items():
            if name in found or not isinstance(expr, dict) or "Fn::And" not in expr:
                continue
            if any(isinstance(a, dict) and a.get("Condition") in found for a in expr["Fn::And"]):
                found.add(name)
                grown = True
    return found


def _prune(node: Any, off: set[str]) -> Any:
    """Take the false branch of each Fn::If on a payment condition; drop AWS::NoValue there."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"} and node["Fn::If"][0] in off:
            chosen = node["Fn::If"][2]
            return _DROP if chosen == {"Ref": "AWS::NoValue"} else _prune(chosen, off)
        pruned = {k: _prune(v, off) for k, v in node.items()}
        return {k: v for k, v in pruned.items() if v is not _DROP}
    if isinstance(node, list):
        return [v for v in (_prune(v, off) for v in node) if v is not _DROP]
    return node


def _references_any(expr: Any, names: set[str]) -> bool:
    text = json.dumps(expr)
    return any(f'{{"Ref": "{n}"}}' in text for n in names)


def _names_used(node: Any) -> str:
    return json.dumps(node)


def sar_variant(template: dict[str, Any]) -> dict[str, Any]:
    """template without the payment pipeline; raises VariantError if it cannot be cut cleanly."""
    conditions = template.get("Conditions", {})
    if PAYMENT_CONDITION not in conditions:
        raise VariantError(f"no {PAYMENT_CONDITION} condition in the template")
    off = _payment_conditions(conditions)
    variant = dict(template)
    variant["Conditions"] = {k: v for k, v in conditions.items() if k not in off}
    for section in ("Resources", "Outputs"):
        variant[section] = {
            k: v for k, v in template.get(section, {}).items() if v.get("Condition") not in off
        }
    variant = _prune(variant, off)

    # The payment group's parameters go too (EnablePaymentPipeline and the ones beside it).
    metadata = variant.get("Metadata", {})
    groups = metadata.get(INTERFACE, {}).get("ParameterGroups", [])
    group = next((g for g in groups if PAYMENT_SWITCH in g.get("Parameters", [])), None)
    gone = set(group["Parameters"]) if group else {PAYMENT_SWITCH}
    variant["Parameters"] = {k: v for k, v in variant["Parameters"].items() if k not in gone}
    if group:
        metadata[INTERFACE]["ParameterGroups"] = [g for g in groups if g is not group]
    labels = metadata.get(INTERFACE, {}).get("ParameterLabels", {})
    for name in gone & set(labels):
        del labels[name]

    # Conditions on those parameters alone (HasPaymentReservation) served payment resources only.
    on_gone = {k for k, v in variant["Conditions"].items() if _references_any(v, gone)}
    variant["Conditions"] = {k: v for k, v in variant["Conditions"].items() if k not in on_gone}
    off |= on_gone
    body = _names_used({k: v for k, v in variant.items() if k != "Metadata"})
    still = {c for c in off if f'"{c}"' in body} | {p for p in gone if f'"{p}"' in body}
    still |= {p for p in gone if "${" + p + "}" in body}
    if still:
        raise VariantError(f"still referenced after removing the payment pipeline: {sorted(still)}")

    app = metadata.get(SAR)
    if app is not None:
        description = " ".join(app["Description"].split())
        if PAYMENT_PHRASE not in description:
            raise VariantError(f"the {SAR} Description no longer says {PAYMENT_PHRASE!r}")
        app["Description"] = description.replace(PAYMENT_PHRASE, VARIANT_PHRASE)
    return variant


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: sar_template.py SOURCE_TEMPLATE OUTPUT_JSON", file=sys.stderr)
        return 2
    source, out = Path(args[0]), Path(args[1])
    try:
        variant = sar_variant(yaml_parse(source.read_text()))
    except (OSError, VariantError) as exc:
        print(f"sar_template.py: error: {exc}", file=sys.stderr)
        return 2
    out.write_text(json.dumps(variant, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
