"""pytest plugin: scenario files as test items, servers under faults, fuzzing as tests.

Load it with `-p sockdrill.pytest_plugin` (from a sockdrill checkout's root), through the
`pytest11` entry point of an installed sockdrill, or with `pytest_plugins` in a root
conftest.py. README: "Use from pytest".

- Every `*.sd` file under the collected paths becomes one item per backend,
  `path/to/file.sd::sim` and `::real`, marked `sim` / `real` (select with `-m sim`);
  `--sockdrill-backend NAME` collects one item per file for any backend `sockdrill list`
  names, marked NAME.
  A failing item shows the failed step, the command that reproduces it and, when both
  backends were selected, the steps whose outcome differs between sim and real. A file that
  requires a kernel variant the kernel does not have (`requires one-role`) is skipped on
  real, with the reason.
- A scenario meant for a server under test (it uses `$TARGET_PORT`, which only
  `sockdrill run --target` defines) is not collected as sim/real items: it becomes one item,
  `::target`, run on the kernel against `--sockdrill-target ADDR:PORT` when that is given;
  otherwise the session header says how many such files were left out.
- Fixtures: `sockdrill` (the CLI and structured scenario runs), `wrapped_server` (a server
  under `sockdrill wrap`, stopped and checked after the test), `fuzz` and `repro`.
- Options: --sockdrill-backend, --sockdrill-seed, --sockdrill-faults, --sockdrill-bin,
  --sockdrill-preset, --sockdrill-target.
"""
import pathlib
import re

import pytest

from sockdrill.core import Sockdrill, SockdrillError

BACKENDS = ("sim", "real")  # what --sockdrill-backend both (the default) collects
_DRIVER = pytest.StashKey()
_SERVERS = pytest.StashKey()
_SELECTED = pytest.StashKey()
_UNTARGETED = pytest.StashKey()


def pytest_addoption(parser):
    group = parser.getgroup("sockdrill", "sockdrill (TCP socket scenarios, faults, fuzzing)")
    group.addoption("--sockdrill-backend", default="both", metavar="NAME",
                    help="backend scenario files are collected for: both (sim and real, the "
                         "default) or any backend 'sockdrill list' names")
    group.addoption("--sockdrill-seed", type=int, default=None, metavar="N",
                    help="seed of scenario runs and fault decisions (default: each file's "
                         "own, else 1)")
    group.addoption("--sockdrill-faults", default=None, metavar="SPEC",
                    help="fault spec for scenario runs and wrapped_server, e.g. "
                         "short-read=1,eintr=0.1 (docs/faults.md)")
    group.addoption("--sockdrill-bin", default=None, metavar="PATH",
                    help="the sockdrill binary (default: built from this source tree, "
                         "else the installed one)")
    group.addoption("--sockdrill-preset", default=None, metavar="NAME",
                    help="build preset in a source tree (default: $SOCKDRILL_PRESET or "
                         "'default')")
    group.addoption("--sockdrill-target", default=None, metavar="ADDR:PORT",
                    help="a server under test (loopback): scenario files that use "
                         "$TARGET_PORT run against it as ::target items (without this "
                         "option they are not collected)")
    group.addoption("--sockdrill-html", default=None, metavar="DIR",
                    help="write a timeline page (sockdrill run --html) of each scenario file "
                         "with a failing item into DIR, named in the failure text")


def pytest_configure(config):
    config.addinivalue_line("markers", "sim: a scenario item run on the simulated TCP stack")
    config.addinivalue_line("markers", "real: a scenario item run on the kernel's loopback")
    config.addinivalue_line("markers", "sockdrill: an item collected from a scenario file")
    chosen = config.getoption("--sockdrill-backend")
    if chosen not in BACKENDS + ("both",):
        config.addinivalue_line("markers", f"{chosen}: a scenario item run on backend {chosen}")
    faults = config.getoption("--sockdrill-faults")
    if faults is not None and ("\n" in faults or not faults.strip()):
        raise pytest.UsageError(f"--sockdrill-faults: not a fault spec: {faults!r}")


def pytest_sessionstart(session):
    """A backend other than sim or real must be one the binary registered (`sockdrill list`);
    asked once, and only then, since it needs the binary."""
    chosen = session.config.getoption("--sockdrill-backend")
    if chosen in BACKENDS + ("both",):
        return
    known = _driver(session.config).backends()
    if chosen not in known:
        raise pytest.UsageError(f"--sockdrill-backend: invalid choice: {chosen!r} (choose "
                                f"both or a backend 'sockdrill list' names: "
                                f"{', '.join(known)})")


