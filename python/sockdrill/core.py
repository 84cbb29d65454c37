"""The sockdrill CLI driven from Python, with structured results.

Everything here runs the `sockdrill` binary in a subprocess, bounded in time: scenario runs
(`run --json`), servers under `wrap`, `fuzz` campaigns and `repro` replays. Servers and
clients only ever use loopback addresses."""
import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from typing import List, Optional

__version__ = "0.1.0"
__all__ = ["FuzzResult", "ReproResult", "RunReport", "ScenarioResult", "Sockdrill",
           "SockdrillError", "WrappedServer", "__version__", "find_binary", "free_port"]
PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
BUILD_TIMEOUT = 1800  # seconds: a first build of a sanitizer preset on a small machine
# Output as text; bytes that are not UTF-8 (a scenario may hold any) become U+FFFD.
TEXT = {"encoding": "utf-8", "errors": "replace"}


class SockdrillError(Exception):
    """sockdrill could not be found, built or started (not a failed check)."""


def source_root():
    """The source tree this package belongs to (python/sockdrill inside a checkout), or None
    when the package is installed."""
    root = PACKAGE_DIR.parent.parent
    if (root / "CMakeLists.txt").is_file() and (root / "sockdrill").is_file() and \
            (root / "src").is_dir():
        return root
    return None


def _installed_bindir():
    try:
        from sockdrill import _install  # written by `cmake --install`
    except ImportError:
        return None
    return pathlib.Path(_install.BINDIR)


