"""Deciding one request as AWS decides it, and recording what was allowed and refused: the base
of :class:`sluice_local.emulator.iam.enforcer.Enforcer`, shared by its creation-time and run-time
checks."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sluice_local.emulator.iam import aws_calls
from sluice_local.emulator.iam.aws_calls import KEY_USE
from sluice_local.emulator.iam.model import CheckedCall, IamModel, Principal, Refused, customer_key
from sluice_local.emulator.iam.policy import Caller, Decision, action_matches, granted_actions

LOG = logging.getLogger("sluice_local.emulator.iam")


class Decisions:
    """Decides, records and (unless lenient) refuses requests of the deployed stack's principals."""

    def __init__(self, *, region: str, account: str, lenient: bool = False) -> None:
        self.lenient = lenient
        self.model = IamModel(account=account, region=region)
        self._lock = threading.Lock()
        self._calls: Counter[CheckedCall] = Counter()  # allowed, distinct
        self._refused: dict[tuple[str, str, str], Refused] = {}
        self.calls_checked = 0
        self.denied_calls = 0

    # -- deciding --------------------------------------------------------------------------
    def principal_for_role(self, role_arn: str, session: str) -> Principal:
        role = self.model.roles.get(role_arn)
        label = role.logical_id if role else role_arn.rsplit("/", 1)[-1]
        return Principal(Caller("role", role_arn, self.model.account), label, session, self)

    def principal_for_service(self, name: str) -> Principal:
        return Principal(self.model.service(name), name, name, self)

    def check(
        self, principal: Principal, action: str, resource: str, context: Mapping[str, str]
    ) -> Decision:
        """Decide one request and record it."""
        call = CheckedCall(principal.caller.arn, action, resource, tuple(sorted(context.items())))
        decision = self.model.decide(call)
        with self._lock:
            self.calls_checked += 1
            if decision.allowed:
                self._calls[call] += 1
                return decision
            self.denied_calls += 1
            key = (principal.label, action, resource)
            refused = self._refused.get(key)
            # One log line per principal and action: a run may refuse it for every object.
            first = not any(k[:2] == key[:2] for k in self._refused)
            if refused is None:
                reason = aws_calls.not_authorized(
                    principal.display, action, resource, decision.aws_reason
                )
                refused = self._refused[key] = Refused(
                    principal.label, action, resource, f"{reason} [{decision.rule}]"
                )
            refused.count += 1
        if first:
            verb = "would refuse" if self.lenient else "refused"
            LOG.warning(
                "IAM %s %s %s on %s: %s", verb, principal.label, action, resource, decision.rule
            )
        return decision

    def _context(self, secure: bool = True, **keys: str) -> dict[str, str]:
        context = {"aws:securetransport": "true" if secure else "false"}
        context.update({k.replace("__", ":").lower(): v for k, v in keys.items()})
        return context

    def _service_context(self, source_arn: str | None) -> dict[str, str]:
        context = self._context()
        if source_arn:
            context["aws:sourcearn"] = source_arn
            context["aws:sourceaccount"] = self.model.account
        return context

    def key_of(self, resource: str) -> str | None:
        """The customer managed key that encrypts a resource, if any."""
        if resource.startswith("arn:aws:s3:::") and "/" in resource:
            return self._object_key(resource)
        return self.model.encrypted.get(resource)

    def _object_key(self, resource: str) -> str | None:
        from moto.s3.models import s3_backends

        bucket_name, _, key_name = resource.removeprefix("arn:aws:s3:::").partition("/")
        bucket = s3_backends[self.model.account]["global"].buckets.get(bucket_name)
        obj = bucket.keys.get(key_name) if bucket is not None else None
        if obj is None or obj.encryption != "aws:kms" or not obj.kms_key_id:
            return None
        return customer_key(self.model, str(obj.kms_key_id))

    def _key_checks(
        self, principal: Principal, action: str, resource: str, service: str, secure: bool
    ) -> tuple[str, Decision] | None:
        """The use of the resource's customer managed key by ``service`` on the caller's behalf;
        the first refused KMS action, if any."""
        key = self.key_of(resource)
        if key is None:
            return None
        via = self._context(secure, kms__viaservice=f"{service}.{self.model.region}.amazonaws.com")
        for key_action in KEY_USE.get(action, ()):
            decision = self.check(principal, key_action, key, via)
            if not decision.allowed:
                return key_action, decision
        return None

    # -- the handlers' and Step Functions' own calls ---------------------------------------
    def before_call(self, principal: Principal, client: Any, operation: str, params: Any) -> None:
        """Check one API call of a client on a thread where ``principal`` acts; raise the
        service's AccessDenied when AWS would refuse it."""
        boto_service = client.meta.service_model.service_name
        service = aws_calls.iam_prefix(boto_service)
        region = client.meta.region_name or self.model.region
        secure = str(client.meta.endpoint_url).startswith("https")
        requests = aws_calls.requests_for(
            boto_service,
            operation,
            params,
            region,
            self.model.account,
            secret_arn=self._secret_arn,
            key_arn=lambda k: customer_key(self.model, k) or k,
        )
        for action, resource in requests:
            self.enforce(principal, client, operation, action, resource, service, secure)

    def after_missing_object(
        self, principal: Principal, client: Any, operation: str, params: Any
    ) -> None:
        """S3 answers 404 for a missing key only to a caller that may list the bucket; to
        others it answers 403 AccessDenied (S3 docs, GetObject "Permissions")."""
        bucket = f"arn:aws:s3:::{params.get('Bucket')}"
        decision = self.check(principal, "s3:ListBucket", bucket, self._context())
        if not decision.allowed:
            self._refuse(client, operation, principal, "s3:ListBucket", bucket, decision)

    # -- acting principals -----------------------------------------------------------------

    def enforce(
        self,
        principal: Principal,
        client: Any,
        operation: str,
        action: str,
        resource: str,
        service: str,
        secure: bool = True,
    ) -> None:
        """One request of a client's call, as AWS authorises it: the action on the resource,
        then the use of the resource's customer managed key by ``service`` on the caller's
        behalf; raises the service's AccessDenied where AWS would (unless lenient)."""
        decision = self.check(principal, action, resource, self._context(secure))
        if not decision.allowed:
            self._refuse(client, operation, principal, action, resource, decision)
        refused = self._key_checks(principal, action, resource, service, secure)
        if refused is not None:
            key_action, key_decision = refused
            key = self.key_of(resource) or ""
            self._refuse(
                client, operation, principal, key_action, key, key_decision, kms_for=service
            )

    def _refuse(
        self,
        client: Any,
        operation: str,
        principal: Principal,
        action: str,
        resource: str,
        decision: Decision,
        *,
        kms_for: str | None = None,
    ) -> None:
        if self.lenient:
            return
        service = kms_for or aws_calls.iam_prefix(client.meta.service_model.service_name)
        denial = aws_calls.denial_for(service, kms=kms_for is not None)
        message = aws_calls.not_authorized(principal.display, action, resource, decision.aws_reason)
        raise aws_calls.client_error(client, operation, denial, message)

    def _secret_arn(self, secret_id: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        from moto.secretsmanager.models import secretsmanager_backends

        backend = secretsmanager_backends[self.model.account][self.model.region]
        try:
            return str(backend.describe_secret(secret_id).arn)
        except Exception:  # a secret that does not exist: AWS authorises its would-be ARN
            model = self.model
            return f"arn:aws:secretsmanager:{model.region}:{model.account}:secret:{secret_id}"

    def function_principal(self, function_name: str) -> Principal:
        return self.principal_for_role(self.model.function_roles[function_name], function_name)

    def _require(
        self,
        principal: Principal,
        actions: Sequence[str],
        resource: str,
        context: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Each action on the resource; what is refused, each as a line naming the rule."""
        refused = []
        for action in actions:
            decision = self.check(principal, action, resource, context or self._context())
            if not decision.allowed:
                refused.append(f"{action} on {resource} ({decision.rule})")
        return refused

    def _trusts(
        self, role_arn: str, service: str, context: Mapping[str, str] | None = None
    ) -> bool:
        principal = self.principal_for_service(service)
        ctx = dict(context or self._context())
        return self.check(principal, "sts:AssumeRole", role_arn, ctx).allowed

    def _logs_may_invoke(self, log_group: str, function_arn: str) -> bool:
        source = aws_calls.log_group_arn(log_group, self.model.region, self.model.account) + ":*"
        principal = self.principal_for_service("logs.amazonaws.com")
        decision = self.check(
            principal, "lambda:InvokeFunction", function_arn, self._service_context(source)
        )
        return decision.allowed

    # -- report ----------------------------------------------------------------------------
    def calls(self) -> list[CheckedCall]:
        """Every distinct request that was allowed (creation checks included)."""
        with self._lock:
            return list(self._calls)

    def summary(self) -> dict[str, Any]:
        """What was checked and refused, and per role the actions granted beside those used."""
        with self._lock:
            allowed = list(self._calls)
            refused = [vars(r).copy() for r in self._refused.values()]
            checked, denied = self.calls_checked, self.denied_calls
        used: dict[str, set[str]] = {}
        for call in allowed:
            used.setdefault(call.principal, set()).add(call.action)
        roles: dict[str, Any] = {}
        for arn, role in sorted(self.model.roles.items(), key=lambda item: item[1].logical_id):
            granted = granted_actions(role.statements)
            role_used = sorted(used.get(arn, set()))
            roles[role.logical_id] = {
                "arn": arn,
                "granted": granted,
                "used": role_used,
                "granted_unused": [
                    g for g in granted if not any(action_matches(g, u) for u in role_used)
                ],
            }
        return {
            "enforced": not self.lenient,
            "calls_checked": checked,
            "denied_calls": denied,
            "denied": sorted(refused, key=lambda r: (r["principal"], r["action"], r["resource"])),
            "roles": roles,
        }
