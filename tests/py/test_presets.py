"""The fuzzing presets configure and build the library with their own compilers."""
import shutil
import subprocess

import pytest

from conftest import ROOT


@pytest.mark.parametrize("preset, compiler", [("libfuzzer", "clang"), ("afl", "afl-clang-fast")])
def test_fuzz_preset_builds_library(tmp_path, preset, compiler):
    assert shutil.which(compiler), f"{compiler} missing: ci/deps installs it"
    build = tmp_path / preset
    cfg = subprocess.run(["cmake", "--preset", preset, "-B", str(build), "-DSD_WERROR=ON"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    b = subprocess.run(["cmake", "--build", str(build), "-j2", "--target", "sockdrill_static",
                        "sd_examples"], capture_output=True, text=True, timeout=600)
    assert b.returncode == 0, b.stdout + b.stderr
    assert (build / "libsockdrill.a").exists()
    cache = (build / "CMakeCache.txt").read_text()
    assert f"CMAKE_C_COMPILER:STRING={shutil.which(compiler)}" in cache
