"""Shared helpers for sockdrill's pytest suite: where the build is. The `sockdrill` fixture
(the CLI, bounded in time) and the others come from the plugin, which the root conftest.py
loads."""
import contextlib
import errno
import os
import pathlib
import re
import select
import signal
import socket
import struct
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PRESET = os.environ.get("SOCKDRILL_PRESET", "default")


def fuzz_targets():
    """The built-in fuzz targets as fuzz/targets.txt lists them (the one list): a tuple
    (name, kind, max_len, expect) per target, in the file's order."""
    rows = []
    for line in (ROOT / "fuzz" / "targets.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(tuple(line.split()))
    return rows


def host_one_role():
    """Whether this kernel has the one-role variant (docs/sim-vs-linux.md, "Kernel
    variants"), asked here in Python, apart from sockdrill's own probe: a socket whose
    blocking connect was refused then listens; EINVAL is the variant. (A connect given a
    Python timeout would be non-blocking and leave the socket "connecting": the connect
    stays blocking, bounded by SO_SNDTIMEO.)"""
    with socket.socket() as holder, socket.socket() as c:
        holder.bind(("127.0.0.1", 0))
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 5, 0))
        with pytest.raises(ConnectionRefusedError):
            c.connect(holder.getsockname())
        try:
            c.listen(1)
        except OSError as e:
            if e.errno == errno.EINVAL:
                return True
            raise
        return False


def required_variant(path):
    """True for a scenario file that says `requires one-role`, False for `requires
    no-one-role`, None when it says neither."""
    for line in pathlib.Path(path).read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] == ["requires"] and len(words) == 2 and \
                words[1] in ("one-role", "no-one-role"):
            return words[1] == "one-role"
    return None


TUNABLES = ("hz", "syn-retries", "syn-linear-timeouts", "fin-timeout", "port-range",
            "somaxconn", "wmem-max", "rmem-max", "tcp-rmem-max", "tcp-peek-off", "tw-reuse",
            "tw-reuse-delay")


def required_tunables(path):
    """The kernel tunables a scenario file requires (`requires hz=250`) or sets (`set
    somaxconn 4096`, `set port-range 32768-60999`), as a dict of strings; "unprivileged"
    when it says `set unprivileged`."""
    want = {}
    for line in pathlib.Path(path).read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] == ["requires"] and len(words) == 2 and "=" in words[1]:
            name, value = words[1].split("=", 1)
            want[name] = value
        elif words[:2] == ["set", "unprivileged"]:
            want["unprivileged"] = "yes"
        elif words[:1] == ["set"] and len(words) == 3 and words[1] in TUNABLES:
            want[words[1]] = words[2]
    return want


