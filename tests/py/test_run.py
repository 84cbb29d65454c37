"""sockdrill run: the scenario suite on both backends, bad files, failures, JUnit, JSON."""
import json
import os
import pathlib
import re
import resource
import shlex
import signal
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import (ROOT, SERVER_PRELUDE, host_one_role, host_tunables,
                      fixed_ports, not_applicable_on_real, required_variant)

SUITE = ROOT / "corpus" / "scenarios"

SERVER = SERVER_PRELUDE


def run(sockdrill, *args, timeout=300):
    return sockdrill("run", *args, timeout=timeout)


def test_suite_passes_on_sim_and_real(sockdrill):
    files = sorted(SUITE.rglob("*.sd"))
    assert len(files) >= 40
    themes = {f.parent.name for f in files}
    assert {"bind", "listen", "connect", "io", "teardown", "qa"} <= themes
    # files for the other kernel variant (or other tunables) run on sim only: real reports
    # them not applicable
    host = host_one_role()
    other = [f for f in files if not_applicable_on_real(f)]
    assert sum(required_variant(f) == (not host) for f in files) == \
        sum(required_variant(f) == host for f in files) > 0
    # files naming fixed ports are not applicable while another socket holds one (the
    # machine's state at the moment sockdrill looks: counted from its output)
    fixed = {str(f) for f in files if fixed_ports(f)}
    assert len(fixed) >= 4
    r = run(sockdrill, "--backend", "both", str(SUITE))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    na = re.findall(r"^ok   (\S+)  \(sim [0-9.]+ s, real n/a, \d+ steps\)$", r.stdout, re.M)
    assert set(map(str, other)) <= set(na) and set(na) - set(map(str, other)) <= fixed, na
    n, k = len(files), len(na)
    assert f"scenarios: {2 * n - k} passed, 0 failed, {k} skipped" in r.stdout.splitlines()
    assert re.search(rf"^run: {n} scenario files on sim and real, [0-9.]+ s; "
                     rf"sim: {n} passed, 0 failed; real: {n - k} passed, 0 failed, "
                     rf"{k} not applicable$", r.stdout, re.M)
    assert r.stdout.count("\nok   ") + r.stdout.startswith("ok   ") == n
    for f in na:
        assert re.search(rf"^      real: {re.escape(f)}:\d+: not applicable: the file "
                         rf"(?:requires|sets) \S+ and (?:this kernel (?:is|has) \S+|this process may "
                         rf"bind ports below 1024 \(CAP_NET_BIND_SERVICE\)|port \d+ is held on "
                         rf"this machine \(.+\))$", r.stdout, re.M)



KERNEL = ROOT / "corpus" / "kernel"


def test_kernel_suite_passes_on_sim_and_real(sockdrill):
    """corpus/kernel: Linux's selftests and packetdrill's API scripts, with the kernel as the
    oracle. Every file names its source in its first line and passes on both backends."""
    files = sorted(KERNEL.rglob("*.sd"))
    assert {f.parent.name for f in files} == {"bind_wildcard", "selftests", "packetdrill"}
    assert len(list((KERNEL / "bind_wildcard").glob("*.sd"))) == 44  # every variant of the table
    for f in files:
        first = f.read_text().splitlines()[0]
        sources = ("tools/testing/selftests/net/", "gtests/net/tcp/", "testcases/tcp/")
        assert first.startswith("# ") and any(s in first for s in sources), f
        assert not_applicable_on_real(f) is False, f  # none may be skipped on this kernel
    r = run(sockdrill, "--backend", "both", str(KERNEL))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    n = len(files)
    assert f"scenarios: {2 * n} passed, 0 failed" in r.stdout.splitlines()
    assert re.search(rf"^run: {n} scenario files on sim and real, [0-9.]+ s; "
                     rf"sim: {n} passed, 0 failed; real: {n} passed, 0 failed$", r.stdout, re.M)


def test_kernel_bind_wildcard_files_match_their_generator(tmp_path):
    """The bind_wildcard files are generate.py's output: an edit to one of them, or to the
    table, without the other would make the two disagree."""
    subprocess.run(["/usr/bin/python3", str(KERNEL / "bind_wildcard" / "generate.py"),
                    str(tmp_path)], check=True, timeout=60)
    made = sorted(p.name for p in tmp_path.glob("*.sd"))
    kept = sorted(p.name for p in (KERNEL / "bind_wildcard").glob("*.sd"))
    assert made == kept
    for name in made:
        assert (tmp_path / name).read_text() == (KERNEL / "bind_wildcard" / name).read_text(), name


def untimed(path):
    """A trace's lines as (actor, call, result) without the time, each line checked to start
    with one; '# ' lines (which run and backend follow) left out."""
    out = []
    for line in pathlib.Path(path).read_text().splitlines():
        if line.startswith("# "):
            continue
        m = re.fullmatch(r"\d+\.\d{9} (\S+) (\w+)\(.*\) = (\S+)", line)
        assert m, line
        out.append(m.groups())
    return out