def _driver(config):
    """The session's Sockdrill (the binary is found, or built, once)."""
    if _DRIVER not in config.stash:
        try:
            config.stash[_DRIVER] = Sockdrill(
                binary=config.getoption("--sockdrill-bin"),
                preset=config.getoption("--sockdrill-preset"),
                seed=config.getoption("--sockdrill-seed"),
                faults=config.getoption("--sockdrill-faults"),
                backend=config.getoption("--sockdrill-backend"))
        except SockdrillError as e:
            config.stash[_DRIVER] = e
    driver = config.stash[_DRIVER]
    if isinstance(driver, SockdrillError):
        pytest.fail(f"sockdrill: {driver}", pytrace=False)
    return driver


# ---- scenario files as items --------------------------------------------------------------

def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".sd":
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def pytest_report_collectionfinish(config):
    left = config.stash.get(_UNTARGETED, [])
    if left:
        return (f"sockdrill: {len(left)} scenario file(s) need a server (they use $TARGET_PORT) "
                f"and were not collected; give --sockdrill-target ADDR:PORT or run them with "
                f"sockdrill.run(..., target=): " + ", ".join(str(p) for p in left[:5]) +
                (" ..." if len(left) > 5 else ""))
    return None


_TARGET_VAR = re.compile(rb"\$\{?TARGET_PORT\b")


def needs_target(path):
    """Whether a scenario file uses $TARGET_PORT outside comments and strings: it talks to a
    server under test (`sockdrill run --target`) and cannot run on its own."""
    try:
        text = pathlib.Path(path).read_bytes()
    except OSError:
        return False
    for line in text.splitlines():
        code, quoted, i = bytearray(), False, 0
        while i < len(line):  # keep the code of the line: drop strings and the comment
            c = line[i:i + 1]
            if quoted and c == b"\\":
                i += 2
                continue
            if c == b'"':
                quoted = not quoted
            elif c == b"#" and not quoted:
                break
            elif not quoted:
                code += c
            i += 1
        if _TARGET_VAR.search(bytes(code)):
            return True
    return False


class ScenarioFile(pytest.File):
    """A scenario file: one item per selected backend. The file runs once, on every backend
    its selected items need, and each item reads its own result."""

    def collect(self):
        if needs_target(self.path):
            if self.config.getoption("--sockdrill-target"):
                item = ScenarioItem.from_parent(self, name="target", backend="real")
                item.add_marker("real")
                item.add_marker("sockdrill")
                yield item
            else:
                self.config.stash.setdefault(_UNTARGETED, []).append(self.path)
            return
        for backend in _collected_backends(self.config):
            item = ScenarioItem.from_parent(self, name=backend, backend=backend)
            item.add_marker(backend)
            item.add_marker("sockdrill")
            yield item

    def report_for(self, item):
        cached = getattr(self, "_report", None)
        if cached is None:
            wanted = _selected_backends(self.session).get(self, set()) | {item.backend}
            backend = "both" if len(wanted) == 2 else item.backend
            target = self.config.getoption("--sockdrill-target") if item.name == "target" \
                else None
            page = self.timeline_path()
            cached = self._report = _driver(self.config).run(self.path, backend=backend,
                                                             target=target, html=page)
            if page is not None and cached.returncode == 0:
                page.unlink(missing_ok=True)  # a page only where an item failed
        return cached

    def timeline_path(self):
        """--sockdrill-html DIR: this file's page there, named after its path from the
        rootdir ("corpus/io/x.sd" -> "corpus_io_x.sd.html"); None without the option."""
        where = self.config.getoption("--sockdrill-html")
        if not where:
            return None
        try:
            rel = self.path.relative_to(self.config.rootpath)
        except ValueError:
            rel = pathlib.Path(*self.path.parts[1:])
        page = pathlib.Path(where).resolve() / ("_".join(rel.parts) + ".html")
        page.parent.mkdir(parents=True, exist_ok=True)
        return page


def _collected_backends(config):
    """The backends scenario files are collected for: sim and real on both, else the one
    --sockdrill-backend names (checked at the session's start)."""
    chosen = config.getoption("--sockdrill-backend")
    return BACKENDS if chosen == "both" else (chosen,)


def _selected_backends(session):
    """Scenario file -> the backends of its items that were selected to run (after -m and
    -k), gathered once per session."""
    if _SELECTED not in session.stash:
        selected = {}
        for i in session.items:
            if isinstance(i, ScenarioItem):
                selected.setdefault(i.parent, set()).add(i.backend)
        session.stash[_SELECTED] = selected
    return session.stash[_SELECTED]


