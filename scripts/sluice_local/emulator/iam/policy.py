"""IAM policy evaluation: what AWS decides for one request, from the policies that apply to it.

moto evaluates no policy. This evaluates identity policies (a role's inline statements and pinned
AWS managed policies), resource policies (queue, topic and bucket policies, Lambda permissions)
and KMS key policies the way AWS's policy evaluation logic does for one account: an explicit Deny
wins; a same-account principal is allowed by its identity policy or by a resource policy naming
it; a KMS key is usable only if its key policy allows, directly or by delegating to IAM (a
statement for the account root).

Only what Sluice's template uses is understood. An unknown condition operator or key, NotAction,
NotResource, NotPrincipal or a policy variable raises :class:`PolicyNotUnderstood` naming it: the
evaluator refuses rather than guesses (moto's own evaluator ignores unknown operators and treats a
failed Condition on an Allow as a Deny).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

# Condition operators and keys the template uses; anything else is refused when a policy loads.
OPERATORS = frozenset({"StringEquals", "StringLike", "ArnEquals", "ArnLike", "Bool"})
CONDITION_KEYS = frozenset(
    {
        "aws:sourcearn",
        "aws:sourceaccount",
        "aws:securetransport",
        "kms:viaservice",
        "kms:encryptioncontext:aws:logs:arn",
    }
)
_UNSUPPORTED_ELEMENTS = ("NotAction", "NotResource", "NotPrincipal")


class PolicyNotUnderstood(ValueError):
    """A policy uses something this evaluator does not implement; the message names it."""


@dataclass(frozen=True)
class Condition:
    operator: str
    key: str  # lower case: condition keys are case-insensitive
    values: tuple[str, ...]

    def holds(self, context: Mapping[str, str]) -> bool:
        actual = context.get(self.key)
        if actual is None:  # a key absent from the request fails every operator used here
            return False
        return any(_compare(self.operator, value, actual) for value in self.values)


@dataclass(frozen=True)
class Statement:
    source: str  # where it comes from: a policy or resource name
    sid: str
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    # (kind, value) with kind "*", "AWS" or "Service"; None in an identity policy
    principals: tuple[tuple[str, str], ...] | None
    conditions: tuple[Condition, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.source} ({self.sid})" if self.sid else self.source

    def grants(self, action: str) -> bool:
        return any(_wildcard(pattern.lower()).fullmatch(action.lower()) for pattern in self.actions)

    def covers(self, resource: str) -> bool:
        return any(_wildcard(pattern).fullmatch(resource) for pattern in self.resources)

    def applies(self, action: str, resource: str, context: Mapping[str, str]) -> bool:
        return (
            self.grants(action)
            and self.covers(resource)
            and all(condition.holds(context) for condition in self.conditions)
        )

    def without_action(self, action: str) -> Statement:
        return replace(self, actions=tuple(a for a in self.actions if a != action))


@dataclass(frozen=True)
class Caller:
    """Who makes a request: an IAM role (by its ARN) or an AWS service principal."""

    kind: Literal["role", "service"]
    arn: str  # the role's ARN, or the service principal's name
    account: str
    names: tuple[str, ...] = ()  # the names a resource policy may give a service principal


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)  # lower-case keys


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str  # the statement that decided, or the grant that is missing
    # AWS's words after "is not authorized to perform: <action> on resource: <arn>"
    aws_reason: str = ""


def _compare(operator: str, expected: str, actual: str) -> bool:
    if operator == "StringEquals":
        return expected == actual
    if operator == "StringLike":
        return bool(_wildcard(expected).fullmatch(actual))
    if operator in ("ArnEquals", "ArnLike"):
        # Each of the six colon-separated parts is matched on its own (IAM ARN conditions).
        wanted, got = expected.split(":", 5), actual.split(":", 5)
        return len(wanted) == len(got) == 6 and all(
            _wildcard(w).fullmatch(g) for w, g in zip(wanted, got, strict=True)
        )
    if operator == "Bool":
        return expected.lower() == actual.lower()
    raise PolicyNotUnderstood(f"condition operator {operator}")  # refused at load already


@lru_cache(maxsize=4096)
def _wildcard(pattern: str) -> re.Pattern[str]:
    """IAM wildcards: '*' any run of characters (':', '/' and line breaks included: an S3 key may
    hold one), '?' one character."""
    parts = (".".join(map(re.escape, p.split("?"))) for p in pattern.split("*"))
    return re.compile(".*".join(parts), re.DOTALL)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _principals(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if value == "*":
        return (("*", "*"),)
    if not isinstance(value, dict):
        raise PolicyNotUnderstood(f"{where}: Principal {value!r}")
    found: list[tuple[str, str]] = []
    for kind, names in value.items():
        if kind not in ("AWS", "Service"):
            raise PolicyNotUnderstood(f"{where}: principal type {kind}")
        found.extend((kind, str(name)) for name in _as_list(names))
    return tuple(found)


def _conditions(value: Any, where: str) -> tuple[Condition, ...]:
    if not value:
        return ()
    if not isinstance(value, dict):
        raise PolicyNotUnderstood(f"{where}: Condition {value!r}")
    found: list[Condition] = []
    for operator, keys in value.items():
        if operator not in OPERATORS:
            understood = ", ".join(sorted(OPERATORS))
            raise PolicyNotUnderstood(
                f"{where}: condition operator {operator} (understood: {understood})"
            )
        for key, values in keys.items():
            if key.lower() not in CONDITION_KEYS:
                understood = ", ".join(sorted(CONDITION_KEYS))
                raise PolicyNotUnderstood(
                    f"{where}: condition key {key} (understood: {understood})"
                )
            found.append(
                Condition(operator, key.lower(), tuple(_text(v) for v in _as_list(values)))
            )
    return tuple(found)


def parse_policy(
    document: Mapping[str, Any] | str, source: str, *, resource_policy: bool
) -> list[Statement]:
    """The statements of a policy document (a dict or its JSON text)."""
    doc = json.loads(document) if isinstance(document, str) else document
    statements: list[Statement] = []
    for index, raw in enumerate(_as_list(doc.get("Statement", []))):
        sid = str(raw.get("Sid", ""))
        where = f"{source} statement {sid or index}"
        for element in _UNSUPPORTED_ELEMENTS:
            if element in raw:
                raise PolicyNotUnderstood(f"{where}: {element}")
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyNotUnderstood(f"{where}: Effect {effect!r}")
        resources = tuple(str(r) for r in _as_list(raw.get("Resource", "*")))
        if any("${" in r for r in resources):
            raise PolicyNotUnderstood(f"{where}: policy variable in Resource {resources}")
        if resource_policy and "Principal" not in raw:
            raise PolicyNotUnderstood(f"{where}: a resource policy statement without Principal")
        statements.append(
            Statement(
                source=source,
                sid=sid,
                effect=effect,
                actions=tuple(str(a) for a in _as_list(raw.get("Action", []))),
                resources=resources,
                principals=_principals(raw["Principal"], where) if resource_policy else None,
                conditions=_conditions(raw.get("Condition"), where),
            )
        )
    return statements


def _names_caller(statement: Statement, caller: Caller) -> Literal["direct", "account", None]:
    """How a resource policy statement names the caller: directly, through its account's root
    (which delegates to the account's IAM policies), or not at all."""
    how: Literal["direct", "account", None] = None
    for kind, value in statement.principals or ():
        if kind == "*" or (kind == "AWS" and value == "*"):
            return "direct"
        if kind == "Service" and caller.kind == "service" and value in caller.names:
            return "direct"
        if kind == "AWS" and caller.kind == "role":
            if value == caller.arn:
                return "direct"
            if value in (f"arn:aws:iam::{caller.account}:root", caller.account):
                how = "account"
    return how


def _first(statements: Iterable[Statement], request: Request) -> Statement | None:
    for statement in statements:
        if statement.applies(request.action, request.resource, request.context):
            return statement
    return None


def decide(
    caller: Caller,
    request: Request,
    identity: Sequence[Statement] = (),
    resource_policy: Sequence[Statement] = (),
    *,
    key_policy: bool = False,
) -> Decision:
    """AWS's decision for one request of a same-account caller.

    ``identity`` is the caller's identity policy (empty for a service principal);
    ``resource_policy`` the policy of the resource (a key policy when ``key_policy``)."""
    action = request.action
    mine = identity if caller.kind == "role" else ()
    deny = _first((s for s in mine if s.effect == "Deny"), request)
    if deny is not None:
        return Decision(
            False,
            f"explicit deny in {deny.name}",
            "with an explicit deny in an identity-based policy",
        )
    named = [(s, _names_caller(s, caller)) for s in resource_policy]
    deny = _first((s for s, how in named if s.effect == "Deny" and how), request)
    if deny is not None:
        return Decision(
            False,
            f"explicit deny in {deny.name}",
            "with an explicit deny in a resource-based policy",
        )
    direct = _first((s for s, how in named if s.effect == "Allow" and how == "direct"), request)
    if direct is not None:
        return Decision(True, f"allowed by {direct.name}")
    allow = _first((s for s in mine if s.effect == "Allow"), request)
    if key_policy:
        # A key is usable only if its key policy allows: here, by delegating to IAM.
        delegated = _first(
            (s for s, how in named if s.effect == "Allow" and how == "account"), request
        )
        if delegated is None:
            return Decision(
                False,
                f"the key policy allows no {action} for {caller.arn}",
                f"because no resource-based policy allows the {action} action",
            )
    if allow is not None:
        return Decision(True, f"allowed by {allow.name}")
    if caller.kind == "service":
        return Decision(
            False,
            f"no resource policy allows {caller.arn} {action}",
            f"because no resource-based policy allows the {action} action",
        )
    return Decision(
        False,
        f"no statement of the role allows {action} on {request.resource}",
        f"because no identity-based policy allows the {action} action",
    )


def granted_actions(statements: Iterable[Statement]) -> list[str]:
    """The actions Allow statements name, as written (wildcards kept), in order, once each."""
    seen: dict[str, None] = {}
    for statement in statements:
        if statement.effect == "Allow":
            for action in statement.actions:
                seen.setdefault(action, None)
    return list(seen)


def action_matches(pattern: str, action: str) -> bool:
    return bool(_wildcard(pattern.lower()).fullmatch(action.lower()))
