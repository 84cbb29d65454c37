"""The seed example as programs: the Q&A server and client over loopback, IPv4 and IPv6."""
import socket
import subprocess

import pytest

from conftest import start_qa_server, stop_process


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_server_answers_clients_then_exits(build, host):
    p, where = start_qa_server(build, "--host", host, "--max-clients", "3", "--idle-seconds", "20")
    try:
        for _ in range(3):
            r = subprocess.run([str(build / "sd-qa-client"), where], capture_output=True,
                               text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            assert r.stdout == "Charles' birthday is on 14 November.\n"
        out, err = p.communicate(timeout=30)
    finally:
        stop_process(p)
    assert p.returncode == 0, err
    assert "served 3 clients, answered 3 questions, 0 errors" in out


def test_server_reports_port_in_use(build):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        r = subprocess.run([str(build / "sd-qa-server"), "--port", str(port)],
                           capture_output=True, text=True, timeout=30)
    finally:
        holder.close()
    assert r.returncode == 2
    assert r.stderr == (f"sd-qa-server: port already in use: cannot bind 127.0.0.1:{port} "
                        "(EADDRINUSE)\n")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
def test_server_refuses_non_loopback_host(build, host):
    r = subprocess.run([str(build / "sd-qa-server"), "--host", host, "--idle-seconds", "1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr == (f"sd-qa-server: --host {host} is not a loopback address; the example "
                        "serves on 127.0.0.0/8 or ::1 only\n")


def test_server_port_given_once(build):
    r = subprocess.run([str(build / "sd-qa-server"), "--host", "127.0.0.1:0", "--port", "0",
                        "--idle-seconds", "1"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert r.stderr == ("sd-qa-server: --host 127.0.0.1:0 carries a port and --port 0 was given "
                        "too: give the port once\n")
    p, where = start_qa_server(build, "--host", "[::1]:0", "--max-clients", "1",
                               "--idle-seconds", "20")
    try:
        assert where.startswith("[::1]:")
        r = subprocess.run([str(build / "sd-qa-client"), where], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        out, err = p.communicate(timeout=30)
    finally:
        stop_process(p)
    assert p.returncode == 0, err


def test_client_reports_refused_connection(build):
    # A bound, non-listening socket keeps the port ours and refuses connections.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        r = subprocess.run([str(build / "sd-qa-client"), f"127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=30)
    finally:
        holder.close()
    assert r.returncode == 1
    assert r.stderr == f"sd-qa-client: 127.0.0.1:{port}: Connection refused (ECONNREFUSED)\n"


def test_server_answers_unknown_questions_and_stops_on_sigterm(build):
    p, where = start_qa_server(build, "--idle-seconds", "30")
    try:
        host, port = where.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            # Two questions split across writes: the server reassembles lines itself.
            s.sendall(b"What is the time")
            s.sendall(b"?\nWhen is Charles' birthday?\n")
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        assert data == b"I do not know.\nCharles' birthday is on 14 November.\n"
        p.terminate()
        out, err = p.communicate(timeout=30)
    finally:
        stop_process(p)
    assert p.returncode == 0, err
    assert "answered 2 questions" in out
