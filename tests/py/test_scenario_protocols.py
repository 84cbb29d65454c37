"""What real protocols need of the scenario language (docs/scenarios.md): prefix and regular
expression matches, recv_until and recvline, captures and ${NAME}, alternatives with eof, paced
and held sends. Each case runs on both backends; the passing ones are corpus/scenarios/io."""
import re
import subprocess

import pytest

from conftest import SERVER_PRELUDE, assert_malformed

SERVER = SERVER_PRELUDE
HEAD = SERVER.count("\n")


def run(sockdrill, path, *args):
    return sockdrill("run", "--backend", "both", *args, str(path), timeout=120)


# (name, steps after SERVER, the line that fails (counted in the steps), what the report says)
FAILS = [
    ("prefix", 's: send(S, "HTTP/1.1 404 Not Found\\r\\n") -> 24\n'
               'c: recvline(C, 100) -> prefix "HTTP/1.1 200"\n',
     2, 'expected prefix "HTTP/1.1 200", got "HTTP/1.1 404 Not Found\\x0d\\n"'),
    ("match", 's: send(S, "-ERR no\\r\\n") -> 9\nc: recvline(C, 100) -> match /^\\+OK/\n',
     2, 'expected match /^\\+OK/, got "-ERR no\\x0d\\n"'),
    ("eof-not-data", 's: close(S) -> 0\nc: recv(C, 10) -> "x"\n', 2, 'expected "x", got ""'),
    ("data-not-eof", 's: send(S, "x") -> 1\nc: recv(C, 10) -> eof | ECONNRESET\n', 2,
     'expected eof | ECONNRESET, got "x"'),
    # the partial line is not the line, whatever its bytes
    ("eof-before-delimiter", 's: send(S, "abc") -> 3\ns: close(S) -> 0\n'
                             'c: recvline(C, 100) -> "abc"\n', 3,
     'expected "abc", got eof after "abc"'),
    ("line-too-long", 's: send(S, "abcdef\\n") -> 7\nc: recvline(C, 4) -> "abcdef\\n"\n', 2,
     "got -EMSGSIZE"),
    ("capture-sent-back", 's: send(S, "id=7\\n") -> 5\n'
                          'c: recvline(C, 100) -> match /^id=([0-9]+)/ as ID\n'
                          'c: send(C, "GET ${ID}\\n") -> 6\n'
                          's: recv(S, 6, MSG_WAITALL) -> "GET 8\\n"\n', 4,
     'expected "GET 8\\n", got "GET 7\\n"'),
    ("pauses-bounded", 'c: send(C, pattern(70000), pace=10ms) -> 70000\n', 1,
     "the send's pauses add up to 699990 ms, more than 600000"),
]


@pytest.mark.parametrize("name, steps, line, message", FAILS, ids=[f[0] for f in FAILS])
def test_expectation_that_is_not_met_fails_on_both_backends(sockdrill, tmp_path, name, steps,
                                                            line, message):
    path = tmp_path / f"{name}.sd"
    path.write_text(SERVER + steps)
    r = run(sockdrill, path)
    assert r.returncode == 1, r.stdout + r.stderr
    for backend in ("sim", "real"):
        assert f"{backend}: {path}:{HEAD + line}: " in r.stdout, r.stdout
    assert message in r.stdout, r.stdout


def test_captured_port_and_text_pass_on_both_backends(sockdrill, tmp_path):
    """A reply names a port (FTP-like): the group's number connects there; the whole line
    and a part of it go back in ${NAME}, a literal $ and ${ as \\$."""
    path = tmp_path / "captures.sd"
    path.write_text(SERVER + """\
s: M = socket(inet) -> fd
s: bind(M, 127.0.0.1:0) -> 0
s: listen(M, 1) -> 0
s: Q = port(M)
s: send(S, "227 port=${Q} ok\\r\\n") -> *
c: W = recvline(C, 100) -> match /^227 port=([0-9]+) (ok)\\r\\n$/ as DP, WORD
c: D = socket(inet) -> fd
c: connect(D, 127.0.0.1:$DP) -> 0
s: T = accept(M) -> fd
c: send(D, "${WORD} \\${x} $1 ${W}") -> *
s: recv(T, 100) -> prefix "ok \\${x} $1 227 port="
c: close(D) -> 0
c: close(C) -> 0
""")
    r = run(sockdrill, path, "--verbose")
    assert r.returncode == 0, r.stdout + r.stderr


