"""The man pages (man/*.1): sockdrill(1) and one page per command. Each is checked against its
command's --help, both ways, so that neither drifts from the other: a command without a page, an
option the help lists and the page does not, or one the page documents and the help does not,
is a failure naming it. The pages render without a warning and `cmake --install` installs them."""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

MAN = ROOT / "man"
PAGES = sorted(MAN.glob("*.1"))
# An option as the help and the pages spell it: --long-name or -x, not the bare `--` that ends
# sockdrill's own options, nor a word with a hyphen inside (short-read, afl-tmin).
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
# Variables the help names: each must be in the page too.
VARIABLE = re.compile(r"\b(SOCKDRILL_[A-Z_]+|TMPDIR)\b")


def command_of(page):
    """None for sockdrill.1, else the command of sockdrill-CMD.1."""
    return None if page.stem == "sockdrill" else page.stem.removeprefix("sockdrill-")


def help_of(sockdrill, cmd):
    args = ([cmd] if cmd else []) + ["--help"]
    r = sockdrill(*args)
    assert r.returncode == 0, f"`sockdrill {' '.join(args)}` exited {r.returncode}: {r.stderr}"
    return r.stdout


def help_options(text):
    """The options a --help text lists: (those of its usage lines, those of the usage lines and
    of the option list). The usage runs from the first line to the first blank one; an option
    list line starts with an option indented by a few spaces (its continuation lines are
    indented further and start with words)."""
    lines = text.splitlines()
    end = lines.index("") if "" in lines else len(lines)
    usage = {o for line in lines[:end] for o in OPTION.findall(line)}
    listed = {m.group(1) for line in lines[end:]
              if (m := re.match(r" {1,4}(-{1,2}[A-Za-z][\w-]*)", line))}
    return usage, usage | listed


def help_commands(text):
    """The commands `sockdrill --help` lists under "commands:"."""
    lines = text.splitlines()
    start = lines.index("commands:") + 1
    cmds = []
    for line in lines[start:]:
        m = re.match(r"  ([a-z]+)\s", line)
        if not m:
            break
        cmds.append(m.group(1))
    return cmds


def plain(line):
    """A troff source line as the words it shows: the macro name, font escapes and quotes gone,
    `\\-` a hyphen, `\\~` a space."""
    line = re.sub(r"^\.[A-Za-z]+\s?", "", line)
    line = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", line)
    line = line.replace("\\-", "-").replace("\\~", " ").replace("\\(dq", '"').replace("\\e", "\\")
    return line.replace('"', "")


def sections(page):
    """{section name: its source lines} of a page, by its .SH lines."""
    out, name = {}, None
    for line in page.read_text().splitlines():
        if line.startswith(".SH "):
            name = plain(line).strip()
            out[name] = []
        elif name:
            out[name].append(line)
    return out


def tags(lines):
    """The tag lines of a section's .TP paragraphs, as plain text."""
    return [plain(lines[i + 1]) for i, line in enumerate(lines[:-1]) if line == ".TP"]


def page_options(page):
    """(options in the SYNOPSIS, options the OPTIONS section documents) of a page."""
    sec = sections(page)
    synopsis = {o for line in sec.get("SYNOPSIS", []) for o in OPTION.findall(plain(line))}
    documented = {o for tag in tags(sec.get("OPTIONS", [])) for o in OPTION.findall(tag)}
    return synopsis, documented


