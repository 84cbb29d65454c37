"""sockdrill wrap --record: a real client's session with a server written as a scenario, replayed
with wrap --run (natively, under faults) and in-process on the sim (docs/scenarios.md,
"Recording a session")."""
import os
import select
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import default_stop_signals, kill_if_alive
from test_wrap_servers import SCENARIO_SERVERS, Reset, beanstalk_client, mqtt_client

REDIS = ["redis-server", "--port", "{port}", "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"]


def sd(build, *args, timeout=180, cwd=None):
    return subprocess.run([str(build / "sockdrill"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


class Recording:
    """wrap --record running: the port its first line names; stop() ends it (SIGTERM to wrap,
    which passes it on) and returns its output."""

    def __init__(self, build, out, server, cwd, env=None):
        with default_stop_signals():
            self.p = subprocess.Popen([str(build / "sockdrill"), "wrap", "--record", str(out),
                                       "--", *map(str, server)], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, cwd=cwd,
                                      env=dict(os.environ, **(env or {})))
        ready, _, _ = select.select([self.p.stdout], [], [], 60)
        assert ready, "wrap --record printed nothing in 60 s"
        self.first = self.p.stdout.readline()
        assert self.first.startswith("wrap: "), self.first
        self.port = int(self.first.split("127.0.0.1:")[1].split(",")[0])

    def stop(self):
        try:
            self.p.send_signal(signal.SIGTERM)
            out, _ = self.p.communicate(timeout=60)
        finally:
            if self.p.poll() is None:
                kill_if_alive(self.p.pid)
        return self.p.returncode, self.first + out


def until_ok(argv, what, attempts=100):
    """Runs a real client until it succeeds (the server may not listen yet): bounded."""
    for _ in range(attempts):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            return r
        time.sleep(0.1)
    pytest.fail(f"{what} never succeeded: {r.stdout}{r.stderr}")


def line_client(port, lines, until_close=False):
    """A line client on a real socket: each line sent, its reply line read; None when the
    server does not listen yet. until_close: then it waits for the server to close (bounded
    by the socket's timeout) before it closes its own end, so the server's close comes first
    in the recording, whatever the scheduling."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
    except ConnectionRefusedError:
        return None
    with s:
        f = s.makefile("rb")
        replies = [(s.sendall(line), f.readline())[1] for line in lines]
        if until_close:
            replies.append(f.read())
        return replies


def test_redis_cli_session_replays_natively_and_under_faults(build, tmp_path):
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        pytest.fail("redis-server and redis-cli are needed (ci/deps installs them)")
    session = tmp_path / "redis.sd"
    rec = Recording(build, session, REDIS, tmp_path)
    try:
        cli = ["redis-cli", "-p", str(rec.port)]
        until_ok(cli + ["PING"], "redis-cli PING")
        assert until_ok(cli + ["SET", "greeting", "hello"], "SET").stdout == "OK\n"
        assert until_ok(cli + ["GET", "greeting"], "GET").stdout == "hello\n"
    finally:
        rc, out = rec.stop()
    assert rc == 0, out
    assert "wrap: recorded 3 connections" in out, out
    text = session.read_text()
    # what redis-cli sent and what redis answered, exact, one client per connection
    assert 'client2: send(C2, "*3\\r\\n$3\\r\\nSET\\r\\n$8\\r\\ngreeting\\r\\n$5\\r\\nhello\\r\\n") -> 38' in text
    assert 'client3: recv(C3, 11, MSG_WAITALL) -> "$5\\r\\nhello\\r\\n"' in text
    assert "client1: connect(C1, 127.0.0.1:$TARGET_PORT) -> 0" in text
    r = sd(build, "wrap", "--run", session, "--", *REDIS, cwd=tmp_path)
    assert r.returncode == 0 and "wrap: 0 findings" in r.stdout, r.stdout + r.stderr
    log = tmp_path / "faults.jsonl"
    r = sd(build, "wrap", "--faults", "short-read=1,short-write=1,level-triggered", "--log", log,
           "--run", session, "--", *REDIS, cwd=tmp_path)
    assert r.returncode == 0 and "wrap: 0 findings" in r.stdout, r.stdout + r.stderr
    assert log.read_text().count('"fault":"short-') > 0  # the faults did fire
    # a reply that differs from the recording is a finding: the check is real
    (tmp_path / "other.sd").write_text(text.replace('"$5\\r\\nhello\\r\\n"', '"$5\\r\\nHELLO\\r\\n"'))
    r = sd(build, "wrap", "--run", tmp_path / "other.sd", "--", *REDIS, cwd=tmp_path)
    assert r.returncode == 1 and "wrap: 1 finding" in r.stdout, r.stdout + r.stderr


def test_fragile_server_session_replays_and_breaks_under_short_reads(build, tmp_path):
    session = tmp_path / "qa.sd"
    server = [build / "sd-fragile-server", "--port", "{port}", "--idle-seconds", "30"]
    rec = Recording(build, session, server, tmp_path)
    try:
        r = until_ok([str(build / "sd-qa-client"), f"127.0.0.1:{rec.port}"], "sd-qa-client")
        assert r.stdout == "Charles' birthday is on 14 November.\n"
    finally:
        rc, out = rec.stop()
    assert rc == 0 and "wrap: recorded 1 connection " in out, out
    text = session.read_text()
    assert "client1: send(C1, \"When is Charles' birthday?\\n\") -> 27" in text
    r = sd(build, "wrap", "--run", session, "--", *server, cwd=tmp_path)
    assert r.returncode == 0 and "wrap: 0 findings" in r.stdout, r.stdout + r.stderr
    r = sd(build, "wrap", "--faults", "short-read=1", "--run", session, "--", *server,
           cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert 'expected "Charles\' birthday is on 14 November.\\n", got "I do not know.\\n"' \
        in r.stdout




def test_dialog_session_replays_natively_and_in_process_on_the_sim(build, dialog, tmp_path):
    session = tmp_path / "dialog.sd"
    server = [dialog / "dialog_server", "--port", "{port}"]
    rec = Recording(build, session, server, tmp_path)
    try:
        for _ in range(100):
            replies = line_client(rec.port, [b"LOGIN ada\n", b"NOPE\n", b"QUIT\n"],
                                  until_close=True)
            if replies is not None:
                break
            time.sleep(0.1)
        assert replies == [b"OK ada\n", b"ERR\n", b"BYE\n", b""]
    finally:
        rc, out = rec.stop()
    assert rc == 0 and "wrap: recorded 1 connection " in out, out
    text = session.read_text()
    assert 'client1: recv(C1, 4, MSG_WAITALL) -> "BYE\\n"' in text
    assert "client1: recv(C1, 1) -> eof" in text  # QUIT ends the connection: the server closed
    r = sd(build, "wrap", "--run", session, "--", *server, cwd=tmp_path)
    assert r.returncode == 0 and "wrap: 0 findings" in r.stdout, r.stdout + r.stderr
    r = sd(build, "run", "--inproc", dialog / "fuzz_dialog", session, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok   " in r.stdout and "inproc sim" in r.stdout, r.stdout
    # the same file with the reply changed fails in-process too: the replay checks
    (tmp_path / "other.sd").write_text(text.replace('"BYE\\n"', '"BYE!"'))
    r = sd(build, "run", "--inproc", dialog / "fuzz_dialog", tmp_path / "other.sd", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr


@pytest.mark.parametrize("args,message", [
    (["--record", "/nonexistent-dir/x.sd", "--", "true"], "--record /nonexistent-dir/x.sd: "),
    (["--record", "x.sd", "--run", "y.sd", "--", "true"],
     "--record and --run do not go together"),
    (["--record"], "option '--record' needs a value"),
])
def test_record_bad_input_exits_2(build, tmp_path, args, message):
    r = sd(build, "wrap", *args, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr
    assert not (tmp_path / "x.sd").exists()


def test_record_with_no_connection_writes_nothing_and_exits_1(build, tmp_path):
    r = sd(build, "wrap", "--record", tmp_path / "s.sd", "--", "true", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "wrap: no connection was accepted: nothing recorded" in r.stdout
    assert not (tmp_path / "s.sd").exists()


FORKING = """\
import os, socket, sys
l = socket.socket()
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(8)
while True:
    c, _ = l.accept()
    if os.fork() == 0:  # a worker per connection; the parent closes its copy at once
        l.close()
        for line in c.makefile("rb"):
            c.sendall(b"worker %d: " % len(line) + line)
        os._exit(0)  # without closing: the end of the connection is the process's
    c.close()
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
"""


def test_forked_workers_are_recorded(build, tmp_path):
    """The parent accepts and closes its copy; a forked worker reads and answers: the worker's
    records belong to the parent's connection, and the parent's early close is not its end."""
    (tmp_path / "forking.py").write_text(FORKING)
    server = ["/usr/bin/python3", tmp_path / "forking.py", "{port}"]
    session = tmp_path / "fork.sd"
    rec = Recording(build, session, server, tmp_path)
    try:
        for _ in range(100):
            replies = line_client(rec.port, [b"hello\n", b"bye\n"])
            if replies is not None:
                break
            time.sleep(0.1)
        assert replies == [b"worker 6: hello\n", b"worker 4: bye\n"]
    finally:
        rc, out = rec.stop()
    assert rc == 0 and "wrap: recorded 1 connection " in out, out
    text = session.read_text()
    assert 'client1: recv(C1, 16, MSG_WAITALL) -> "worker 6: hello\\n"' in text
    assert "recv(C1, 1) -> eof" not in text  # its end was not seen: no eof claimed
    r = sd(build, "wrap", "--run", session, "--", *server, cwd=tmp_path)
    assert r.returncode == 0 and "wrap: 0 findings" in r.stdout, r.stdout + r.stderr


def test_recording_past_its_bound_is_cut_and_says_so(build, tmp_path):
    """SOCKDRILL_RECORD_MAX lowers the bytes one process records: past them the scenario says
    where it was cut, and what it holds still replays."""
    session = tmp_path / "cut.sd"
    server = [build / "sd-fragile-server", "--port", "{port}", "--idle-seconds", "30"]
    rec = Recording(build, session, server, tmp_path, env={"SOCKDRILL_RECORD_MAX": "30"})
    try:
        for _ in range(3):
            until_ok([str(build / "sd-qa-client"), f"127.0.0.1:{rec.port}"], "sd-qa-client")
    finally:
        rc, out = rec.stop()
    assert rc == 0, out
    text = session.read_text()
    assert "reached its recording bound: what it did after is not here" in text
    assert "client1: send(C1, \"When is Charles' birthday?\\n\") -> 27" in text  # 27 <= 30
    assert "recv(C1, 37" not in text  # the answer would pass the bound
    r = sd(build, "wrap", "--run", session, "--", *server, cwd=tmp_path)
    assert r.returncode == 0 and "wrap: 0 findings" in r.stdout, r.stdout + r.stderr


def test_record_says_how_the_server_ended(build, tmp_path):
    r = sd(build, "wrap", "--record", tmp_path / "s.sd", "--", "false", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "wrap: false exited with status 1\n" in r.stdout
    assert "wrap: no connection was accepted: nothing recorded" in r.stdout


RESETTING = """\
import socket, struct, sys
l = socket.socket()
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(8)
while True:
    c, _ = l.accept()
    line = c.makefile("rb").readline()
    c.sendall(b"bye " + line)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()  # a reset, not an end of stream
"""


def test_server_reset_is_the_clients_step_result(build, tmp_path):
    (tmp_path / "resetting.py").write_text(RESETTING)
    server = ["/usr/bin/python3", tmp_path / "resetting.py", "{port}"]
    session = tmp_path / "reset.sd"
    rec = Recording(build, session, server, tmp_path)
    try:
        for _ in range(100):
            try:
                s = socket.create_connection(("127.0.0.1", rec.port), timeout=10)
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        with s:
            s.sendall(b"x\n")
            got, reset = b"", False
            try:  # to the reset: the server has closed, so its records are written
                while piece := s.recv(100):
                    got += piece
            except ConnectionResetError:
                reset = True
        assert reset and got in (b"bye x\n", b"")  # the reset may overtake the reply
    finally:
        rc, out = rec.stop()
    assert rc == 0, out
    text = session.read_text()
    assert 'client1: recv(C1, 6, MSG_WAITALL) -> "bye x\\n"\nclient1: recv(C1, 1) -> ECONNRESET\n' \
        in text, text
    r = sd(build, "wrap", "--run", session, "--", *server, cwd=tmp_path)
    assert r.returncode == 0 and "wrap: 0 findings" in r.stdout, r.stdout + r.stderr


def first_exchange(client, port):
    """client(port, 0) once the server listens: until then its connect is refused (bounded)."""
    last = None
    for _ in range(200):
        try:
            return client(port, 0)
        except Reset as e:
            if not str(e).startswith("connect: "):
                raise
            last = e
            time.sleep(0.1)
    pytest.fail(f"127.0.0.1:{port} never accepted a connection: {last}")


# Two of Debian's servers of test_wrap_servers.py (issue 14, "Proof": record/replay on two of
# them), set up and talked to by that file's helpers: its argv with wrap's {port} and its
# Python clients. Their replies are the same on every fresh server: beanstalkd's job ids count
# from 1 at its start and mosquitto's packet ids from 1 per session, so the recorded
# expectations stay exact. Per server: the client, the first replies it must get, a step the
# recording must hold, and a recorded reply with the edit the replay must report.
DEBIAN = {
    "beanstalkd": (beanstalk_client, [b"USING sd0", b"WATCHING 2", b"WATCHING 1"],
                   # the second connection's first job: the server's count went on
                   'client2: recv(C2, 12, MSG_WAITALL) -> "INSERTED 3\\r\\n"',
                   ('"INSERTED 3\\r\\n"', '"INSERTED 9\\r\\n"')),
    # the SUBACK's granted QoS: 1, as asked; edited to 0
    "mosquitto": (mqtt_client, [b"\x20\x00\x00", b"\x90\x00\x01\x01"],
                  'client2: recv(C2, 5, MSG_WAITALL) -> "\\x90\\x03\\x00\\x01\\x01"',
                  ('"\\x90\\x03\\x00\\x01\\x01"', '"\\x90\\x03\\x00\\x01\\x00"')),
}


@pytest.mark.parametrize("name", sorted(DEBIAN))
def test_debian_server_session_replays_natively_and_under_faults(build, tmp_path, name):
    """A real client's session with beanstalkd or mosquitto, recorded, replays against a fresh
    native server and under short reads and writes with no finding; an edited reply is one."""
    client, head, step, (was, edited) = DEBIAN[name]
    server = SCENARIO_SERVERS[name](tmp_path)
    session = tmp_path / f"{name}.sd"
    rec = Recording(build, session, server, tmp_path)
    try:
        first = first_exchange(client, rec.port)
        second = client(rec.port, 1)
    finally:
        rc, out = rec.stop()
    assert first[:len(head)] == head, first[:len(head)]
    assert len(second) == len(first), second
    assert rc == 0 and "wrap: recorded 2 connections " in out, out
    text = session.read_text()
    assert step in text, text[:3000]
    r = sd(build, "wrap", "--run", session, "--", *server, cwd=tmp_path)
    assert r.returncode == 0 and "wrap: 0 findings" in r.stdout, r.stdout + r.stderr
    log = tmp_path / "faults.jsonl"
    r = sd(build, "wrap", "--faults", "short-read=1,short-write=1,level-triggered", "--log", log,
           "--run", session, "--", *server, cwd=tmp_path)
    assert r.returncode == 0 and "wrap: 0 findings" in r.stdout, r.stdout + r.stderr
    faults = log.read_text()
    assert '"fault":"short-read"' in faults and '"fault":"short-write"' in faults
    (tmp_path / "other.sd").write_text(text.replace(was, edited, 1))
    r = sd(build, "wrap", "--run", tmp_path / "other.sd", "--", *server, cwd=tmp_path)
    assert r.returncode == 1 and "wrap: 1 finding" in r.stdout, r.stdout + r.stderr
    assert f"-> {edited}: expected " in r.stdout, r.stdout  # the finding is the edited step


DROPPING = """\
import os, socket, sys
l = socket.socket()
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(8)
os.setgid(65534)  # as a daemon started as root does (mosquitto): nobody's rights from here
os.setuid(65534)
while True:
    c, _ = l.accept()
    for line in c.makefile("rb"):
        c.sendall(b"nobody: " + line)
    c.close()
"""


def test_server_that_drops_privileges_is_recorded(build, tmp_path):
    """The recording is opened as the program starts: a server that then gives up root's
    rights, and so could not open wrap's file (mode 0600, root's), is still recorded."""
    if os.geteuid() != 0:
        pytest.skip("dropping privileges needs root")
    (tmp_path / "dropping.py").write_text(DROPPING)
    server = ["/usr/bin/python3", tmp_path / "dropping.py", "{port}"]
    session = tmp_path / "drop.sd"
    rec = Recording(build, session, server, tmp_path)
    try:
        for _ in range(100):
            try:
                s = socket.create_connection(("127.0.0.1", rec.port), timeout=10)
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        else:
            pytest.fail("the server never listened")
        with s:
            s.sendall(b"hello\n")
            reply = s.makefile("rb").readline()
            s.shutdown(socket.SHUT_WR)
            end = s.recv(100)  # the server's close: its records are written by then
        assert (reply, end) == (b"nobody: hello\n", b"")
    finally:
        rc, out = rec.stop()
    assert rc == 0 and "wrap: recorded 1 connection " in out, out
    text = session.read_text()
    assert 'client1: recv(C1, 14, MSG_WAITALL) -> "nobody: hello\\n"\n' \
        'client1: shutdown(C1, SHUT_WR) -> 0\nclient1: recv(C1, 1) -> eof\n' in text, text
