#!/usr/bin/python3
"""Writes servers/NAME/seeds/: one input per protocol message of the glue (a client sending it
and reading the reply), and dialogs of the protocol (servers/README.md). Run it after changing
a glue's message list: python3 servers/seeds.py."""
import pathlib
import shutil

from fuzz_input import session

HERE = pathlib.Path(__file__).resolve().parent

# name: (messages in the glue's list, dialogs: name -> clients)
SERVERS = {
    "mosquitto": (17, {
        # CONNECT, SUBSCRIBE, PUBLISH at QoS 0, 1 and 2, PUBREL, PINGREQ, DISCONNECT
        "dialog-qos": [{"msgs": [0, 9, 11, 12, 13, 14, 15, 16]}],
        "dialog-sub-pub": [{"msgs": [0, {"which": 9, "after": "sleep", "ms": 200}, 15, 16]},
                           {"msgs": [{"which": 0, "after": "sleep", "ms": 100}, 11, 16]}],
        "dialog-unsub": [{"msgs": [0, 9, 10, 15], "end": "close"}],
        "dialog-reset": [{"msgs": [0, 13], "end": "reset"}, {"msgs": [0, 15, 16]}],
    }),
    "lighttpd": (13, {
        "dialog-keepalive": [{"msgs": [1, 7, 12, 1, 4]}],
        "dialog-pipeline": [{"msgs": [{"which": 1, "after": "none"}, {"which": 12, "after": "none"},
                                      {"which": 7, "after": "none"}, 1]}],
        "dialog-two-at-once": [{"msgs": [1, 12, 11]}, {"msgs": [7, 5]}],
        "dialog-short-io": [{"msgs": [1, 12, 7]}],
    }),
    "nginx": (8, {
        "dialog-keepalive": [{"msgs": [1, 6, 7, 1, 2]}],
        "dialog-pipeline": [{"msgs": [{"which": 1, "after": "none"}, {"which": 7, "after": "none"},
                                      4]}],
        "dialog-two-at-once": [{"msgs": [1, 7, 6]}, {"msgs": [6, 3]}],
    }),
    "tinyproxy": (11, {
        "dialog-tunnel": [{"msgs": [7, 10]}],
        "dialog-get-and-tunnel": [{"msgs": [3]}, {"msgs": [7, 10], "end": "close"}],
        "dialog-stats": [{"msgs": [0]}, {"msgs": [8]}, {"msgs": [9]}],
    }),
}

FAULTED = {"short_io": dict(segment=3, short_read=2, short_write=2),
           "faults": dict(eagain=3, delay=2, eintr=1)}


def main():
    for name, (n, dialogs) in SERVERS.items():
        out = HERE / name / "seeds"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        for k in range(n):
            (out / f"msg-{k:02d}").write_bytes(session({"msgs": [{"which": k, "after": "none"}]}))
        for dname, clients in dialogs.items():
            (out / dname).write_bytes(session(*clients, seed=1))
            for fname, kw in FAULTED.items():
                (out / f"{dname}-{fname}").write_bytes(session(*clients, seed=2, **kw))


if __name__ == "__main__":
    main()