def find_binary(explicit=None, preset=None):
    """The sockdrill binary to run, building it first when it comes from a source tree.

    In order: `explicit` or $SOCKDRILL_BIN; the source tree's build for `preset` (else
    $SOCKDRILL_PRESET, else "default"), built through the tree's ./sockdrill wrapper when it
    is missing or stale; the installed binary; `sockdrill` on PATH."""
    explicit = explicit or os.environ.get("SOCKDRILL_BIN")
    if explicit:
        path = pathlib.Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise SockdrillError(f"sockdrill binary {path}: not an executable file")
        return path
    root = source_root()
    if root is not None:
        preset = preset or os.environ.get("SOCKDRILL_PRESET") or "default"
        env = dict(os.environ, SOCKDRILL_PRESET=preset)
        try:
            r = subprocess.run([str(root / "sockdrill"), "--version"], env=env,
                               capture_output=True, timeout=BUILD_TIMEOUT, **TEXT,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise SockdrillError(f"building sockdrill (preset {preset}) took over "
                                 f"{BUILD_TIMEOUT} s; log: {root}/build/{preset}.log") from None
        if r.returncode != 0:
            raise SockdrillError(f"building sockdrill (preset {preset}) failed:\n"
                                 f"{r.stderr[-3000:]}")
        return root / "build" / preset / "sockdrill"
    bindir = _installed_bindir()
    if bindir is not None and (bindir / "sockdrill").is_file():
        return bindir / "sockdrill"
    found = shutil.which("sockdrill")
    if found:
        return pathlib.Path(found)
    raise SockdrillError("sockdrill binary not found: set SOCKDRILL_BIN or --sockdrill-bin, "
                         "install sockdrill, or use the package from a source tree")


def free_port(host="127.0.0.1"):
    """A port the kernel just handed out on `host` (loopback), closed again for the caller."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _listeners(port):
    """Socket inodes of the kernel's TCP listeners on `port`, any address (/proc/net/tcp*)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    cols = line.split()
                    # local_address is ADDR:PORT in hex; state 0A is LISTEN
                    if len(cols) > 9 and cols[3] == "0A" and \
                            int(cols[1].rsplit(":", 1)[1], 16) == port:
                        found.add(cols[9])
        except OSError:
            pass
    return found


def _process_tree(pid):
    """`pid` and its descendants (a server may listen in a child it forked)."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(d))
    tree, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p not in tree:
            tree.add(p)
            todo.extend(children.get(p, ()))
    return tree


def _socket_inodes(pids):
    inodes = set()
    for p in pids:
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                try:
                    link = os.readlink(f"/proc/{p}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            pass
    return inodes


def listening_owner(pid, port):
    """"ours" when the process tree of `pid` holds a TCP listener on `port`, "other" when only
    another process does, None when nobody listens there. A connect that succeeds proves only
    that somebody listens: under pytest-xdist another worker's server can hold the port."""
    listeners = _listeners(port)
    if not listeners:
        return None
    return "ours" if listeners & _socket_inodes(_process_tree(pid)) else "other"


class PortTaken(Exception):
    """The port chosen for a server was taken by another process before the server bound it."""


def _is_loopback(host):
    return host == "::1" or host.startswith("127.")


# ---- scenario runs ------------------------------------------------------------------------

@dataclass
class Step:
    line: int
    iteration: int  # innermost repeat index, -1 outside repeat
    ok: bool
    call: str
    got: str


@dataclass
class Difference:
    """A step whose outcome differs between sim and real."""
    line: int
    iteration: int
    call: str
    sim: str
    real: str


@dataclass
class ScenarioResult:
    """One scenario file on one backend ("sim" or "real"); status "passed", "failed",
    "skipped" (not applicable there: the file requires a kernel variant that the kernel does
    not have, and message says which) or "malformed" (then backend is None and message is the
    file:line:col error)."""
    file: str
    backend: Optional[str]
    status: str
    message: str = ""
    seed: int = 0
    seconds: float = 0.0
    steps: int = 0
    reproduce: str = ""
    outcomes: List[Step] = field(default_factory=list)
    differs: Optional[List[Difference]] = None  # None unless the run was on both backends
    diverged: bool = False
    side_by_side: str = ""

    @property
    def passed(self):
        return self.status == "passed"

    @property
    def skipped(self):
        return self.status == "skipped"

    @classmethod
    def from_json(cls, d):
        differs = d.get("differs")
        return cls(file=d["file"], backend=d.get("backend"), status=d["status"],
                   message=d.get("message", ""), seed=d.get("seed", 0),
                   seconds=d.get("seconds", 0.0), steps=d.get("steps", 0),
                   reproduce=d.get("reproduce", ""),
                   outcomes=[Step(**o) for o in d.get("outcomes", [])],
                   differs=None if differs is None else [Difference(**x) for x in differs],
                   diverged=d.get("diverged", False), side_by_side=d.get("side_by_side", ""))

    def report(self):
        """The failure as `sockdrill run` prints it: step, reproduce command, side by side."""
        if self.status == "malformed":
            return f"malformed scenario: {self.message}"
        lines = [f"{self.backend}: {self.message}" if self.message else f"{self.backend}: ok"]
        if self.reproduce:
            lines.append(f"reproduce: {self.reproduce}")
        if self.side_by_side:
            lines.append(textwrap.dedent(self.side_by_side).rstrip("\n"))
        return "\n".join(lines)


@dataclass
class RunReport:
    """What one `sockdrill run` did: exit status (0 passed, 1 a step failed, 2 malformed
    input), one ScenarioResult per file and backend, and the printed output."""
    returncode: int
    results: List[ScenarioResult]
    stdout: str
    stderr: str
    command: List[str]

    @property
    def passed(self):
        return self.returncode == 0

    @property
    def failures(self):
        return [r for r in self.results if r.status not in ("passed", "skipped")]

    def result(self, file, backend):
        """The result of `file` (a path, compared after resolving) on `backend`; a malformed
        file's single result whatever the backend; None if the file did not run."""
        want = pathlib.Path(file).resolve()
        for r in self.results:
            if pathlib.Path(r.file).resolve() == want and r.backend in (backend, None):
                return r
        return None


# ---- servers under wrap -------------------------------------------------------------------

class WrappedServer:
    """A server started by `sockdrill wrap`, which runs it as its child (the server's process
    tree is `pid`'s) and exits with its status, 128 + N when signal N ended it."""

    def __init__(self, proc, argv, host, port, workdir, fault_log, output):
        self.proc, self.argv, self.host, self.port = proc, argv, host, port
        self.workdir, self.fault_log, self.output_path = workdir, fault_log, output
        self.stopped_by_us = False
        self.returncode = None
        # the lines that start a sanitizer's report: the CLI's one list (set by Sockdrill.wrap)
        self.sanitizer_marks = ()

    @property
    def pid(self):
        return self.proc.pid

    @property
    def address(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def alive(self):
        return self.proc.poll() is None

    def output(self, limit=4000):
        """The last `limit` characters the server printed (stdout and stderr)."""
        try:
            return self.output_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def faults(self):
        """The faults injected so far: one dict per fault (docs/faults.md)."""
        try:
            text = self.fault_log.read_text()
        except OSError:
            return []
        # a line still being appended by a live server has no newline yet: not a fault so far
        complete = text[:text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def connect(self, timeout=10.0):
        """A client socket connected to the server."""
        return socket.create_connection((self.host, self.port), timeout=timeout)

    def _wait_listening(self, timeout):
        """Until the server itself listens on its port (a listener of another process there
        does not count). PortTaken when it exited or is still not listening while another
        process holds the port: the caller may try another port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            owner = listening_owner(self.pid, self.port)
            if self.proc.poll() is not None:
                if owner == "other":
                    raise PortTaken(self.port)
                raise SockdrillError(
                    f"{self.argv[0]} exited with status {self.proc.returncode} before "
                    f"listening on {self.address}; its output:\n{self.output()}")
            if owner == "ours":
                try:
                    self.connect(timeout=0.5).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        if listening_owner(self.pid, self.port) == "other":
            self.stop()
            raise PortTaken(self.port)
        self.stop()
        raise SockdrillError(f"{self.argv[0]} did not accept connections on {self.address} "
                             f"within {timeout:g} s; its output:\n{self.output()}")

    def stop(self, timeout=10.0):
        """SIGTERM to the server's pid, a bounded wait, then SIGKILL; its exit status."""
        if self.proc.poll() is None:
            self.stopped_by_us = True
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        self.returncode = self.proc.returncode
        return self.returncode

    def problem(self):
        """None if the server behaved; else why not: it died of a signal we did not send,
        exited with an error before it was stopped, or printed a sanitizer report."""
        rc = self.proc.poll()
        if rc is None:
            return None
        out = self.output(20000)
        # wrap itself killed (-N), or the server killed and wrap reporting it (128 + N)
        sig = -rc if rc < 0 else rc - 128 if rc > 128 else 0
        if sig and not (self.stopped_by_us and sig in (signal.SIGTERM, signal.SIGKILL)):
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = "unnamed"
            return f"{self.argv[0]} died of signal {sig} ({name})"
        if not self.stopped_by_us and rc != 0 and not sig:
            return f"{self.argv[0]} exited with status {rc} before it was stopped"
        for mark in self.sanitizer_marks:
            if mark in out:
                return f"{self.argv[0]} printed a sanitizer report ({mark.rstrip(':')})"
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# ---- fuzzing ------------------------------------------------------------------------------

@dataclass
class FuzzResult:
    """A `sockdrill fuzz` campaign: exit status 0 no crash, 1 crash(es), 2 bad input/build, an
    engine that did not fuzz, or an input that ended in a harness error (its line on stderr)."""
    target: str
    engine: str
    returncode: int
    stdout: str
    stderr: str
    reproduce: List[str]  # one command per crash: ./sockdrill repro TARGET FILE --engine E
    crash_files: List[str]

    @property
    def crashed(self):
        return self.returncode == 1


@dataclass
class ReproResult:
    """A `sockdrill repro` replay: exit 0 the input runs clean, 1 the finding reproduces, 2 bad
    input or a harness error of the target on the input."""
    target: str
    file: str
    returncode: int
    stdout: str
    stderr: str  # the trace of socket calls and faults, then the finding

    @property
    def reproduced(self):
        return self.returncode == 1

    @property
    def trace(self):
        return [line for line in self.stderr.splitlines() if re.match(r"^\d+\.\d{9} ", line)]


# ---- the driver ---------------------------------------------------------------------------

class Sockdrill:
    """Runs one sockdrill binary. Defaults for seed, faults and backend apply to every run
    that does not name its own (the pytest plugin fills them from its options)."""

    def __init__(self, binary=None, preset=None, seed=None, faults=None, backend="both",
                 workdir=None):
        self.binary = pathlib.Path(binary) if binary else find_binary(preset=preset)
        self.seed, self.faults, self.backend = seed, faults, backend
        self.root = source_root()
        self.workdir = pathlib.Path(workdir) if workdir else None
        self._marks = None  # sanitizer_marks(), once asked

    @property
    def build_dir(self):
        return self.binary.parent

    def _tmpdir(self):
        base = self.workdir
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        return pathlib.Path(tempfile.mkdtemp(prefix="sockdrill-", dir=base))

    def __call__(self, *args, timeout=60, cwd=None, env=None):
        """The CLI with `args`, bounded by `timeout` seconds: a CompletedProcess (text)."""
        return subprocess.run([str(self.binary), *map(str, args)], capture_output=True,
                              **TEXT, timeout=timeout, cwd=cwd, env=env,
                              stdin=subprocess.DEVNULL)

    def backends(self):
        """The backends `sockdrill list` names (registered in this binary), in its order."""
        r = self("list", timeout=60)
        if r.returncode != 0:
            raise SockdrillError(f"sockdrill list failed (exit {r.returncode}): {r.stderr}")
        return [m.group(1) for m in re.finditer(r"^(\S+)\s+version \d+$", r.stdout, re.M)]

    def run(self, *paths, backend=None, seed=None, faults=None, target=None, timeout_ms=None,
            junit=None, timeout=600, cwd=None, html=None):
        """`sockdrill run` on scenario files or directories: a RunReport. html: a path for
        the runs' timeline page (`run --html`)."""
        backend = backend or self.backend
        seed = self.seed if seed is None else seed
        faults = self.faults if faults is None else faults
        if not paths:
            raise ValueError("run() needs at least one scenario file or directory")
        out = self._tmpdir() / "results.json"
        cmd = [str(self.binary), "run", "--backend", backend, "--json", str(out)]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        if faults:
            cmd += ["--faults", faults]
        if target:
            cmd += ["--target", target]
        if timeout_ms:
            cmd += ["--timeout", str(timeout_ms)]
        if junit:
            cmd += ["--junit", str(junit)]
        if html:
            cmd += ["--html", str(html)]
        cmd += [str(p) for p in paths]
        r = subprocess.run(cmd, capture_output=True, **TEXT, timeout=timeout, cwd=cwd,
                           stdin=subprocess.DEVNULL)
        results = []
        try:
            # bytes of a scenario that are not UTF-8 pass through sockdrill run as they are
            doc = json.loads(out.read_bytes().decode("utf-8", errors="replace"))
            results = [ScenarioResult.from_json(d) for d in doc["results"]]
        except (OSError, ValueError, KeyError):
            if r.returncode == 0:
                raise SockdrillError(f"sockdrill run wrote no readable results ({out}):\n"
                                     f"{r.stdout[-2000:]}{r.stderr[-2000:]}") from None
        finally:
            shutil.rmtree(out.parent, ignore_errors=True)
        return RunReport(r.returncode, results, r.stdout, r.stderr, cmd)

    def wrap(self, cmd, faults=None, seed=None, host="127.0.0.1", port=None,
             start_timeout=15.0, cwd=None, env=None, workdir=None, inherited=False):
        """Starts `cmd` (a list) under `sockdrill wrap` with `faults` (a fault spec; None
        takes the driver's default, "" injects none) and `seed`, and waits until it accepts
        connections on host:port. "{port}" and "{host}" in cmd are replaced; without
        "{port}", pass `port`. The fault log and the server's output go to `workdir` (default:
        a new temporary directory), which is also the server's working directory unless `cwd`
        is given. inherited=True also faults the TCP sockets the program's images start with
        (`wrap --inherited`: sshd's re-exec, inetd). Returns the WrappedServer; stop it with
        .stop() (or use it as a context manager)."""
        if not _is_loopback(host):
            raise ValueError(f"wrapped servers listen on loopback only, not {host}")
        faults = self.faults if faults is None else faults
        seed = self.seed if seed is None else seed
        cmd = [str(c) for c in cmd]
        if not cmd:
            raise ValueError("wrap() needs a command")
        if not any("{port}" in c for c in cmd) and port is None:
            raise ValueError("wrap(): put {port} in the command or pass port=")
        # A port we choose can be taken by another process (a parallel pytest-xdist worker)
        # between choosing and the server's bind: then a few more tries, on other ports.
        tries = 3 if port is None else 1
        for attempt in range(tries):
            try:
                return self._wrap_once(cmd, port or free_port(host), faults, seed, host,
                                       start_timeout, cwd, env, workdir, attempt, inherited)
            except PortTaken as taken:
                if attempt == tries - 1:
                    raise SockdrillError(f"port {taken} was taken by another process before "
                                         f"{cmd[0]} could listen on it ({tries} tries)") from None

    def _wrap_once(self, cmd, port, faults, seed, host, start_timeout, cwd, env, workdir,
                   attempt, inherited=False):
        argv = [c.replace("{port}", str(port)).replace("{host}", host) for c in cmd]
        if "/" in argv[0]:  # relative to the caller, not to the server's working directory
            argv[0] = os.path.abspath(argv[0])
        if workdir is not None:
            work = pathlib.Path(workdir)
            if attempt:
                work = work.with_name(f"{work.name}.{attempt}")
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = self._tmpdir()
        log, output = work / "faults.jsonl", work / "server.out"
        full = [str(self.binary), "wrap", "--log", str(log)]
        if faults:
            full += ["--faults", faults]
        if seed is not None:
            full += ["--seed", str(seed)]
        if inherited:
            full += ["--inherited"]
        full += ["--", *argv]
        with open(output, "wb") as f:
            proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=f,
                                    stderr=subprocess.STDOUT, cwd=cwd or work, env=env)
        server = WrappedServer(proc, argv, host, port, work, log, output)
        server.wrap_command = full
        server.sanitizer_marks = self.sanitizer_marks()
        try:
            server._wait_listening(start_timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def sanitizer_marks(self):
        """The lines that start a sanitizer's report, as `sockdrill list --sanitizer-marks`
        prints them: the one list `wrap --run` and `repro` judge by too. Asked once."""
        if self._marks is None:
            r = subprocess.run([str(self.binary), "list", "--sanitizer-marks"],
                               capture_output=True, timeout=60, stdin=subprocess.DEVNULL, **TEXT)
            if r.returncode != 0 or not r.stdout.strip():
                raise SockdrillError(f"{self.binary} list --sanitizer-marks: exit "
                                     f"{r.returncode}: {r.stderr.strip()}")
            self._marks = tuple(line for line in r.stdout.splitlines() if line)
        return self._marks

    def fuzz(self, target, seconds, engine="libfuzzer", jobs=None, timeout=None, out=None):
        """`sockdrill fuzz TARGET --time seconds`: a FuzzResult listing the command that
        reproduces each crash. TARGET is a built-in target (built first) or the path of a
        fuzzer binary, whose inputs and crashes go below `out` (default fuzz-out/NAME in
        the working directory)."""
        target, cwd = self._target(target)
        cmd = [str(self.binary), "fuzz", target, "--engine", engine, "--time", str(seconds)]
        if jobs:
            cmd += ["--jobs", str(jobs)]
        if out:
            cmd += ["--out", str(out)]
        r = subprocess.run(cmd, capture_output=True, **TEXT, stdin=subprocess.DEVNULL,
                           timeout=timeout or seconds + BUILD_TIMEOUT, cwd=cwd)
        repro = re.findall(r"^reproduce: (\./sockdrill repro .*)$", r.stdout, re.M)
        words = [shlex.split(c) for c in repro]  # paths are quoted for the shell
        files = [w[3] for w in words if len(w) > 3]
        return FuzzResult(target, engine, r.returncode, r.stdout, r.stderr, repro, files)

    def _target(self, target):
        """A fuzzer path made absolute and run from here; a built-in target from the
        checkout (whose relative reproduce commands then work from its root)."""
        target = str(target)
        if "/" in target:
            return os.path.abspath(target), None
        return target, self.root

    def repro(self, target, file, engine="libfuzzer", timeout=None):
        """`sockdrill repro TARGET FILE` (TARGET as for fuzz): replays one input and returns
        its trace."""
        target, cwd = self._target(target)
        r = subprocess.run([str(self.binary), "repro", target, os.path.abspath(file),
                            "--engine", engine], capture_output=True, **TEXT,
                           stdin=subprocess.DEVNULL, timeout=timeout or BUILD_TIMEOUT, cwd=cwd)
        return ReproResult(target, str(file), r.returncode, r.stdout, r.stderr)
