"""pytest in this repository: the sockdrill plugin (python/sockdrill) is active for every
test below the root, whether pytest was started as `python3 -m pytest` or `pytest-3`."""
import pathlib
import sys

_PYTHON = str(pathlib.Path(__file__).resolve().parent / "python")
if _PYTHON not in sys.path:
    sys.path.insert(0, _PYTHON)

pytest_plugins = ["sockdrill.pytest_plugin"]
