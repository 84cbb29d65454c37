"""ClusterFuzzLite / OSS-Fuzz (.clusterfuzzlite/, docs/ci.md): the build step under the
contract the base-builder image gives it, emulated here without Docker. $SRC holds a copy of
the checkout at $SRC/sockdrill (the Dockerfile's COPY) and a user's project beside it, the
image's `compile` runs $SRC/build.sh (.clusterfuzzlite/build.sh) from $SRC/sockdrill with
CC, CXX, CFLAGS, CXXFLAGS and LIB_FUZZING_ENGINE as it sets them for each engine (AddressSanitizer),
$OUT and $WORK fresh. Every declared target, the built-in ones of fuzz/targets.txt and the
user's of SOCKDRILL_FUZZ_TARGETS_FILE, must land in $OUT with its seed corpus zip, dictionary
and options, and run one of its seeds."""
import configparser
import os
import shutil
import subprocess
import zipfile

import pytest

from conftest import ROOT, fuzz_targets

# Two builds of the library per engine, on a machine shared with other builds.
pytestmark = pytest.mark.timeout(1500)

# OSS-Fuzz's flags for an AddressSanitizer build (base-builder's SANITIZER_FLAGS_address and
# its common CFLAGS); libFuzzer builds add its coverage flag, AFL++ builds get theirs from
# afl-clang-fast. (The image's CXXFLAGS add -stdlib=libc++, which Debian's clang lacks.)
ASAN = ("-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION "
        "-fsanitize=address -fsanitize-address-use-after-scope")
# AFL++'s driver as Debian ships it; OSS-Fuzz's compile_afl copies its own build of the same
# archive to the path LIB_FUZZING_ENGINE names and links with afl-clang-fast++.
AFL_DRIVER = "/usr/lib/afl/libAFLDriver.a"
ENGINES = {
    "libfuzzer": dict(CC="clang", CXX="clang++", CFLAGS=ASAN + " -fsanitize=fuzzer-no-link",
                      LIB_FUZZING_ENGINE="-fsanitize=fuzzer"),
    "afl": dict(CC="afl-clang-fast", CXX="afl-clang-fast++", CFLAGS=ASAN,
                LIB_FUZZING_ENGINE=AFL_DRIVER, AFL_QUIET="1"),
}
BUILTIN = {row[0]: row for row in fuzz_targets()}
OWN = ROOT / "tests" / "fuzz_own_server"
# The user's project: README's "Fuzzing your own server" glue and server (the fixed one), as a
# line of its targets file.
USER_LINE = ("my_server glue=fuzz/glue.c sources=src/server.c rename_main=my_server_main "
             "max_len=600 seeds=fuzz/seeds dict=fuzz/my_server.dict cflags=-DWRITE_ALL")


def copy_checkout(dest):
    """The files of the checkout git knows of (tracked, or new and not ignored), as they are."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True, timeout=60).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def user_project(dest, line=USER_LINE):
    """A user's project with one server target in its sockdrill targets file; the file."""
    (dest / "fuzz" / "seeds").mkdir(parents=True)
    (dest / "src").mkdir()
    shutil.copy(OWN / "glue.c", dest / "fuzz" / "glue.c")
    shutil.copy(OWN / "server.c", dest / "src" / "server.c")
    (dest / "fuzz" / "seeds" / "empty").write_bytes(b"")
    (dest / "fuzz" / "seeds" / "bytes").write_bytes(bytes(range(64)))
    (dest / "fuzz" / "my_server.dict").write_text('"GET / HTTP/1.0\\r\\n\\r\\n"\n')
    targets = dest / "sockdrill-fuzz.txt"
    targets.write_text(f"# the project's sockdrill server targets (docs/ci.md)\n\n{line}\n")
    return targets


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    """$SRC: sockdrill at $SRC/sockdrill, the image's $SRC/build.sh, a user's project."""
    d = tmp_path_factory.mktemp("src")
    copy_checkout(d / "sockdrill")
    shutil.copy(ROOT / ".clusterfuzzlite" / "build.sh", d / "build.sh")
    user_project(d / "my_project")
    return d


