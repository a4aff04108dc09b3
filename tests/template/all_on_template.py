"""Write template.yaml with every optional part switched on, for checkov.

checkov drops a resource whose Condition it can resolve to false from the parameter defaults
(every optional part is off by default), so `make template-check` also scans this variant:

    python tests/template/all_on_template.py .checkov/template-all-on.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

# As pytest runs it: tests/ (for testkit) and this folder importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_optional_parts import ALL_ON  # the parts and their parameters, defined once

ROOT = Path(__file__).resolve().parents[2]


def main(out: Path) -> None:
    template = yaml_parse((ROOT / "template.yaml").read_text())
    for name, value in ALL_ON.items():
        template["Parameters"][name]["Default"] = value
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(template, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