def test_started_recvline_is_checked_at_wait(sockdrill, tmp_path):
    path = tmp_path / "started.sd"
    path.write_text(SERVER + """\
c: start R = recvline(C, 100)
c: blocked R
s: send(S, "line\\n", hold_last=30ms) -> 5
c: X = wait R -> "line\\n" | eof
c: send(C, "${X}") -> 5
s: recv(S, 5, MSG_WAITALL) -> "line\\n"
""")
    r = run(sockdrill, path)
    assert r.returncode == 0, r.stdout + r.stderr


BAD = [
    ("regex", 'a: C = socket(inet)\na: recv(C, 1) -> match /a(/\n', 2, 25,
     "bad regular expression"),
    ("regex-unterminated", 'a: C = socket(inet)\na: recv(C, 1) -> match /abc\n', 2, 24,
     "unterminated regular expression"),
    ("as-more-than-groups", 'a: C = socket(inet)\na: recv(C, 1) -> match /(a)/ as A, B\n', 2,
     36, "the expression has 1 group"),
    ("prefix-not-for-send", 'a: C = socket(inet)\na: send(C, "x") -> prefix "x"\n', 2, 20,
     "'prefix' is an expectation for recv, recv_until, recvline"),
    ("eof-not-for-poll", 'a: C = socket(inet)\na: poll(C, IN) -> eof\n', 2, 19,
     "'eof' is an expectation for recv"),
    ("pace-unit", 'a: C = socket(inet)\na: send(C, "x", pace=10s) -> 1\n', 2, 22,
     "pace takes milliseconds, 0..10000"),
    ("pace-twice", 'a: C = socket(inet)\na: send(C, "x", pace=1, pace=2) -> 1\n', 2, 25,
     "pace given twice"),
    ("keyword-not-flags", 'a: C = socket(inet)\na: send(C, "x", pace=1, 0) -> 1\n', 2, 25,
     "argument 4 of send must be pace=MS or hold_last=MS"),
    ("unknown-in-string", 'a: C = socket(inet)\na: send(C, "GET ${X}") -> 1\n', 2, 19,
     "unknown variable $X (no line before this one assigns it)"),
    ("unclosed-brace", 'a: C = socket(inet)\na: send(C, "GET ${X") -> 1\n', 2, 20,
     "expected '}' after the variable name"),
    ("too-many-alternatives", 'a: C = socket(inet)\na: recv(C, 1) -> ' + " | ".join(["eof"] * 9)
     + "\n", 2, 66, "too many alternatives (at most 8)"),
    ("recvline-args", 'a: C = socket(inet)\na: recvline(C) -> eof\n', 2, 4,
     "recvline needs at least 2 arguments"),
]


@pytest.mark.parametrize("name, content, line, col, message", BAD, ids=[b[0] for b in BAD])
def test_malformed_step_exits_2_with_its_position(sockdrill, tmp_path, name, content, line, col,
                                                  message):
    assert_malformed(sockdrill, tmp_path / f"{name}.sd", content, line, col, message)


HELD = """\
# the question's last byte held back: a server that takes one recv() for the whole question
# answers the part it got
c: C = socket(inet) -> fd
c: connect(C, 127.0.0.1:$TARGET_PORT) -> 0
c: send(C, "When is Charles' birthday?\\n", hold_last=300ms) -> 27
c: recvline(C, 100) -> "Charles' birthday is on 14 November.\\n"
c: D = socket(inet) -> fd
c: connect(D, 127.0.0.1:$TARGET_PORT) -> 0
c: send(D, "When is Charles' birthday?\\n", pace=5ms) -> 27
c: recvline(D, 100) -> "Charles' birthday is on 14 November.\\n"
c: close(C) -> 0
c: close(D) -> 0
"""


@pytest.mark.parametrize("server, findings", [("sd-qa-server", 0), ("sd-fragile-server", 1)])
def test_partial_and_slow_client_against_real_servers(build, tmp_path, server, findings):
    """wrap --run with no fault: only the client is slow. The robust server reassembles the
    line; the fragile one takes what one recv() gives for the question: the held last byte
    (its newline) it does without, the paced question it answers from its first byte."""
    path = tmp_path / "held.sd"
    path.write_text(HELD)
    r = subprocess.run([str(build / "sockdrill"), "wrap", "--run", str(path), "--",
                        str(build / server), "--port", "{port}", "--idle-seconds", "20"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == findings, r.stdout + r.stderr
    assert f"wrap: {findings} finding" in r.stdout, r.stdout
    if findings:  # the paced question: its first byte answered, the connection closed
        assert re.search(rf"{re.escape(str(path))}:(9|10): c: (send|recvline)\(D, ", r.stdout), \
            r.stdout
