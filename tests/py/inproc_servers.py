"""Helpers for the tests of real Debian servers built as in-process fuzzers by ci/real-servers
(servers/NAME/): build one, write an input in the driver's format (harness/fuzz_plan.h), run
the fuzzer binary on it and read what each client sent and got (SOCKDRILL_TRANSCRIPT)."""
import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "real-servers"


def build(name, engine="libfuzzer"):
    """The path of build/real-servers/ENGINE/bin/fuzz_NAME, built (or brought up to date)
    by ci/real-servers; a failed build fails the test with the script's output."""
    r = subprocess.run([str(ROOT / "ci" / "real-servers"), "--build-only", "--engine", engine, name],
                       capture_output=True, text=True, timeout=3000, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"ci/real-servers could not build {name}:\n{r.stdout[-4000:]}{r.stderr[-4000:]}"
    exe = WORK / engine / "bin" / f"fuzz_{name}"
    assert exe.is_file(), f"ci/real-servers built no {exe}"
    return exe


def plan(*clients, seed=0, segment=0, short_read=0, short_write=0):
    """An input: each client is a request number (it sends that request whole) or a dict
    {"which": k} / {"raw": bytes}, with optional "cuts" (up to 3 offsets where the bytes are
    cut into pieces) and "gap" (0..255, tens of microseconds between pieces)."""
    assert 1 <= len(clients) <= 4
    out = bytearray(seed.to_bytes(8, "big"))
    out += bytes([segment, short_read, short_write, len(clients) - 1])
    for c in clients:
        if isinstance(c, int):
            c = {"which": c}
        cuts = list(c.get("cuts", []))
        assert len(cuts) <= 3
        if "raw" in c:
            raw = bytes(c["raw"])
            assert len(raw) < 96
            out += bytes([200, len(raw)]) + raw
        else:
            assert 0 <= c["which"] < 200
            out += bytes([c["which"]])
        out += bytes([len(cuts)]) + bytes(cuts) + bytes([c.get("gap", 0)])
    return bytes(out)


class Run:
    def __init__(self, proc, transcript):
        self.returncode = proc.returncode
        self.stderr = proc.stderr
        self.clients = transcript

    def reply(self, i):
        return self.clients[i]["reply"]


def run(exe, data, tmp_path, env=None, timeout=240):
    """Runs the fuzzer binary once on `data` (libFuzzer: a file argument runs that input);
    returns a Run with the exit status, stderr and per-client transcript (sent and reply as
    bytes)."""
    tmp_path = pathlib.Path(tmp_path)
    inp = tmp_path / "input"
    inp.write_bytes(data)
    tr = tmp_path / "transcript.jsonl"
    if tr.exists():
        tr.unlink()
    e = dict(os.environ, SOCKDRILL_TRANSCRIPT=str(tr), TMPDIR=str(tmp_path))
    if env:
        e.update(env)
    p = subprocess.run([str(exe), str(inp)], capture_output=True, text=True, errors="replace",
                       timeout=timeout, env=e, cwd=tmp_path, stdin=subprocess.DEVNULL)
    clients = []
    if tr.exists():
        for line in tr.read_text().splitlines():
            o = json.loads(line)
            o["sent"] = bytes.fromhex(o["sent"])
            o["reply"] = bytes.fromhex(o["reply"])
            clients.append(o)
    return Run(p, clients)


def assert_clean(r):
    """The input ran without a finding or harness error."""
    if r.returncode != 0:
        pytest.fail(f"exit {r.returncode}:\n{r.stderr[-4000:]}", pytrace=False)
