"""Makes `python3 -m pytest -p sockdrill.pytest_plugin` work from the repository root.

The Python package lives in python/sockdrill/; `./sockdrill` here is the CLI wrapper, so a
package directory cannot have that name. `python3 -m` puts the working directory on
sys.path, which finds this module, and its __path__ makes the package's modules importable
as sockdrill.* (sockdrill.core, sockdrill.pytest_plugin)."""
import os as _os

__path__ = [_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "python", "sockdrill")]

from sockdrill.core import *  # noqa: E402,F401,F403 (as python/sockdrill/__init__.py)
from sockdrill.core import __all__  # noqa: E402,F401
