#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build step, run by the image's `compile` as $SRC/build.sh
# (.clusterfuzzlite/Dockerfile copies it there). sockdrill's own fuzz/build.sh does the work
# from the contract's variables, and is what a project that fuzzes its own server calls too,
# with SOCKDRILL_FUZZ_TARGETS_FILE naming its targets (docs/ci.md, "Your own server").
exec bash "$SRC/sockdrill/fuzz/build.sh"
