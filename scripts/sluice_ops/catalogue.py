"""The layer's metric catalogue, for the operator tools (dashboards, monitor).

The layer is deployed apart from the operator tools: import it from this checkout, from the
folder Lambda mounts as /opt/python (as the local runtime does).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sluice_local.handlers import layer_python_dir

LAYER = Path(__file__).resolve().parents[2] / "layers/common"
if str(layer_python_dir(LAYER)) not in sys.path:
    sys.path.append(str(layer_python_dir(LAYER)))

from sluice_common import metric_catalogue  # noqa: E402

__all__ = ["metric_catalogue"]
