"""A server fuzzer counts coverage only in the server and its glue: sockdrill's own code linked
into it (the library: sim, scheduler, fault wrapper; the interposition layer in src/interpose/;
the driver src/driver/fuzz/fuzz_server.c) carries no coverage instrumentation on either engine, so
"new coverage" means the server did something new. The targets that fuzz the library itself
keep it instrumented. (docs/inproc.md, "What is instrumented".)"""
import os
import subprocess

import pytest

from conftest import ROOT, fuzz_targets
from instrumentation import coverage_report, is_own, linked_objects

# Each server fuzzer's server: its entry function and source, which must be covered.
SERVERS = {"fragile_server": ("sd_fragile_main", "examples/fragile_server.c"),
           "example_server": ("sd_qa_serve", "examples/qa.c")}
LIBRARY_TARGETS = [row[0] for row in fuzz_targets() if row[1] == "library"]


def built(build, engine, target):
    """build/ENGINE/fuzz_TARGET, configured and built the way `sockdrill fuzz` builds it (by
    `sockdrill repro` of a clean seed, under the CLI's build lock)."""
    seed = sorted((ROOT / "corpus" / target).iterdir())[0]
    r = subprocess.run([str(build / "sockdrill"), "repro", target, str(seed), "--engine", engine],
                       capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    exe = ROOT / "build" / engine / f"fuzz_{target}"
    assert os.access(exe, os.X_OK), f"{exe} not built"
    return exe


def built_from(label, src):
    """Whether the linked object labelled label (instrumentation.linked_objects) is src's."""
    return label == src or label.endswith(("/" + src, f"({os.path.basename(src)}.o)"))


def assert_only_server_instrumented(bdir, target, server_sources):
    objs = linked_objects(bdir, target)
    own = [(label, hit) for label, mine, hit in objs if mine]
    for part in ["src/driver/fuzz/fuzz_server.c", "src/interpose/calls.c", "libsockdrill.a(sim.c.o)"]:
        assert part in [label for label, _ in own], f"{part} not found in {target}: {objs}"
    assert not [label for label, hit in own if hit], \
        f"sockdrill's own code instrumented in {target}: " \
        f"{[label for label, hit in own if hit]}"
    for src in server_sources:
        assert [hit for label, _, hit in objs if built_from(label, src)] == [True], \
            f"{src} not linked into {target} once, instrumented: {objs}"


@pytest.mark.parametrize("target", sorted(SERVERS))
def test_libfuzzer_counts_only_the_server(build, target):
    """libFuzzer's own report on the seed corpus: no function of sockdrill's code is
    instrumented at all (covered or not), the server's are, and its entry was covered."""
    exe = built(build, "libfuzzer", target)
    funcs = coverage_report(exe, "-runs=0", ROOT / "corpus" / target)
    own = sorted({f"{fn} ({path})" for fn, path in funcs if is_own(path)})
    assert not own, f"{len(own)} functions of sockdrill's own code instrumented: {own[:20]}"
    fn, src = SERVERS[target]
    assert funcs.get((fn, src)) is True, f"{fn} ({src}) not covered: {sorted(funcs)[:40]}"


@pytest.mark.parametrize("engine", ["libfuzzer", "afl"])
@pytest.mark.parametrize("target", sorted(SERVERS))
def test_server_fuzzer_objects(build, engine, target):
    """What is linked, read with nm: sockdrill's objects have no coverage callback or map
    reference, the server's object has (AFL++ strips -fsanitize-coverage-ignorelist, so
    this is the check that its denylist took effect)."""
    built(build, engine, target)
    assert_only_server_instrumented(ROOT / "build" / engine, f"fuzz_{target}",
                                    [SERVERS[target][1]])


@pytest.mark.parametrize("engine", ["libfuzzer", "afl"])
@pytest.mark.parametrize("target", LIBRARY_TARGETS)
def test_library_targets_keep_the_library_instrumented(build, engine, target):
    """The built-in targets fuzz the library itself: its objects in them are instrumented."""
    built(build, engine, target)
    objs = linked_objects(ROOT / "build" / engine, f"fuzz_{target}")
    lib = [(label, hit) for label, mine, hit in objs if mine]
    assert lib and all(hit for _, hit in lib), lib
    wanted = "src/driver/scenario/parse.c" if target == "scenario_parser" else "src/backend/sim.c"
    assert [hit for label, _, hit in objs if built_from(label, wanted)] == [True], objs


def test_library_target_reports_library_coverage(build):
    """And libFuzzer counts the sim's functions in fuzz_sim_ops."""
    exe = built(build, "libfuzzer", "sim_ops")
    funcs = coverage_report(exe, "-runs=0", ROOT / "corpus" / "sim_ops")
    assert [f for f, cov in funcs.items() if cov and f[1] == "src/backend/sim.c"], sorted(funcs)


def build_own_server(bdir, cc, cflags, *targets):
    """tests/fuzz_own_server, a user's project, built with compiler cc and CMAKE_C_FLAGS."""
    conf = subprocess.run(["cmake", "-S", ROOT / "tests" / "fuzz_own_server", "-B", bdir,
                           f"-DSOCKDRILL_DIR={ROOT}", f"-DCMAKE_C_FLAGS={cflags}"],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, CC=cc))
    assert conf.returncode == 0, conf.stdout + conf.stderr
    b = subprocess.run(["cmake", "--build", bdir, "-j2", "--target", *targets],
                       capture_output=True, text=True, timeout=900)
    assert b.returncode == 0, b.stdout[-3000:] + b.stderr[-3000:]


