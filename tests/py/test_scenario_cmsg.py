"""recvmsg's control messages (control=BYTES, cmsg, msg_flags, msg_controllen), dup2/dup3 and
address lengths (len=N) in the scenario language: malformed uses are file errors with their
position, and the files that use them mean the same on both backends."""
import pytest

from conftest import SERVER_PRELUDE, assert_malformed

BAD = [
    ("control-too-big", 'a: C = socket(inet)\na: recvmsg(C, 10, control=5000) -> *\n', 2, 27,
     "control takes a number of bytes, 0..4096"),
    ("control-twice", 'a: C = socket(inet)\na: recvmsg(C, 10, control=8, control=9) -> *\n', 2,
     30, "control given twice"),
    ("control-only-recvmsg", 'a: C = socket(inet)\na: recv(C, 10, control=8) -> *\n', 2, 16,
     "unknown name 'control'"),
    ("flags-before-keyword", 'a: C = socket(inet)\na: recvmsg(C, 10, control=8, 0) -> *\n', 2,
     30, "argument 4 of recvmsg must be control=N"),
    ("cmsg-only-inq", 'a: C = socket(inet)\na: cmsg(C, TCP_INQ) -> *\n', 2, 4,
     "cmsg takes TCP_CM_INQ"),
    ("msg-flags-not-poll", 'a: C = socket(inet)\na: msg_flags(C) -> IN\n', 2, 20,
     "msg_flags flags such as MSG_CTRUNC"),
    ("poll-not-msg-flags", 'a: C = socket(inet)\na: poll(C, IN, 0) -> MSG_CTRUNC\n', 2, 22,
     "unknown expectation 'MSG_CTRUNC'"),
    ("msg-flags-then-poll", 'a: C = socket(inet)\na: msg_flags(C) -> MSG_CTRUNC|OUT\n', 2, 31,
     "unknown expectation 'OUT'"),
    ("dup2-number-target", 'a: C = socket(inet)\na: dup2(C, 7) -> *\n', 2, 4,
     "dup2's second descriptor is a variable"),
    ("dup3-needs-flags", 'a: C = socket(inet)\na: dup3(C, C) -> *\n', 2, 4,
     "dup3 needs at least 3 arguments"),
    ("len-too-long", 'a: C = socket(inet)\na: bind(C, 127.0.0.1:0, len=129) -> *\n', 2, 29,
     "len takes a number of bytes, 0..128"),
    ("len-only-addresses", 'a: C = socket(inet)\na: listen(C, 1, len=8) -> *\n', 2, 17,
     "listen takes at most 2 arguments"),
]


@pytest.mark.parametrize("name, content, line, col, message", BAD, ids=[b[0] for b in BAD])
def test_malformed_use_exits_2_with_its_position(sockdrill, tmp_path, name, content, line, col,
                                                 message):
    assert_malformed(sockdrill, tmp_path / f"{name}.sd", content, line, col, message)


PRELUDE = SERVER_PRELUDE + """\
s: setsockopt(S, TCP_INQ, 1) -> 0
c: send(C, "abcdef") -> 6
s: poll(S, IN, 1000) -> IN
"""

# A wrong expectation on a query fails on both backends, with the answer shown as it is meant.
FAILS = [
    ("inq-value", "s: recvmsg(S, 2, control=64) -> \"ab\"\ns: cmsg(S, TCP_CM_INQ) -> 5\n",
     "expected 5, got 4"),
    ("inq-absent", "s: recvmsg(S, 2, control=8) -> \"ab\"\ns: cmsg(S, TCP_CM_INQ) -> 4\n",
     "expected 4, got -ENOMSG"),
    ("flags-shown", "s: recvmsg(S, 2) -> \"ab\"\ns: msg_flags(S) -> MSG_EOR\n",
     "expected MSG_EOR, got MSG_CTRUNC"),
    ("dup2-target", "s: X = socket(inet) -> fd\ns: dup2(S, X) -> $L\n", "expected $L"),
]


@pytest.mark.parametrize("name, steps, message", FAILS, ids=[f[0] for f in FAILS])
def test_wrong_expectation_fails_on_both(sockdrill, tmp_path, name, steps, message):
    path = tmp_path / f"{name}.sd"
    path.write_text(PRELUDE + steps)
    r = sockdrill("run", "--backend", "both", str(path), timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.count(message) >= 2, r.stdout
    assert "differs between sim and real" not in r.stdout, r.stdout


@pytest.mark.parametrize("name", ["recvmsg_control", "dup2", "address_lengths"])
def test_corpus_file_passes_on_both(sockdrill, name):
    r = sockdrill("run", "--backend", "both", f"corpus/scenarios/lang/{name}.sd", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
