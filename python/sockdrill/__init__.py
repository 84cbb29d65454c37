"""sockdrill from Python: run scenario files and read their results, start servers under
`sockdrill wrap`, run fuzz campaigns and replays. `sockdrill.pytest_plugin` turns all of it
into pytest items and fixtures (README: "Use from pytest")."""
from sockdrill.core import *  # noqa: F401,F403 (the package's API: core.__all__)
from sockdrill.core import __all__  # noqa: F401