def compile_step(src, out, work, engine, **extra):
    """$SRC/build.sh as the image's `compile` runs it (bash -eu, from the Dockerfile's WORKDIR),
    with the engine's variables and no others of the contract's from this environment."""
    contract = ("CC", "CXX", "CFLAGS", "CXXFLAGS", "LIB_FUZZING_ENGINE", "OUT", "SRC", "WORK",
                "SOCKDRILL_FUZZ_TARGETS_FILE", "SOCKDRILL_FUZZ_BUILTIN")
    env = {k: v for k, v in os.environ.items() if k not in contract}
    env.update(ENGINES[engine], CXXFLAGS=ENGINES[engine]["CFLAGS"], OUT=str(out), WORK=str(work),
               SRC=str(src), **extra)
    out.mkdir()
    work.mkdir()
    r = subprocess.run(["bash", "-eu", str(src / "build.sh")], env=env, cwd=src / "sockdrill",
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


@pytest.fixture(scope="module", params=sorted(ENGINES))
def built(request, src, tmp_path_factory):
    """(engine, $OUT) after one build for the engine: the built-in targets and the user's."""
    d = tmp_path_factory.mktemp(request.param)
    compile_step(src, d / "out", d / "work", request.param,
                 SOCKDRILL_FUZZ_TARGETS_FILE=str(src / "my_project" / "sockdrill-fuzz.txt"))
    return request.param, d / "out"


def declared(src):
    """Each declared target: (name, seeds dir, dictionary or None, max_len or None)."""
    rows = []
    for t, (_, _, max_len, _) in BUILTIN.items():
        d = ROOT / "fuzz" / f"{t}.dict"
        rows.append((t, ROOT / "corpus" / t, d if d.exists() else None,
                     None if max_len == "-" else int(max_len)))
    p = src / "my_project" / "fuzz"
    rows.append(("my_server", p / "seeds", p / "my_server.dict", 600))
    return rows


def run_one(engine, exe, seed, cwd):
    """The fuzzer on one input: libFuzzer's -runs=1, AFL++'s driver given the file."""
    args = [str(exe), "-runs=1", str(seed)] if engine == "libfuzzer" else [str(exe), str(seed)]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=cwd)


def test_project_files_follow_the_contract():
    """project.yaml, Dockerfile and build.sh say what ClusterFuzzLite reads from them."""
    d = ROOT / ".clusterfuzzlite"
    yaml = [line for line in (d / "project.yaml").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert yaml == ["language: c", "sanitizers:", "  - address", "  - undefined",
                    "fuzzing_engines:", "  - libfuzzer", "  - afl"], yaml
    docker = [line for line in (d / "Dockerfile").read_text().splitlines()
              if line and not line.startswith("#")]
    assert docker[0] == "FROM gcr.io/oss-fuzz-base/base-builder:v1", docker
    for line in ["COPY . $SRC/sockdrill", "WORKDIR $SRC/sockdrill",
                 "COPY .clusterfuzzlite/build.sh $SRC/"]:
        assert line in docker, (line, docker)
    assert os.access(d / "build.sh", os.X_OK)
    assert 'exec bash "$SRC/sockdrill/fuzz/build.sh"' in (d / "build.sh").read_text()


def test_every_declared_target_lands_in_out(built, src):
    """Each target's binary, `<t>_seed_corpus.zip` holding its seeds, `<t>.dict` when it has
    one and `<t>.options` ([libfuzzer] max_len, dict) in $OUT, and nothing for any other."""
    engine, out = built
    expected = set()
    for t, seeds, dict_, max_len in declared(src):
        assert os.access(out / t, os.X_OK), f"{engine}: {t} not built"
        names = sorted(p.name for p in seeds.iterdir() if p.is_file())
        assert names, f"{t}: no seeds in {seeds}"
        with zipfile.ZipFile(out / f"{t}_seed_corpus.zip") as z:
            assert sorted(z.namelist()) == names, (t, z.namelist())
            assert all(z.read(n) == (seeds / n).read_bytes() for n in names), t
        if dict_:
            assert (out / f"{t}.dict").read_bytes() == dict_.read_bytes(), t
        options = configparser.ConfigParser()
        options.read_string((out / f"{t}.options").read_text())
        want = {}
        if max_len is not None:
            want["max_len"] = str(max_len)
        if dict_:
            want["dict"] = f"{t}.dict"
        assert options.sections() == ["libfuzzer"] and dict(options["libfuzzer"]) == want, \
            (t, (out / f"{t}.options").read_text())
        expected |= {t, f"{t}_seed_corpus.zip", f"{t}.options"} | ({f"{t}.dict"} if dict_ else set())
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)