def test_trace_on_both_backends_shows_the_same_calls(sockdrill, tmp_path):
    # --trace stacks the trace wrapper on each backend: real runs get traces too, in the
    # sim's words. Times and descriptor numbers differ; the calls and the errors do not.
    f = SUITE / "io" / "eof_or_reset.sd"
    r = run(sockdrill, "--backend", "both", "--seed", "3", "--trace", tmp_path / "t", f)
    assert r.returncode == 0, r.stdout + r.stderr
    sim, real = tmp_path / "t.sim", tmp_path / "t.real"
    assert sim.read_text().splitlines()[0] == f"# {f} on sim, seed 3"
    assert real.read_text().splitlines()[0] == f"# {f} on real, seed 3"
    a = untimed(sim)
    # on real the runner starts each call that may block as an actor (a thread): its spawn lines
    spawns = [x for x in untimed(real) if x[1] == "spawn"]
    b = [x for x in untimed(real) if x[1] != "spawn"]
    assert spawns and {x[0] for x in spawns} == {"main"} and "spawn" not in {x[1] for x in a}
    # real's run ends by shutting its sockets down (blocked threads are released so)
    assert len(a) > 10 and [x[1] for x in a] == [x[1] for x in b[:len(a)]]
    assert {x[1] for x in b[len(a):]} <= {"shutdown"}
    # the actor is the backend's that made the call: on the sim the runner makes a step's call
    # itself ("main"); on real a call that may block runs on a thread named after the step's actor
    assert {x[0] for x in a} == {"main"}
    assert {x[0] for x in b} <= {"main", "server", "client"}
    assert [x[0] for x in b if x[1] == "accept"] == ["server", "server"]
    errors = lambda t: [x[2] if x[2].startswith("-E") else "" for x in t]
    assert errors(a) == errors(b[:len(a)])
    assert {x[1] for x in a} >= {"socket", "bind", "listen", "connect", "accept", "send",
                                 "recv", "close"}
    # one backend: FILE itself; a file that cannot be written stops the run first
    r = run(sockdrill, "--trace", tmp_path / "one", f)
    assert r.returncode == 0 and untimed(tmp_path / "one") == untimed(sim)
    r = run(sockdrill, "--trace", tmp_path / "no" / "t", f, timeout=30)
    assert r.returncode == 2 and "--trace: cannot write" in only_line(r.stderr)
    r = run(sockdrill, "--inproc", "example_server", "--trace", tmp_path / "t", f, timeout=30)
    assert r.returncode == 2 and "--trace is not for --inproc" in r.stderr


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
    ("unassigned.sd", b'a: send(C, "x")\n', "unassigned.sd:1:9: unknown variable $C (no line before"),
    ("target.sd", b"a: sleep($TARGET_PORT) -> 0\n",
     "target.sd:1:10: unknown variable $TARGET_PORT (only 'sockdrill run --target'"),
    ("cmp.sd", b"a: L = socket(inet) -> >= fd\n", "cmp.sd:1:27: >= takes a number or a variable"),
    ("cmpop.sd", b"a: L = socket(inet) -> =< 1\n", "cmpop.sd:1:24: unexpected '=' in an expectation"),
    ("cmpvar.sd", b"a: L = socket(inet) -> < $X\n", "cmpvar.sd:1:26: unknown variable $X"),
    ("parity.sd", b"a: L = socket(inet) -> even odd\n", "parity.sd:1:29: unexpected 'o'"),
    ("addrexp.sd", b"a: L = socket(inet)\na: port(L) -> 127.0.0.1:*\n",
     "addrexp.sd:2:15: an address expectation is only for addr, peer"),
    ("addrport.sd", b"a: L = socket(inet)\na: addr(L) -> [::1]:x\n", "addrport.sd:2:21: expected a number"),
    ("addrarg.sd", b"a: L = socket(inet)\na: bind(L, \"x\")\n",
     "addrarg.sd:2:12: argument 2 of bind must be an address (ADDR:PORT or $A)"),
    ("ioctlreq.sd", b"a: L = socket(inet)\na: ioctl(L, MSG_PEEK)\n",
     "ioctlreq.sd:2:4: ioctl takes FIONREAD, SIOCINQ or SIOCOUTQ"),
    ("ioctlvar.sd", b"a: L = socket(inet)\na: ioctl(L, $L)\n",
     "ioctlvar.sd:2:4: ioctl takes FIONREAD, SIOCINQ or SIOCOUTQ, not a variable"),
    ("sendto.sd", b"a: L = socket(inet)\na: sendto(L, \"x\")\n", "sendto.sd:2:4: sendto needs at least 3 arguments"),
    ("unspec.sd", b"a: L = socket(inet)\na: connect(L, AF_INET)\n", "unspec.sd:2:15: unknown name 'AF_INET'"),
    ("recvmsgaddr.sd", b"a: L = socket(inet)\na: recvmsg(L, 5) -> 127.0.0.1:0\n",
     "recvmsgaddr.sd:2:21: an address expectation is only for addr, peer"),
    ("epollmax.sd", b"a: E = epoll_create()\na: epoll_wait(E, 0, 65)\n",
     "epollmax.sd:2:4: epoll_wait takes at most 64 events at once (1..64)"),
    ("epollcolon.sd", b"a: E = epoll_create()\na: epoll_wait(E, 0) -> {E IN}\n", "epollcolon.sd:2:27: expected ':'"),
    ("epollcall.sd", b"a: E = epoll_create()\na: close(E) -> {}\n",
     "epollcall.sd:2:16: an events expectation {...} is only for epoll_wait"),
    ("epollflag.sd", b"a: E = epoll_create()\na: epoll_wait(E, 0) -> {E: EPOLLET}\n",
     "epollflag.sd:2:28: epoll_wait reports IN, OUT, RDHUP, PRI, ERR, HUP"),
    ("epollvar.sd", b"a: E = epoll_create()\na: epoll_wait(E, 0) -> {X: IN}\n", "epollvar.sd:2:25: unknown variable $X"),
    ("lingeropt.sd", b"a: C = socket(inet)\na: setsockopt(C, SO_RCVBUF, {1, 2})\n",
     "lingeropt.sd:2:29: an {ON, SECONDS} pair is SO_LINGER's, for setsockopt and getsockopt"),
    ("lingeron.sd", b"a: C = socket(inet)\na: setsockopt(C, SO_LINGER, {2, 2})\n",
     "lingeron.sd:2:30: SO_LINGER's ON is 0 or 1"),
    ("freeports.sd", b"requires free-ports=40000-40064\n",
     "freeports.sd:1:21: free-ports is LO-HI within 1024..65535, at most 64 ports"),
    ("freeportsform.sd", b"requires free-ports=40000\n",
     "freeportsform.sd:1:21: free-ports takes LO-HI, e.g. 40000-40009"),
    ("freeportstwice.sd", b"requires free-ports=40000-40001\nrequires free-ports=40002-40003\n",
     "freeportstwice.sd:2:10: line 1 already requires free-ports"),
    ("lingersecs.sd", b"a: C = socket(inet)\na: setsockopt(C, SO_LINGER, {1, -2147483649})\n",
     "lingersecs.sd:2:33: SO_LINGER's seconds are -2147483648..2147483647"),
    ("patvar.sd", b"a: L = socket(inet)\na: recv(L, 5) -> pattern($N)\n",
     "patvar.sd:2:26: unknown variable $N"),
    ("portrange.sd", b"a: L = socket(inet)\na: setsockopt(L, IP_LOCAL_PORT_RANGE, 4294967296)\n",
     "portrange.sd:2:39: argument 3 of setsockopt must be 0..4294967295"),
    ("portrangeneg.sd", b"a: L = socket(inet)\na: setsockopt(L, IP_LOCAL_PORT_RANGE, -1)\n",
     "portrangeneg.sd:2:39: argument 3 of setsockopt must be 0..4294967295"),
    ("notsentneg.sd", b"a: L = socket(inet)\na: setsockopt(L, TCP_NOTSENT_LOWAT, -5)\n",
     "notsentneg.sd:2:37: argument 3 of setsockopt must be 0..4294967295"),
    ("rcvlowatbig.sd", b"a: L = socket(inet)\na: setsockopt(L, SO_RCVLOWAT, 2147483648)\n",
     "rcvlowatbig.sd:2:31: argument 3 of setsockopt must be -2147483648..2147483647"),
    ("quickack.sd", b"a: L = socket(inet)\na: setsockopt(L, TCP_QUICKACK, 1)\n",
     "quickack.sd:2:18: unknown name 'TCP_QUICKACK'"),
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


