"""SplunkForwarder's settings as the template sets them: defaults, each wrong value named as the
function's own InvalidSetting, and every HEC setting taken from its variable."""

from __future__ import annotations

import pytest

from hec import HecSettings, InvalidSetting
from hec_wiring import forwarder_config

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice/splunk-hec-AbCdEf"
REQUIRED = {
    "SPLUNK_HEC_URL": "https://splunk.example.com:8088",
    "SPLUNK_HEC_TOKEN_SECRET_ARN": SECRET,
}


def test_the_template_defaults_are_the_hec_defaults() -> None:
    config = forwarder_config(REQUIRED | {"SPLUNK_INDEX": "", "SPLUNK_SOURCETYPE": ""})
    assert config.hec_url == "https://splunk.example.com:8088/services/collector/event"
    assert config.hec == HecSettings(token_secret=SECRET)


def test_every_variable_reaches_its_hec_setting() -> None:
    config = forwarder_config(
        REQUIRED
        | {
            "SPLUNK_INDEX": " sluice ",
            "SPLUNK_SOURCE": "sluice:drain",
            "SPLUNK_SOURCETYPE": "aws:states",
            "SPLUNK_MAX_BATCH_BYTES": "2000",
            "SPLUNK_MAX_ATTEMPTS": "2",
            "SPLUNK_TIMEOUT_SECONDS": "2.5",
            "SPLUNK_BACKOFF_BASE_SECONDS": "0.25",
            "SPLUNK_BACKOFF_MAX_SECONDS": "4",
        }
    )
    assert config.hec == HecSettings(SECRET, "sluice", "sluice:drain", "aws:states", 2000, 2, 2.5,
                                     0.25, 4.0)  # fmt: skip


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        (("SPLUNK_HEC_URL", ""), "SPLUNK_HEC_URL is not set"),
        (("SPLUNK_HEC_TOKEN_SECRET_ARN", ""), "SPLUNK_HEC_TOKEN_SECRET_ARN is not set"),
        (("SPLUNK_MAX_ATTEMPTS", "five"), "SPLUNK_MAX_ATTEMPTS='five' is not a whole number"),
        (("SPLUNK_MAX_ATTEMPTS", "0"), "SPLUNK_MAX_ATTEMPTS='0' is below the minimum 1"),
        (("SPLUNK_MAX_BATCH_BYTES", "0"), "SPLUNK_MAX_BATCH_BYTES='0' is below the minimum"),
        (("SPLUNK_TIMEOUT_SECONDS", "0"), "SPLUNK_TIMEOUT_SECONDS='0' is below the minimum"),
        (("SPLUNK_BACKOFF_MAX_SECONDS", "-1"), "SPLUNK_BACKOFF_MAX_SECONDS='-1' is below"),
        (("SPLUNK_TIMEOUT_SECONDS", "nan"), "SPLUNK_TIMEOUT_SECONDS='nan' is not a finite"),
    ],
)
def test_a_wrong_setting_is_named(setting: tuple[str, str], reason: str) -> None:
    name, value = setting
    with pytest.raises(InvalidSetting, match=reason):
        forwarder_config(REQUIRED | {name: value})
