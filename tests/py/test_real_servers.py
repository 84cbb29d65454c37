"""Real, unmodified servers under `sockdrill wrap`: redis-server, memcached and lighttpd keep every
byte intact when the preload cuts their socket reads and writes into tiny pieces, and the fault log
proves the faults really fired inside the server (and that nothing is injected without --faults).

Each server runs on a free loopback port in its own temp dir, is waited for (bounded), and is
stopped by its pid (SIGTERM, then SIGKILL). A missing server binary is a failure, not a skip: CI
installs them. short-write=1 makes the server write one byte per call, so the biggest payloads
(the 10 MiB file) use a larger write piece to keep the run bounded."""
import hashlib
import json
import os
import re
import shutil
import socket
import time

import pytest

from sockdrill.core import free_port

HOST = "127.0.0.1"
# level-triggered: these servers look again at a socket a short call left ready (redis and
# memcached wait level-triggered); without it the wrapper cuts no call short on their
# non-blocking kernel sockets, whose epoll it cannot wake (docs/faults.md).
SHORT = "short-read=1,short-write=1,level-triggered"
SHORT_BULK = "short-read=1,short-write=4096,level-triggered"
IO_TIMEOUT = 30.0        # each socket call
EXCHANGE_TIMEOUT = 60.0  # a whole request/response
START_TIMEOUT = 15.0     # until the server accepts connections
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])


def need(prog, package):
    """The program's path; a failure naming the Debian package when it is not installed."""
    path = shutil.which(prog, path=SEARCH_PATH)
    if not path:
        pytest.fail(f"{prog} not found (PATH, /usr/sbin): this test needs the Debian package "
                    f"'{package}' (apt-get install {package}); CI installs it through ci/deps",
                    pytrace=False)
    return path


def sha(data):
    return hashlib.sha256(data).hexdigest()


def assert_alive(srv):
    rc = srv.proc.poll()
    assert rc is None, (f"{srv.name} exited (status {rc}) under sockdrill wrap; its output:\n"
                        f"{srv.output(3000)}")


@pytest.fixture
def serve(wrapped_server, tmp_path):
    """serve(name, argv_for(port, tmp), spec) starts argv under `sockdrill wrap` through the
    plugin's wrapped_server (faults `spec`, or none at all for None), which waits until it
    accepts connections, stops it after the test and fails the test if it crashed."""
    started = []

    def start(name, argv_for, spec):
        tmp = tmp_path / f"{name}-{len(started)}"
        tmp.mkdir()
        port = free_port(HOST)
        srv = wrapped_server(argv_for(port, tmp), faults=spec or "", port=port, workdir=tmp,
                             start_timeout=START_TIMEOUT)
        srv.name, srv.tmp = name, tmp
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
        # the fault logs of the big transfers hold millions of lines: do not keep them
        for big in [srv.fault_log, *srv.tmp.glob("www/*")]:
            try:
                big.unlink()
            except OSError:
                pass


def check_fault_log(srv, spec):
    """With faults: JSON lines, some of them "fault":"short-read" (and short-write when asked).
    Without: the log is absent or empty."""
    if not spec:
        size = srv.fault_log.stat().st_size if srv.fault_log.exists() else 0
        head = b""
        if size:
            with open(srv.fault_log, "rb") as f:
                head = f.read(500)
        assert size == 0, f"{srv.name} without --faults wrote a fault log: {head!r}"
        return
    assert srv.fault_log.exists() and srv.fault_log.stat().st_size > 0, \
        f"{srv.name} under --faults {spec}: the fault log {srv.fault_log} is absent or empty"
    want = {"short-read"} | ({"short-write"} if "short-write" in spec else set())
    seen, parsed = set(), 0
    with open(srv.fault_log, "rb") as f:
        for i, line in enumerate(f):  # bounded: stops once every wanted kind was seen
            if parsed < 200:
                rec = json.loads(line)
                assert {"conn", "call", "op", "fault", "bytes", "asked"} <= rec.keys(), line
                parsed += 1
            m = re.search(rb'"fault":"([a-z-]+)"', line)
            assert m, f"fault log line {i + 1} has no fault: {line!r}"
            seen.add(m.group(1).decode())
            if want <= seen:
                break
    assert want <= seen, f"{srv.name} under --faults {spec}: the log shows {sorted(seen)}, " \
                         f"expected {sorted(want)}"


