"""sockdrill run: the scenario suite on both backends, bad files, failures, JUnit, JSON."""
import json
import pathlib
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT

SUITE = ROOT / "corpus" / "scenarios"

SERVER = """\
s: L = socket(inet) -> fd
s: bind(L, 127.0.0.1:0) -> 0
s: listen(L, 8) -> 0
s: P = port(L)
c: C = socket(inet) -> fd
c: connect(C, 127.0.0.1:$P) -> 0
s: S = accept(L) -> fd
"""


def run(sockdrill, *args, timeout=300):
    return sockdrill("run", *args, timeout=timeout)


def test_suite_passes_on_sim_and_real(sockdrill):
    files = sorted(SUITE.rglob("*.sd"))
    assert len(files) >= 40
    themes = {f.parent.name for f in files}
    assert {"bind", "listen", "connect", "io", "teardown", "qa"} <= themes
    r = run(sockdrill, "--backend", "both", str(SUITE))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert f"scenarios: {2 * len(files)} passed, 0 failed" in r.stdout.splitlines()
    assert re.search(rf"^run: {len(files)} scenario files on sim and real, [0-9.]+ s; "
                     rf"sim: {len(files)} passed, 0 failed; real: {len(files)} passed, 0 failed$",
                     r.stdout, re.M)
    assert r.stdout.count("\nok   ") + r.stdout.startswith("ok   ") == len(files)


def test_each_backend_alone(sockdrill):
    for backend in ("sim", "real"):
        r = run(sockdrill, "--backend", backend, str(SUITE / "qa"))
        assert r.returncode == 0, r.stdout + r.stderr
        assert re.search(rf"^run: \d+ scenario files on {backend}, [0-9.]+ s; {backend}: \d+ passed, "
                         rf"0 failed$", r.stdout, re.M)


BAD = [
    ("empty.sd", b"", "empty.sd:1:1: no steps in this scenario"),
    ("call.sd", b"a: frobnicate(1) -> 0\n", "call.sd:1:4: unknown call 'frobnicate'"),
    ("errno.sd", b"a: L = socket(inet) -> ENOTANERROR\n", "errno.sd:1:24: unknown expectation 'ENOTANERROR'"),
    ("addr.sd", b"a: L = socket(inet)\na: bind(L, 999.0.0.1:0) -> 0\n", "addr.sd:2:12: not an IPv4 or IPv6 address"),
    ("string.sd", b"a: L = socket(inet)\na: send(L, \"no end) -> 3\n", "string.sd:2:12: unterminated string"),
    ("garbage.sd", bytes(range(256)) * 4, "garbage.sd:1:1: unexpected byte 0x00"),
]