@pytest.mark.parametrize("engine", ["libfuzzer", "afl"])
def test_users_project_with_coverage_flags_everywhere(tmp_path, engine):
    """A user's project through add_subdirectory and sockdrill_add_server_fuzzer, compiled
    with coverage for the whole project (CMAKE_C_FLAGS, as ci/real-servers does, or
    afl-clang-fast): sockdrill's part still carries none; the server and glue do."""
    bdir = tmp_path / "b"
    if engine == "libfuzzer":
        build_own_server(bdir, "clang", "-fsanitize=address,undefined,fuzzer-no-link -g -O1",
                         "fuzz_fixed")
    else:
        build_own_server(bdir, "afl-clang-fast", "-g -O1", "fuzz_fixed")
    assert_only_server_instrumented(bdir, "fuzz_fixed", ["server.c", "glue.c"])
    if engine == "libfuzzer":
        funcs = coverage_report(bdir / "fuzz_fixed", "-runs=300", "-seed=1")
        own = sorted({f"{fn} ({path})" for fn, path in funcs if is_own(path)})
        assert not own, own[:20]
        assert funcs.get(("my_server_main", "tests/fuzz_own_server/server.c")) is True, funcs


def build_sh(tmp_path, cc, cflags):
    """fuzz/build.sh as OSS-Fuzz runs it, with compiler cc and CFLAGS; the output directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("CXX", "CXXFLAGS", "SRC", "WORK")}
    env.update(CC=cc, CFLAGS=cflags, LIB_FUZZING_ENGINE="-fsanitize=fuzzer",
               OUT=str(tmp_path / "out"), WORK=str(tmp_path / "work"))
    (tmp_path / "work").mkdir()
    r = subprocess.run(["bash", str(ROOT / "fuzz" / "build.sh")], env=env, capture_output=True,
                       text=True, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return tmp_path / "out"


def test_oss_fuzz_build_script_on_libfuzzer(tmp_path):
    """fuzz/build.sh keeps the same split: the server targets count only the server and its
    glue, sim_ops counts the sim."""
    out = build_sh(tmp_path, "clang", "-fsanitize=address,fuzzer-no-link -O1 -g")
    for t, (fn, src) in SERVERS.items():
        funcs = coverage_report(out / t, "-runs=0", ROOT / "corpus" / t)
        own = sorted({f"{f} ({path})" for f, path in funcs if is_own(path)})
        assert not own, f"{t}: {own[:20]}"
        assert funcs.get((fn, src)) is True, (t, sorted(funcs)[:40])
    funcs = coverage_report(out / "sim_ops", "-runs=0", ROOT / "corpus" / "sim_ops")
    assert [f for f, cov in funcs.items() if cov and f[1] == "src/backend/sim.c"], sorted(funcs)


def test_oss_fuzz_build_script_on_afl(tmp_path):
    """With afl-clang-fast, whose denylist comes from the environment: the objects build.sh
    links into the server targets (its nocov/ directory) carry no AFL++ instrumentation; the
    library built for the library targets (cov/) and the servers do."""
    build_sh(tmp_path, "afl-clang-fast", "-O1 -g")
    work = tmp_path / "work" / "sockdrill-fuzz-obj"

    def instrumented(o):
        nm = subprocess.run(["nm", str(o)], capture_output=True, text=True, timeout=60)
        return "__afl_area_ptr" in nm.stdout

    nocov, cov = sorted((work / "nocov").glob("*.o")), sorted((work / "cov").glob("*.o"))
    assert len(nocov) > len(cov) > 10, (nocov, cov)
    assert [o.name for o in nocov if instrumented(o)] == []
    assert [o.name for o in cov if not instrumented(o)] == []
    assert all(instrumented(work / o) for o in ["fragile_server_main.o", "qa.o"])
