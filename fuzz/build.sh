#!/bin/bash -eu
# sockdrill: OSS-Fuzz / ClusterFuzzLite build script for the fuzz targets in fuzz/.
#
# Uses the usual variables: CC, CFLAGS (CXX, CXXFLAGS for linking when set), LIB_FUZZING_ENGINE,
# OUT, SRC, WORK. For each target it writes $OUT/<target>, $OUT/<target>_seed_corpus.zip (from
# corpus/<target>/), $OUT/<target>.dict (from fuzz/<target>.dict) and $OUT/<target>.options.
#
# Locally, e.g.:
#   CC=clang CFLAGS="-fsanitize=address,fuzzer-no-link -g -O1" \
#     LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/sd-fuzz bash fuzz/build.sh
#   CC=afl-clang-fast LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/sd-afl bash fuzz/build.sh

# The shebang's -eu is lost when the script is run as `bash fuzz/build.sh`: a failed compile
# or link must still stop it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The repository root: $SRC itself when it is the checkout, $SRC/sockdrill when OSS-Fuzz
# cloned it there, else the directory above this script.
if [ -n "${SRC:-}" ] && [ -f "$SRC/fuzz/scenario_parser.c" ]; then
	root="$SRC"
elif [ -n "${SRC:-}" ] && [ -f "$SRC/sockdrill/fuzz/scenario_parser.c" ]; then
	root="$SRC/sockdrill"
else
	root="$(dirname "$here")"
fi

CC="${CC:-clang}"
CFLAGS="${CFLAGS:-}"
LIB_FUZZING_ENGINE="${LIB_FUZZING_ENGINE:--fsanitize=fuzzer}"
OUT="${OUT:?set OUT to the output directory}"
# OSS-Fuzz links with the C++ driver (its engines are C++ archives); C objects link fine.
LD="${CXX:-$CC}"
if [ -n "${CXX:-}" ]; then
	LDFLAGS_FUZZ="${CXXFLAGS:-$CFLAGS}"
else
	LDFLAGS_FUZZ="$CFLAGS"
fi

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
if [ -n "${WORK:-}" ]; then
	obj="$WORK/sockdrill-fuzz-obj"
	rm -rf "$obj"
	mkdir -p "$obj"
else
	obj="$(mktemp -d)"
	trap 'rm -rf "$obj"' EXIT
fi

# The targets and their max_len: fuzz/targets.txt, the one list (NAME KIND MAX_LEN EXPECT).
targets_txt="$root/fuzz/targets.txt"
targets="$(awk '!/^#/ && NF { print $1 }' "$targets_txt")"
target_field() { # target_field NAME COLUMN
	awk -v n="$1" -v c="$2" '!/^#/ && $1 == n { print $c }' "$targets_txt"
}

