"""README's examples, run as written: a user copies them, so they must pass, every time, under
the faults they show."""
import os
import re
import subprocess

from conftest import ROOT

PYTHON = "/usr/bin/python3"


def readme_block(first_line):
    """The fenced block of README.md whose first line is `first_line`."""
    text = (ROOT / "README.md").read_text()
    for m in re.finditer(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S):
        if m.group(1).startswith(first_line + "\n"):
            return m.group(1)
    raise AssertionError(f"README.md has no block starting {first_line!r}")


def test_pytest_example_with_redis_under_short_io(tmp_path):
    """README "Use from pytest": redis-server under short reads and writes, and a client
    scenario meant for a target. Five runs: a reply read in one recv() passed about one run in
    twenty under short writes, so a single run proves little."""
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_redis.py").write_text(readme_block("# tests/test_redis.py"))
    (tests / "ping.sd").write_text(readme_block("# tests/ping.sd: a client of the server under "
                                                "test ($TARGET_PORT comes from the target)"))
    (tmp_path / "conftest.py").write_text(  # README: a checkout beside the user's code
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'python')!r})\n"
        "pytest_plugins = ['sockdrill.pytest_plugin']\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for run in range(5):
        r = subprocess.run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0, (run, r.stdout + r.stderr)
        assert re.search(r"^1 passed in ", r.stdout, re.M), (run, r.stdout)
        assert "1 scenario file(s) need a server" in r.stdout, r.stdout
