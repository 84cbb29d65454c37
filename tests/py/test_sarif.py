"""--sarif on run, fuzz and wrap --run: SARIF 2.1.0 logs, valid against the OASIS schema (a
fixture: no network), in the shape GitHub code scanning reads, with a result per finding at its
scenario line or source frame and the command that reproduces it."""
import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import CRASH_AFTER_RECV, ROOT, SERVER_PRELUDE

try:
    import jsonschema
except ImportError:  # pragma: no cover - ci/deps installs it
    jsonschema = None

SCHEMA = ROOT / "tests" / "fixtures" / "sarif-schema-2.1.0.json"
CLIENT = str(ROOT / "corpus" / "wrap" / "qa_client.sd")


def cli(build, *args, cwd=ROOT, timeout=300):
    return subprocess.run([str(build / "sockdrill"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def load(path):
    """The log at path, checked against the schema and the subset code scanning reads: the
    tool and its rules, each result's rule, level, message and one location."""
    if jsonschema is None:
        pytest.fail("python3-jsonschema is not installed (`ci/deps test` installs it)")
    doc = json.loads(path.read_text(encoding="utf-8"))
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    assert doc["version"] == "2.1.0" and len(doc["runs"]) == 1
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "sockdrill" and re.fullmatch(r"\d+\.\d+\.\d+", driver["version"])
    ids = [r["id"] for r in driver["rules"]]
    assert len(set(ids)) == len(ids)
    assert all(r["shortDescription"]["text"] for r in driver["rules"])
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].endswith("/")
    for res in run["results"]:
        assert ids[res["ruleIndex"]] == res["ruleId"]
        assert res["level"] in ("error", "warning")
        assert res["message"]["text"]
        assert len(res["locations"]) == 1
        art = res["locations"][0]["physicalLocation"]["artifactLocation"]
        if "uriBaseId" in art:  # relative to the repository's root, as code scanning wants
            assert art["uriBaseId"] == "%SRCROOT%" and not art["uri"].startswith("/")
        assert re.fullmatch(r"[0-9a-f]{16}", res["partialFingerprints"]["sockdrillFinding/v1"])
    assert set(ids) == {r["ruleId"] for r in run["results"]}  # a rule per kind found, no other
    return run


def place(res):
    loc = res["locations"][0]["physicalLocation"]
    region = loc.get("region", {})
    return loc["artifactLocation"]["uri"], region.get("startLine"), region.get("startColumn")


def reproduce(res):
    return re.findall(r"^reproduce: (.*)$", res["message"]["text"], re.M)


# ---- run --------------------------------------------------------------------------------------

def test_run_failed_steps_differences_and_malformed_files(build, tmp_path):
    """A failed step on each backend, a step whose outcome differs, a malformed file: a
    result each, at the file's line (and column), with the command the console prints."""
    (tmp_path / "a_pass.sd").write_text(SERVER_PRELUDE + "c: close(C) -> 0\n")
    # how much the first send takes differs between the stacks, and 1 is wrong on both
    (tmp_path / "b_wrong.sd").write_text(SERVER_PRELUDE + "c: setsockopt(C, SO_SNDBUF, 4096) -> 0\n"
                                         "c: nonblock(C) -> 0\n"
                                         "c: send(C, pattern(2000000)) -> 1\n")
    (tmp_path / "c_bad.sd").write_text("a: frob()\n")
    out = tmp_path / "out.sarif"
    r = cli(build, "run", "--backend", "both", "--sarif", out, ".", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr  # the malformed file wins
    run = load(out)
    assert run["automationDetails"]["id"] == "sockdrill-run/"
    assert run["invocations"] == [{"executionSuccessful": False}]
    res = run["results"]
    assert [(x["ruleId"], place(x)) for x in res] == [
        ("scenario-step-failed", ("b_wrong.sd", 10, None)),
        ("scenario-step-failed", ("b_wrong.sd", 10, None)),
        ("side-by-side-difference", ("b_wrong.sd", 10, None)),
        ("scenario-malformed", ("c_bad.sd", 1, 4))]
    assert [x["level"] for x in res] == ["error", "error", "warning", "error"]
    printed = re.findall(r"reproduce: (.*)$", r.stdout, re.M)
    assert len(printed) == 2
    assert [reproduce(x) for x in res[:3]] == [printed[:1], printed[1:], printed]
    assert "expected 1, got" in res[0]["message"]["text"] and "(on sim)" in res[0]["message"]["text"]
    assert "(on real)" in res[1]["message"]["text"]
    assert re.search(r"send\(C, pattern\(2000000\)\) -> 1: sim gave \d+, real \d+",
                     res[2]["message"]["text"])
    assert res[3]["message"]["text"].startswith("./c_bad.sd:1:4: unknown call 'frob'")
    assert reproduce(res[3]) == ["./sockdrill run ./c_bad.sd"]
    # the command reproduces the failure (from where it ran: its paths are as given)
    again = cli(build, *printed[0].split()[1:], cwd=tmp_path, timeout=120)
    assert again.returncode == 1 and "expected 1, got" in again.stdout
    # fingerprints: stable from run to run, one per backend
    prints = [x["partialFingerprints"]["sockdrillFinding/v1"] for x in res]
    assert len(set(prints)) == len(prints)
    cli(build, "run", "--backend", "both", "--sarif", "again.sarif", ".", cwd=tmp_path)
    assert [x["partialFingerprints"]["sockdrillFinding/v1"]
            for x in load(tmp_path / "again.sarif")["results"]] == prints


def test_run_time_bound_has_a_rule_of_its_own(build, tmp_path):
    (tmp_path / "slow.sd").write_text("a: sleep(1500)\na: sleep(10)\n")
    out = tmp_path / "slow.sarif"
    r = cli(build, "run", "--backend", "real", "--max-time", "1", "--sarif", out, "slow.sd",
            cwd=tmp_path, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    (res,) = load(out)["results"]
    assert res["ruleId"] == "run-time-limit" and place(res) == ("slow.sd", 1, None)
    assert reproduce(res) == ["./sockdrill run --backend real --seed 1 --max-time 1 slow.sd"]


def test_run_passing_gives_a_log_without_results(build, tmp_path):
    (tmp_path / "pass.sd").write_text(SERVER_PRELUDE + "c: close(C) -> 0\n")
    out = tmp_path / "pass.sarif"
    r = cli(build, "run", "--sarif", out, tmp_path / "pass.sd")
    assert r.returncode == 0, r.stdout + r.stderr
    run = load(out)
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []
    assert run["invocations"] == [{"executionSuccessful": True}]


def test_file_outside_the_working_directory_is_an_absolute_uri(build, tmp_path):
    (tmp_path / "fail.sd").write_text("a: L = socket(inet) -> 99\n")
    out = tmp_path / "out.sarif"
    assert cli(build, "run", "--sarif", out, tmp_path / "fail.sd").returncode == 1
    (res,) = load(out)["results"]
    art = res["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art == {"uri": f"file://{tmp_path}/fail.sd"}


@pytest.mark.parametrize("command", [
    ["run", "--sarif", "{bad}", str(ROOT / "corpus" / "wrap" / "qa_client.sd")],
    ["fuzz", "fragile_server", "--time", "1", "--sarif", "{bad}"],
    ["wrap", "--run", CLIENT, "--sarif", "{bad}", "--", "true", "{port}"],
], ids=["run", "fuzz", "wrap"])
@pytest.mark.parametrize("bad, why", [
    (".", "Is a directory"),
    ("no/such/dir/out.sarif", "No such file or directory"),
], ids=["directory", "unwritable"])
def test_bad_sarif_path_is_one_line_and_exit_2(build, tmp_path, command, bad, why):
    """As --json: a report that cannot be written stops the command before it starts."""
    r = cli(build, *[bad if a == "{bad}" else a for a in command], cwd=tmp_path, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr == f"sockdrill {command[0]}: --sarif: cannot write {bad}: {why}\n"
    assert r.stdout == ""


def test_wrap_sarif_needs_run(build, tmp_path):
    r = cli(build, "wrap", "--sarif", "x.sarif", "--", "true", cwd=tmp_path, timeout=30)
    assert r.returncode == 2
    assert r.stderr == "sockdrill wrap: --sarif needs --run (its findings are the report)\n"


# ---- fuzz -------------------------------------------------------------------------------------

def test_fuzz_crash_of_the_fragile_server(build, tmp_path):
    """fragile_server's known bug, found quickly: a result of the finding's kind at the first
    frame in the code under test (the target, not sockdrill's driver), with the command that
    replays it."""
    out = tmp_path / "fuzz.sarif"
    r = cli(build, "fuzz", "fragile_server", "--time", "20", "--out", tmp_path / "campaign",
            "--sarif", out, timeout=900)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    run = load(out)
    assert run["automationDetails"]["id"] == "sockdrill-fuzz/fragile_server/"
    printed = re.findall(r"^reproduce: (.*)$", r.stdout, re.M)
    res = run["results"]
    assert len(res) == len(printed) >= 1
    for x in res:
        # the target's oracle refused a reply: sockdrill's own finding, its kind from its words
        assert x["ruleId"] == "oracle", x["message"]["text"]
        uri, line, _ = place(x)
        assert uri == "fuzz/fragile_server.c" and line > 0
        assert x["message"]["text"].startswith("fragile_server: client ")
    assert sorted(c for x in res for c in reproduce(x)) == sorted(printed)
    crash = re.search(r"repro fragile_server (\S+) --engine", printed[0]).group(1)
    again = cli(build, "repro", "fragile_server", crash, "--engine", "libfuzzer", timeout=300)
    assert again.returncode == 1 and "the finding reproduces" in again.stdout


# ---- wrap --run -------------------------------------------------------------------------------

def fragile(build):
    return [str(build / "sd-fragile-server"), "--port", "{port}", "--idle-seconds", "20"]


def test_wrap_failed_step_against_the_fragile_server(build, tmp_path):
    out = tmp_path / "wrap.sarif"
    r = cli(build, "wrap", "--faults", "short-read=1", "--seed", "3", "--run", CLIENT,
            "--sarif", out, "--", *fragile(build), timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    run = load(out)
    assert run["automationDetails"]["id"] == "sockdrill-wrap/"
    (res,) = run["results"]
    assert res["ruleId"] == "scenario-step-failed"
    assert place(res) == ("corpus/wrap/qa_client.sd", 9, None)
    assert 'got "I do not know.\\n"' in res["message"]["text"]
    assert reproduce(res) == re.findall(r"^reproduce: (.*)$", r.stdout, re.M)


def test_wrap_clean_server_gives_a_log_without_results(build, tmp_path):
    out = tmp_path / "wrap.sarif"
    r = cli(build, "wrap", "--run", CLIENT, "--sarif", out, "--", *fragile(build), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert load(out)["results"] == []


def test_wrap_server_crash_is_blamed_on_the_failed_step(build, tmp_path):
    crasher = tmp_path / "crash.py"
    crasher.write_text(CRASH_AFTER_RECV)
    out = tmp_path / "wrap.sarif"
    r = cli(build, "wrap", "--run", CLIENT, "--sarif", out, "--", sys.executable, crasher,
            "{port}", timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    res = load(out)["results"]
    crash = [x for x in res if x["ruleId"] == "server-crash"]
    assert len(crash) == 1 and "died of signal 11" in crash[0]["message"]["text"]
    steps = [x for x in res if x["ruleId"] == "scenario-step-failed"]
    # no frame of the server's: the crash is placed at the step that failed first
    assert steps and place(crash[0]) == place(steps[0])
    assert place(steps[0])[0] == "corpus/wrap/qa_client.sd"


OVERFLOW_SERVER = r"""
/* Listens, accepts one client, then writes past the end of a heap block. */
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
	if (argc != 2)
		return 2;
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0)
		return 2;
	int c = accept(s, NULL, NULL);
	char *volatile block = malloc(8);
	block[8 + (c < 0)] = 1; /* the overflow */
	free(block);
	pause();
	return 0;
}
"""


def test_wrap_sanitizer_report_names_its_kind_and_source_line(build, tmp_path):
    """An ASan-built server overflows a heap block: the result's rule is the sanitizer's kind,
    its place the report's frame in the server's own source (under the working directory)."""
    cc = shutil.which("gcc")
    if not cc:
        pytest.skip("no gcc")
    src = tmp_path / "overflow.c"
    src.write_text(OVERFLOW_SERVER)
    subprocess.run([cc, "-fsanitize=address", "-g", "-O0", "-o", tmp_path / "overflow", src],
                   check=True, timeout=120)
    # the client waits for the server's end, so the whole report is written before it stops
    (tmp_path / "wait.sd").write_text("c: C = socket(inet) -> fd\n"
                                      "c: connect(C, 127.0.0.1:$TARGET_PORT) -> 0\n"
                                      "c: recv(C, 10) -> eof\nc: close(C) -> 0\n")
    out = tmp_path / "wrap.sarif"
    r = cli(build, "wrap", "--run", "wait.sd", "--sarif", out, "--", "./overflow", "{port}",
            cwd=tmp_path, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    (res,) = load(out)["results"]
    line = OVERFLOW_SERVER.splitlines().index(
        "\tblock[8 + (c < 0)] = 1; /* the overflow */") + 1
    assert res["ruleId"] == "heap-buffer-overflow"
    assert place(res)[:2] == ("overflow.c", line)
    assert "AddressSanitizer: heap-buffer-overflow" in res["message"]["text"]
    assert reproduce(res) == re.findall(r"^reproduce: (.*)$", r.stdout, re.M)
