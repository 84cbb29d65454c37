#!/usr/bin/env python3
"""Writes the .sd files of this directory from the table of Linux's
tools/testing/selftests/net/bind_wildcard.c: rerun it after changing the table.

Each variant binds two sockets (the pair the variant names, with IPV6_V6ONLY where it says),
then six more at the same port, one per address: 0.0.0.0, 127.0.0.1, ::, ::1, ::ffff:0.0.0.0,
::ffff:127.0.0.1. The selftest runs that three times: with no option ("plain"), with
SO_REUSEADDR on the first two sockets, with SO_REUSEPORT on the first two; the last two share
one table of expected results. "-" below is success, "X" EADDRINUSE.
"""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent

ADDR = {
    "v4_any": ("inet", "0.0.0.0"), "v4_local": ("inet", "127.0.0.1"),
    "v6_any": ("inet6", "[::]"), "v6_local": ("inet6", "[::1]"),
    "v6_v4mapped_any": ("inet6", "[::ffff:0.0.0.0]"),
    "v6_v4mapped_local": ("inet6", "[::ffff:127.0.0.1]"),
}
FIXED = ["v4_any", "v4_local", "v6_any", "v6_local", "v6_v4mapped_any", "v6_v4mapped_local"]

# name: (first, v6only, second, v6only, plain results, reuse results), results of sockets 0..7
VARIANTS = [
    ("v4_any_v4_local", "v4_any", 0, "v4_local", 0, "-XXXX-XX", "--XXX-XX"),
    ("v4_local_v4_any", "v4_local", 0, "v4_any", 0, "-XXXX-XX", "--XXX-XX"),
    ("v4_any_v6_any", "v4_any", 0, "v6_any", 0, "-XXXX-XX", "--XXXXXX"),
    ("v4_any_v6_any_only", "v4_any", 0, "v6_any", 1, "--XXXXXX", "--XXXXXX"),
    ("v4_any_v6_local", "v4_any", 0, "v6_local", 0, "--XXXXXX", "--XXXXXX"),
    ("v4_any_v6_v4mapped_any", "v4_any", 0, "v6_v4mapped_any", 0, "-XXXX-XX", "--XXX-XX"),
    ("v4_any_v6_v4mapped_local", "v4_any", 0, "v6_v4mapped_local", 0, "-XXXX-XX", "--XXX-XX"),
    ("v4_local_v6_any", "v4_local", 0, "v6_any", 0, "-XXXX-XX", "--XXXXXX"),
    ("v4_local_v6_any_only", "v4_local", 0, "v6_any", 1, "--XXXXXX", "--XXXXXX"),
    ("v4_local_v6_local", "v4_local", 0, "v6_local", 0, "--XXXXXX", "--XXXXXX"),
    ("v4_local_v6_v4mapped_any", "v4_local", 0, "v6_v4mapped_any", 0, "-XXXX-XX", "--XXX-XX"),
    ("v4_local_v6_v4mapped_local", "v4_local", 0, "v6_v4mapped_local", 0, "-XXXX-XX", "--XXX-XX"),
    ("v6_any_v4_any", "v6_any", 0, "v4_any", 0, "-XXXXXXX", "--XXXXXX"),
    ("v6_any_only_v4_any", "v6_any", 1, "v4_any", 0, "--XXXXXX", "--XXXXXX"),
    ("v6_any_v4_local", "v6_any", 0, "v4_local", 0, "-XXXXXXX", "--XXXXXX"),
    ("v6_any_only_v4_local", "v6_any", 1, "v4_local", 0, "--XXXXXX", "--XXXXXX"),
    ("v6_local_v4_any", "v6_local", 0, "v4_any", 0, "--XXXXXX", "--XXXXXX"),
    ("v6_local_v4_local", "v6_local", 0, "v4_local", 0, "--XXXXXX", "--XXXXXX"),
    ("v6_v4mapped_any_v4_any", "v6_v4mapped_any", 0, "v4_any", 0, "-XXXX-XX", "--XXX-XX"),
    ("v6_v4mapped_any_v4_local", "v6_v4mapped_any", 0, "v4_local", 0, "-XXXX-XX", "--XXX-XX"),
    ("v6_v4mapped_local_v4_any", "v6_v4mapped_local", 0, "v4_any", 0, "-XXXX-XX", "--XXX-XX"),
    ("v6_v4mapped_local_v4_local", "v6_v4mapped_local", 0, "v4_local", 0, "-XXXX-XX", "--XXX-XX"),
    ("v6_any_v6_any", "v6_any", 0, "v6_any", 0, "-XXXXXXX", "--XXXXXX"),
    ("v6_any_only_v6_any", "v6_any", 1, "v6_any", 0, "-X-XXXXX", "--XXXXXX"),
    ("v6_any_v6_any_only", "v6_any", 0, "v6_any", 1, "-XXXXXXX", "--XXXXXX"),
    ("v6_any_only_v6_any_only", "v6_any", 1, "v6_any", 1, "-X-XXXXX", "---XXXXX"),
    ("v6_any_v6_local", "v6_any", 0, "v6_local", 0, "-XXXXXXX", "--XXXXXX"),
    ("v6_any_only_v6_local", "v6_any", 1, "v6_local", 0, "-X-XXXXX", "---XXXXX"),
    ("v6_any_v6_v4mapped_any", "v6_any", 0, "v6_v4mapped_any", 0, "-XXXXXXX", "--XXXXXX"),
    ("v6_any_only_v6_v4mapped_any", "v6_any", 1, "v6_v4mapped_any", 0, "--XXXXXX", "--XXXXXX"),
    ("v6_any_v6_v4mapped_local", "v6_any", 0, "v6_v4mapped_local", 0, "-XXXXXXX", "--XXXXXX"),
    ("v6_any_only_v6_v4mapped_local", "v6_any", 1, "v6_v4mapped_local", 0, "--XXXXXX",
     "--XXXXXX"),
    ("v6_local_v6_any", "v6_local", 0, "v6_any", 0, "-X-XXXXX", "--XXXXXX"),
    ("v6_local_v6_any_only", "v6_local", 0, "v6_any", 1, "-X-XXXXX", "---XXXXX"),
    ("v6_local_v6_v4mapped_any", "v6_local", 0, "v6_v4mapped_any", 0, "--XXXXXX", "--XXXXXX"),
    ("v6_local_v6_v4mapped_local", "v6_local", 0, "v6_v4mapped_local", 0, "--XXXXXX",
     "--XXXXXX"),
    ("v6_v4mapped_any_v6_any", "v6_v4mapped_any", 0, "v6_any", 0, "-XXXX-XX", "--XXXXXX"),
    ("v6_v4mapped_any_v6_any_only", "v6_v4mapped_any", 0, "v6_any", 1, "--XXXXXX", "--XXXXXX"),
    ("v6_v4mapped_any_v6_local", "v6_v4mapped_any", 0, "v6_local", 0, "--XXXXXX", "--XXXXXX"),
    ("v6_v4mapped_any_v6_v4mapped_local", "v6_v4mapped_any", 0, "v6_v4mapped_local", 0,
     "-XXXX-XX", "--XXX-XX"),
    ("v6_v4mapped_loopback_v6_any", "v6_v4mapped_local", 0, "v6_any", 0, "-XXXX-XX",
     "--XXXXXX"),
    ("v6_v4mapped_loopback_v6_any_only", "v6_v4mapped_local", 0, "v6_any", 1, "--XXXXXX",
     "--XXXXXX"),
    ("v6_v4mapped_loopback_v6_local", "v6_v4mapped_local", 0, "v6_local", 0, "--XXXXXX",
     "--XXXXXX"),
    ("v6_v4mapped_loopback_v6_v4mapped_any", "v6_v4mapped_local", 0, "v6_v4mapped_any", 0,
     "-XXXX-XX", "--XXX-XX"),
]

