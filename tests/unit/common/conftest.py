"""The common layer importable as Lambda mounts it (/opt/python)."""

from __future__ import annotations

import sys
from pathlib import Path

from sluice_local.handlers import layer_python_dir

_LAYER = str(layer_python_dir(Path(__file__).resolve().parents[3] / "layers/common"))
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)
