"""template.yaml as shipped, read once per run by the tests of the local runtime's parameter
constraints and Rules (read only: a test that needs to change it copies it first)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@functools.cache
def shipped_template() -> dict[str, Any]:
    document: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return document
