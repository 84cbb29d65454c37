"""The structure-keeping mutators in a campaign (docs/inproc.md, "Mutations"): `sockdrill fuzz`
lists an in-process server fuzzer's messages, makes a dictionary of them when none is given,
and both engines mutate through sockdrill's mutator (libFuzzer's hooks in the target, AFL++'s
custom mutator library)."""
import os
import re
import subprocess

from conftest import ROOT


def sd(build, *args, timeout=900, env=None):
    return subprocess.run([str(build / "sockdrill"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


def counts(stats, engine):
    """The mutations per name from the stats lines of one engine, summed over its processes."""
    total = {}
    lines = [line for line in stats.splitlines() if line.startswith(engine + " ")]
    assert lines, stats
    for line in lines:
        for name, n in re.findall(r"([a-z-]+)=(\d+)", line):
            total[name] = total.get(name, 0) + int(n)
    return total


# The example server's own findings under this input format (a deadlock with every fault at
# its highest, descriptors left after the server gave up, memory of a server stopped where it
# waited) would end a campaign early, before libFuzzer writes the mutator's counts; these
# tests are about the mutator, so those oracles (and, for the ASan build, leak detection) are
# off.
QUIET = dict(os.environ, SOCKDRILL_ORACLES="-deadlock,-fd-leak,-listeners")


def campaign(build, exe, engine, out, *engine_args, env=QUIET):
    """A 10 s campaign on exe that fuzzes and finds nothing."""
    r = sd(build, "fuzz", exe, "--engine", engine, "--time", "10", "--out", out, "--",
           *engine_args, env=env)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert re.search(rf"^fuzz: example_server on {engine}: 0 new crashes", r.stdout, re.M), \
        r.stdout + r.stderr[-3000:]


def check_messages_and_dict(out, engine):
    # fuzz/qa_oracle.c's two requests, as the target listed them
    assert (out / "messages").read_text() == (
        "sockdrill-messages 1 2 0\n"
        + "When is Charles' birthday?\n".encode().hex() + "\n"
        + "What is the time?\n".encode().hex() + "\n")
    assert (out / f"messages.{engine}.dict").read_text().endswith(
        "msg0=\"When is Charles' birthday?\\x0a\"\nmsg1=\"What is the time?\\x0a\"\n")


def test_libfuzzer_campaign_mutates_through_the_plans(build, tmp_path):
    """A server fuzzer given as a path, no seeds, no dictionary: its messages become the
    dictionary, libFuzzer finds the custom mutator, new inputs come from it, and its counts say
    which mutations it made."""
    built = sd(build, "repro", "example_server", ROOT / "corpus" / "example_server" / "one_question")
    assert built.returncode == 0, built.stdout + built.stderr[-2000:]
    exe = ROOT / "build" / "libfuzzer" / "fuzz_example_server"
    out = tmp_path / "out"
    campaign(build, exe, "libfuzzer", out, "-seed=1", "-detect_leaks=0",
             env=dict(QUIET, ASAN_OPTIONS="detect_leaks=0"))
    check_messages_and_dict(out, "libfuzzer")
    log = (out / "libfuzzer.log").read_text()
    assert "Dictionary: 2 entries" in log, log[:3000]
    assert "INFO: found LLVMFuzzerCustomMutator" in log
    new = re.findall(r"^#\d+\s+NEW .* MS: \d+ (\S+)", log, re.M)
    assert new, log[-3000:]
    assert all("Custom" in seq for seq in new), new  # every mutation goes through the hooks
    c = counts((out / "mutator-stats").read_text(), "libfuzzer")
    assert c["mutations"] > 0
    assert c["insert"] + c["replace"] + c["delete"] + c["cross-msg"] > 0, c


def test_afl_campaign_loads_the_custom_mutator(build, tmp_path):
    """On AFL++ the same: the custom mutator library is loaded with the target's messages, it
    mutates (its own counts, and the names of the inputs it found), and the dictionary goes to
    afl-fuzz as -x."""
    built = sd(build, "repro", "example_server", ROOT / "corpus" / "example_server" / "one_question",
               "--engine", "afl")
    assert built.returncode == 0, built.stdout + built.stderr[-2000:]
    exe = ROOT / "build" / "afl" / "fuzz_example_server"
    out = tmp_path / "out"
    campaign(build, exe, "afl", out, "-s", "1")
    check_messages_and_dict(out, "afl")
    stats = (out / "afl-out" / "main" / "fuzzer_stats").read_text()
    line = re.search(r"^command_line\s*:\s*(.*)$", stats, re.M).group(1)
    assert f" -x {out}/messages.afl.dict " in line, line
    c = counts((out / "mutator-stats").read_text(), "afl")
    assert c["mutations"] > 0, c
    queue = [p.name for p in (out / "afl-out" / "main" / "queue").iterdir()]
    assert any(",sockdrill-" in name for name in queue), queue