class ScenarioFailure(Exception):
    pass


class ScenarioItem(pytest.Item):
    def __init__(self, *, backend, **kwargs):
        super().__init__(**kwargs)
        self.backend = backend

    def runtest(self):
        report = self.parent.report_for(self)
        result = report.result(self.path, self.backend)
        if result is None:
            raise ScenarioFailure(f"sockdrill run gave no result for {self.path} on "
                                  f"{self.backend} (exit {report.returncode}):\n"
                                  f"{report.stdout[-2000:]}{report.stderr[-2000:]}")
        if result.skipped:  # the file is for a kernel variant this kernel does not have
            pytest.skip(result.message)
        if not result.passed:
            page = self.parent.timeline_path()
            link = f"\ntimeline: {page}" if page is not None and page.exists() else ""
            raise ScenarioFailure(result.report() + link)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}::{self.name}"


# ---- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def sockdrill(pytestconfig):
    """The session's sockdrill driver (sockdrill.core.Sockdrill): call it with CLI arguments
    for a CompletedProcess, or use .run(paths...) for structured scenario results. Seed,
    faults and backend default to the --sockdrill-* options."""
    return _driver(pytestconfig)


@pytest.fixture
def wrapped_server(request, sockdrill, tmp_path):
    """wrapped_server(cmd, faults=None, seed=None, ...) starts cmd under `sockdrill wrap` on
    a free loopback port ("{port}" in cmd), waits until it accepts connections and returns
    the server (.host, .port, .faults(), .output(), .stop()). After the test body it is
    stopped by its pid (SIGTERM, bounded wait, SIGKILL); if it crashed, exited with an error
    or printed a sanitizer report, the test fails. Without faults= the --sockdrill-faults
    option applies; faults="" runs it with none."""
    started = request.node.stash.setdefault(_SERVERS, [])

    def start(cmd, faults=None, seed=None, **kwargs):
        kwargs.setdefault("workdir", tmp_path / f"wrapped-{len(started)}")
        server = sockdrill.wrap(cmd, faults=faults, seed=seed, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:  # after a failed test body: stop, but do not pile on a second error
        server.stop()


@pytest.hookimpl(trylast=True)
def pytest_runtest_call(item):
    """Runs after the test body passed: stop its wrapped servers and fail on a crash."""
    problems = []
    for server in item.stash.get(_SERVERS, []):
        server.stop()
        why = server.problem()
        if why:
            out = server.output()
            problems.append(f"{why} (under: {' '.join(server.wrap_command)}); " +
                            (f"its output:\n{out}" if out else "it printed nothing"))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def fuzz(sockdrill):
    """fuzz(target, seconds, engine="libfuzzer", jobs=None, expect_crash=False, out=None)
    runs a time-boxed `sockdrill fuzz` campaign (a built-in target, or the path of your own
    fuzzer) and returns its FuzzResult. A crash fails the test with the commands that
    reproduce it, unless expect_crash=True, which instead fails when no crash was found."""

    def run(target, seconds, engine="libfuzzer", jobs=None, expect_crash=False, out=None):
        r = sockdrill.fuzz(target, seconds, engine=engine, jobs=jobs, out=out)
        if r.returncode not in (0, 1):
            pytest.fail(f"sockdrill fuzz {target} --engine {engine} failed (exit "
                        f"{r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}",
                        pytrace=False)
        if r.crashed and not expect_crash:
            pytest.fail(f"fuzzing {target} on {engine} for {seconds} s found "
                        f"{len(r.reproduce)} crash(es); reproduce with:\n" +
                        "\n".join(r.reproduce), pytrace=False)
        if expect_crash and not r.crashed:
            pytest.fail(f"fuzzing {target} on {engine} for {seconds} s found no crash",
                        pytrace=False)
        return r

    return run


@pytest.fixture
def repro(sockdrill):
    """repro(target, file, engine="libfuzzer") replays one fuzz input with `sockdrill repro`
    and returns its ReproResult (.reproduced, .trace); a bad target or build fails the test."""

    def run(target, file, engine="libfuzzer"):
        r = sockdrill.repro(target, pathlib.Path(file), engine=engine)
        if r.returncode not in (0, 1):
            pytest.fail(f"sockdrill repro {target} {file} failed (exit {r.returncode}):\n"
                        f"{r.stdout[-2000:]}{r.stderr[-2000:]}", pytrace=False)
        return r

    return run
