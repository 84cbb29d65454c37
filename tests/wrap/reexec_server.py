"""A server that re-execs itself for each connection, as OpenSSH's sshd does: the listener
accepts, forks, and the child execs this script again with the accepted socket, which the new
image serves (one line, echoed back). Connections are served one at a time, so their order is
the order of the clients. Used by tests/py/test_wrap.py under `sockdrill wrap`.

    reexec_server.py COUNT [execv|execve|spawn]   the listener, on an ephemeral loopback port
                                                  it prints: COUNT connections, then it exits
    reexec_server.py serve FD                     the new image

The reply says whether the new image's environment holds SOCKDRILL_CONNS (the preload's own
variable, which it takes out again).
"""
import os
import socket
import sys


def serve(fd):
    s = socket.socket(fileno=fd)
    try:
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(64)
            if not chunk:
                break
            data += chunk
        seen = b"SOCKDRILL_CONNS" in os.environb
        s.sendall(b"echo " + data.strip() + b" conns=%d\n" % seen)
    except OSError:
        pass  # a reset: the client sees it
    os._exit(0)


def listen(count, how):
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    print("listening", lsock.getsockname()[1], flush=True)
    for _ in range(count):
        conn, _ = lsock.accept()
        fd = conn.fileno()
        argv = [sys.executable, "-S", __file__, "serve", str(fd)]
        if how == "spawn":  # posix_spawn, the socket moved to descriptor 3 by a file action
            pid = os.posix_spawn(sys.executable, argv[:-1] + ["3"], os.environ,
                                 file_actions=[(os.POSIX_SPAWN_DUP2, fd, 3)])
        else:
            pid = os.fork()
            if pid == 0:
                lsock.close()
                os.set_inheritable(fd, True)
                if how == "execve":
                    os.execve(sys.executable, argv, os.environ)
                os.execv(sys.executable, argv)
        conn.close()
        os.waitpid(pid, 0)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    listen(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "execv")