def test_every_command_has_a_page_and_every_page_a_command(sockdrill):
    cmds = help_commands(help_of(sockdrill, None))
    assert cmds, "`sockdrill --help` lists no command under 'commands:'"
    pages = {p.name for p in PAGES}
    missing = [f"man/sockdrill-{c}.1" for c in cmds if f"sockdrill-{c}.1" not in pages]
    assert not missing, f"commands `sockdrill --help` lists have no man page: {missing}"
    extra = sorted(pages - {"sockdrill.1"} - {f"sockdrill-{c}.1" for c in cmds})
    assert not extra, f"man pages of commands `sockdrill --help` does not list: {extra}"
    # sockdrill(1) names every command, and points to its page
    main = sections(MAN / "sockdrill.1")
    listed = [t.split()[0] for t in tags(main.get("COMMANDS", []))]
    assert listed == cmds, \
        f"sockdrill.1's COMMANDS lists {listed}, `sockdrill --help` lists {cmds} (same order)"
    see_also = plain(" ".join(main.get("SEE ALSO", [])))
    unnamed = [c for c in cmds if f"sockdrill-{c}(1)" not in see_also.replace(" (1)", "(1)")]
    assert not unnamed, f"sockdrill.1's SEE ALSO does not name the pages of {unnamed}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_documents_exactly_the_options_of_help(sockdrill, page):
    cmd = command_of(page)
    shown = f"sockdrill {cmd} --help" if cmd else "sockdrill --help"
    text = help_of(sockdrill, cmd)
    usage, listed = help_options(text)
    assert listed, f"found no option in `{shown}`: has its layout changed?"
    synopsis, documented = page_options(page)
    missing = sorted(listed - documented)
    assert not missing, \
        f"man/{page.name}: OPTIONS does not document {missing}, which `{shown}` lists"
    extra = sorted(documented - listed)
    assert not extra, \
        f"man/{page.name}: OPTIONS documents {extra}, which `{shown}` does not list"
    assert synopsis == usage, (
        f"man/{page.name}: SYNOPSIS has {sorted(synopsis)}, the usage of `{shown}` has "
        f"{sorted(usage)}: missing {sorted(usage - synopsis)}, extra {sorted(synopsis - usage)}")
    body = plain(page.read_text())
    unnamed = sorted(set(VARIABLE.findall(text)) - set(VARIABLE.findall(body)))
    assert not unnamed, f"man/{page.name} does not name {unnamed}, which `{shown}` mentions"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_has_the_sections_and_its_name(page):
    sec = sections(page)
    want = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "SEE ALSO"]
    missing = [s for s in want if s not in sec]
    assert not missing, f"man/{page.name} has no section {missing}"
    order = [s for s in sec if s in want]
    assert order == want, f"man/{page.name}: sections in the order {order}, not {want}"
    th = page.read_text().splitlines()[0]
    assert plain(th).split()[:2] == [page.stem.upper(), "1"], \
        f"man/{page.name}: its first line must be .TH {page.stem.upper()} 1 ..., not {th!r}"
    # whatis and apropos read the NAME line as "name \- summary"
    name = " ".join(sec["NAME"])
    assert re.fullmatch(rf"{re.escape(page.stem.replace('-', chr(92) + '-'))} \\- \S.*", name), \
        f"man/{page.name}: NAME must read '{page.stem} \\- summary', not {name!r}"


def need(tool):
    path = shutil.which(tool)
    if not path:
        pytest.fail(f"{tool} is not installed (`ci/deps test` installs groff-base and man-db)")
    return path


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_renders_without_warnings(page):
    r = subprocess.run([need("groff"), "-man", "-Tutf8", "-ww", "-z", str(page)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr, \
        f"groff -man -ww on man/{page.name} (exit {r.returncode}):\n{r.stderr}"
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    r = subprocess.run([need("man"), "--warnings=all", "-l", str(page)], capture_output=True,
                       text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and not r.stderr, \
        f"man -l on man/{page.name} (exit {r.returncode}):\n{r.stderr}"
    assert page.stem.upper() in r.stdout.splitlines()[0], r.stdout[:400]


def test_cmake_install_puts_the_pages_in_man1(default_build, tmp_path):
    prefix = tmp_path / "prefix"
    r = subprocess.run(["cmake", "--install", str(default_build), "--prefix", str(prefix)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"cmake --install failed:\n{r.stdout}\n{r.stderr}"
    man1 = prefix / "share" / "man" / "man1"
    installed = sorted(p.name for p in man1.glob("sockdrill*.1")) if man1.is_dir() else []
    assert installed == [p.name for p in PAGES], \
        f"{man1} holds {installed}, man/ has {[p.name for p in PAGES]}"
    changed = [p.name for p in PAGES if (man1 / p.name).read_bytes() != p.read_bytes()]
    assert not changed, f"installed pages differ from man/: {changed}"