RUNS = [("plain", None, "N"), ("SO_REUSEADDR", "SO_REUSEADDR", "A"),
        ("SO_REUSEPORT", "SO_REUSEPORT", "O")]


def label(key, v6only):
    fam, addr = ADDR[key]
    return f"{addr}{' (V6ONLY)' if v6only else ''}"


def section(lines, first, only0, second, only1, results, run, opt, pre):
    sockets = [(first, only0), (second, only1)] + [(k, 0) for k in FIXED]
    port = f"P{pre}"
    lines.append(f"# {run}: "
                 + ("no option" if not opt else f"{opt} on the first two sockets"))
    lines.append("# reserve a port free at every address (a dual-stack [::] binding clashes "
                 "with all), then bind there")
    lines.append(f"r: R{pre} = socket(inet6) -> fd")
    lines.append(f"r: bind(R{pre}, [::]:0) -> 0")
    lines.append(f"r: {port} = port(R{pre})")
    lines.append(f"r: close(R{pre}) -> 0")
    for i, (key, only) in enumerate(sockets):
        fam, addr = ADDR[key]
        fd = f"{pre}{i}"
        actor = f"s{i}"
        lines.append(f"{actor}: {fd} = socket({fam}) -> fd")
        if i < 2 and only:
            lines.append(f"{actor}: setsockopt({fd}, IPV6_V6ONLY, 1) -> 0")
        if i < 2 and opt:
            lines.append(f"{actor}: setsockopt({fd}, {opt}, 1) -> 0")
        want = "0" if results[i] == "-" else "EADDRINUSE"
        lines.append(f"{actor}: bind({fd}, {addr}:${port}) -> {want}")
    for i in range(len(sockets)):
        lines.append(f"s{i}: close({pre}{i}) -> 0")
    lines.append("")


def render(name, first, only0, second, only1, plain, reuse):
    lines = [
        f"# Linux tools/testing/selftests/net/bind_wildcard.c, variant {name}: "
        f"{label(first, only0)} then {label(second, only1)} at one port, then 0.0.0.0, "
        "127.0.0.1, [::], [::1], [::ffff:0.0.0.0], [::ffff:127.0.0.1] there; the tests "
        "plain, reuseaddr and reuseport (written by generate.py from the selftest's table)",
        "",
    ]
    for run, opt, pre in RUNS:
        section(lines, first, only0, second, only1, plain if opt is None else reuse, run, opt,
                pre)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv):
    """Writes the files here, or into the directory given (tests compare the two)."""
    out = pathlib.Path(argv[1]) if len(argv) > 1 else HERE
    for name, first, only0, second, only1, plain, reuse in VARIANTS:
        assert len(plain) == len(reuse) == 8, name
        (out / f"{name}.sd").write_text(render(name, first, only0, second, only1, plain,
                                               reuse))


if __name__ == "__main__":
    main(sys.argv)
