"""The pytest plugin (python/sockdrill/pytest_plugin.py), tested the way users run it: pytest
started in a subprocess from the repository root with `-p sockdrill.pytest_plugin`, nothing
in the environment, on scenario files. The fixture examples are in test_plugin_examples.py."""
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, host_one_role, required_variant

PYTHON = "/usr/bin/python3"  # Debian's, which has pytest

SERVER = """\
s: L = socket(inet) -> fd
s: bind(L, 127.0.0.1:0) -> 0
s: P = port(L)
s: listen(L, 4) -> 0
c: C = socket(inet) -> fd
c: connect(C, 127.0.0.1:$P) -> 0
s: S = accept(L) -> fd
"""


def pytest_run(*args, cwd=ROOT, timeout=600):
    """`python3 -m pytest -p sockdrill.pytest_plugin ARGS` from `cwd`, with an environment that
    has no PYTHONPATH and no pytest options of ours."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    return subprocess.run([PYTHON, "-m", "pytest", "-p", "sockdrill.pytest_plugin",
                           "-p", "no:cacheprovider", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def scenario_files():
    return sorted((ROOT / "corpus" / "scenarios").rglob("*.sd"))


def test_collects_one_item_per_file_and_backend():
    r = pytest_run("--collect-only", "-q", "corpus/scenarios")
    assert r.returncode == 0, r.stdout + r.stderr
    ids = [line for line in r.stdout.splitlines() if "::" in line]
    want = [f"{f.relative_to(ROOT)}::{b}" for f in scenario_files() for b in ("sim", "real")]
    assert sorted(ids) == sorted(want)
    assert "corpus/scenarios/bind/conflict.sd::sim" in ids


@pytest.mark.parametrize("how", [["-m", "sim"], ["--sockdrill-backend", "sim"]])
def test_select_one_backend(how):
    r = pytest_run("-q", *how, "corpus/scenarios/bind")
    assert r.returncode == 0, r.stdout + r.stderr
    n = len(list((ROOT / "corpus" / "scenarios" / "bind").glob("*.sd")))
    deselected = f", {n} deselected" if how[0] == "-m" else ""
    assert re.search(rf"^{n} passed{deselected} in ", r.stdout, re.M), r.stdout


def test_failing_item_shows_the_step_the_difference_and_the_reproduce_command(tmp_path):
    path = tmp_path / "wrong.sd"
    # Nobody reads and the send buffer is small: how much the first send takes differs
    # between the stacks, and "1" is wrong on both.
    path.write_text(SERVER + "c: setsockopt(C, SO_SNDBUF, 4096) -> 0\n"
                             "c: nonblock(C) -> 0\n"
                             "c: send(C, pattern(2000000)) -> 1\n")
    r = pytest_run("-q", path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^2 failed in ", r.stdout, re.M), r.stdout
    for backend in ("sim", "real"):
        assert f"wrong.sd::{backend}" in r.stdout
        assert re.search(rf"^{backend}: {re.escape(str(path))}:10: c: send\(C, "
                         rf"pattern\(2000000\)\) -> 1: expected 1, got \d+$", r.stdout, re.M)
        # compared with this kernel, the sim ran as its variant and with its kernel profile:
        # the command says so
        variant = "--one-role 1 " if backend == "sim" and host_one_role() else ""
        variant += "--profile host " if backend == "sim" else ""
        assert f"reproduce: ./sockdrill run --backend {backend} --seed 1 {variant}{path}" in r.stdout
    assert "steps whose outcome differs between sim and real:" in r.stdout
    assert re.search(r"^\s+sim:  \d+ +real: \d+$", r.stdout, re.M), r.stdout


def test_options_reach_the_runs_and_their_reproduce_commands(tmp_path):
    path = tmp_path / "echo.sd"
    path.write_text(SERVER + 'c: send(C, "hello") -> 5\n'
                             's: recv(S, 5) -> "hello"\n')  # wrong once reads come back short
    r = pytest_run("-q", "--sockdrill-backend", "sim", "--sockdrill-seed", "42",
                   "--sockdrill-faults", "short-read=2", path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^1 failed in ", r.stdout, re.M), r.stdout
    assert (f"reproduce: ./sockdrill run --backend sim --seed 42 --faults 'short-read=2' {path}"
            in r.stdout)
    clean = pytest_run("-q", "--sockdrill-seed", "42", path)
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_file_for_another_kernel_variant_is_skipped_with_the_reason():
    """The corpus describes each side of the one-role kernel variant: the file for the
    variant this kernel does not have is a skipped item on real (not a pass), with the
    reason; on sim every file runs."""
    files = sorted((ROOT / "corpus" / "scenarios" / "listen").glob("listen_after_refused*.sd"))
    assert sorted(required_variant(f) for f in files) == [False, True]
    other = next(f for f in files if required_variant(f) == (not host_one_role()))
    r = pytest_run("-v", "-rs", *files)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf"{re.escape(other.stem)}\S*::real SKIPPED", r.stdout), r.stdout
    assert re.search(rf"^SKIPPED \[1\] .*/{re.escape(other.name)}:\d+: not applicable: the "
                     rf"file requires \S+ and this kernel is \S+$", r.stdout, re.M), r.stdout
    assert re.search(r"^=+ 3 passed, 1 skipped in ", r.stdout, re.M), r.stdout


def test_malformed_file_names_file_line_and_column(tmp_path):
    (tmp_path / "bad.sd").write_text("# fine so far\na: frob()\n")
    r = pytest_run("-q", tmp_path)
    assert r.returncode == 1
    assert f"malformed scenario: {tmp_path}/bad.sd:2:4: unknown call 'frob'" in r.stdout


def test_junit_through_pytest(tmp_path):
    (tmp_path / "ok.sd").write_text(SERVER + "c: close(C) -> 0\n")
    (tmp_path / "wrong.sd").write_text(SERVER + "c: close(C) -> 1\n")
    xml = tmp_path / "out.xml"
    r = pytest_run("-q", f"--junitxml={xml}", tmp_path)
    assert r.returncode == 1
    cases = list(ET.parse(xml).getroot().iter("testcase"))
    names = sorted((c.get("classname").rsplit(".", 2)[-2], c.get("name")) for c in cases)
    assert names == [("ok", "real"), ("ok", "sim"), ("wrong", "real"), ("wrong", "sim")]
    for case in cases:
        failure = case.find("failure")
        assert (failure is not None) == case.get("classname").endswith("wrong.sd")
        if failure is not None:
            assert "expected 1, got 0" in failure.text and "reproduce: " in failure.text


@pytest.mark.parametrize("args, message", [
    (["--sockdrill-backend", "kernel"], "invalid choice: 'kernel'"),
    (["--sockdrill-seed", "x"], "invalid int value: 'x'"),
    (["--sockdrill-faults", ""], "--sockdrill-faults: not a fault spec"),
])
def test_bad_option_is_a_usage_error(args, message):
    r = pytest_run(*args, "corpus/scenarios/bind/conflict.sd")
    assert r.returncode == 4, r.stdout + r.stderr
    assert message in r.stderr


def test_bad_fault_spec_fails_the_items_with_the_reason(tmp_path):
    (tmp_path / "a.sd").write_text(SERVER + "c: close(C) -> 0\n")
    r = pytest_run("-q", "--sockdrill-faults", "short-read=0", tmp_path)
    assert r.returncode == 1
    assert "short-read" in r.stdout


def test_installed_plugin_loads_through_its_entry_point(default_build, tmp_path):
    """After `cmake --install`, Debian's python3 finds the package (here through PYTHONPATH,
    as the prefix is a temporary one) and pytest loads the plugin by its pytest11 entry point,
    with no -p; it runs the installed binary, not the source tree's."""
    prefix = tmp_path / "prefix"
    inst = subprocess.run(["cmake", "--install", str(default_build), "--prefix", str(prefix)],
                          capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stdout + inst.stderr
    site = list(prefix.glob("lib/python3*/dist-packages"))
    assert len(site) == 1, list(prefix.rglob("*.py"))
    # the default prefix /usr/local puts it where Debian's python3 looks
    paths = subprocess.run([PYTHON, "-c", "import sys; print('\\n'.join(sys.path))"],
                           capture_output=True, text=True, timeout=60).stdout.split()
    assert f"/usr/local/{site[0].relative_to(prefix)}" in paths, paths
    assert (site[0] / "sockdrill-0.1.0.dist-info" / "entry_points.txt").read_text() == \
        "[pytest11]\nsockdrill.pytest_plugin = sockdrill.pytest_plugin\n"
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "echo.sd").write_text(SERVER + 'c: send(C, "hi") -> 2\ns: recv(S, 2) -> "hi"\n')
    (proj / "test_mine.py").write_text(
        "def test_which_binary(sockdrill):\n"
        f"    assert str(sockdrill.binary) == {str(prefix / 'bin' / 'sockdrill')!r}\n"
        "    report = sockdrill.run('echo.sd', backend='sim')\n"
        "    assert report.passed and [r.backend for r in report.results] == ['sim']\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "SOCKDRILL_BIN")}
    env.update(PYTHONPATH=str(site[0]), PATH="/usr/bin:/bin")
    r = subprocess.run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=proj,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^3 passed in ", r.stdout, re.M), r.stdout


CRASHY = '''\
import os, signal, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
while True:
    c, _ = s.accept()
    if c.recv(16) == b"crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    c.close()
'''

USES_IT = '''\
import sys, time

def start(wrapped_server, tmp_path):
    (tmp_path / "srv.py").write_text(CRASHY)
    return wrapped_server([sys.executable, str(tmp_path / "srv.py"), "{port}"])

def test_crashes(wrapped_server, tmp_path):
    server = start(wrapped_server, tmp_path)
    with server.connect() as c:
        c.sendall(b"crash")
    for _ in range(100):  # bounded: 5 s
        if not server.alive:
            break
        time.sleep(0.05)

def test_behaves(wrapped_server, tmp_path):
    server = start(wrapped_server, tmp_path)
    with server.connect() as c:
        c.sendall(b"hello")
    assert server.alive
'''


def test_wrapped_server_that_crashes_fails_its_test(tmp_path):
    (tmp_path / "test_servers.py").write_text(f"CRASHY = {CRASHY!r}\n" + USES_IT)
    r = pytest_run("-q", tmp_path / "test_servers.py")
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^1 failed, 1 passed in ", r.stdout, re.M), r.stdout
    assert re.search(r"^_+ test_crashes _+\n.*python3 died of signal 11 \(SIGSEGV\) \(under: "
                     r"\S+/sockdrill wrap ", r.stdout, re.M), r.stdout


def test_checkout_plugin_from_a_users_conftest(tmp_path):
    """README: a project keeps a sockdrill checkout beside its code and loads the plugin from
    its root conftest.py; scenario files and fixtures work, on the checkout's own build."""
    (tmp_path / "conftest.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'python')!r})\n"
        "pytest_plugins = ['sockdrill.pytest_plugin']\n")
    (tmp_path / "echo.sd").write_text(SERVER + 'c: send(C, "hi") -> 2\ns: recv(S, 2) -> "hi"\n')
    (tmp_path / "test_mine.py").write_text(
        "def test_checkout_build(sockdrill):\n"
        f"    assert sockdrill.root == __import__('pathlib').Path({str(ROOT)!r})\n"
        "    assert sockdrill('--version').returncode == 0\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    r = subprocess.run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^3 passed in ", r.stdout, re.M), r.stdout


def test_bytes_that_are_not_utf8_do_not_break_the_report(tmp_path):
    (tmp_path / "latin1.sd").write_bytes(SERVER.encode() + b"c: close(C) -> 1   # caf\xe9\n")
    r = pytest_run("-q", "--sockdrill-backend", "sim", tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^sim: .*latin1\.sd:8: c: close\(C\) -> 1   # caf\ufffd: expected 1, got 0$",
                     r.stdout, re.M), r.stdout


def test_fuzz_fixture_fails_a_test_with_the_reproduce_command(tmp_path):
    (tmp_path / "test_fz.py").write_text(
        "def test_fragile(fuzz):\n"
        "    fuzz('fragile_server', 60)\n")
    r = pytest_run("-q", tmp_path / "test_fz.py")
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^1 failed in ", r.stdout, re.M), r.stdout
    assert re.search(r"^fuzzing fragile_server on libfuzzer for 60 s found [1-9]\d* crash\(es\); "
                     r"reproduce with:$", r.stdout, re.M), r.stdout
    assert re.search(r"^\./sockdrill repro fragile_server \S+/artifacts/crash-\w+ --engine "
                     r"libfuzzer$", r.stdout, re.M), r.stdout


TARGET_CLIENT = """\
c: C = socket(inet) -> fd
c: connect(C, 127.0.0.1:$TARGET_PORT) -> 0   # $TARGET_PORT: only `run --target` defines it
c: send(C, "ping\\n") -> 5
c: recv(C, 5, MSG_WAITALL) -> "ping\\n"
c: close(C) -> 0
"""

ECHO = '''\
import socket, sys, threading
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
def serve(c):
    with c:
        while True:
            d = c.recv(4096)
            if not d:
                return
            c.sendall(d)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'''


def test_scenarios_meant_for_a_target_are_recognised(tmp_path, wrapped_server):
    """A scenario that uses $TARGET_PORT talks to a server under test: without
    --sockdrill-target it is not collected (and the header says so) instead of failing on an
    unknown variable; with it, it runs against that server as one ::target item."""
    (tmp_path / "echo.sd").write_text(SERVER + 'c: send(C, "hi") -> 2\ns: recv(S, 2) -> "hi"\n')
    (tmp_path / "my_client.sd").write_text(TARGET_CLIENT)
    (tmp_path / "comment_only.sd").write_text(SERVER + "c: close(C) -> 0   # not $TARGET_PORT\n")
    r = pytest_run("-q", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^4 passed in ", r.stdout, re.M), r.stdout
    assert "sockdrill: 1 scenario file(s) need a server (they use $TARGET_PORT)" in r.stdout
    assert "my_client.sd" in r.stdout
    (tmp_path / "echo.py").write_text(ECHO)
    server = wrapped_server(["/usr/bin/python3", tmp_path / "echo.py", "{port}"], faults="")
    r = pytest_run("-v", "--sockdrill-target", server.address, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"my_client\S*::target PASSED", r.stdout), r.stdout
    assert re.search(r"^=+ 5 passed in ", r.stdout, re.M), r.stdout


def test_pytest_3_and_python3_m_pytest_from_the_root_need_no_option():
    """In a checkout, the root conftest.py loads the plugin for `pytest-3` as for
    `python3 -m pytest`: no -p, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    n = 2 * len(list((ROOT / "corpus" / "scenarios" / "bind").glob("*.sd")))
    for cmd in (["/usr/bin/pytest-3"], [PYTHON, "-m", "pytest"]):
        r = subprocess.run([*cmd, "-q", "-p", "no:cacheprovider", "corpus/scenarios/bind"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0, (cmd, r.stdout + r.stderr)
        assert re.search(rf"^{n} passed in ", r.stdout, re.M), (cmd, r.stdout)


XDIST_SUITE = '''\
import pytest, sys

@pytest.mark.parametrize("n", range(8))
def test_echo(wrapped_server, tmp_path, n):
    (tmp_path / "echo.py").write_text(ECHO)
    server = wrapped_server([sys.executable, str(tmp_path / "echo.py"), "{port}"],
                            faults="short-read=1,short-write=1", seed=n)
    with server.connect() as c:
        c.sendall(b"hello %d\\n" % n)
        f = c.makefile("rb")
        assert f.readline() == b"hello %d\\n" % n
'''


def test_plugin_under_pytest_xdist(tmp_path):
    """`-n 2` (Debian's python3-pytest-xdist): scenario items and wrapped servers in two
    workers at once, with no port collision and no build race."""
    (tmp_path / "test_par.py").write_text(f"ECHO = {ECHO!r}\n" + XDIST_SUITE)
    for f in sorted((ROOT / "corpus" / "scenarios" / "listen").glob("*.sd")):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    files = list(tmp_path.glob("*.sd"))
    skipped = sum(required_variant(f) == (not host_one_role()) for f in files)  # on real
    assert skipped == 1
    n = 8 + 2 * len(files) - skipped
    r = pytest_run("-v", "-n", "2", "-p", "xdist", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^\[gw0\] .* PASSED ", r.stdout, re.M), r.stdout  # both workers ran items
    assert re.search(r"^\[gw1\] .* PASSED ", r.stdout, re.M), r.stdout
    assert re.search(rf"^=+ {n} passed, {skipped} skipped in ", r.stdout, re.M), r.stdout


def test_wrapped_server_takes_another_port_when_its_port_was_taken(sockdrill, tmp_path,
                                                                 monkeypatch):
    """Between choosing a free port and the server's bind another process (a parallel
    worker) can take it. Someone listening there is not the server: the fixture notices that
    the listener is not in the server's process tree and starts it again on another port."""
    import socket
    import sockdrill.core as core
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    ports = iter([taken])
    real_free_port = core.free_port
    monkeypatch.setattr(core, "free_port", lambda host: next(ports, None) or real_free_port(host))
    (tmp_path / "echo.py").write_text(ECHO)
    with squatter, sockdrill.wrap(["/usr/bin/python3", tmp_path / "echo.py", "{port}"],
                                  faults="", workdir=tmp_path / "w") as server:
        assert server.port != taken
        assert core.listening_owner(server.pid, server.port) == "ours"
        assert core.listening_owner(server.pid, taken) == "other"
        with server.connect() as c:
            c.sendall(b"x\n")
            assert c.makefile("rb").readline() == b"x\n"