class Conn:
    """A blocking client socket with bounded reads: every recv has a timeout, every exchange a
    deadline, and the peer closing early is a failure."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
        self.sock.settimeout(IO_TIMEOUT)
        self.buf = bytearray()
        self.deadline = time.monotonic() + EXCHANGE_TIMEOUT

    def close(self):
        self.sock.close()

    def send(self, data):
        self.deadline = time.monotonic() + EXCHANGE_TIMEOUT
        self.sock.sendall(data)

    def _fill(self):
        assert time.monotonic() < self.deadline, f"no complete answer in {EXCHANGE_TIMEOUT} s"
        chunk = self.sock.recv(1 << 20)
        assert chunk, f"the server closed the connection; had {bytes(self.buf[:200])!r}"
        self.buf += chunk

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            self._fill()

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def rest(self, limit):
        """Everything until the server closes (at most `limit` bytes)."""
        while len(self.buf) <= limit:
            assert time.monotonic() < self.deadline, f"no end of answer in {EXCHANGE_TIMEOUT} s"
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                break
            self.buf += chunk
        out = bytes(self.buf)
        self.buf.clear()
        return out


# ---- redis-server, over RESP ----------------------------------------------------------------

def resp_command(conn, *args):
    conn.send(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    return resp_reply(conn)


def resp_reply(conn):
    line = conn.line()
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b"-", b":"):
        return line
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = conn.exactly(n)
        assert conn.exactly(2) == b"\r\n", "bulk string not followed by CRLF"
        return data
    raise AssertionError(f"unexpected RESP reply {line[:100]!r}")


def redis_argv(port, tmp):
    return [need("redis-server", "redis-server"), "--port", str(port), "--bind", HOST,
            "--save", "", "--appendonly", "no", "--dir", str(tmp), "--daemonize", "no",
            "--protected-mode", "yes"]


@pytest.mark.parametrize("spec", [None, SHORT], ids=["passthrough", "short-read1-write1"])
def test_redis_set_get_values_intact(serve, spec):
    srv = serve("redis-server", redis_argv, spec)
    conn = Conn(srv.port)
    try:
        assert resp_command(conn, b"PING") == b"+PONG"
        for size in (1, 1000, 100000, 1048576):
            value, key = os.urandom(size), b"sockdrill:%d" % size
            assert resp_command(conn, b"SET", key, value) == b"+OK", f"SET of {size} bytes"
            got = resp_command(conn, b"GET", key)
            assert got is not None, f"GET of the {size}-byte key found nothing"
            assert len(got) == size and sha(got) == sha(value), \
                f"{size}-byte value came back as {len(got)} bytes, sha256 {sha(got)} != {sha(value)}"
    finally:
        conn.close()
    assert_alive(srv)
    check_fault_log(srv, spec)


# ---- memcached, ASCII protocol --------------------------------------------------------------

def memcached_argv(port, tmp):
    argv = [need("memcached", "memcached"), "-l", HOST, "-p", str(port), "-U", "0", "-t", "2"]
    if os.geteuid() == 0:
        argv += ["-u", "root"]  # memcached refuses to run as root without -u
    return argv


@pytest.mark.parametrize("spec", [None, SHORT], ids=["passthrough", "short-read1-write1"])
def test_memcached_set_get_values_intact(serve, spec):
    srv = serve("memcached", memcached_argv, spec)
    conn = Conn(srv.port)
    try:
        for size in (1, 1000, 100000, 500000):  # below the 1 MiB item limit
            value, key = os.urandom(size), b"sockdrill-%d" % size
            conn.send(b"set %s 7 0 %d\r\n%s\r\n" % (key, size, value))
            assert conn.line() == b"STORED", f"set of {size} bytes"
            conn.send(b"get %s\r\n" % key)
            assert conn.line() == b"VALUE %s 7 %d" % (key, size), f"get of {size} bytes"
            got = conn.exactly(size)
            assert conn.exactly(2) == b"\r\n" and conn.line() == b"END"
            assert got == value, f"{size}-byte value differs (sha256 {sha(got)} != {sha(value)})"
    finally:
        conn.close()
    assert_alive(srv)
    check_fault_log(srv, spec)


# ---- lighttpd, a static file over HTTP/1.0 --------------------------------------------------

def lighttpd_argv_for(lighttpd):
    def argv(port, tmp):
        (tmp / "www").mkdir(exist_ok=True)
        conf = tmp / "lighttpd.conf"
        conf.write_text(f'server.bind = "{HOST}"\n'
                        f"server.port = {port}\n"
                        f'server.document-root = "{tmp}/www"\n'
                        f'server.errorlog = "{tmp}/error.log"\n'
                        f'server.pid-file = "{tmp}/lighttpd.pid"\n'
                        f'server.upload-dirs = ( "{tmp}" )\n')
        return [lighttpd, "-D", "-f", str(conf)]
    return argv


@pytest.mark.parametrize("spec,size", [(None, 10 << 20), (SHORT, 64 << 10), (SHORT_BULK, 10 << 20)],
                         ids=["passthrough-10MiB", "short-read1-write1-64KiB",
                              "short-read1-write4096-10MiB"])
def test_lighttpd_serves_file_intact(serve, spec, size):
    lighttpd = need("lighttpd", "lighttpd")
    data = os.urandom(size)

    def argv(port, tmp):
        out = lighttpd_argv_for(lighttpd)(port, tmp)
        (tmp / "www" / "blob.bin").write_bytes(data)
        return out

    srv = serve("lighttpd", argv, spec)
    conn = Conn(srv.port)
    try:
        conn.send(b"GET /blob.bin HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        status = conn.line()
        assert re.match(rb"HTTP/1\.[01] 200 ", status), f"status line {status!r}"
        headers = {}
        while True:
            h = conn.line()
            if not h:
                break
            k, _, v = h.partition(b":")
            headers[k.strip().lower()] = v.strip()
        assert headers.get(b"content-length") == str(size).encode(), headers
        body = conn.rest(size + 1)
    finally:
        conn.close()
    assert len(body) == size and sha(body) == sha(data), \
        f"got {len(body)} of {size} bytes, sha256 {sha(body)} != {sha(data)}"
    assert_alive(srv)
    check_fault_log(srv, spec)