@pytest.mark.parametrize("name, content, message", BAD, ids=[b[0] for b in BAD])
def test_malformed_file_exits_2_with_position(sockdrill, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    r = run(sockdrill, str(path), timeout=30)
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(str(path) + ":")
    assert message in lines[0]
    assert "scenarios: 0 passed, 0 failed" in r.stdout  # nothing from it ran


def test_ten_megabyte_file_is_refused(sockdrill, tmp_path):
    path = tmp_path / "big.sd"
    path.write_bytes(b"# padding\n" * 1_000_000)
    r = run(sockdrill, str(path), timeout=30)
    assert r.returncode == 2
    assert r.stderr == f"{path}:1:1: file too large (10000000 bytes; at most 1048576)\n"


def test_good_files_still_run_beside_a_bad_one(sockdrill, tmp_path):
    (tmp_path / "a_bad.sd").write_text("a: frob()\n")
    (tmp_path / "b_good.sd").write_text(SERVER + "c: close(C) -> 0\n")
    r = run(sockdrill, str(tmp_path), timeout=60)
    assert r.returncode == 2
    assert "scenarios: 1 passed, 0 failed" in r.stdout


def test_wrong_expectation_reports_side_by_side_and_reproduces(sockdrill, tmp_path):
    path = tmp_path / "wrong.sd"
    # The sender's buffer is small and nobody reads: how much the first send takes differs
    # between the stacks (buffer sizing), and "1" is wrong on both.
    path.write_text(SERVER + "c: setsockopt(C, SO_SNDBUF, 4096) -> 0\n"
                             "c: nonblock(C) -> 0\n"
                             "c: send(C, pattern(2000000)) -> 1\n")
    r = run(sockdrill, "--backend", "both", str(path), timeout=60)
    assert r.returncode == 1
    out = r.stdout
    assert f"FAIL {path}" in out
    assert re.search(rf"sim: {re.escape(str(path))}:10: c: send\(C, pattern\(2000000\)\) -> 1: expected 1, got \d+", out)
    assert re.search(rf"real: {re.escape(str(path))}:10: .* expected 1, got \d+", out)
    assert "steps whose outcome differs between sim and real:" in out
    assert re.search(r"^\s+sim:  \d+ +real: \d+$", out, re.M)
    commands = re.findall(r"reproduce: (\./sockdrill run .*)$", out, re.M)
    assert commands == [f"./sockdrill run --backend sim --seed 1 {path}",
                        f"./sockdrill run --backend real --seed 1 {path}"]
    # The printed command reproduces the failure.
    again = subprocess.run(commands[0].split(), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1
    assert "expected 1, got" in again.stdout


def test_hanging_step_on_real_fails_at_the_timeout(sockdrill, tmp_path):
    path = tmp_path / "hang.sd"
    path.write_text(SERVER + "s: recv(S, 10) -> 10\n")
    r = run(sockdrill, "--backend", "both", "--timeout", "300", str(path), timeout=60)
    assert r.returncode == 1
    assert "still blocked after 300 ms" in r.stdout
    assert "would block forever: deadlock at" in r.stdout  # the sim knows at once


def test_junit_is_well_formed(sockdrill, tmp_path):
    (tmp_path / "pass.sd").write_text(SERVER + "c: close(C) -> 0\n")
    (tmp_path / "fail.sd").write_text(SERVER + "c: close(C) -> 7\n")
    junit = tmp_path / "out.xml"
    r = run(sockdrill, "--backend", "both", "--junit", str(junit), str(tmp_path), timeout=60)
    assert r.returncode == 1
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures")) == ("4", "2")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"sockdrill.sim", "sockdrill.real"}
    for s in suites.values():
        cases = {c.get("name").rsplit("/", 1)[-1]: c for c in s.findall("testcase")}
        assert set(cases) == {"pass.sd", "fail.sd"}
        assert cases["pass.sd"].find("failure") is None
        failure = cases["fail.sd"].find("failure")
        assert "expected 7, got 0" in failure.get("message")


def test_json_results(sockdrill, tmp_path):
    (tmp_path / "a_pass.sd").write_text(SERVER + "c: close(C) -> 0\n")
    (tmp_path / "b_fail.sd").write_text(SERVER + 'c: send(C, "x\\n\\"q") -> 7\n')
    (tmp_path / "c_bad.sd").write_text("a: frob()\n")
    out = tmp_path / "out.json"
    r = run(sockdrill, "--backend", "both", "--seed", "5", "--json", str(out), str(tmp_path),
            timeout=60)
    assert r.returncode == 2  # the malformed file wins over the failed step
    doc = json.loads(out.read_text())
    assert (doc["version"], doc["passed"], doc["failed"], doc["malformed"]) == (1, 2, 2, 1)
    res = doc["results"]
    assert [(pathlib.Path(x["file"]).name, x["backend"], x["status"]) for x in res] == [
        ("a_pass.sd", "sim", "passed"), ("a_pass.sd", "real", "passed"),
        ("b_fail.sd", "sim", "failed"), ("b_fail.sd", "real", "failed"),
        ("c_bad.sd", None, "malformed")]
    ok, fail, bad = res[0], res[2], res[4]
    assert ok["message"] == "" and ok["seed"] == 5 and ok["steps"] == 8
    assert [o["line"] for o in ok["outcomes"]] == list(range(1, 9))
    assert all(o["ok"] for o in ok["outcomes"]) and ok["differs"] == []
    assert fail["outcomes"][-1] == {"line": 8, "iteration": -1, "ok": False,
                                    "call": 'c: send(C, "x\\n\\"q") -> 7', "got": "4"}
    assert fail["message"].endswith("expected 7, got 4")
    assert fail["reproduce"] == f"./sockdrill run --backend sim --seed 5 {tmp_path}/b_fail.sd"
    assert bad["message"] == f"{tmp_path}/c_bad.sd:1:4: unknown call 'frob'"
    single = tmp_path / "single.json"
    assert run(sockdrill, "--json", single, tmp_path / "a_pass.sd").returncode == 0
    assert json.loads(single.read_text())["results"][0]["differs"] is None
    r = run(sockdrill, "--json", tmp_path / "no" / "such" / "dir.json", tmp_path / "a_pass.sd")
    assert r.returncode == 2 and "--json: cannot write" in r.stderr


def test_verbose_lists_every_step(sockdrill, tmp_path):
    path = tmp_path / "v.sd"
    path.write_text(SERVER + "c: close(C) -> 0\n")
    r = run(sockdrill, "--verbose", str(path), timeout=60)
    assert r.returncode == 0
    assert len(re.findall(r"^    sim  line ", r.stdout, re.M)) == 8


@pytest.mark.parametrize("args, message", [
    ([], "no scenario files or directories given"),
    (["--backend", "kernel", "x.sd"], "--backend must be sim, real or both, not 'kernel'"),
    (["--seed", "-3", "x.sd"], "--seed expects a whole number"),
    (["--timeout", "0", "x.sd"], "--timeout expects a whole number from 1"),
    (["/no/such/file.sd"], "/no/such/file.sd: no such file or directory"),
    # after a good path: the paths gathered so far are freed (ASan reported a leak)
    ([str(SUITE / "bind" / "conflict.sd"), "/no/such/file.sd"],
     "/no/such/file.sd: no such file or directory"),
    (["--frob"], "unknown option '--frob'"),
])
def test_bad_arguments_exit_2(sockdrill, args, message):
    r = run(sockdrill, *args, timeout=30)
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stderr.count("\n") == 1
