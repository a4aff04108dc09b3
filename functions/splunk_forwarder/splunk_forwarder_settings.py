"""SplunkForwarderFunction's settings: every variable template.yaml sets on it, declared once.

The first four come from template parameters (their defaults are the parameters' Defaults);
the others are tuning the template sets as literals, named by the errors that suggest them.
Every field but hec_url has the name of the hec.HecSettings field it becomes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sluice_common.settings import setting

# Timeouts must be more than 0 (a 0 s timeout fails every request); setting() bounds are inclusive.
_POSITIVE = 0.001


@dataclass(frozen=True)
class SplunkForwarderSettings:
    hec_url: str = setting("SPLUNK_HEC_URL", "", parameter="SplunkHecUrl")
    token_secret: str = setting(
        "SPLUNK_HEC_TOKEN_SECRET_ARN", "", parameter="SplunkHecTokenSecretArn"
    )
    index: str = setting("SPLUNK_INDEX", "", parameter="SplunkIndex")  # "": the token's default
    sourcetype: str = setting(
        "SPLUNK_SOURCETYPE", "aws:cloudwatchlogs", parameter="SplunkSourcetype"
    )
    source: str = setting("SPLUNK_SOURCE", "")  # "": each event's log group
    max_batch_bytes: int = setting("SPLUNK_MAX_BATCH_BYTES", 262_144, minimum=1)
    max_attempts: int = setting("SPLUNK_MAX_ATTEMPTS", 5, minimum=1)
    timeout_s: float = setting("SPLUNK_TIMEOUT_SECONDS", 10.0, minimum=_POSITIVE)
    backoff_base_s: float = setting("SPLUNK_BACKOFF_BASE_SECONDS", 0.5, minimum=0)
    backoff_cap_s: float = setting("SPLUNK_BACKOFF_MAX_SECONDS", 8.0, minimum=0)  # caps Retry-After
