"""sluice_common.settings: one typed read of a function's environment, errors naming the fix."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass

import pytest

from sluice_common.settings import REQUIRED, SettingsError, declared, load, setting


@dataclass(frozen=True)
class Example:
    table: str = setting("TABLE")
    timeout_s: float = setting("TIMEOUT_SECONDS", 35, parameter="TimeoutSeconds", maximum=60)
    attempts: int = setting("MAX_ATTEMPTS", 5, parameter="MaxAttempts", minimum=1, maximum=20)
    enabled: bool = setting("ENABLED", False, parameter="Enabled")
    mode: str = setting("MODE", "fast", parameter="Mode", choices=("fast", "slow"))
    names: tuple[str, ...] = setting("NAMES", (), parameter="Names")
    rate: float = setting("RATE", "0", parameter="Rate", minimum=0, maximum=1)


def test_unset_variables_take_their_defaults_typed() -> None:
    config = load(Example, {"TABLE": "t"})
    assert config == Example(
        table="t", timeout_s=35.0, attempts=5, enabled=False, mode="fast", names=(), rate=0.0
    )
    # A float's default, written as the template's Default (35, "0"), is a float.
    assert type(config.timeout_s) is float and type(config.rate) is float


def test_values_are_parsed_by_their_annotation() -> None:
    config = load(
        Example,
        {
            "TABLE": " t ",
            "TIMEOUT_SECONDS": "0.5",
            "MAX_ATTEMPTS": "20",
            "ENABLED": "TRUE",
            "MODE": "slow",
            "NAMES": " a, ,b ,",
            "RATE": "1",
        },
    )
    assert (config.table, config.timeout_s, config.attempts) == ("t", 0.5, 20)
    assert (config.enabled, config.mode, config.names, config.rate) == (True, "slow", ("a", "b"), 1)
    assert type(config.attempts) is int


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_variable_counts_as_unset(empty: str) -> None:
    # The template passes "" for an optional parameter left empty.
    config = load(Example, {"TABLE": "t", "MAX_ATTEMPTS": empty, "NAMES": empty})
    assert (config.attempts, config.names) == (5, ())
    with pytest.raises(SettingsError, match="TABLE is not set"):
        load(Example, {"TABLE": empty})


def test_a_missing_required_variable_is_named_with_its_parameter() -> None:
    @dataclass(frozen=True)
    class Needs:
        url: str = setting("API_URL", parameter="ApiUrl")

    with pytest.raises(SettingsError) as raised:
        load(Needs, {})
    assert str(raised.value) == (
        "invalid configuration: API_URL is not set (template parameter ApiUrl)"
    )


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("MAX_ATTEMPTS", "0", "MAX_ATTEMPTS='0' is below the minimum 1 (template parameter"),
        ("MAX_ATTEMPTS", "21", "MAX_ATTEMPTS='21' is above the maximum 20"),
        ("MAX_ATTEMPTS", "2.5", "MAX_ATTEMPTS='2.5' is not a whole number"),
        ("TIMEOUT_SECONDS", "soon", "TIMEOUT_SECONDS='soon' is not a number"),
        ("TIMEOUT_SECONDS", "nan", "TIMEOUT_SECONDS='nan' is not a finite number"),
        ("TIMEOUT_SECONDS", "inf", "TIMEOUT_SECONDS='inf' is not a finite number"),
        ("TIMEOUT_SECONDS", "61", "TIMEOUT_SECONDS='61' is above the maximum 60"),
        ("ENABLED", "yes", "ENABLED='yes' is not true or false (template parameter Enabled)"),
        ("MODE", "medium", "MODE='medium' is not one of fast, slow (template parameter Mode)"),
        ("RATE", "-0.1", "RATE='-0.1' is below the minimum 0"),
    ],
)
def test_a_bad_value_is_a_settings_error_naming_variable_value_and_parameter(
    name: str, value: str, problem: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load(Example, {"TABLE": "t", name: value})
    assert problem in str(raised.value)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        load(Example, {"MAX_ATTEMPTS": "many", "ENABLED": "1"})
    message = str(raised.value)
    assert "TABLE is not set" in message
    assert "MAX_ATTEMPTS='many'" in message and "ENABLED='1'" in message


def test_a_long_value_is_cut_in_the_message() -> None:
    with pytest.raises(SettingsError) as raised:
        load(Example, {"TABLE": "t", "MAX_ATTEMPTS": "9" * 200 + "x"})
    assert "9" * 80 + "'" in str(raised.value) and "9" * 81 not in str(raised.value)


def test_settings_are_frozen_and_declared_for_the_template_checks() -> None:
    config = load(Example, {"TABLE": "t"})
    with pytest.raises(FrozenInstanceError):
        config.table = "other"
    specs = declared(Example)
    assert list(specs) == ["table", "timeout_s", "attempts", "enabled", "mode", "names", "rate"]
    assert specs["table"].required and specs["table"].default is REQUIRED
    assert (specs["attempts"].env, specs["attempts"].parameter) == ("MAX_ATTEMPTS", "MaxAttempts")
    assert (specs["attempts"].default, specs["attempts"].minimum) == (5, 1)


def test_os_environ_is_read_when_no_mapping_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE", "from-env")
    monkeypatch.setenv("MAX_ATTEMPTS", "7")
    config = load(Example)
    assert (config.table, config.attempts) == ("from-env", 7)


def test_an_unsupported_type_is_a_programming_error() -> None:
    @dataclass(frozen=True)
    class Odd:
        items: bytes = setting("ITEMS")

    with pytest.raises(TypeError, match="unsupported setting type"):
        load(Odd, {"ITEMS": "a"})


@pytest.mark.parametrize(
    ("name", "raw", "problem"),
    [
        ("MAX_ATTEMPTS", "1_0", "is not a whole number"),
        ("MAX_ATTEMPTS", "+5", "is not a whole number"),
        ("MAX_ATTEMPTS", "\u0665", "is not a whole number"),  # an Arabic-Indic 5
        ("TIMEOUT_SECONDS", "1_0.5", "is not a number"),
        ("TIMEOUT_SECONDS", "\u0661\u0660", "is not a number"),
    ],
)
def test_numbers_are_plain_ascii_as_cloudformation_writes_them(
    name: str, raw: str, problem: str
) -> None:
    # Python's int() and float() take these; a template parameter never passes them.
    with pytest.raises(SettingsError, match=problem):
        load(Example, {"TABLE": "t", name: raw})


def test_a_function_passes_its_own_error_name() -> None:
    class FeeConfigurationError(Exception):
        pass

    with pytest.raises(FeeConfigurationError, match="MAX_ATTEMPTS='0' is below the minimum 1"):
        load(Example, {"TABLE": "t", "MAX_ATTEMPTS": "0"}, error=FeeConfigurationError)