def unprivileged_here():
    """Whether this process is refused ports below 1024, as `set unprivileged` describes:
    no CAP_NET_BIND_SERVICE and the kernel's default ip_unprivileged_port_start."""
    status = pathlib.Path("/proc/self/status").read_text()
    cap = int(re.search(r"^CapEff:\s*([0-9a-f]+)", status, re.M).group(1), 16)
    start = int(pathlib.Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    return not cap & (1 << 10) and start == 1024


def host_tunables():
    """This kernel's values of the tunables a file may require, read here apart from
    sockdrill's own reader: the sysctls from /proc/sys (tcp_syn_linear_timeouts is 0 on a
    kernel without it), HZ from a socket timeout of 1 us read back (one tick)."""
    def sysctl(name, default=None):
        try:
            return int(pathlib.Path("/proc/sys/net/ipv4", name).read_text().split()[0])
        except FileNotFoundError:
            return default
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 1))
        sec, usec = struct.unpack("ll", s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
    def core(name):
        return int(pathlib.Path("/proc/sys/net/core", name).read_text())
    ports = pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    rmem = pathlib.Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()
    # TCP answers SO_PEEK_OFF from Linux 6.10 on: asked of a socket, not of the version
    with socket.socket() as s:
        try:
            s.setsockopt(socket.SOL_SOCKET, 42, 0)  # SO_PEEK_OFF
            peek_off = 1
        except OSError:
            peek_off = 0
    return {"hz": round(1e6 / (sec * 1e6 + usec)), "syn-retries": sysctl("tcp_syn_retries"),
            "syn-linear-timeouts": sysctl("tcp_syn_linear_timeouts", 0),
            "fin-timeout": sysctl("tcp_fin_timeout"), "port-range": "-".join(ports),
            "somaxconn": core("somaxconn"), "wmem-max": core("wmem_max"),
            "rmem-max": core("rmem_max"), "tcp-rmem-max": int(rmem[2]),
            "tcp-peek-off": peek_off, "tw-reuse": sysctl("tcp_tw_reuse"),
            "tw-reuse-delay": sysctl("tcp_tw_reuse_delay", 1000),
            # a u32 whose values from INT_MAX up (UINT_MAX by default) all mean no mark
            "notsent-lowat": min(sysctl("tcp_notsent_lowat", 2**32 - 1), 2**31 - 1)}


def not_applicable_on_real(path):
    """Whether a scenario file describes a kernel this one is not: another one-role variant
    or another value of a tunable it requires (docs/scenarios.md, "Kernel variants")."""
    variant = required_variant(path)
    if variant is not None and variant != host_one_role():
        return True
    want = required_tunables(path)
    want.pop("free-ports", None)  # the machine's state, not the kernel's: see fixed_ports
    if want.pop("unprivileged", None) and not unprivileged_here():
        return True
    host = host_tunables() if want else {}
    return any(str(host[k]) != v for k, v in want.items())


def fixed_ports(path):
    """The files that state 'requires free-ports=LO-HI': on real they are not applicable
    while another socket holds one of those ports, which no test can foresee."""
    return "free-ports" in required_tunables(path)


def build_dir(preset=PRESET):
    return ROOT / "build" / preset


def ensure_built(preset=PRESET):
    """Builds `preset` through the root wrapper (a no-op when up to date)."""
    env = dict(os.environ, SOCKDRILL_PRESET=preset)
    r = subprocess.run([str(ROOT / "sockdrill"), "--version"], env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, f"build of preset {preset} failed:\n{r.stderr}"
    return build_dir(preset)


@pytest.fixture(scope="session")
def build(sockdrill):
    """The build the plugin's `sockdrill` fixture runs (preset $SOCKDRILL_PRESET)."""
    return sockdrill.build_dir


@pytest.fixture(scope="session")
def default_build():
    """The uninstrumented build, for what links against the installed library."""
    return ensure_built("default")


def start_qa_server(build, *args):
    """Starts sd-qa-server and waits (bounded) for its "listening on ADDR" line: (p, ADDR)."""
    p = subprocess.Popen([str(build / "sd-qa-server"), *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([p.stdout], [], [], 30)
    if not ready:
        p.kill()
        p.wait(10)
        pytest.fail("sd-qa-server did not report its address within 30 s")
    line = p.stdout.readline()
    assert line.startswith("listening on "), (line, p.stderr.read() if p.poll() else "")
    return p, line.split()[-1]


def stop_process(p):
    """Ends the server we started (by its pid), bounded."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def pid_gone(pid, timeout=20):
    """Whether process `pid` has ended (a zombie counts as ended) within `timeout` s; polled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.05)
    return False


def children_of(pid):
    """The pids whose parent is `pid` (from /proc, so any kernel config will do)."""
    kids = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(d))
        except (ValueError, OSError, IndexError):
            continue
    return kids


def kill_if_alive(pid):
    """SIGKILL to a process this test started, by pid, unless it has ended already."""
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


def read_terminal(master, timeout):
    """What a pseudo-terminal (its master end) shows until every writer has closed it, or
    until timeout s have passed: bytes."""
    shown = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([master], [], [], max(0, deadline - time.monotonic()))[0]:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    return shown


@contextlib.contextmanager
def default_stop_signals():
    """Around the start of a process a test will stop with SIGINT/SIGTERM: the process starts
    with both at their default action, as under a terminal. (A shell's background job, such as
    `ci/test &`, starts with SIGINT ignored, which its children inherit; sockdrill rightly keeps
    a signal ignored that was ignored when it started.) A handler of ours set here becomes the
    default action in the new program."""
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for s in old:
            if old[s] is signal.SIG_IGN:
                signal.signal(s, signal.default_int_handler)
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# The scenario prelude several tests start from: a listener S on an ephemeral port and a
# client C connected to it (accepted as S).
# A server (python3 crash.py PORT) that accepts one client, reads from it and dies of SIGSEGV.
CRASH_AFTER_RECV = (
    "import os, signal, socket, sys\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(8)\n"
    "c, _ = s.accept(); c.recv(10)\n"
    "os.kill(os.getpid(), signal.SIGSEGV)\n")

SERVER_PRELUDE = """\
s: L = socket(inet) -> fd
s: bind(L, 127.0.0.1:0) -> 0
s: listen(L, 8) -> 0
s: P = port(L)
c: C = socket(inet) -> fd
c: connect(C, 127.0.0.1:$P) -> 0
s: S = accept(L) -> fd
"""


def assert_malformed(sockdrill, path, content, line, col, message):
    """A scenario file holding `content` is refused by `run` (exit 2) with one message, at
    path:line:col, that says `message`."""
    path.write_text(content)
    r = sockdrill("run", str(path), timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{path}:{line}:{col}: "), lines[0]
    assert message in lines[0]


@pytest.fixture(scope="session")
def dialog(tmp_path_factory):
    """tests/fuzz_own_server's dialog server, built once as its user would: the in-process
    fuzzer (fuzz_dialog) and the native program (dialog_server), both with ASan and UBSan."""
    bdir = tmp_path_factory.mktemp("dialog") / "b"
    conf = subprocess.run(["cmake", "-S", ROOT / "tests" / "fuzz_own_server", "-B", bdir,
                           f"-DSOCKDRILL_DIR={ROOT}",
                           "-DCMAKE_C_FLAGS=-fsanitize=address,undefined -g -O1"],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, CC="clang"))
    assert conf.returncode == 0, conf.stdout + conf.stderr
    build = subprocess.run(["cmake", "--build", bdir, "-j", "2", "--target", "fuzz_dialog",
                            "dialog_server"], capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return bdir
