"""Findings as scenarios (docs/inproc.md): `sockdrill repro --scenario` writes a fuzz input's run
as a scenario file, which replays in-process on the sim (`sockdrill run --inproc`) and on the
kernel against the server's native build (`sockdrill wrap --run`). A bug planted after a dialog
in a small server (tests/fuzz_own_server/dialog.c) shows on both; a clean dialog passes on
both; the input's faults on the server's calls reach both."""
import subprocess

import pytest

from conftest import ROOT

SOCKDRILL = ROOT / "sockdrill"
LOGIN, STAT, QUIT = 0, 1, 2  # dialog_glue.c's requests
HALF_CLOSE, CLOSE, RESET = 0, 1, 2
SHORT_WRITE, DELAY = 1, 7  # the fault slots' order (src/driver/fuzz/fuzz_plan.h)


def sd(*args, cwd, timeout=600):
    return subprocess.run([str(SOCKDRILL), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)


def plan(clients, seed=0, segment=0, faults=None):
    """A fuzz input, as sd_fuzz_plan_encode writes it (src/driver/fuzz/fuzz_plan.h): the seed,
    segmentation, eight fault levels, the clients (all at once); per client its connect target
    (-1: the server), its end and its messages, each a request number sent whole, then a wait
    for the reply."""
    levels = [0] * 8
    for kind, level in (faults or {}).items():
        levels[kind] = level
    b = seed.to_bytes(8, "big") + bytes([segment, *levels, len(clients) - 1, len(clients) - 1])
    for frm, end, msgs in clients:
        b += bytes([frm + 1, end, (len(msgs) + 32) % 33])
        for which in msgs:
            b += bytes([which, 0, 0])
    return b




def test_planted_bug_replays_on_the_sim_and_on_the_kernel(dialog, tmp_path):
    """LOGIN, its reply, STAT: the server writes past a buffer. The finding's scenario holds
    the dialog and the finding; replayed in-process it crashes the server on the sim, and
    through wrap it crashes the native build on the kernel."""
    crash = tmp_path / "crash"
    crash.write_bytes(plan([(-1, HALF_CLOSE, [LOGIN, STAT])]))
    out = tmp_path / "finding.sd"
    fuzzer = dialog / "fuzz_dialog"
    r = sd("repro", fuzzer, crash, "--scenario", out, cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr[-3000:]
    assert f"repro: {fuzzer} on {crash}: the finding reproduces\n" in r.stdout
    assert f"repro: the run as a scenario: {out} (6 steps)\n" in r.stdout
    assert f"repro: replay in-process on the sim: ./sockdrill run --inproc {fuzzer} {out}\n" \
        in r.stdout
    assert f"repro: replay on the kernel: ./sockdrill wrap --run {out} -- NATIVE_SERVER ARGS " \
        in r.stdout
    text = out.read_text()
    assert "\n# finding: AddressSanitizer: heap-buffer-overflow\n" in text
    assert f"\n# input: {crash}, {crash.stat().st_size} bytes; seed 0, segment 0, faults on " \
        "the server's calls: none\n" in text
    assert text.endswith("set seed 0\nset segment 0\n"
                         "client0: C0 = socket(inet) -> fd\n"
                         "client0: connect(C0, 127.0.0.1:$TARGET_PORT) -> 0\n"
                         "client0: send(C0, \"LOGIN x\\n\") -> 8\n"
                         "client0: recv(C0, 5, MSG_WAITALL) -> \"OK x\\n\"\n"
                         "client0: send(C0, \"STAT\\n\") -> 5\n"
                         "# the target stopped here: AddressSanitizer: heap-buffer-overflow\n"
                         "client0: recv(C0, 65536) -> *    # the server's answer, or its end\n")
    sim = sd("run", "--inproc", fuzzer, out, cwd=tmp_path)
    assert sim.returncode == 1, sim.stdout + sim.stderr[-3000:]
    assert sim.stdout.startswith(
        f"FAIL {out}  (inproc sim: the target stopped during the replay)\n"
        "      sim: AddressSanitizer: heap-buffer-overflow\n"
        f"      reproduce: ./sockdrill run --inproc {fuzzer} {out}\n"), sim.stdout
    assert sim.stdout.endswith("scenarios: 0 passed, 1 failed\n")
    assert "ERROR: AddressSanitizer: heap-buffer-overflow" in sim.stderr
    assert "dialog.c:" in sim.stderr  # the server's frame, symbolized
    kern = sd("wrap", "--run", out, "--", dialog / "dialog_server", "--port", "{port}",
              cwd=tmp_path)
    assert kern.returncode == 1, kern.stdout + kern.stderr
    assert f"ok   {out}  (6 steps, " in kern.stdout
    assert "FINDING: the server printed a sanitizer report:\n" in kern.stdout
    assert "ERROR: AddressSanitizer: heap-buffer-overflow" in kern.stdout
    assert kern.stdout.endswith(f"wrap: 1 finding\nreproduce: ./sockdrill wrap --run {out} -- "
                                f"{dialog}/dialog_server --port {{port}}\n"), kern.stdout


def test_clean_dialog_passes_on_the_sim_and_on_the_kernel(dialog, tmp_path):
    """LOGIN then QUIT: no finding; its scenario passes in-process and through wrap, a step for
    every call the client made."""
    clean = tmp_path / "clean"
    clean.write_bytes(plan([(-1, HALF_CLOSE, [LOGIN, QUIT])]))
    out = tmp_path / "clean.sd"
    fuzzer = dialog / "fuzz_dialog"
    r = sd("repro", fuzzer, clean, "--scenario", out, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert f"repro: {fuzzer} on {clean}: runs clean\n" in r.stdout
    text = out.read_text()
    assert "\n# finding: none: the input runs clean\n" in text
    assert "client0: send(C0, \"QUIT\\n\") -> 5\n" \
        "client0: recv(C0, 4, MSG_WAITALL) -> \"BYE\\n\"\n" in text
    assert text.endswith("client0: close(C0) -> 0\n"
                         "# the run ended here, with no finding\n")
    sim = sd("run", "--verbose", "--inproc", fuzzer, out, cwd=tmp_path)
    assert sim.returncode == 0, sim.stdout + sim.stderr[-3000:]
    assert f"\nok   {out}  (inproc sim " in sim.stdout
    assert sim.stdout.count("    sim  line ") == 9  # every step, once
    assert "line 15   client0: recv(C0, 4, MSG_WAITALL) -> \"BYE\\n\"" in sim.stdout
    assert sim.stdout.endswith("run: 1 scenario file in-process on sim (dialog); sim: 1 passed, "
                               "0 failed\nscenarios: 1 passed, 0 failed\n")
    kern = sd("wrap", "--run", out, "--", dialog / "dialog_server", "--port", "{port}",
              cwd=tmp_path)
    assert kern.returncode == 0, kern.stdout + kern.stderr
    assert kern.stdout.endswith("wrap: 0 findings\n")


def replayed_with_faults(dialog, tmp_path, name, data):
    """The input, clean, as a scenario (`repro --scenario`) replayed in-process and through wrap
    on the native server: the file's text, wrap's stdout and its fault log."""
    crash = tmp_path / name
    crash.write_bytes(data)
    out = tmp_path / f"{name}.sd"
    fuzzer = dialog / "fuzz_dialog"
    r = sd("repro", fuzzer, crash, "--scenario", out, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    sim = sd("run", "--inproc", fuzzer, out, cwd=tmp_path)
    assert sim.returncode == 0, sim.stdout + sim.stderr[-3000:]
    log = tmp_path / f"{name}.jsonl"
    kern = sd("wrap", "--log", log, "--run", out, "--", dialog / "dialog_server", "--port",
              "{port}", cwd=tmp_path)
    assert kern.returncode == 0, kern.stdout + kern.stderr
    return out, out.read_text(), kern.stdout, log.read_text()


def test_server_faults_reach_both_replays(dialog, tmp_path):
    """An input with short writes on the server's calls: the file states them (and their seed)
    and shows each where it happened; the in-process replay injects them again, and wrap takes
    them for the native server when no --faults is given."""
    out, text, kern, log = replayed_with_faults(
        dialog, tmp_path, "short", plan([(-1, HALF_CLOSE, [LOGIN, QUIT])], seed=5,
                                        faults={SHORT_WRITE: 1}))
    assert "\nset server-faults \"short-write=1\"\nset server-seed 5\n" in text
    assert " send: short-write, 1 of 5 bytes (t=" in text  # "OK x\n", a byte at a time
    assert "client0: recv(C0, 5, MSG_WAITALL) -> \"OK x\\n\"\n" in text
    assert "faults 'short-write=1', seed 5\n" in kern
    assert '"fault":"short-write"' in log
    # one server takes one spec: files that disagree are refused before it starts
    other = tmp_path / "other.sd"
    other.write_text(text.replace("short-write=1", "short-write=2"))
    bad = sd("wrap", "--run", out, "--run", other, "--", dialog / "dialog_server", "--port",
             "{port}", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr == (f"sockdrill wrap: --run {out} and {other} set a different "
                          "server-faults (one server: give --faults)\n")
    assert bad.stdout == ""


def test_family_kinds_reach_both_replays(dialog, tmp_path):
    """A kind of a slot's family, aimed: with the segmentation byte's switch on (130: segment
    0), the delay slot's byte picks latency (bits 3..5 = 1) from each connection's 4th call on
    (bits 6..7 = 1). The file states it as the fault spec says it, and both replays inject it."""
    _, text, _, log = replayed_with_faults(
        dialog, tmp_path, "latency", plan([(-1, HALF_CLOSE, [LOGIN, QUIT])], seed=5,
                                          segment=130, faults={DELAY: 2 | 1 << 3 | 1 << 6}))
    assert "seed 5, segment 0, faults on the server's calls: latency=2~1@after=3\n" in text
    assert "\nset server-faults \"latency=2~1@after=3\"\nset server-seed 5\n" in text
    shown = [line for line in text.splitlines() if line.startswith("# server fault: ")]
    assert shown and shown[0].startswith("# server fault: a1 call 4 "), shown
    assert all(": latency" in line for line in shown), shown
    assert '"fault":"latency"' in log and '"call":4,' in log and '"call":3,' not in log


def script(path, text):
    path.write_text(text)
    path.chmod(0o755)
    return path


SERVER_FAULTS = 'set server-faults "short-read=1"\nc: C = socket(inet) -> fd\n'


@pytest.mark.parametrize("args, message", [
    (["run", "--inproc", "T", "--backend", "real", "F"],
     "sockdrill run: --backend is not for --inproc (its options: --seed, --verbose, "
     "--max-time, --engine)"),
    (["run", "--inproc", "T", "--target", "127.0.0.1:80", "F"],
     "sockdrill run: --target is not for --inproc (its options: --seed, --verbose, "
     "--max-time, --engine)"),
    (["run", "--engine", "afl", "F"], "sockdrill run: --engine is for --inproc"),
    (["run", "F"], "F:1:5: server-faults is for a server sockdrill starts: replay the file "
     "with 'sockdrill run --inproc TARGET' or 'sockdrill wrap --run'"),
    (["run", "--inproc", "./no/such/fuzzer", "F"],
     "sockdrill run: ./no/such/fuzzer: not an executable fuzzer"),
    (["run", "--inproc", "nosuchtarget", "F"], "sockdrill run: unknown target 'nosuchtarget'"),
    (["repro", "sim_ops", "F", "--scenario", "/no/such/dir/out.sd"],
     "sockdrill repro: --scenario /no/such/dir/out.sd: No such file or directory"),
])
def test_bad_input_exits_2(build, tmp_path, args, message):
    (tmp_path / "F").write_text(SERVER_FAULTS)
    r = subprocess.run([str(build / "sockdrill"), *args], capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith(message), r.stderr
    assert r.stderr.count("\n") == 1, r.stderr


def test_inproc_malformed_file_is_refused_before_the_target_runs(build, tmp_path):
    """Each file reads first (file:line:col, exit 2): the target is not even looked for."""
    bad = tmp_path / "bad.sd"
    bad.write_text("c: C = socket(inet) -> fd\nc: connect(C, 127.0.0.1:$PORT) -> 0\n")
    r = subprocess.run([str(build / "sockdrill"), "run", "--inproc", "./no/such/fuzzer", bad],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == (f"{bad}:2:25: unknown variable $PORT (no line before this one "
                        "assigns it)\n")


def test_target_that_does_not_replay_is_an_error(build, tmp_path):
    """A fuzzer that is not an in-process server's (it ignores SOCKDRILL_SCENARIO) ran and wrote
    no verdict: not a pass; and repro --scenario says it wrote no scenario."""
    standin = script(tmp_path / "fuzz_other", "#!/bin/sh\nexit 0\n")
    sc = tmp_path / "x.sd"
    sc.write_text("c: C = socket(inet) -> fd\n")
    r = subprocess.run([str(build / "sockdrill"), "run", "--inproc", standin, sc],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert (f"sockdrill run: {standin} did not replay {sc}: it is not an in-process server "
            "fuzzer (sd_fuzz_server_run, sockdrill/fuzz.h)\n") in r.stderr
    out = tmp_path / "out.sd"
    r = subprocess.run([str(build / "sockdrill"), "repro", standin, sc, "--scenario", out],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr == (f"sockdrill repro: {standin} wrote no scenario: it is not an "
                        "in-process server fuzzer (sd_fuzz_server_run, sockdrill/fuzz.h)\n")


def test_replay_that_never_ends_is_stopped(build, tmp_path):
    """A target that never ends (a server spinning without a call never lets a step end) is
    stopped once --max-time and a 10 s grace have passed: a failure, not a hang."""
    standin = script(tmp_path / "fuzz_spin", "#!/bin/sh\nexec sleep 600\n")
    sc = tmp_path / "x.sd"
    sc.write_text("c: C = socket(inet) -> fd\n")
    r = subprocess.run([str(build / "sockdrill"), "run", "--max-time", "1", "--inproc", standin,
                        sc], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert (f"FAIL {sc}  (inproc sim: the target stopped during the replay)\n"
            "      sim: no verdict after 11 s: the target was stopped\n") in r.stdout
