"""The root wrapper builds on first use and when sources change; ci/deps is idempotent."""
import os
import shutil
import subprocess

from conftest import ROOT

TREE = ["CMakeLists.txt", "CMakePresets.json", "cmake", "src", "include", "examples", "tests", "bench",
        "ci", "fuzz", "sockdrill"]


def wrapper(tree, *args):
    env = dict(os.environ, SOCKDRILL_PRESET="default")
    return subprocess.run([str(tree / "sockdrill"), *args], capture_output=True, text=True,
                          env=env, timeout=600)


def test_wrapper_builds_on_first_use_and_when_sources_change(tmp_path):
    tree = tmp_path / "checkout"
    tree.mkdir()
    for name in TREE:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, tree / name)
    first = wrapper(tree, "--version")
    assert first.returncode == 0, first.stderr
    assert "building" in first.stderr
    assert first.stdout.startswith("sockdrill ")
    again = wrapper(tree, "list")
    assert again.returncode == 0
    assert again.stderr == ""  # up to date: no rebuild
    (tree / "src" / "table" / "ops.c").touch()
    changed = wrapper(tree, "--version")
    assert changed.returncode == 0
    assert "building" in changed.stderr


def test_wrapper_reports_a_broken_build(tmp_path):
    tree = tmp_path / "checkout"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns("build", ".git", "__pycache__"))
    with open(tree / "src" / "table" / "ops.c", "a") as f:
        f.write("\nthis is not C;\n")
    r = wrapper(tree, "--version")
    assert r.returncode == 3
    assert "sockdrill: build failed" in r.stderr


def test_deps_is_quiet_when_all_present():
    r = subprocess.run([str(ROOT / "ci" / "deps")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0
    assert r.stdout == "" and r.stderr == ""


def test_deps_rejects_unknown_set():
    r = subprocess.run([str(ROOT / "ci" / "deps"), "everything"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert "unknown set 'everything'" in r.stderr
