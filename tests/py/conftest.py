"""Shared helpers for sockdrill's pytest suite: where the build is. The `sockdrill` fixture
(the CLI, bounded in time) and the others come from the plugin, which the root conftest.py
loads."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PRESET = os.environ.get("SOCKDRILL_PRESET", "default")


def build_dir(preset=PRESET):
    return ROOT / "build" / preset


def ensure_built(preset=PRESET):
    """Builds `preset` through the root wrapper (a no-op when up to date)."""
    env = dict(os.environ, SOCKDRILL_PRESET=preset)
    r = subprocess.run([str(ROOT / "sockdrill"), "--version"], env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, f"build of preset {preset} failed:\n{r.stderr}"
    return build_dir(preset)


@pytest.fixture(scope="session")
def build(sockdrill):
    """The build the plugin's `sockdrill` fixture runs (preset $SOCKDRILL_PRESET)."""
    return sockdrill.build_dir


@pytest.fixture(scope="session")
def default_build():
    """The uninstrumented build, for what links against the installed library."""
    return ensure_built("default")
