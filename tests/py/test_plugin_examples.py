"""Examples of the pytest plugin's fixtures, as a user's own suite would use them (README:
"Use from pytest"). Each is a real test in CI.

- `sockdrill`: runs scenario files and gives structured results;
- `wrapped_server`: an unmodified server under `sockdrill wrap` with faults, on a free
  loopback port; stopped by its pid after the test, which fails if the server crashed;
- `fuzz` / `repro`: a time-boxed fuzz campaign and the replay of one input."""
import shutil
import time

import pytest

from conftest import ROOT

QA_CLIENT = ROOT / "corpus" / "wrap" / "qa_client.sd"
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def test_scenarios_with_structured_results(sockdrill):
    report = sockdrill.run(ROOT / "corpus" / "scenarios" / "teardown", backend="both")
    assert report.passed, "\n".join(r.report() for r in report.failures)
    files = {r.file for r in report.results}
    assert len(report.results) == 2 * len(files)  # one result per file and backend
    conflict = sockdrill.run(ROOT / "corpus" / "scenarios" / "bind" / "conflict.sd",
                             backend="sim").results[0]
    assert conflict.backend == "sim" and conflict.passed
    assert [s.got for s in conflict.outcomes if "EADDRINUSE" in s.call][:1] == ["-EADDRINUSE"]


# ---- a real server under short I/O ----------------------------------------------------------

def redis_command(sock, *args):
    """One RESP command; returns the reply's first line (enough for PING/SET/GET of small
    values). Bounded: the socket has a timeout, the loop a deadline."""
    sock.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    data, deadline = b"", time.monotonic() + 30
    while time.monotonic() < deadline:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"redis closed the connection after {data!r}")
        data += chunk
        if data.startswith(b"$") and data.count(b"\r\n") >= 2 or \
                not data.startswith(b"$") and b"\r\n" in data:
            return data
    raise AssertionError(f"no whole reply within 30 s: {data!r}")


def test_redis_under_short_reads_and_writes(wrapped_server, tmp_path):
    redis = shutil.which("redis-server", path=SEARCH_PATH)
    assert redis, "redis-server is not installed (apt-get install redis-server; ci/deps does)"
    server = wrapped_server([redis, "--port", "{port}", "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", str(tmp_path)],
                           faults="short-read=1,short-write=1,level-triggered", seed=7)
    with server.connect() as sock:
        sock.settimeout(30)
        assert redis_command(sock, b"PING") == b"+PONG\r\n"
        assert redis_command(sock, b"SET", b"k", b"sockdrill" * 50) == b"+OK\r\n"
        assert redis_command(sock, b"GET", b"k") == b"$450\r\n" + b"sockdrill" * 50 + b"\r\n"
    kinds = {f["fault"] for f in server.faults()}
    assert kinds == {"short-read", "short-write"}  # the faults really fired inside redis


# ---- the fragile example: wrong under faults, right without -----------------------------------

@pytest.mark.parametrize("seed", range(1, 6))
def test_fragile_server_sweep(sockdrill, wrapped_server, seed):
    fragile = [sockdrill.build_dir / "sd-fragile-server", "--port", "{port}"]
    clean = wrapped_server(fragile, faults="", seed=seed)
    assert sockdrill.run(QA_CLIENT, backend="real", target=clean.address).passed
    cut = wrapped_server(fragile, faults="short-read=8", seed=seed)
    report = sockdrill.run(QA_CLIENT, backend="real", target=cut.address)
    assert not report.passed, "short reads should make the fragile server answer wrongly"
    assert 'got "I do not know.\\n"' in report.results[0].message
    assert any(f["fault"] == "short-read" for f in cut.faults())


@pytest.mark.parametrize("seed", range(1, 6))
def test_robust_server_sweep(sockdrill, wrapped_server, seed):
    robust = [sockdrill.build_dir / "sd-qa-server", "--port", "{port}"]
    server = wrapped_server(robust, faults="short-read=8,short-write=3", seed=seed)
    report = sockdrill.run(QA_CLIENT, backend="real", target=server.address)
    assert report.passed, "\n".join(r.report() for r in report.failures)


# ---- fuzzing as a test -------------------------------------------------------------------------

def test_fuzz_clean_target_and_replay_a_seed(fuzz, repro):
    result = fuzz("example_server", 5)  # a crash would fail here, with the reproduce command
    assert result.returncode == 0 and not result.reproduce
    seed = sorted((ROOT / "corpus" / "example_server").iterdir())[0]
    replay = repro("example_server", seed)
    assert not replay.reproduced and "runs clean" in replay.stdout
    assert replay.trace, "the replay prints the socket calls it made"


def test_fuzz_finds_the_fragile_bug(fuzz, repro, tmp_path):
    result = fuzz("fragile_server", 60, expect_crash=True)
    replay = repro("fragile_server", result.crash_files[0])
    assert replay.reproduced
    assert "sockdrill finding: " in replay.stderr
    # Your own fuzzer goes by its path (here the one just built for the built-in target).
    own = ROOT / "build" / "libfuzzer" / "fuzz_fragile_server"
    result = fuzz(own, 60, expect_crash=True, out=tmp_path / "out")
    assert result.crash_files[0].startswith(f"{tmp_path}/out/artifacts/")
    assert repro(own, result.crash_files[0]).reproduced


def test_wrapped_server_listens_on_loopback_only(wrapped_server):
    with pytest.raises(ValueError, match="loopback only"):
        wrapped_server(["/bin/true", "{port}"], host="0.0.0.0")
