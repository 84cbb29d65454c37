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


AFTER = {"reply": 0, "none": 2, "sleep": 3}
END = {"half-close": 0, "close": 1, "reset": 2}
FAULTS = ("short_read", "short_write", "eintr", "eagain", "reset", "accept_fail", "connect_fail",
          "delay")


def message(m):
    """One message of a dialog, encoded (harness/fuzz_plan.h): an int (the protocol message
    of that number), bytes (raw), or a dict {"which": k} / {"raw": bytes} with optional
    "cuts" (up to 3 offsets where it is cut into pieces; for a protocol message without
    "len", fractions k/256 of it), "after" ("reply", "none" or
    "sleep") and "ms" (the sleep: 10..640, a multiple of 10)."""
    if isinstance(m, int):
        m = {"which": m}
    elif isinstance(m, (bytes, bytearray)):
        m = {"raw": bytes(m)}
    out = bytearray()
    if "raw" in m:
        raw = bytes(m["raw"])
        assert len(raw) <= 4096
        out += bytes([0xff, len(raw) >> 8, len(raw) & 255]) + raw
        length = len(raw)
    else:
        assert 0 <= m["which"] < 0xf0
        out.append(m["which"])
        length = m.get("len")
    cuts = list(m.get("cuts", []))
    assert len(cuts) <= 3
    out.append(len(cuts))
    for c in cuts:  # an offset as the fraction k/256 of the length that gives it exactly
        if length is None:  # a protocol message of unknown length: c is the fraction
            out.append(c)
            continue
        k = next((k for k in range(256) if length * k // 256 >= c), 255)
        assert length * k // 256 == c, f"offset {c} of {length} bytes cannot be encoded"
        out.append(k)
    ms = m.get("ms", 10)
    assert ms % 10 == 0 and 10 <= ms <= 640
    out.append(AFTER[m.get("after", "reply")] + 4 * (ms // 10 - 1))
    return bytes(out)


def session(*clients, seed=0, segment=0, together=None, **faults):
    """An input of dialogs: each client is a dict {"msgs": [message...], "end": "half-close"
    | "close" | "reset", "from": k (connect to the port client k's reply names)}; faults are
    levels 0..7 by name (short_read=3, eintr=2, ...; docs/inproc.md)."""
    assert 1 <= len(clients) <= 16
    out = bytearray(seed.to_bytes(8, "big"))
    out.append(segment)
    for name in FAULTS:
        out.append(faults.pop(name, 0))
    assert not faults, f"unknown faults {faults}"
    out.append(len(clients) - 1)
    out.append((together or len(clients)) - 1)
    for c in clients:
        out.append(c.get("from", -1) + 1)
        out.append(END[c.get("end", "half-close")])
        msgs = c.get("msgs", [])
        assert len(msgs) <= 32
        out.append((len(msgs) + 32) % 33)
        for m in msgs:
            out += message(m)
    return bytes(out)


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