def test_target_defines_target_port(sockdrill, tmp_path):
    path = tmp_path / "target.sd"
    path.write_text("a: sleep($TARGET_PORT) -> 0\n")
    r = run(sockdrill, "--target", "127.0.0.1:2", str(path), timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


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
    variant = "--one-role 1 " if host_one_role() else ""  # the sim ran as this kernel's variant
    # the sim ran with this machine's kernel profile, as --backend both gives it
    assert commands == [f"./sockdrill run --backend sim --seed 1 {variant}--profile host {path}",
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


def test_whole_run_is_bounded_by_max_time(sockdrill, tmp_path):
    # Each step may block up to the timeout (10 minutes here), 1000 of them far longer: the
    # run stops at --max-time, naming the file and the bound.
    path = tmp_path / "long.sd"
    path.write_text("set timeout 600000\nrepeat 1000 {\n  a: sleep(1000) -> 0\n}\n")
    r = run(sockdrill, "--backend", "real", "--max-time", "1", str(path), timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(rf"real: {re.escape(str(path))}:3: a: sleep\(1000\) -> 0 \(iteration \d\): "
                     r"the run reached its time bound \(--max-time 1 s\) (in|before) this step$",
                     r.stdout, re.M), r.stdout
    assert f"reproduce: ./sockdrill run --backend real --seed 1 --max-time 1 {path}" in r.stdout


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
    variant = "--one-role 1 " if host_one_role() else ""  # the sim ran as this kernel's variant
    assert fail["reproduce"] == \
        f"./sockdrill run --backend sim --seed 5 {variant}--profile host {tmp_path}/b_fail.sd"
    assert bad["message"] == f"{tmp_path}/c_bad.sd:1:4: unknown call 'frob'"
    single = tmp_path / "single.json"
    assert run(sockdrill, "--json", single, tmp_path / "a_pass.sd").returncode == 0
    assert json.loads(single.read_text())["results"][0]["differs"] is None
    r = run(sockdrill, "--json", tmp_path / "no" / "such" / "dir.json", tmp_path / "a_pass.sd")
    assert r.returncode == 2 and "--json: cannot write" in r.stderr


# listen after a refused connect: EINVAL on a one-role kernel, 0 on mainline
REFUSED_THEN_LISTEN = """\
a: B = socket(inet) -> fd
a: bind(B, 127.0.0.1:0) -> 0
a: P = port(B)
c: C = socket(inet) -> fd
c: connect(C, 127.0.0.1:$P) -> ECONNREFUSED
c: listen(C, 1) -> {}
"""
VARIANT = {True: ("one-role", "EINVAL"), False: ("no-one-role", "0")}


def test_file_for_the_other_kernel_variant_is_skipped_on_real(sockdrill, tmp_path):
    """Not applicable on real, said so in the output, the JSON and the JUnit XML; run and
    passed on sim, as the variant it requires; exit 0."""
    host = host_one_role()
    name, gives = VARIANT[not host]
    path = tmp_path / "other.sd"
    path.write_text(f"requires {name}   # the other kernel's\n" + REFUSED_THEN_LISTEN.format(gives))
    out, junit = tmp_path / "out.json", tmp_path / "out.xml"
    r = run(sockdrill, "--backend", "both", "--json", out, "--junit", junit, path, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    why = f"{path}:1: not applicable: the file requires {name} and this kernel is {VARIANT[host][0]}"
    assert re.search(rf"^ok   {re.escape(str(path))}  \(sim [0-9.]+ s, real n/a, 6 steps\)$",
                     r.stdout, re.M), r.stdout
    assert f"      real: {why}\n" in r.stdout
    assert "reproduce:" not in r.stdout and "differs" not in r.stdout
    assert "scenarios: 1 passed, 0 failed, 1 skipped" in r.stdout.splitlines()
    doc = json.loads(out.read_text())
    assert (doc["passed"], doc["failed"], doc["skipped"], doc["malformed"]) == (1, 0, 1, 0)
    sim, real = doc["results"]
    assert (sim["backend"], sim["status"], sim["differs"]) == ("sim", "passed", None)
    assert (real["backend"], real["status"], real["message"]) == ("real", "skipped", why)
    assert real["outcomes"] == [] and real["differs"] is None
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("2", "0", "1")
    for suite in root.findall("testsuite"):
        case = suite.find("testcase")
        skipped = case.find("skipped")
        if suite.get("name") == "sockdrill.real":
            assert suite.get("skipped") == "1" and skipped.get("message") == why
        else:
            assert suite.get("skipped") == "0" and skipped is None
        assert case.find("failure") is None
    alone = run(sockdrill, "--backend", "real", path, timeout=60)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert alone.stdout.startswith(f"n/a  {path}  (real n/a, 6 steps)\n")
    assert "real: 0 passed, 0 failed, 1 not applicable" in alone.stdout


def test_file_whose_fixed_ports_are_held_is_skipped_on_real(sockdrill, tmp_path):
    """'requires free-ports=LO-HI': while a socket of another process holds one of the ports
    the file is not applicable on real (and says which port); once it is gone the file runs."""
    import socket
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    path = tmp_path / "fixed.sd"
    path.write_text(f"requires free-ports={port}-{port}\n"
                    "client: A = socket(inet) -> fd\n"
                    f"client: bind(A, 127.0.0.1:{port}) -> 0\n"
                    "client: close(A) -> 0\n")
    try:
        held = run(sockdrill, "--backend", "both", path, timeout=60)
    finally:
        holder.close()
    assert held.returncode == 0, held.stdout + held.stderr
    why = (f"{path}:1: not applicable: the file requires free-ports={port}-{port} and port "
           f"{port} is held on this machine (Address already in use on 127.0.0.1)")
    assert f"      real: {why}\n" in held.stdout, held.stdout
    assert "sim: 1 passed, 0 failed; real: 0 passed, 0 failed, 1 not applicable" in held.stdout
    free = run(sockdrill, "--backend", "both", path, timeout=60)
    assert free.returncode == 0, free.stdout + free.stderr
    assert "real: 1 passed, 0 failed" in free.stdout, free.stdout


TICKS = """client: A = socket(inet) -> fd
client: setsockopt(A, SO_RCVTIMEO, 1) -> 0
client: getsockopt(A, SO_RCVTIMEO) -> {}
"""


def test_file_requiring_a_tunable_runs_on_sim_with_it_and_on_real_only_when_the_kernel_has_it(
        sockdrill, tmp_path):
    """`requires hz=N`: the sim runs the file at that HZ whatever the profile (1 ms reads
    back as one tick, rounded up); real runs it when this kernel's HZ is N (a pass or a
    failure like any file) and reports it not applicable otherwise."""
    host_hz = host_tunables()["hz"]
    for hz in (100, 250, 1000):
        tick = -(-1000 // hz)
        path = tmp_path / f"hz{hz}.sd"
        path.write_text(f"requires hz={hz}\n" + TICKS.format(tick))
        r = run(sockdrill, "--backend", "both", path, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        if hz == host_hz:
            assert re.search(rf"^ok   {re.escape(str(path))}  \(sim [0-9.]+ s, real [0-9.]+ s, "
                             rf"3 steps\)$", r.stdout, re.M), r.stdout
        else:
            why = (f"{path}:1: not applicable: the file requires hz={hz} and this kernel "
                   f"has hz={host_hz}")
            assert f"      real: {why}\n" in r.stdout, r.stdout
        # the sim takes the required HZ over the profile's: the other tick fails there
        wrong = tmp_path / f"wrong{hz}.sd"
        wrong.write_text(f"requires hz={hz}\n" + TICKS.format(tick + 1))
        r = run(sockdrill, "--backend", "sim", "--profile", "host", wrong, timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
    bad = tmp_path / "bad.sd"
    for text, err in (("requires hz=\n", "1:13: expected a number"),
                      ("requires hz=250\nrequires hz=100\n", "2:10: line 1 already requires hz"),
                      ("requires speed=3\n", "1:10: unknown kernel tunable 'speed' (hz, "
                       "syn-retries, syn-linear-timeouts, fin-timeout, port-range, somaxconn, "
                       "wmem-max, rmem-max, tcp-rmem-max, tcp-peek-off, tw-reuse, "
                       "tw-reuse-delay, notsent-lowat)"),
                      ("requires hz=100001\n", "1:13: value out of range for hz (24..10000)")):
        bad.write_text(text + TICKS.format(4))
        r = run(sockdrill, bad)
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"{bad}:{err}\n" in r.stderr, r.stderr


def assert_malformed(sockdrill, tmp_path, cases, then=""):
    """Each (text, error) file is malformed: exit 2 and the one line FILE:LINE:COL: error."""
    bad = tmp_path / "bad.sd"
    for text, err in cases:
        bad.write_text(text + then)
        r = run(sockdrill, bad)
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"{bad}:{err}\n" in r.stderr, r.stderr


PORT_IN = """a: S = socket(inet)
a: bind(S, 127.0.0.1:0) -> 0
a: port(S) -> {}
"""


def test_set_port_range_runs_the_sim_with_it_and_real_only_where_the_kernel_has_it(
        sockdrill, tmp_path):
    """`set port-range LO-HI` is the sim's ephemeral range; a file cannot change the host's,
    so on real it runs when ip_local_port_range already is LO-HI and is n/a otherwise."""
    lo, hi = map(int, pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    one = 40000 if (lo, hi) != (40000, 40000) else 40001
    f = tmp_path / "one.sd"
    f.write_text(f"set port-range {one}-{one}\n" + PORT_IN.format(one))
    r = run(sockdrill, "--backend", "both", f, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (f"real: {f}:1: not applicable: the file sets port-range={one}-{one} and this "
            f"kernel has port-range={lo}-{hi}\n") in r.stdout, r.stdout
    f.write_text(f"set port-range {one}-{one}\n" + PORT_IN.format(one + 1))
    assert run(sockdrill, "--backend", "sim", f).returncode == 1
    host = tmp_path / "host.sd"
    host.write_text(f"set port-range {lo}-{hi}\n" + PORT_IN.format(f">= {lo}")
                    + f"a: port(S) -> <= {hi}\n")
    r = run(sockdrill, "--backend", "both", host, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "scenarios: 2 passed, 0 failed" in r.stdout.splitlines(), r.stdout
    assert_malformed(sockdrill, tmp_path, (
                      ("set port-range 5\n", "1:16: port-range takes LO-HI, e.g. 40000-40999"),
                      ("set port-range 9-8\n", "1:16: value out of range for port-range "
                       "(1..65535, LO <= HI)"),
                      ("set somaxconn -1\n", "1:15: value out of range for somaxconn "
                       "(0..1073741824)"),
                      ("set wmem-max\n", "1:13: expected a number"),
                      ("requires somaxconn=4096\nset somaxconn 8\n",
                       "2:5: line 1 already requires somaxconn"),
                      ("set unprivileged\nset unprivileged\n",
                       "2:5: line 1 already sets unprivileged"),
                      ("set unprivileged 1\n", "1:18: unexpected '1'")),
                     then=PORT_IN.format("*"))


def test_set_unprivileged_gives_eacces_below_1024_and_is_not_applicable_to_root(
        sockdrill, tmp_path):
    f = tmp_path / "u.sd"
    f.write_text("set unprivileged\na: S = socket(inet)\na: bind(S, 127.0.0.1:80) -> EACCES\n")
    r = run(sockdrill, "--backend", "both", f, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    if os.geteuid() == 0:
        assert (f"real: {f}:1: not applicable: the file sets unprivileged and this process may "
                f"bind ports below 1024 (CAP_NET_BIND_SERVICE)\n") in r.stdout, r.stdout
    f.write_text("set unprivileged\na: S = socket(inet)\na: bind(S, 127.0.0.1:80) -> 0\n")
    assert run(sockdrill, "--backend", "sim", f).returncode == 1


def test_file_for_this_kernel_variant_runs_everywhere_and_can_fail(sockdrill, tmp_path):
    host = host_one_role()
    name, gives = VARIANT[host]
    good, bad = tmp_path / "good.sd", tmp_path / "bad.sd"
    good.write_text(f"requires {name}\n" + REFUSED_THEN_LISTEN.format(gives))
    bad.write_text(f"requires {name}\n" + REFUSED_THEN_LISTEN.format(VARIANT[not host][1]))
    r = run(sockdrill, "--backend", "both", good, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "scenarios: 2 passed, 0 failed" in r.stdout.splitlines()
    r = run(sockdrill, "--backend", "both", bad, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"sim: {bad}:7: c: listen(C, 1) -> {VARIANT[not host][1]}: expected" in r.stdout
    assert f"real: {bad}:7: c: listen(C, 1) -> {VARIANT[not host][1]}: expected" in r.stdout
    assert "scenarios: 0 passed, 2 failed" in r.stdout.splitlines()


def test_sim_takes_the_kernel_variant_of_the_run(sockdrill, tmp_path):
    """A file that states no variant: plain sim is mainline, --one-role 1 the variant, and
    --backend both gives the sim this kernel's, which its reproduce command keeps."""
    path = tmp_path / "einval.sd"
    path.write_text(REFUSED_THEN_LISTEN.format("EINVAL"))
    r = run(sockdrill, path, timeout=60)
    assert r.returncode == 1 and "expected EINVAL, got 0" in r.stdout, r.stdout
    assert run(sockdrill, "--one-role", "1", path, timeout=60).returncode == 0
    assert run(sockdrill, "--one-role", "0", path, timeout=60).returncode == 1
    host = host_one_role()
    wrong = tmp_path / "wrong.sd"  # fails on both backends at its last step
    wrong.write_text(REFUSED_THEN_LISTEN.format(VARIANT[host][1]) + "c: close(C) -> 7\n")
    r = run(sockdrill, "--backend", "both", wrong, timeout=60)
    assert r.returncode == 1
    assert r.stdout.count("expected 7, got 0") == 2, r.stdout
    commands = re.findall(r"reproduce: (\./sockdrill run .*)$", r.stdout, re.M)
    assert commands[0] == (f"./sockdrill run --backend sim --seed 1 "
                           f"{'--one-role 1 ' if host else ''}--profile host {wrong}")
    again = subprocess.run(commands[0].split(), cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 1 and "expected 7, got 0" in again.stdout, again.stdout


@pytest.mark.parametrize("args, message", [
    (["--one-role", "2", "x.sd"], "--one-role expects a whole number from 0 to 1"),
    (["--backend", "both", "--one-role", "1", "x.sd"], "--one-role is for --backend sim"),
    (["--backend", "real", "--one-role", "0", "x.sd"], "--one-role is for --backend sim"),
])
def test_one_role_option_is_checked(sockdrill, args, message):
    r = run(sockdrill, *args, timeout=30)
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stderr.count("\n") == 1


def test_verbose_lists_every_step(sockdrill, tmp_path):
    path = tmp_path / "v.sd"
    path.write_text(SERVER + "c: close(C) -> 0\n")
    r = run(sockdrill, "--verbose", str(path), timeout=60)
    assert r.returncode == 0
    assert len(re.findall(r"^    sim  line ", r.stdout, re.M)) == 8


def test_verbose_shows_getsockopt_values(sockdrill, tmp_path):
    # a getsockopt's number is shown and compared like any call's (it was left unwritten:
    # stack bytes in the listing, and side by side a difference where there was none)
    path = tmp_path / "g.sd"
    path.write_text("c: A = socket(inet) -> fd\n"
                    "c: setsockopt(A, IP_LOCAL_PORT_RANGE, 2622069824) -> 0\n"
                    "c: getsockopt(A, IP_LOCAL_PORT_RANGE) -> 2622069824\n"
                    "c: getsockopt(A, TCP_INFO) -> 7\n"
                    "c: setsockopt(A, SO_LINGER, {1, 3}) -> 0\n"
                    "c: getsockopt(A, SO_LINGER) -> {1, 3}\n")
    r = run(sockdrill, "--verbose", str(path), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    shown = re.findall(r"getsockopt\(A, \w+\) -> [^=]*=> (.*)$", r.stdout, re.M)
    assert shown == ["2622069824", "7", "{1, 3}"], r.stdout


@pytest.mark.parametrize("args, message", [
    ([], "no scenario files or directories given"),
    (["--backend", "kernel", "x.sd"], "--backend must be both or a registered backend: real, sim; not 'kernel'"),
    (["--seed", "-3", "x.sd"], "--seed expects a whole number"),
    (["--timeout", "0", "x.sd"], "--timeout expects a whole number from 1"),
    (["--max-time", "0", "x.sd"], "--max-time expects a whole number from 1 to 86400"),
    (["--max-time", "86401", "x.sd"], "--max-time expects a whole number from 1 to 86400"),
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


# ---- bad paths, directory walks, report files: each a clear error, none a hang or crash -----

CONFLICT = SUITE / "bind" / "conflict.sd"


def only_line(stderr):
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_directory_beside_an_empty_subdirectory_runs(sockdrill, tmp_path):
    (tmp_path / "s" / "empty").mkdir(parents=True)
    (tmp_path / "s" / "conflict.sd").write_bytes(CONFLICT.read_bytes())
    r = run(sockdrill, tmp_path / "s", timeout=60)
    assert (r.returncode, r.stderr) == (0, ""), r.stdout + r.stderr
    assert "scenarios: 1 passed, 0 failed" in r.stdout


def test_directory_without_scenarios_is_an_error(sockdrill, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("not a scenario\n")
    r = run(sockdrill, tmp_path / "empty", timeout=60)
    assert r.returncode == 2
    assert only_line(r.stderr) == f"sockdrill run: {tmp_path}/empty: no .sd files below it"
    assert r.stdout == ""  # nothing ran, so no summary that could pass for a green run


def test_walk_does_not_follow_directory_links(sockdrill, tmp_path):
    s = tmp_path / "s"
    s.mkdir()
    (s / "conflict.sd").write_bytes(CONFLICT.read_bytes())
    (s / "a").symlink_to(".")  # two links to "." made the walk exponential
    (s / "b").symlink_to(".")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "other.sd").write_bytes(CONFLICT.read_bytes())
    (s / "linked_dir").symlink_to(tmp_path / "elsewhere")
    (s / "linked_dir.sd").symlink_to(tmp_path / "elsewhere")
    (s / "linked_file.sd").symlink_to(tmp_path / "elsewhere" / "other.sd")  # files are followed
    r = run(sockdrill, s, timeout=60)
    assert (r.returncode, r.stderr) == (0, ""), r.stdout + r.stderr
    ran = re.findall(r"^ok   (\S+)  ", r.stdout, re.M)
    assert ran == [f"{s}/conflict.sd", f"{s}/linked_file.sd"]


def nested(base, levels):
    d = base
    for i in range(levels):
        d = d / f"d{i}"
    d.mkdir(parents=True)
    (d / "deep.sd").write_bytes(CONFLICT.read_bytes())
    return d


def test_walk_depth_is_bounded(sockdrill, tmp_path):
    nested(tmp_path / "ok", 32)  # 32 levels below the argument: read
    r = run(sockdrill, tmp_path / "ok", timeout=60)
    assert (r.returncode, r.stderr) == (0, ""), r.stdout + r.stderr
    assert "scenarios: 1 passed, 0 failed" in r.stdout
    deep = nested(tmp_path / "deep", 33)
    r = run(sockdrill, tmp_path / "deep", timeout=60)
    assert r.returncode == 2
    assert only_line(r.stderr) == (f"sockdrill run: {deep}: directories nested deeper than 32 "
                                   f"levels")
    assert r.stdout == ""


@pytest.mark.parametrize("where", ["argument", "walk"])
def test_fifo_is_refused_not_waited_for(sockdrill, tmp_path, where):
    (tmp_path / "good.sd").write_bytes(CONFLICT.read_bytes())
    fifo = tmp_path / "pipe.sd"
    os.mkfifo(fifo)  # nobody writes: reading it would block forever
    r = run(sockdrill, *([tmp_path / "good.sd", fifo] if where == "argument" else [tmp_path]),
            timeout=30)
    assert r.returncode == 2
    assert only_line(r.stderr) == f"sockdrill run: {fifo}: not a regular file or directory"
    assert r.stdout == ""


def test_device_and_dangling_link_are_refused(sockdrill, tmp_path):
    r = run(sockdrill, "/dev/null", timeout=30)
    assert r.returncode == 2
    assert only_line(r.stderr) == "sockdrill run: /dev/null: not a regular file or directory"
    (tmp_path / "gone.sd").symlink_to(tmp_path / "missing.sd")
    r = run(sockdrill, tmp_path, timeout=30)
    assert r.returncode == 2
    assert only_line(r.stderr) == f"sockdrill run: {tmp_path}/gone.sd: No such file or directory"


def test_missing_second_file_is_a_clean_usage_error(sockdrill, tmp_path):
    # Under ASan (the CI preset) a leak on this path turned exit 2 into LeakSanitizer's.
    r = run(sockdrill, CONFLICT, tmp_path / "nonexistent.sd", timeout=30)
    assert r.returncode == 2
    assert only_line(r.stderr) == f"sockdrill run: {tmp_path}/nonexistent.sd: no such file or directory"
    assert r.stdout == ""


@pytest.mark.parametrize("option", ["--junit", "--json"])
def test_unwritable_report_is_a_usage_error_before_running(sockdrill, tmp_path, option):
    report = tmp_path / "no" / "such" / "report"
    r = run(sockdrill, option, report, CONFLICT, timeout=30)
    assert r.returncode == 2
    assert only_line(r.stderr) == (f"sockdrill run: {option}: cannot write {report}: "
                                   f"No such file or directory")
    assert r.stdout == ""  # refused before anything ran; not counted as a malformed scenario
    r = run(sockdrill, option, tmp_path, CONFLICT, timeout=30)
    assert r.returncode == 2
    assert only_line(r.stderr) == f"sockdrill run: {option}: cannot write {tmp_path}: Is a directory"


@pytest.mark.parametrize("option", ["--junit", "--json"])
def test_report_untouched_when_the_run_stops_at_an_error(sockdrill, tmp_path, option):
    kept, fresh = tmp_path / "kept.out", tmp_path / "fresh.out"
    kept.write_text("an earlier report\n")
    for report in (kept, fresh):
        r = run(sockdrill, option, report, "--fault-log", tmp_path / "no" / "log", CONFLICT,
                timeout=30)
        assert r.returncode == 2
        assert "--fault-log: cannot write" in only_line(r.stderr)
    assert kept.read_text() == "an earlier report\n"  # not truncated
    assert not fresh.exists()  # not left behind empty


def _limit_file_size(limit):
    """A child whose writes past `limit` bytes of a file fail with EFBIG (not SIGXFSZ)."""
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return apply


@pytest.mark.parametrize("option", ["--junit", "--json"])
def test_report_that_fails_while_written_leaves_the_old_one_whole(sockdrill, tmp_path, option):
    """The report is written beside its path and renamed over it once complete: a write that
    fails midway (here: past the file size limit) leaves the earlier report as it was, not
    cut short, and no new file behind."""
    kept = tmp_path / "kept.out"
    kept.write_text("an earlier report\n")
    r = subprocess.run([str(sockdrill.binary), "run", option, str(kept), str(CONFLICT)],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                       preexec_fn=_limit_file_size(64))
    assert r.returncode == 2, r.stdout + r.stderr
    assert only_line(r.stderr) == f"sockdrill run: {option}: cannot write {kept}: File too large"
    assert "scenarios: 1 passed, 0 failed" in r.stdout  # the run itself went through
    assert kept.read_text() == "an earlier report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.out"]


def test_report_replaces_the_old_one_whole_and_keeps_its_mode_and_link(sockdrill, tmp_path):
    kept, link = tmp_path / "kept.json", tmp_path / "link.json"
    kept.write_text("x" * 100000)  # longer than the new report: nothing of it may stay
    kept.chmod(0o640)
    link.symlink_to(kept)
    r = run(sockdrill, "--json", link, CONFLICT, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert link.is_symlink() and link.resolve() == kept
    assert json.loads(kept.read_text())["passed"] == 1
    assert kept.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json", "link.json"]


def test_reproduce_command_quotes_paths_for_the_shell(sockdrill, tmp_path):
    d = tmp_path / "it's here"
    d.mkdir()
    path = d / "fail me $HOME.sd"
    path.write_text(SERVER + "c: close(C) -> 7\n")
    out = tmp_path / "r.json"
    r = run(sockdrill, "--faults", "short-read=2", "--json", out, path, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    commands = re.findall(r"^      reproduce: (.*)$", r.stdout, re.M)
    assert len(commands) == 1
    assert shlex.split(commands[0]) == ["./sockdrill", "run", "--backend", "sim", "--seed", "1",
                                        "--faults", "short-read=2", str(path)]
    assert json.loads(out.read_text())["results"][0]["reproduce"] == commands[0]
    again = subprocess.run(["sh", "-c", commands[0]], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 1, again.stdout + again.stderr
    assert f"FAIL {path}" in again.stdout and "expected 7, got 0" in again.stdout


def test_targeted_faults_and_error_kinds_on_both_backends(sockdrill, tmp_path):
    """@conn, @after/@for and the error kinds, through the one wrapper on sim and real: the
    steps expect exactly which call fails, so a fault elsewhere or none fails the run."""
    path = tmp_path / "aimed.sd"
    path.write_text(SERVER +
                    "c: send(C, \"ab\") -> 2\n"                    # c1 call 2
                    "c: send(C, \"cd\") -> ENOBUFS\n"              # c1 call 3
                    "c: send(C, \"ef\") -> 2\n"                    # nothing lost or added
                    "s: recv(S, 4, MSG_WAITALL) -> \"abef\"\n"
                    "c: D = socket(inet) -> EMFILE\n"             # the third socket call
                    "c: E = socket(inet) -> fd\n"
                    "s: send(S, \"x\", MSG_NOSIGNAL) -> EPIPE\n"  # a1's writes
                    "c: recv(C, 10) -> ECONNRESET\n")             # the peer got the RST
    spec = "enobufs=1@conn=c1@after=2@for=1,emfile=1@after=2@for=1,epipe=1@conn=a1@op=write"
    log = tmp_path / "log.jsonl"
    r = run(sockdrill, "--backend", "both", "--faults", spec, "--fault-log", log, path,
            timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    got = [(e["conn"][-2:], e["call"], e["op"], e["fault"], e.get("errno")) for e in lines]
    once = [("c1", 3, "send", "enobufs", "ENOBUFS"), ("?0", 3, "socket", "emfile", "EMFILE"),
            ("a1", 2, "send", "epipe", "EPIPE")]
    assert got == once + once  # sim, then real: the same decisions
    # Without the targets the same kinds fire elsewhere: the file fails.
    r = run(sockdrill, "--faults", "enobufs=1", path, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr


@pytest.mark.parametrize("spec, message", [
    ("reset@conn=x2", "faults: bad target '@conn=x2' for reset"),
    ("epipe@op=read", "faults: epipe never applies to read ('@op=read')"),
    ("eintr@window=2s-1s", "faults: bad target '@window=2s-1s' for eintr"),
])
def test_bad_targets_exit_2(sockdrill, spec, message):
    r = run(sockdrill, "--faults", spec, "x.sd", timeout=30)
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stderr.count("\n") == 1


def test_time_kinds_keep_the_stream_on_both_backends(sockdrill, tmp_path):
    """latency, bandwidth and slice change when bytes move, never which or how many: the
    program's calls are whole and the peer gets the exact stream, on sim and real."""
    path = tmp_path / "timed.sd"
    path.write_text(SERVER +
                    "c: send(C, \"hello, sliced world\") -> 19\n"
                    "s: recv(S, 19, MSG_WAITALL) -> \"hello, sliced world\"\n"
                    "s: send(S, \"ok\") -> 2\n"
                    "c: recv(C, 2, MSG_WAITALL) -> \"ok\"\n")
    spec = "slice=4~1@conn=c1,latency=30~10@op=read,bandwidth=500@conn=a1"
    log = tmp_path / "log.jsonl"
    r = run(sockdrill, "--backend", "both", "--faults", spec, "--fault-log", log, path,
            timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = [(e["conn"][-2:], e["op"], e["fault"], e["bytes"]) for e in
           (json.loads(line) for line in log.read_text().splitlines())]
    # a call that several time kinds touch is logged as one: slice, bandwidth, latency, delay
    once = [("c1", "send", "slice", 19), ("a1", "recv", "bandwidth", 19),
            ("a1", "send", "bandwidth", 2), ("c1", "recv", "latency", 2)]
    assert got == once + once


def test_connection_kinds_on_both_backends(sockdrill, tmp_path):
    """limit-data ends a connection cleanly after its budget (the peer reads a FIN), timeout
    stalls one call and kills the connection, slow-close delays close: on sim and real."""
    path = tmp_path / "conn.sd"
    path.write_text(SERVER +
                    "c: send(C, \"0123456789\") -> 10\n"
                    "s: recv(S, 100, MSG_WAITALL) -> \"012345\"\n"   # a1's budget, then FIN
                    "s: recv(S, 100) -> 0\n"
                    "s: send(S, \"late\", MSG_NOSIGNAL) -> EPIPE\n"
                    "c: D = socket(inet) -> fd\n"
                    "c: connect(D, 127.0.0.1:$P) -> 0\n"
                    "s: T = accept(L) -> fd\n"
                    "s: send(T, \"x\") -> ETIMEDOUT\n"                # a2 stops answering
                    "c: recv(D, 10) -> ECONNRESET\n"
                    "c: close(C) -> 0\n")
    spec = "limit-data=6@conn=a1,timeout=20@conn=a2,slow-close=10@conn=c1"
    log = tmp_path / "log.jsonl"
    r = run(sockdrill, "--backend", "both", "--faults", spec, "--fault-log", log, path,
            timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = [(e["conn"][-2:], e["op"], e["fault"], e["bytes"]) for e in
           (json.loads(line) for line in log.read_text().splitlines())]
    once = [("a1", "recv", "limit-data", 6), ("a1", "recv", "limit-data", 0),
            ("a1", "send", "limit-data", 0), ("a2", "send", "timeout", 0),
            ("c1", "close", "slow-close", 0)]
    assert got == once + once


def test_keep_going_reports_every_failing_step(sockdrill, tmp_path):
    path = tmp_path / "many.sd"
    path.write_text(SERVER + "c: send(C, \"ab\") -> 3\n"
                    "repeat 2 {\n  c: send(C, \"x\") -> even\n}\nc: close(C) -> 0\n")
    out_json, out_xml = tmp_path / "r.json", tmp_path / "r.xml"
    r = run(sockdrill, "--backend", "both", "--keep-going", "--json", out_json,
            "--junit", out_xml, path, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    for backend in ("sim", "real"):
        lines = re.findall(rf"^      {backend}: {re.escape(str(path))}:(\d+): .*$", r.stdout, re.M)
        assert lines == ["8", "10", "10"], r.stdout
        assert re.search(rf"^      reproduce: ./sockdrill run --backend {backend} .*--keep-going ",
                         r.stdout, re.M)
    doc = json.loads(out_json.read_text())
    for res in doc["results"]:
        assert res["status"] == "failed" and res["failed_steps"] == 3
        assert res["failures"][0] == res["message"]
        assert [f.split(":")[1] for f in res["failures"]] == ["8", "10", "10"]
        assert res["failures"][2].endswith("(iteration 1): expected even, got 1")
        assert [o["ok"] for o in res["outcomes"]][-1] is True  # the close after them ran
    cases = ET.parse(out_xml).getroot().findall(".//testcase")
    assert len(cases) == 2
    for case in cases:
        assert len(case.find("failure").text.strip().splitlines()) == 3
    # without it, the first failure ends the run, as before
    r = run(sockdrill, "--json", out_json, path, timeout=60)
    assert r.returncode == 1
    res = json.loads(out_json.read_text())["results"][0]
    assert res["failed_steps"] == 1 and len(res["failures"]) == 1 and len(res["outcomes"]) == 8


def test_elapsed_counts_virtual_time_on_sim_and_can_fail(sockdrill, tmp_path):
    """now()/elapsed($T): on sim the virtual clock, exact (a sleep of 100 ms is 100); a bound
    the time did not reach fails; the suite's file (lower bounds only) passes on both."""
    f = tmp_path / "e.sd"
    f.write_text("a: T = now()\na: sleep(100)\na: elapsed($T) -> 100\n")
    r = run(sockdrill, "--backend", "sim", f)
    assert r.returncode == 0, r.stdout + r.stderr
    f.write_text("a: T = now()\na: sleep(100)\na: elapsed($T) -> >= 101\n")
    r = run(sockdrill, "--backend", "both", f, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"sim: {f}:3: a: elapsed($T) -> >= 101: expected >= 101, got 100 ms" in r.stdout, \
        r.stdout
    r = run(sockdrill, "--backend", "both", ROOT / "corpus/scenarios/lang/elapsed.sd",
            timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert_malformed(sockdrill, tmp_path, (
                      ("a: elapsed(5)\n", "1:4: elapsed takes the variable a now() step "
                       "kept: elapsed($T)"),
                      ("a: elapsed($T)\n", "1:12: unknown variable $T (no line before this "
                       "one assigns it)"),
                      ("a: now(1)\n", "1:8: now takes at most 0 arguments")))


DUP_CLOSE = """s: L = socket(inet)
s: bind(L, 127.0.0.1:0) -> 0
s: listen(L, 1) -> 0
s: P = port(L)
c: C = socket(inet)
c: connect(C, 127.0.0.1:$P) -> 0
s: S = accept(L) -> fd
s: D = dup(S) -> fd
s: close({}) -> 0
c: poll(C, IN, 100) -> {}
"""


def test_dup_keeps_the_socket_open_until_its_last_descriptor_closes(sockdrill, tmp_path):
    """Closing one of two descriptors sends nothing (the peer sees no FIN), on both backends;
    expecting a FIN there fails on both. dup's argument errors are malformed files."""
    f = tmp_path / "d.sd"
    f.write_text(DUP_CLOSE.format("S", "0") + "s: close(D) -> 0\nc: recv(C, 9) -> eof\n")
    r = run(sockdrill, "--backend", "both", f, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    f.write_text(DUP_CLOSE.format("D", "IN"))
    r = run(sockdrill, "--backend", "both", f, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "scenarios: 0 passed, 2 failed" in r.stdout.splitlines(), r.stdout
    assert_malformed(sockdrill, tmp_path, (
                      ("a: dup()\n", "1:4: dup needs at least 1 arguments"),
                      ("a: S = socket(inet)\na: dup(S, 1)\n", "2:11: dup takes at most 1 "
                       "arguments"),
                      ("a: dup(\"x\")\n", "1:8: argument 1 of dup must be a descriptor: a "
                       "variable ($X) or a number"),
                      ("a: dup(2147483648)\n", "1:8: argument 1 of dup must be "
                       "-2147483648..2147483647"),
                      ("a: dup(S)\n", "1:8: unknown variable $S (no line before this one "
                       "assigns it)")))


def test_bad_arguments_files_pass_on_both_backends_and_null_buffers_are_checked(
        sockdrill, tmp_path):
    """EBADF/EINVAL/EFAULT cases as the kernel answers them, matched by the sim; a NULL
    buffer expected to be accepted fails on both; null(N)'s misuses are malformed files."""
    r = run(sockdrill, "--backend", "both", ROOT / "corpus/scenarios/lang/bad_arguments.sd",
            ROOT / "corpus/scenarios/lang/bad_buffers.sd", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "scenarios: 4 passed, 0 failed" in r.stdout.splitlines(), r.stdout
    f = tmp_path / "f.sd"
    f.write_text(DUP_CLOSE.split("s: D = dup")[0] + "c: send(C, null(4)) -> 4\n")
    r = run(sockdrill, "--backend", "both", f, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"sim: {f}:8: c: send(C, null(4)) -> 4: expected 4, got -EFAULT" in r.stdout, r.stdout
    assert f"real: {f}:8: c: send(C, null(4)) -> 4: expected 4, got -EFAULT" in r.stdout, r.stdout
    assert_malformed(sockdrill, tmp_path, (
                      ("a: S = socket(inet)\na: send(S, null(0))\n",
                       "2:17: null length must be 1..67108864"),
                      ("a: S = socket(inet)\na: recv(S, 5, null(3))\n",
                       "2:15: argument 3 of recv must be a number"),
                      ("a: close(null(3))\n", "1:10: argument 1 of close must be a descriptor: "
                       "a variable ($X) or a number"),
                      ("a: S = socket(inet)\na: send(S, null(5), pace=1)\n",
                       "2:4: null(N) sends nothing to pace: no pace= or hold_last= with it")))
