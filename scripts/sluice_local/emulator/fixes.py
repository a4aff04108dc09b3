"""Fixes to moto where it departs from AWS in ways the template relies on.

Each fix makes moto behave like the real service, or keeps moto's own overhead from distorting
what the benchmarks measure; none restates the pipeline.
"""

from __future__ import annotations

from typing import Any

_installed = False

# Strict mode: the local runtime refuses what AWS refuses where moto does not (the install_*
# fixes in sqs_fixes and sfn_limits that say "strict"). Each reads these at call time, so
# set_strict(False) (the runtime's lenient mode) turns them all off at once, in a running
# pipeline too.
STRICT = True
# An Express execution's limit, in wall-clock seconds: not time-scaled, because the execution's
# own clock ($$.Execution.StartTime, the handlers' datetime.now()) is not; the drain budgets its
# rounds against that clock (functions/drain_lease/lease.py).
EXPRESS_LIMIT_SECONDS = 300.0
STATE_DATA_LIMIT_BYTES = 262_144  # a state's input or output, as UTF-8 JSON
# A short poll answers nothing with this probability while fewer than SHORT_POLL_FEW_MESSAGES
# messages are visible; drawn per queue and call from SHORT_POLL_SEED, so a run repeats.
SHORT_POLL_MISS_PROBABILITY = 0.5
SHORT_POLL_FEW_MESSAGES = 10
SHORT_POLL_SEED = 0


def set_strict(strict: bool) -> None:
    """Refuse what AWS refuses (True, the default) or run lenient, as moto alone does (False)."""
    global STRICT
    STRICT = strict


def set_move_tasks(active: bool) -> None:
    """Answer SQS's message move tasks (True while a local pipeline runs) or leave them to moto."""
    from sluice_local.emulator import move_tasks

    move_tasks.set_active(active)


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    # Here, not at the top: each fix module reads this one's settings (STRICT...) at call time.
    from moto.cloudformation import parsing

    from sluice_local.emulator import (
        delivery_fixes,
        move_tasks,
        s3_fixes,
        sfn_fixes,
        sfn_limits,
        sqs_fixes,
    )

    original = parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        # CloudFormation drops a list item that resolves to AWS::NoValue (e.g. a conditional
        # policy in a role's Policies); moto leaves None in the list.
        cleaned = original(resource_json, resources_map)
        if isinstance(resource_json, list) and isinstance(cleaned, list):
            return [item for item in cleaned if item is not None]
        return cleaned

    parsing.clean_json = clean_json
    _install_condition_equals()
    sfn_fixes.install_sdk_casing()
    s3_fixes.install_bucket_properties()
    s3_fixes.install_null_version_ids()
    sqs_fixes.install_sqs_atomicity()
    sfn_fixes.install_sfn_client_reuse()
    sfn_fixes.install_parse_once()
    sqs_fixes.install_sqs_clock_once()
    sfn_fixes.install_execution_logging()
    delivery_fixes.install_subscription_event_ids()
    sfn_fixes.install_branch_error_names()
    sfn_limits.install_uncatchable_errors()
    sfn_limits.install_state_data_limit()
    sfn_limits.install_express_limit()
    sfn_fixes.install_execution_names()
    sqs_fixes.install_sqs_message_size()
    sqs_fixes.install_short_polls()
    delivery_fixes.install_delivery_failures()
    move_tasks.install_message_move_tasks()


def _install_condition_equals() -> None:
    """A Ref to a Number parameter is a string in CloudFormation ("0"), so Fn::Equals of it and
    "0" is true; moto resolves the parameter to an int and compares 0 with "0" as unequal."""
    from moto.cloudformation import parsing

    original = parsing.parse_condition

    def parse_condition(condition: Any, resources_map: Any, condition_map: Any) -> bool:
        if isinstance(condition, dict) and list(condition) == ["Fn::Equals"]:
            values = [parsing.clean_json(v, resources_map) for v in condition["Fn::Equals"]]
            scalars = all(
                isinstance(v, int | float | str) and not isinstance(v, bool) for v in values
            )
            if scalars:
                return str(values[0]) == str(values[1])
        return bool(original(condition, resources_map, condition_map))

    parsing.parse_condition = parse_condition
