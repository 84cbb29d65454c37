"""Which code of a fuzzer carries coverage instrumentation: read from libFuzzer's own report
(-print_coverage) and from the objects CMake linked into it (nm). Shared by the tests that check
that a server fuzzer counts coverage only in the server and its glue (docs/inproc.md, "What is
instrumented")."""
import os
import pathlib
import re
import shlex
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]

# sockdrill's own code in a fuzzer: the library (sim, scheduler, fault wrapper, real backend,
# scenario language), the interposition layer and the in-process driver, and the headers
# whose inline functions they compile.
OWN = ("src/", "harness/libc/", "harness/fuzz_server.c", "harness/fuzz_faults.c",
       "harness/fuzz_oracles.c", "harness/fuzz_plan.h", "harness/fuzz_input.h", "harness/inproc.h",
       "include/")

# An object instrumented for either engine refers to one of these (the sanitizer coverage
# callbacks and sections libFuzzer counts with; the map AFL++'s PCGUARD pass writes to).
_SYMBOL = re.compile(r"^\s*(?:[0-9a-f]+\s+)?[Uw]\s+(__afl_area_ptr|__sanitizer_cov_\w+|"
                     r"__(start|stop)___sancov_\w+)$")


def rel(path):
    """path relative to the checkout when it lies in it (normalised), else as it is."""
    p = os.path.normpath(path)
    r = os.path.relpath(p, ROOT)
    return p if r.startswith("..") else r


def is_own(path):
    return rel(path).startswith(OWN)


def coverage_report(exe, *args, timeout=240):
    """Runs libFuzzer binary exe with -print_coverage=1 and args: {(function, file): covered},
    files relative to the checkout. Only instrumented functions are listed by libFuzzer."""
    r = subprocess.run([str(exe), "-print_coverage=1", *map(str, args)], capture_output=True,
                       text=True, errors="replace", timeout=timeout, cwd=ROOT,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-3000:]
    funcs = {}
    for cov, fn, path in re.findall(r"^(COVERED|UNCOVERED)_FUNC: hits: \d+ edges: \d+/\d+ "
                                    r"(\S+) (\S+?):\d+$", r.stderr, re.M):
        key = (fn, rel(path))
        funcs[key] = funcs.get(key, False) or cov == "COVERED"
    assert funcs, "libFuzzer printed no coverage:\n" + r.stderr[-3000:]
    return funcs


def _sources_of(bdir, objdir):
    """{object path: source path} of the CMake target whose CMakeFiles/T.dir is objdir, from
    its DependInfo.cmake (objects relative to the top of the build tree, bdir)."""
    info = objdir / "DependInfo.cmake"
    assert info.is_file(), f"no {info}"
    pairs = re.findall(r'^\s*"([^"]+)" "([^"]+\.o)" ', info.read_text(), re.M)
    return {os.path.normpath(bdir / o): src for src, o in pairs}


def linked_objects(bdir, target):
    """The objects CMake links into target (its link.txt in bdir): a list of (label, own,
    instrumented). label is the object's source file (relative to the checkout when it lies
    in it), ARCHIVE(MEMBER) for a member of a static library, or the path of an object CMake
    did not compile; own is whether it is sockdrill's own code (OWN; every member of
    libsockdrill.a)."""
    bdir = pathlib.Path(bdir).resolve()
    link = bdir / "CMakeFiles" / f"{target}.dir" / "link.txt"
    assert link.is_file(), f"no {link}: is {target} built with CMake's Makefile generator?"
    words = [w for line in link.read_text().splitlines() for w in shlex.split(line)]
    paths = []
    for w in words:
        p = os.path.normpath(w if os.path.isabs(w) else bdir / w)
        if w.endswith((".o", ".a")) and p not in paths:
            paths.append(p)
    sources, out = {}, []
    for p in paths:
        assert os.path.isfile(p), f"{target} links {p}, which does not exist"
        nm = subprocess.run(["nm", "-A", p], capture_output=True, text=True, timeout=120)
        assert nm.returncode == 0, nm.stderr
        refs = {}  # member ("" for an object file) -> instrumented
        for line in nm.stdout.splitlines():
            rest = line[len(p) + 1:]
            member = ""
            if p.endswith(".a"):
                member, _, rest = rest.partition(":")
            refs[member] = refs.get(member, False) or bool(_SYMBOL.match(rest))
        if p.endswith(".a"):
            name = os.path.basename(p)
            for member, hit in refs.items():
                out.append((f"{name}({member})", name == "libsockdrill.a", hit))
            continue
        m = re.match(r"(.*/CMakeFiles/[^/]+\.dir)/", p)
        if m and m.group(1) not in sources:
            sources[m.group(1)] = _sources_of(bdir, pathlib.Path(m.group(1)))
        src = sources[m.group(1)].get(p) if m else None
        assert src or not m, f"{p}: not in its target's DependInfo.cmake"
        label = rel(src) if src else rel(p)
        out.append((label, bool(src) and is_own(src), refs.get("", False)))
    return out
