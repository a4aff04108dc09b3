"""The values a template's expressions take with given parameters: Ref, Fn::Join, Fn::If and
the condition functions (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition), as CloudFormation
reads them. Enough for the properties `sluice doctor` reads (ReservedConcurrentExecutions);
anything else is :class:`UnknownExpression`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class UnknownExpression(Exception):
    """A template expression this evaluator does not read."""


def evaluate(expr: Any, template: Mapping[str, Any], values: Mapping[str, str]) -> Any:
    """``expr``'s value: a string, a list, or None for AWS::NoValue."""
    if isinstance(expr, (str, int, float, bool)):
        return str(expr).lower() if isinstance(expr, bool) else str(expr)
    if isinstance(expr, list):
        return [evaluate(item, template, values) for item in expr]
    if isinstance(expr, dict) and len(expr) == 1:
        [(function, argument)] = expr.items()
        if function == "Ref":
            if argument == "AWS::NoValue":
                return None
            if argument not in values:
                raise UnknownExpression(f"Ref {argument}")
            spec = (template.get("Parameters") or {}).get(argument) or {}
            kind = str(spec.get("Type", "String"))
            if kind == "CommaDelimitedList" or kind.startswith("List<"):
                return values[argument].split(",")
            return values[argument]
        if function == "Fn::Join":
            separator, items = argument
            joined = evaluate(items, template, values)
            return str(separator).join(joined if isinstance(joined, list) else [joined])
        if function == "Fn::If":
            name, then, otherwise = argument
            chosen = then if condition_holds(name, template, values) else otherwise
            return evaluate(chosen, template, values)
        if function in {"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"}:
            return holds(expr, template, values)
    raise UnknownExpression(json.dumps(expr, default=str)[:80])


def holds(expr: Any, template: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    """Whether a condition function (Fn::Equals, Fn::Not, ...) is true."""
    [(function, argument)] = expr.items()
    if function == "Condition":
        return condition_holds(argument, template, values)
    if function == "Fn::Equals":
        left, right = (evaluate(item, template, values) for item in argument)
        return bool(left == right)
    if function == "Fn::Not":
        return not holds(argument[0], template, values)
    if function == "Fn::And":
        return all(holds(item, template, values) for item in argument)
    if function == "Fn::Or":
        return any(holds(item, template, values) for item in argument)
    raise UnknownExpression(function)


def condition_holds(name: str, template: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    """Whether the template's Condition ``name`` is true."""
    conditions = template.get("Conditions") or {}
    if name not in conditions:
        raise UnknownExpression(f"Condition {name}")
    return holds(conditions[name], template, values)
