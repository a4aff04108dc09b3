"""The template's ``Rules`` section, checked the way CloudFormation checks it before a deploy.

CloudFormation evaluates every rule when a stack is created or updated (and when a change set
is made, which is how `sam deploy` does both), after the parameters resolve and before any
resource is touched: a rule whose ``RuleCondition`` is absent or true must have every
``Assertions[].Assert`` true, or the operation fails with a ``ValidationError`` carrying the
failed assertion's ``AssertDescription``; a rule whose condition is false is skipped. The local
runtime refuses the same deploys here, before moto sees the template (moto ignores ``Rules``),
after it has refused any value that breaks its parameter's Type or constraints
(:func:`sluice_local.emulator.template.check_parameter_constraints`).

The rule functions are those of the "Rule functions" reference (AWS CloudFormation Template
Reference, intrinsic-function-reference-rules): Fn::And, Fn::Contains, Fn::EachMemberEquals,
Fn::EachMemberIn, Fn::Equals, Fn::Not, Fn::Or, Fn::RefAll, Fn::ValueOf, Fn::ValueOfAll, and Ref
to a parameter or pseudo parameter. Anything else in the section is refused the way
CloudFormation refuses it, whether or not its rule would be evaluated: "Template format error:
Following functions are not supported in the Rules block of the template: [Condition]" (an AWS
answer quoted in aws-cloudformation/cfn-lint#3710; Fn::If, listed by older documentation, is
refused alike, aws-cloudformation/cloudformation-coverage-roadmap#921). Fn::RefAll, Fn::ValueOf
and Fn::ValueOfAll read resources of the account (VPCs, subnets, their tags); the local runtime
does not emulate those lookups and refuses a template that uses them rather than guess.

Values compare as strings, as CloudFormation passes every parameter value (a Number parameter
too: ``!Ref FunctionTimeout`` is ``"60"``); a CommaDelimitedList or ``List<...>`` parameter is a
list of strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice_local.emulator.template import TemplateError

# Rule functions CloudFormation accepts in the Rules block, and those the local runtime evaluates.
RULE_FUNCTIONS = frozenset(
    {
        "Fn::And",
        "Fn::Contains",
        "Fn::EachMemberEquals",
        "Fn::EachMemberIn",
        "Fn::Equals",
        "Fn::Not",
        "Fn::Or",
        "Fn::RefAll",
        "Fn::ValueOf",
        "Fn::ValueOfAll",
        "Ref",
    }
)
NOT_EMULATED = frozenset({"Fn::RefAll", "Fn::ValueOf", "Fn::ValueOfAll"})

# Pseudo parameters a rule may Ref; the rest (AWS::StackName, AWS::StackId, AWS::NoValue,
# AWS::NotificationARNs) are refused as unresolved, as moto's stack name is not known here.
_PSEUDO_DEFAULTS = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


class RulesFormatError(TemplateError):
    """The Rules section is malformed: CloudFormation refuses the template before evaluating it
    (a "Template format error", itself a ValidationError)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Template format error: {detail}")


class RuleFailed(TemplateError):
    """A rule whose condition holds has a false assertion: CloudFormation refuses the create or
    update with a ValidationError whose message is the assertion's AssertDescription."""

    def __init__(
        self, rule: str, description: str | None, parameters: Mapping[str, str | list[str]]
    ) -> None:
        self.rule = rule
        self.description = description or f"Assertion of rule {rule} failed"
        self.parameters = dict(parameters)
        values = ", ".join(f"{name}={_show(value)}" for name, value in self.parameters.items())
        super().__init__(
            f"ValidationError: {self.description} (rule {rule}"
            + (f", with {values})" if values else ")")
        )


def _show(value: str | list[str]) -> str:
    text = ",".join(value) if isinstance(value, list) else value
    return text or '""'


def check_rules(
    template: Mapping[str, Any],
    parameters: Mapping[str, str],
    pseudo_parameters: Mapping[str, str] | None = None,
) -> None:
    """Refuse the deploy as CloudFormation would: raise :class:`RulesFormatError` for a
    malformed Rules section, :class:`RuleFailed` for the first false assertion (rules in
    template order, assertions in list order) of a rule whose condition holds, and
    :class:`TemplateError` for a rule function the local runtime does not evaluate."""
    rules = template.get("Rules")
    if rules is None:
        return
    _check_shape(rules)
    _check_functions(rules)
    declared = template.get("Parameters") or {}
    pseudo = {**_PSEUDO_DEFAULTS, **(pseudo_parameters or {})}
    for name, rule in rules.items():
        evaluator = _Evaluator(name, declared, parameters, pseudo)
        if "RuleCondition" in rule and not evaluator.condition(rule["RuleCondition"]):
            continue
        for assertion in rule["Assertions"]:
            if not evaluator.condition(assertion["Assert"]):
                raise RuleFailed(name, assertion.get("AssertDescription"), evaluator.referenced)


def _check_shape(rules: Any) -> None:
    if not isinstance(rules, dict):
        raise RulesFormatError("Rules must be a map of rule names to rules")
    for name, rule in rules.items():
        if not isinstance(rule, dict):
            raise RulesFormatError(f"rule {name} must be a map")
        unknown = sorted(set(rule) - {"RuleCondition", "Assertions"})
        if unknown:
            raise RulesFormatError(f"rule {name} has unknown properties {unknown}")
        assertions = rule.get("Assertions")
        if not isinstance(assertions, list) or not assertions:
            raise RulesFormatError(f"rule {name} must have a non-empty Assertions list")
        for assertion in assertions:
            if not isinstance(assertion, dict) or "Assert" not in assertion:
                raise RulesFormatError(f"every assertion of rule {name} must have an Assert")
            unknown = sorted(set(assertion) - {"Assert", "AssertDescription"})
            if unknown:
                raise RulesFormatError(
                    f"an assertion of rule {name} has unknown properties {unknown}"
                )
            description = assertion.get("AssertDescription")
            if description is not None and not isinstance(description, str):
                raise RulesFormatError(f"an AssertDescription of rule {name} must be a string")


