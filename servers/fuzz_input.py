"""The in-process driver's input format (src/driver/fuzz/fuzz_plan.h, docs/inproc.md "The input"),
written from Python: for tests (tests/py/inproc_servers.py) and seed files (servers/seeds.py)."""

AFTER = {"reply": 0, "none": 2, "sleep": 3}
END = {"half-close": 0, "close": 1, "reset": 2}
# The eight fault slots, each with its family (src/driver/fuzz/fuzz_plan.h): the first is the slot's
# own kind, the others are picked by bits 3..5 of its byte once the segmentation byte is 128
# or more; bits 6..7 aim it.
FAMILIES = (("short_read",), ("short_write", "enobufs", "enomem"), ("eintr",), ("eagain",),
            ("reset", "epipe", "etimedout", "timeout", "limit_data"),
            ("accept_fail", "emfile", "enfile"), ("connect_fail", "eai_again", "eai_noname"),
            ("delay", "latency", "bandwidth", "slice", "slow_close"))
FAULTS = tuple(f[0] for f in FAMILIES)
AIMS = {"all": 0, "later": 1, "first": 2, "fourth": 3}  # @after=3, @for=3, @after=3@for=1
FAMILIES_ON = 128


def message(m):
    """One message of a dialog, encoded (src/driver/fuzz/fuzz_plan.h): an int (the protocol message
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
    levels 0..7 by name (short_read=3, eintr=2, epipe=5, ...; docs/inproc.md), or (level,
    aim) with an aim of AIMS; one kind of each slot's family at most."""
    assert 1 <= len(clients) <= 16
    slots = []
    for family in FAMILIES:
        asked = [(family.index(n), faults.pop(n)) for n in family if n in faults]
        assert len(asked) <= 1, f"one fault of {family} at a time"
        member, value = asked[0] if asked else (0, 0)
        level, aim = value if isinstance(value, tuple) else (value, "all")
        slots.append((level, member, AIMS[aim]) if level else (0, 0, 0))
    assert not faults, f"unknown faults {faults}"
    families = any(member or aim for _, member, aim in slots)
    assert not families or (0 <= segment <= 12 and all(lv <= 7 for lv, _, _ in slots))
    out = bytearray(seed.to_bytes(8, "big"))
    # with the families, the segmentation byte is the one of 128..140 that is segment % 13
    out.append(FAMILIES_ON + (segment + 13 - FAMILIES_ON % 13) % 13 if families else segment)
    for level, member, aim in slots:
        out.append(level | member << 3 | aim << 6 if families else level)
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
