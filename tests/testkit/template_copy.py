"""A copy of template.yaml with one edit, to run the pipeline as it would be without a fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]


def template_copy(directory: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """template.yaml with ``edit`` applied to its Resources, beside the code it names."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("functions", "layers", "statemachine"):
        (directory / name).symlink_to(ROOT / name)
    template = yaml_parse((ROOT / "template.yaml").read_text())
    edit(template["Resources"])
    path = directory / "template.yaml"
    path.write_text(json.dumps(template))
    return path
