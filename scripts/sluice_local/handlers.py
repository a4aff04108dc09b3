"""Load a function's real handler the way Lambda does, several functions in one process.

Lambda puts the function's code root and each layer's ``python/`` folder on ``sys.path``. Every
function here has an ``app.py``, so each one is loaded under its own module name; domain modules
have names unique across functions (tests/template checks it), so all code roots can share
``sys.path``.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]

_lock = threading.Lock()
_loaded: dict[tuple[str, str, str], Handler] = {}


def layer_python_dir(layer_dir: Path) -> Path:
    """The folder Lambda mounts at /opt/python for a layer built from ``layer_dir``."""
    return layer_dir / "python"


def load_handler(
    code_dir: Path,
    handler: str = "app.lambda_handler",
    layer_dirs: Iterable[Path] = (),
    container: str = "",
) -> Handler:
    """Import ``handler`` ("module.function") from ``code_dir`` with the layers importable.

    Each ``container`` name gets its own instance of the handler module (a cold start), so
    per-container caches (settings, clients) never outlive a deployment.
    """
    cache_key = (str(code_dir), handler, container)  # before resolve(): called per invocation
    with _lock:
        if cache_key in _loaded:
            return _loaded[cache_key]
        code_dir = code_dir.resolve()
        module_name, _, func_name = handler.rpartition(".")
        if not module_name or not func_name:
            raise ValueError(f"handler {handler!r} is not of the form 'module.function'")
        for path in [code_dir, *(layer_python_dir(d.resolve()) for d in layer_dirs)]:
            if str(path) not in sys.path:
                sys.path.insert(0, str(path))
        source = code_dir / (module_name.replace(".", "/") + ".py")
        if not source.is_file():
            raise FileNotFoundError(f"handler module {source} does not exist")
        unique = f"_sluice_fn_{container}_{code_dir.name}_{module_name.replace('.', '_')}"
        spec = importlib.util.spec_from_file_location(unique, source)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {source}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
        func = getattr(module, func_name, None)
        if not callable(func):
            raise AttributeError(f"{source} has no callable {func_name!r}")
        _loaded[cache_key] = func
        return func
