"""Helpers for the tests of real Debian servers built as in-process fuzzers by ci/real-servers
(servers/NAME/): build one, write an input in the driver's format (src/driver/fuzz/fuzz_plan.h), run
the fuzzer binary on it and read what each client sent and got (SOCKDRILL_TRANSCRIPT)."""
import json
import os
import pathlib
import subprocess

import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "real-servers"
sys.path.insert(0, str(ROOT / "servers"))
from fuzz_input import message, session  # noqa: E402  (the input format, shared with seeds.py)


def build(name, engine="libfuzzer"):
    """The path of build/real-servers/ENGINE/bin/fuzz_NAME, built (or brought up to date)
    by ci/real-servers; a failed build fails the test with the script's output."""
    r = subprocess.run([str(ROOT / "ci" / "real-servers"), "--build-only", "--engine", engine, name],
                       capture_output=True, text=True, timeout=3000, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"ci/real-servers could not build {name}:\n{r.stdout[-4000:]}{r.stderr[-4000:]}"
    exe = WORK / engine / "bin" / f"fuzz_{name}"
    assert exe.is_file(), f"ci/real-servers built no {exe}"
    return exe


def plan(*clients, seed=0, segment=0, short_read=0, short_write=0, together=None):
    """An input where each client sends one request whole (or cut) and then half-closes and
    reads the reply to its end: a client is a request number or a dict {"which": k} /
    {"raw": bytes}, with optional "cuts" (offsets; a request's cuts need "len")."""
    def one(c):
        if isinstance(c, int):
            c = {"which": c}
        m = dict(c, after="none")
        m.pop("gap", None)
        return {"msgs": [m]}
    return session(*[one(c) for c in clients], seed=seed, segment=segment,
                   short_read=short_read, short_write=short_write, together=together)


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