def test_every_target_runs_a_seed(built, src, tmp_path):
    """Each binary runs the first seed of its own zip once and exits 0 (fragile_server's
    seeds are clean too: its bug takes a campaign)."""
    engine, out = built
    for t, _, _, _ in declared(src):
        with zipfile.ZipFile(out / f"{t}_seed_corpus.zip") as z:
            first = sorted(z.namelist())[0]
            seed = z.extract(first, tmp_path / t)
        r = run_one(engine, out / t, seed, tmp_path)
        assert r.returncode == 0, f"{engine}: {t} on {first}: " + r.stderr[-3000:]
        if engine == "afl":
            # AFL++'s driver ran the input as a file, not a fuzzing session
            assert "Execution successful" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]


def test_user_targets_alone(src, tmp_path):
    """SOCKDRILL_FUZZ_BUILTIN=0: a project's own targets only, none of sockdrill's, and
    sockdrill's library built once, uninstrumented (no library target needs it)."""
    r = compile_step(src, tmp_path / "out", tmp_path / "work", "libfuzzer",
                     SOCKDRILL_FUZZ_BUILTIN="0",
                     SOCKDRILL_FUZZ_TARGETS_FILE=str(src / "my_project" / "sockdrill-fuzz.txt"))
    assert r.stdout.splitlines()[-1] == f"built: my_server -> {tmp_path / 'out'}", r.stdout[-500:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "my_server", "my_server.dict", "my_server.options", "my_server_seed_corpus.zip"]
    assert not list((tmp_path / "work" / "sockdrill-fuzz-obj" / "cov").iterdir())
    r = run_one("libfuzzer", tmp_path / "out" / "my_server", src / "my_project" / "fuzz" /
                "seeds" / "bytes", tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.parametrize("line, message", [
    (USER_LINE + " bogus=1", "sockdrill-fuzz.txt:3: unknown key 'bogus'"),
    ("my_server glue=fuzz/glue.c", "sockdrill-fuzz.txt:3: my_server needs glue= and sources="),
    ("my_server glue=fuzz/nosuch.c sources=src/server.c", "sockdrill-fuzz.txt:3: no file fuzz/nosuch.c"),
    ("my_server glue=fuzz/glue.c sources=src/server.c seeds=nosuch",
     "sockdrill-fuzz.txt:3: no directory nosuch"),
    ("sim_ops glue=fuzz/glue.c sources=src/server.c", "target sim_ops is already defined"),
    ("my.server glue=fuzz/glue.c sources=src/server.c", "a target name is letters, digits, _ and -"),
    ("my_server glue=fuzz/glue.c sources=src/server.c max_len=lots", "max_len is a number (lots)"),
    ("my_server glue=fuzz/glue.c sources=src/server.c debug", "expected key=value, got 'debug'"),
])
def test_user_targets_file_mistakes(tmp_path, line, message):
    """A mistake in the targets file stops the build before anything compiles, exit 2, with
    the file, the line and what is wrong."""
    targets = user_project(tmp_path / "p", line)
    env = dict(os.environ, CC="false", OUT=str(tmp_path / "out"),
               SOCKDRILL_FUZZ_TARGETS_FILE=str(targets))
    r = subprocess.run(["bash", str(ROOT / "fuzz" / "build.sh")], env=env, capture_output=True,
                       text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and "  CC " not in r.stdout, r.stdout + r.stderr