# The files of set(NAME ...) in CMakeLists.txt, so that this script builds what CMake does.
cmake_list() {
	local files
	files="$(awk -v n="set($1" '
		$1 == n { f = 1; $1 = "" }
		f { e = index($0, ")"); if (e) { print substr($0, 1, e - 1); exit } print }
	' "$root/CMakeLists.txt")"
	if [ -z "${files//[[:space:]]/}" ]; then
		echo "fuzz/build.sh: no set($1 ...) in $root/CMakeLists.txt" >&2
		return 2
	fi
	echo "$files"
}

# The library (SD_LIB_SOURCES).
lib_sources="$(cmake_list SD_LIB_SOURCES)"
# The interposition layer's in-process route (the sockdrill_inproc object library) and the
# in-process driver (SD_DRIVER_SOURCES), which go into the server targets with the library.
layer_sources="$(cmake_list SD_LAYER_SOURCES)"
layer_sources+=" $(cmake_list SD_INPROC_ONLY_SOURCES)"
layer_sources+=" $(cmake_list SD_DRIVER_SOURCES)"

# shellcheck disable=SC2206 # word splitting of the flag strings is intended
cflags=($CFLAGS -std=gnu11 -D_GNU_SOURCE -I"$root/include" -I"$root/src/driver/fuzz" -I"$root/src/driver/fuzz/include" -I"$root/src/interpose"
	-I"$root/examples" -I"$root/fuzz" -I"$root/src/driver/scenario")

cc() { # cc OUTPUT.o SOURCE [extra flags...]
	local o="$1" s="$2"
	shift 2
	echo "  CC $s"
	"$CC" "${cflags[@]}" "$@" -c "$root/$s" -o "$o"
}

# sockdrill's own code in the server targets carries no coverage instrumentation, so their
# coverage is the server's (as CMakeLists.txt's sd__no_coverage does): clang takes the list
# as a flag, afl-clang-fast from its environment (it strips the flag).
ignorelist="$root/fuzz/coverage-ignorelist.txt"
cc_nocov() { # cc_nocov OUTPUT.o SOURCE
	AFL_LLVM_DENYLIST="$ignorelist" cc "$1" "$2" -fsanitize-coverage-ignorelist="$ignorelist" \
		-Wno-unused-command-line-argument
}

mkdir -p "$obj/cov" "$obj/nocov"
# The library twice: instrumented for the targets that fuzz it, not for the server targets.
lib_cov=()
lib_nocov=()
for s in $lib_sources; do
	o="$(echo "$s" | tr / _).o"
	cc "$obj/cov/$o" "$s"
	cc_nocov "$obj/nocov/$o" "$s"
	lib_cov+=("$obj/cov/$o")
	lib_nocov+=("$obj/nocov/$o")
done
layer_objs=()
for s in $layer_sources; do
	o="$obj/nocov/$(echo "$s" | tr / _).o"
	cc_nocov "$o" "$s"
	layer_objs+=("$o")
done
# The server targets' servers and glue, instrumented: the Q&A example (example_server's
# server, and fragile_server's protocol), the oracle.
cc "$obj/qa.o" examples/qa.c
cc "$obj/qa_oracle.o" fuzz/qa_oracle.c
# The fragile server's own source, unchanged but for its main, renamed for the target to call.
cc "$obj/fragile_server_main.o" examples/fragile_server.c -Dmain=sd_fragile_main

zip_dir() { # zip_dir ZIP DIR: the files of DIR at the top of ZIP
	local z="$1" d="$2"
	rm -f "$z"
	if command -v zip >/dev/null 2>&1; then
		(cd "$d" && zip -q -X "$z" ./*)
	else
		python3 -m zipfile -c "$z" "$d"/*
	fi
}

for t in $targets; do
	# A library target is its source against the instrumented library; a server target's
	# recipe is its own (as in CMakeLists.txt).
	case "$(target_field "$t" 2):$t" in
	library:*) objs=("${lib_cov[@]}") ;;
	server:example_server) objs=("$obj/qa.o" "$obj/qa_oracle.o" "${layer_objs[@]}" "${lib_nocov[@]}") ;;
	server:fragile_server) objs=("$obj/fragile_server_main.o" "$obj/qa.o" "$obj/qa_oracle.o"
		"${layer_objs[@]}" "${lib_nocov[@]}") ;;
	*)
		echo "fuzz/build.sh: no recipe for $t (fuzz/targets.txt)" >&2
		exit 2
		;;
	esac
	cc "$obj/fuzz_$t.o" "fuzz/$t.c"
	echo "  LD $OUT/$t"
	# shellcheck disable=SC2086 # flag strings split into words
	"$LD" $LDFLAGS_FUZZ "$obj/fuzz_$t.o" "${objs[@]}" \
		$LIB_FUZZING_ENGINE -lpthread -ldl -o "$OUT/$t"

	if [ -d "$root/corpus/$t" ] && [ -n "$(ls -A "$root/corpus/$t")" ]; then
		zip_dir "$OUT/${t}_seed_corpus.zip" "$root/corpus/$t"
	fi
	if [ -f "$root/fuzz/$t.dict" ]; then
		cp "$root/fuzz/$t.dict" "$OUT/$t.dict"
	fi
	# Inputs longer than what a target reads only slow the fuzzer down.
	# (sim_ops: a seed byte and 64 ops of 4 bytes; sim_vs_kernel: 30 ops of 4 bytes; the
	# servers: 12 bytes, 4 clients of <= 102.)
	max_len="$(target_field "$t" 3)"
	if [ "$max_len" != "-" ]; then
		printf '[libfuzzer]\nmax_len = %s\n' "$max_len" >"$OUT/$t.options"
	fi
done
echo "built: $(echo $targets) -> $OUT"
