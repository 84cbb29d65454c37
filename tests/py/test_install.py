"""Another project can use an installed sockdrill through CMake or pkg-config."""
import os
import pathlib
import subprocess

import pytest

CONSUMER_C = r"""
#include <stdio.h>
#include <sockdrill/sockdrill.h>
int main(void) {
    struct sd_net net;
    if (sd_net_open(&net, "real", NULL) < 0) return 1;
    int fd = sd_socket(&net, AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 2;
    if (sd_close(&net, fd) != 0) return 3;
    sd_net_close(&net);
    printf("consumer ok %s\n", sd_version());
    return 0;
}
"""


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert r.returncode == 0, f"{cmd}:\n{r.stdout}\n{r.stderr}"
    return r


def install(default_build, tmp_path):
    prefix = tmp_path / "prefix"
    run(["cmake", "--install", str(default_build), "--prefix", str(prefix)])
    return prefix


def test_find_package(default_build, tmp_path):
    prefix = install(default_build, tmp_path)
    assert list(prefix.glob("include/sockdrill/ops.h"))
    src = tmp_path / "consumer"
    src.mkdir()
    (src / "main.c").write_text(CONSUMER_C)
    (src / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.21)\nproject(consumer C)\n"
        "find_package(sockdrill 0.1 REQUIRED)\n"
        "add_executable(consumer main.c)\n"
        "target_link_libraries(consumer PRIVATE sockdrill::sockdrill)\n")
    out = tmp_path / "out"
    run(["cmake", "-S", str(src), "-B", str(out), f"-DCMAKE_PREFIX_PATH={prefix}"])
    run(["cmake", "--build", str(out)])
    r = run([str(out / "consumer")])
    assert r.stdout.startswith("consumer ok ")


def test_pkg_config(default_build, tmp_path):
    prefix = install(default_build, tmp_path)
    pcs = list(prefix.glob("**/pkgconfig/sockdrill.pc"))
    assert len(pcs) == 1
    env = dict(os.environ, PKG_CONFIG_PATH=str(pcs[0].parent))
    flags = run(["pkg-config", "--cflags", "--libs", "sockdrill"], env=env).stdout.split()
    (tmp_path / "main.c").write_text(CONSUMER_C)
    exe = tmp_path / "consumer"
    run(["cc", str(tmp_path / "main.c"), "-o", str(exe), *flags])
    libdir = pathlib.Path(next(f[2:] for f in flags if f.startswith("-L")))
    assert (libdir / "libsockdrill.so").exists()
    r = run([str(exe)], env=dict(os.environ, LD_LIBRARY_PATH=str(libdir)))
    assert r.stdout.startswith("consumer ok ")


def test_python_package_place_is_decided_at_install_time(tmp_path):
    """The README's order on a fresh machine: `./sockdrill` configures the tree before python3
    exists, `ci/test` installs python3 and later installs the plugin. The place must be asked
    of python3 when installing, not frozen at configure time. Here python3 is made unusable
    (a private mount namespace) while the tree is configured, then the Python part installs."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a private mount namespace (CI runs as root)")
    root = pathlib.Path(__file__).resolve().parents[2]
    tree = tmp_path / "tree"
    conf = subprocess.run(
        ["unshare", "-m", "sh", "-c",
         'mount --bind /dev/null /usr/bin/python3 && ! /usr/bin/python3 -c 1 2>/dev/null '
         '&& exec cmake -S "$1" -B "$2" -DSD_BUILD_TESTS=OFF', "sh", str(root), str(tree)],
        capture_output=True, text=True, timeout=300)
    assert conf.returncode == 0, conf.stdout + conf.stderr
    prefix = tmp_path / "prefix"
    run(["cmake", "--install", str(tree), "--prefix", str(prefix), "--component", "python"])
    ver = run(["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
              ).stdout.strip()
    site = prefix / "lib" / f"python{ver}" / "dist-packages"
    assert (site / "sockdrill" / "pytest_plugin.py").is_file(), sorted(prefix.rglob("*"))
    r = run(["/usr/bin/python3", "-c", "import sockdrill._install as i; print(i.BINDIR)"],
            env=dict(os.environ, PYTHONPATH=str(site)), cwd=tmp_path)
    assert r.stdout.strip() == str(prefix / "bin")
