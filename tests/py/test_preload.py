"""The LD_PRELOAD route of the interposition layer (libsockdrill_preload.so under `sockdrill
wrap`): safe before its own constructor ran, following every way a descriptor is copied or
closed, and leaving the program's signals as the kernel would."""
import json
import re
import subprocess
import sys

import pytest

from conftest import ROOT

PY = sys.executable or "/usr/bin/python3"


def wrap(build, faults, *cmd, timeout=60):
    return subprocess.run([str(build / "sockdrill"), "wrap", "--faults", faults, "--",
                           *map(str, cmd)], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


# A connected pair on loopback: l listens, c is the client, s the accepted end.
PAIR = ("import os, socket, sys\n"
        "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)\n"
        "c = socket.create_connection(l.getsockname()); s, _ = l.accept()\n")


def run_py(build, tmp_path, faults, body):
    prog = tmp_path / "prog.py"
    prog.write_text(PAIR + body)
    return wrap(build, faults, PY, prog, tmp_path / "file.bin")


def test_socket_calls_in_a_library_constructor_before_the_preloads(build, tmp_path):
    # A library the program links is initialised before the preload (which it does not
    # depend on): its constructor's socket calls must reach the kernel, not a table the
    # preload's constructor has not filled yet.
    lib = tmp_path / "libearly.c"
    lib.write_text(r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
int early_ok;
__attribute__((constructor)) static void early(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	char buf[8];
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), s;
	if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &len) || connect(c, (struct sockaddr *)&a, len) ||
	    (s = accept(l, NULL, NULL)) < 0)
		return;
	early_ok = write(c, "ping", 4) == 4 && read(s, buf, sizeof buf) == 4;
	close(s), close(c), close(l);
}
""")
    main = tmp_path / "main.c"
    main.write_text('#include <stdio.h>\nextern int early_ok;\n'
                    'int main(void) { printf("early %d\\n", early_ok); return !early_ok; }\n')
    so, exe = tmp_path / "libearly.so", tmp_path / "early"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(lib)], check=True, timeout=120)
    subprocess.run(["cc", "-o", str(exe), str(main), f"-L{tmp_path}", "-learly",
                    f"-Wl,-rpath,{tmp_path}"], check=True, timeout=120)
    r = wrap(build, "short-read=1", exe)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "early 1\n"


def test_copy_made_with_fcntl_is_the_same_socket(build, tmp_path):
    # os.dup is fcntl(F_DUPFD_CLOEXEC): the copy gets the socket's short writes.
    r = run_py(build, tmp_path, "short-write=1",
               "d = os.dup(c.fileno())\nprint('dup', os.write(d, b'x' * 100))\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "dup 1\n"


def test_closefrom_forgets_the_sockets(build, tmp_path):
    # After closefrom, the number of a closed socket given to a file is a file's: whole writes.
    r = run_py(build, tmp_path, "short-write=1",
               "import ctypes\n"
               "n = c.fileno()\n"
               "ctypes.CDLL(None).closefrom(n)\n"
               "f = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)\n"
               "print('file', f == n, os.write(f, b'y' * 100))\n"
               "sys.stdout.flush()\n"
               "os._exit(0)\n")  # the socket objects would close numbers no longer theirs
    assert r.returncode == 0, r.stderr
    assert r.stdout == "file True 100\n"


def test_calls_the_layer_does_not_model_reach_the_kernel(build, tmp_path):
    # In-process such a call on a simulated socket is a harness error (exit 2); under
    # LD_PRELOAD the descriptor is the kernel's socket and the call is the kernel's.
    r = run_py(build, tmp_path, "short-write=1",
               "import fcntl\n"
               "fcntl.fcntl(c.fileno(), fcntl.F_SETOWN, os.getpid())\n"
               "print('owner', fcntl.fcntl(c.fileno(), fcntl.F_GETOWN) == os.getpid())\n"
               "print('sndbuf', c.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) > 0)\n"
               "f = os.fdopen(os.dup(s.fileno()), 'rb', buffering=0)\n"
               "c.sendall(b'hi')\n"
               "print('read', f.read(2))\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["owner True", "sndbuf True", "read b'hi'"]


def test_nonblocking_as_set_by_the_program(build, tmp_path):
    # eagain=1 fails every call on a non-blocking socket and none on a blocking one: the
    # wrapper follows O_NONBLOCK set with ioctl(FIONBIO) and with fcntl(F_SETFL).
    # (level-triggered: on the kernel's sockets EAGAIN is injected only then.)
    r = run_py(build, tmp_path, "eagain=1,level-triggered",
               "import fcntl\n"
               "c.sendall(b'hello')\n"
               "s.setblocking(False)\n"  # ioctl FIONBIO
               "try:\n    s.recv(10); print('no EAGAIN')\n"
               "except BlockingIOError:\n    print('EAGAIN')\n"
               "s.setblocking(True)\n"
               "print(s.recv(10).decode())\n"
               "fcntl.fcntl(c.fileno(), fcntl.F_SETFL, os.O_NONBLOCK)\n"
               "try:\n    os.write(c.fileno(), b'x'); print('no EAGAIN')\n"
               "except BlockingIOError:\n    print('EAGAIN')\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["EAGAIN", "hello", "EAGAIN"]


def test_no_eagain_or_short_call_on_nonblocking_kernel_sockets(build, tmp_path):
    # The kernel's epoll cannot be told that a call cut short (or failed with EAGAIN) left
    # bytes queued or room free, so an edge-triggered program would wait for an edge that
    # never comes: on a non-blocking socket none of those faults, on a blocking one all.
    r = run_py(build, tmp_path, "eagain=1,short-read=1,short-write=1",
               "import fcntl, struct, termios, time\n"
               "s.setblocking(False)\n"
               "print(c.send(b'hello'))\n"  # blocking: one byte
               "c.sendall(b'ello')\n"
               "for i in range(1000):\n"  # until the kernel has queued all five (10 s at most)
               "    q = fcntl.ioctl(s, termios.FIONREAD, struct.pack('i', 0))\n"
               "    if struct.unpack('i', q)[0] >= 5: break\n"
               "    time.sleep(0.01)\n"
               "print(s.recv(10))\n"  # non-blocking: all that is queued, no EAGAIN
               "c.setblocking(False)\n"
               "print(c.send(b'abc'))\n"  # non-blocking: whole
               "s.setblocking(True)\n"
               "print(s.recv(10))\n")  # blocking: one byte
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["1", "b'hello'", "3", "b'a'"]


SANDBOXED_WRITES = (
    "import ctypes, signal, struct\n"
    "n = 0\n"
    "def on_pipe(sig, frame):\n    global n\n    n += 1\n"
    "signal.signal(signal.SIGPIPE, on_pipe)\n"
    "assert ctypes.CDLL(None).prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS\n"
    "if len(sys.argv) > 1:  # the peer resets the connection\n"
    "    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))\n"
    "    s.close()\n"
    "errs = 0\n"
    "for i in range(20):\n"
    "    try:\n        os.write(c.fileno(), b'x')\n"
    "    except OSError:\n        errs += 1\n"
    "print('signals', n, 'errors', errs)\n")


def test_sigpipe_from_the_kernel_once_after_the_program_sandboxed_itself(build, tmp_path):
    # After prctl(PR_SET_NO_NEW_PRIVS) the layer makes the program's write as write(2): the
    # kernel raises SIGPIPE itself for a broken connection, and the layer must not raise a
    # second one. The same signals and errors as without the preload.
    prog = tmp_path / "prog.py"
    prog.write_text(PAIR + SANDBOXED_WRITES)
    direct = subprocess.run([PY, str(prog), "reset"], capture_output=True, text=True,
                            timeout=60)
    assert direct.returncode == 0 and direct.stdout.startswith("signals "), direct.stderr
    r = wrap(build, "short-read=1", PY, prog, "reset")
    assert r.returncode == 0, r.stderr
    assert r.stdout == direct.stdout


def test_injected_epipe_raises_sigpipe_after_the_program_sandboxed_itself(build, tmp_path):
    # An EPIPE the wrapper injects made no system call, so the layer raises its SIGPIPE, and
    # the writes after it find the connection dead in the kernel, which raises theirs: one
    # signal per failed write, as a kernel gives.
    prog = tmp_path / "prog.py"
    prog.write_text(PAIR + SANDBOXED_WRITES)
    r = wrap(build, "epipe=1@op=write", PY, prog)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "signals 20 errors 20\n"


def test_sigpipe_as_without_the_preload(build, tmp_path):
    # A write to a reset connection raises SIGPIPE (the program did not ask MSG_NOSIGNAL):
    # the backends never raise it, so the layer does, as the kernel would have.
    body = ("import signal, struct, time\n"
            "signal.signal(signal.SIGPIPE, signal.SIG_DFL)\n"
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))\n"
            "s.close()\n"
            "for i in range(100):\n"
            "    try:\n        os.write(c.fileno(), b'x')\n"
            "    except OSError:\n        pass\n"
            "print('survived')\n")
    prog = tmp_path / "prog.py"
    prog.write_text(PAIR + body)
    direct = subprocess.run([PY, str(prog)], capture_output=True, text=True, timeout=60)
    r = wrap(build, "short-read=1", PY, prog)
    assert direct.returncode == -13, (direct.returncode, direct.stdout, direct.stderr)
    # wrap waits for the program and exits 128 + the signal that ended it, as a shell reports
    assert r.returncode == 128 - direct.returncode, (r.returncode, r.stdout, r.stderr)


def test_sendfile_from_a_file_gets_faults_from_a_pipe_is_the_kernels(build, tmp_path):
    # sendfile to a tracked socket is read from the file and sent through the wrapper (short
    # writes); from a pipe, which cannot be read back, the kernel answers as without the
    # preload (sending it, or EINVAL where the kernel cannot).
    (tmp_path / "file.bin").write_bytes(b"z" * 100)
    body = ("f = os.open(sys.argv[1], os.O_RDONLY)\n"
            "print('file', os.sendfile(c.fileno(), f, None, 100), os.lseek(f, 0, os.SEEK_CUR))\n"
            "p = os.pipe(); os.write(p[1], b'w' * 100)\n"
            "try:\n    print('pipe', os.sendfile(c.fileno(), p[0], None, 100))\n"
            "except OSError as e:\n    print('pipe errno', e.errno)\n")
    r = run_py(build, tmp_path, "short-write=1", body)
    direct = subprocess.run([PY, str(tmp_path / "prog.py"), str(tmp_path / "file.bin")],
                            capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and direct.returncode == 0, (r.stderr, direct.stderr)
    assert direct.stdout.splitlines()[0] == "file 100 100"
    assert r.stdout.splitlines() == ["file 1 1", direct.stdout.splitlines()[1]]


def wrap_log(build, faults, log, *cmd, extra=(), timeout=60):
    return subprocess.run([str(build / "sockdrill"), "wrap", "--quiet", "--faults", faults,
                           "--log", str(log), *extra, "--", *map(str, cmd)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("how", ["closefrom", "loop", "raw"])
def test_log_never_writes_into_a_descriptor_the_program_reused(build, tmp_path, how):
    # The program closes every descriptor above 2 (closefrom, a close() loop, or a raw
    # close_range the layer cannot see), then its file takes the lowest number and, in the raw
    # case, the number the log had: faults come after, and their lines go to the log only.
    log, reuse = tmp_path / "faults.jsonl", tmp_path / "reuse.txt"
    r = wrap_log(build, "short-read=1,short-write=1", log, build / "sd-test-log-owner", how,
                 reuse, log)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.endswith("data ok\n"), r.stdout
    assert reuse.read_bytes() == b""
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) >= 60 and {x["fault"] for x in lines} == {"short-read", "short-write"}


@pytest.mark.parametrize("how, with_log", [("kill", False), ("eacces", True)])
def test_no_system_call_a_sandbox_would_not_expect(build, tmp_path, how, with_log):
    # A seccomp filter ends the process on fcntl, sendto and recvfrom (and on fstat unless it
    # answers EACCES, as OpenSSH's does): its write and read must stay write and read. Blocking
    # I/O under eintr, short reads and short writes, after ioctl(FIONBIO) set and
    # cleared O_NONBLOCK, must survive with the data intact. With the log, lines the preload
    # cannot check (fstat refused) are dropped and counted, never written unchecked.
    log = tmp_path / "faults.jsonl"
    cmd = [str(build / "sockdrill"), "wrap", "--faults", "eintr=0.5,short-read=1,short-write=7"]
    if with_log:
        cmd += ["--log", str(log)]
    r = subprocess.run(cmd + ["--", str(build / "sd-test-sandboxed"), how], capture_output=True,
                       text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "read 20000 bytes, 0 wrong, some EINTR\n"
    m = re.search(r"pid \d+: (.*)", r.stderr)
    assert m and "eintr read" in m.group(1) and "short-read read" in m.group(1), r.stderr
    assert "short-write write" in m.group(1), r.stderr
    if with_log:
        assert "not logged (the log could not be checked)" in r.stderr, r.stderr


def test_socket_closed_behind_the_layers_back_then_a_file_is_read_whole(build, tmp_path):
    # A raw close_range drops a tracked socket; a regular file takes its number: the read
    # finds no socket there (ENOTSOCK), and the layer forgets it and reads the file as the C
    # library would.
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)) * 8)
    r = wrap(build, "short-read=1", build / "sd-test-stale-fd", data)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout == "read 1024\n"


def test_close_range_cloexec_keeps_the_socket(build, tmp_path):
    # CLOSE_RANGE_CLOEXEC closes nothing: the socket is still the layer's (short writes), and
    # a plain close_range over it makes its number a file's again (whole writes).
    r = run_py(build, tmp_path, "short-write=1",
               "import ctypes\n"
               "libc = ctypes.CDLL(None)\n"
               "n = c.fileno()\n"
               "print('cloexec', libc.close_range(n, n, 4), os.write(n, b'x' * 100))\n"
               "print('closed', libc.close_range(n, n + 10, 0))\n"
               "f = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)\n"
               "print('file', f == n, os.write(f, b'y' * 100))\n"
               "sys.stdout.flush()\n"
               "os._exit(0)\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["cloexec 0 1", "closed 0", "file True 100"]


def test_preload_alone_caps_its_log_and_says_so(build, tmp_path):
    # Without wrap (no shared counts), SOCKDRILL_LOG_MAX caps each process's lines and the
    # process that reaches the cap writes the last line itself.
    import os
    log = tmp_path / "faults.jsonl"
    prog = tmp_path / "p.py"
    prog.write_text(PAIR + "c.sendall(b'x' * 300)\nn = 0\n"
                    "while n < 300:\n    n += len(s.recv(300))\nprint(n)\n")
    env = dict(os.environ, SOCKDRILL_FAULTS="short-read=1", SOCKDRILL_LOG=str(log),
               SOCKDRILL_LOG_MAX="1000", LD_PRELOAD=str(build / "libsockdrill_preload.so"))
    env.pop("SOCKDRILL_STATS", None)
    r = subprocess.run([PY, str(prog)], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stdout == "300\n", r.stderr
    *lines, last = [json.loads(x) for x in log.read_text().splitlines()]
    assert 0 < len(lines) < 300 and all(x["fault"] == "short-read" for x in lines)
    assert sum(len(x) + 1 for x in log.read_text().splitlines()[:-1]) <= 1000
    assert last == {"pid": lines[0]["pid"], "truncated": True, "log_max": 1000}