def _is_function(node: Any) -> bool:
    if not isinstance(node, dict) or len(node) != 1:
        return False
    (key,) = node
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def _functions_in(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        if _is_function(node):
            found.update(node)
        for value in node.values():
            _functions_in(value, found)
    elif isinstance(node, list):
        for value in node:
            _functions_in(value, found)


def _check_functions(rules: dict[str, Any]) -> None:
    used: set[str] = set()
    for rule in rules.values():
        _functions_in(rule.get("RuleCondition"), used)
        for assertion in rule["Assertions"]:
            _functions_in(assertion["Assert"], used)
    unsupported = sorted(used - RULE_FUNCTIONS)
    if unsupported:
        raise RulesFormatError(
            "Following functions are not supported in the Rules block of the template: "
            f"[{', '.join(unsupported)}]"
        )
    not_emulated = sorted(used & NOT_EMULATED)
    if not_emulated:
        raise TemplateError(
            f"the local runtime cannot evaluate {', '.join(not_emulated)} in the template's Rules:"
            " they read resources of the account (VPCs, subnets, their tags), which it does not"
            " emulate; CloudFormation would evaluate them, so the deploy is refused rather than"
            " guessed"
        )


class _Evaluator:
    """Evaluates one rule's condition and assertions; remembers the parameters they read."""

    def __init__(
        self,
        rule: str,
        declared: Mapping[str, Any],
        values: Mapping[str, str],
        pseudo: Mapping[str, str],
    ) -> None:
        self.rule = rule
        self.declared = declared
        self.values = values
        self.pseudo = pseudo
        self.referenced: dict[str, str | list[str]] = {}

    def condition(self, node: Any) -> bool:
        """A RuleCondition or Assert: a function that evaluates to true or false."""
        result = self.value(node)
        if not isinstance(result, bool):
            raise TemplateError(
                f"Template error: a condition of rule {self.rule} must evaluate to true or false,"
                f" not {result!r}"
            )
        return result

    def value(self, node: Any) -> bool | str | list[Any]:
        if _is_function(node):
            ((name, args),) = node.items()
            return self._call(name, args)
        if isinstance(node, bool):  # YAML true/false: CloudFormation reads the text
            return "true" if node else "false"
        if isinstance(node, str | int | float):
            return str(node)
        if isinstance(node, list):
            return [self.value(item) for item in node]
        raise RulesFormatError(f"rule {self.rule} holds {node!r}, which is no value or function")

    def _strings(self, node: Any, function: str) -> list[str]:
        result = self.value(node)
        if not isinstance(result, list) or not all(isinstance(item, str) for item in result):
            raise RulesFormatError(
                f"{function} in rule {self.rule} needs a list of strings, not {result!r}"
            )
        return result

    def _string(self, node: Any, function: str) -> str:
        result = self.value(node)
        if not isinstance(result, str):
            raise RulesFormatError(f"{function} in rule {self.rule} needs a string, not {result!r}")
        return result

    def _args(self, args: Any, function: str, low: int, high: int) -> list[Any]:
        if not isinstance(args, list) or not low <= len(args) <= high:
            count = str(low) if low == high else f"{low} to {high}"
            raise RulesFormatError(f"{function} in rule {self.rule} takes a list of {count}")
        return args

    def _call(self, function: str, args: Any) -> bool | str | list[Any]:
        if function == "Ref":
            return self._ref(args)
        if function in ("Fn::And", "Fn::Or"):
            results = [self.condition(item) for item in self._args(args, function, 2, 10)]
            return all(results) if function == "Fn::And" else any(results)
        if function == "Fn::Not":
            (operand,) = self._args(args, function, 1, 1)
            return not self.condition(operand)
        if function == "Fn::Equals":
            left, right = (self.value(item) for item in self._args(args, function, 2, 2))
            return left == right
        if function == "Fn::Contains":
            members, wanted = self._args(args, function, 2, 2)
            return self._string(wanted, function) in self._strings(members, function)
        if function == "Fn::EachMemberEquals":
            members, wanted = self._args(args, function, 2, 2)
            text = self._string(wanted, function)
            return all(member == text for member in self._strings(members, function))
        if function == "Fn::EachMemberIn":
            members, allowed = self._args(args, function, 2, 2)
            within = self._strings(allowed, function)
            return all(member in within for member in self._strings(members, function))
        # _check_functions refused every other name before evaluation began.
        raise AssertionError(f"rule function {function} reached evaluation")

    def _ref(self, name: Any) -> str | list[str]:
        if not isinstance(name, str):
            raise RulesFormatError(f"Ref in rule {self.rule} must name a parameter")
        if name in self.declared:
            text = self.values[name]
            kind = str(self.declared[name].get("Type", "String"))
            value: str | list[str] = text
            if kind == "CommaDelimitedList" or kind.startswith("List<"):
                value = [member.strip() for member in text.split(",")] if text else []
            self.referenced[name] = value
            return value
        if name in self.pseudo:
            return self.pseudo[name]
        raise RulesFormatError(
            f"Unresolved resource dependencies [{name}] in the Rules block of the template"
        )
