#!/bin/bash -eu
# sockdrill: OSS-Fuzz / ClusterFuzzLite build script for the fuzz targets in fuzz/.
#
# Uses the usual variables: CC, CFLAGS (CXX, CXXFLAGS for linking when set), LIB_FUZZING_ENGINE,
# OUT, SRC, WORK. For each target it writes $OUT/<target>, $OUT/<target>_seed_corpus.zip (from
# corpus/<target>/), $OUT/<target>.dict (from fuzz/<target>.dict) and $OUT/<target>.options
# (libFuzzer's max_len from fuzz/targets.txt, and the dictionary).
#
# A project's own server targets come from a file of its own (docs/ci.md, "Your own server"):
#   SOCKDRILL_FUZZ_TARGETS_FILE  one target a line: NAME glue=FILE sources=A.c,B.c
#                                [rename_main=FN] [max_len=N] [seeds=DIR] [dict=FILE]
#                                [cflags=-I..,-D..] [libs=-l..]; paths relative to the file
#   SOCKDRILL_FUZZ_BUILTIN=0     leaves out the built-in targets of fuzz/targets.txt
#
# Locally, e.g.:
#   CC=clang CFLAGS="-fsanitize=address,fuzzer-no-link -g -O1" \
#     LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/sd-fuzz bash fuzz/build.sh
#   CC=afl-clang-fast LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/sd-afl bash fuzz/build.sh
# or as OSS-Fuzz builds for AFL++ (its driver as the engine, linked by afl-clang-fast++):
#   CC=afl-clang-fast CXX=afl-clang-fast++ CFLAGS="-fsanitize=address -O1 -g" \
#     LIB_FUZZING_ENGINE=/usr/lib/afl/libAFLDriver.a OUT=/tmp/sd-afl bash fuzz/build.sh

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

# The built-in targets and their max_len: fuzz/targets.txt, the one list (NAME KIND MAX_LEN
# EXPECT). SOCKDRILL_FUZZ_BUILTIN=0 leaves them out, for a project that fuzzes only its own.
targets_txt="$root/fuzz/targets.txt"
all_builtin="$(awk '!/^#/ && NF { print $1 }' "$targets_txt")"
targets=""
if [ "${SOCKDRILL_FUZZ_BUILTIN:-1}" != 0 ]; then
	targets="$all_builtin"
fi
target_field() { # target_field NAME COLUMN
	awk -v n="$1" -v c="$2" '!/^#/ && $1 == n { print $c }' "$targets_txt"
}

# A project's own server targets: SOCKDRILL_FUZZ_TARGETS_FILE, one a line, NAME then key=value
# words (the recipe sockdrill_add_server_fuzzer takes in CMake). Read whole before anything is
# compiled, so that a mistake in it costs no build.
declare -A u_glue u_sources u_main u_max_len u_seeds u_dict u_cflags u_libs
user_targets=""
user_file="${SOCKDRILL_FUZZ_TARGETS_FILE:-}"
user_error() { # user_error LINE MESSAGE
	echo "fuzz/build.sh: $user_file:$1: $2" >&2
	exit 2
}
user_path() { # user_path LINE PATH [-d]: PATH made absolute (relative to the file), and there
	local p="$2"
	[ "${p#/}" != "$p" ] || p="$user_dir/$p"
	if [ "${3:-}" = -d ]; then
		[ -d "$p" ] || user_error "$1" "no directory $2"
	else
		[ -f "$p" ] || user_error "$1" "no file $2"
	fi
	echo "$p"
}
read_user_line() { # read_user_line LINE NAME KEY=VALUE...
	local n="$1" t="$2" kv k v s
	shift 2
	[[ "$t" =~ ^[A-Za-z0-9_-]+$ ]] || user_error "$n" "a target name is letters, digits, _ and - ($t)"
	for s in $all_builtin $user_targets; do
		[ "$s" != "$t" ] || user_error "$n" "target $t is already defined"
	done
	u_main[$t]="" u_max_len[$t]=- u_seeds[$t]="" u_dict[$t]="" u_cflags[$t]="" u_libs[$t]=""
	u_glue[$t]="" u_sources[$t]=""
	for kv in "$@"; do
		k="${kv%%=*}" v="${kv#*=}"
		if [ "$k" = "$kv" ] || [ -z "$v" ]; then
			user_error "$n" "expected key=value, got '$kv'"
		fi
		case "$k" in
		glue) u_glue[$t]="$(user_path "$n" "$v")" ;;
		sources) for s in ${v//,/ }; do u_sources[$t]+="$(user_path "$n" "$s") "; done ;;
		rename_main) u_main[$t]="$v" ;;
		max_len) [[ "$v" =~ ^[0-9]+$ ]] || user_error "$n" "max_len is a number ($v)"
			u_max_len[$t]="$v" ;;
		seeds) u_seeds[$t]="$(user_path "$n" "$v" -d)" ;;
		dict) u_dict[$t]="$(user_path "$n" "$v")" ;;
		cflags) u_cflags[$t]="${v//,/ }" ;;
		libs) u_libs[$t]="${v//,/ }" ;;
		*) user_error "$n" "unknown key '$k' (glue, sources, rename_main, max_len, seeds, dict, cflags, libs)" ;;
		esac
	done
	if [ -z "${u_glue[$t]}" ] || [ -z "${u_sources[$t]}" ]; then
		user_error "$n" "$t needs glue= and sources="
	fi
	user_targets="${user_targets:+$user_targets }$t"
}
if [ -n "$user_file" ]; then
	[ -f "$user_file" ] || { echo "fuzz/build.sh: no file $user_file (SOCKDRILL_FUZZ_TARGETS_FILE)" >&2; exit 2; }
	user_dir="$(cd "$(dirname "$user_file")" && pwd)"
	lineno=0
	while read -r -a words || [ ${#words[@]} -gt 0 ]; do
		lineno=$((lineno + 1))
		# (blank lines and comments skipped)
		if [ ${#words[@]} -gt 0 ] && [ "${words[0]#\#}" = "${words[0]}" ]; then
			read_user_line "$lineno" "${words[@]}"
		fi
	done <"$user_file"
fi
if [ -z "$targets$user_targets" ]; then
	echo "fuzz/build.sh: no target to build (SOCKDRILL_FUZZ_BUILTIN=0 and no SOCKDRILL_FUZZ_TARGETS_FILE)" >&2
	exit 2
fi
# What the chosen targets need: the instrumented library (the library targets), the
# uninstrumented one with the layer and driver (the server targets), the Q&A example.
need_cov="" need_nocov="$user_targets" need_qa=""
for t in $targets; do
	case "$(target_field "$t" 2)" in
	library) need_cov=1 ;;
	server) need_nocov=1 need_qa=1 ;;
	esac
done
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

cc() { # cc OUTPUT.o SOURCE [extra flags...]: SOURCE relative to the checkout, or absolute
	local o="$1" s="$2"
	shift 2
	echo "  CC $s"
	[ "${s#/}" != "$s" ] || s="$root/$s"
	"$CC" "${cflags[@]}" "$@" -c "$s" -o "$o"
}

# sockdrill's own code in the server targets carries no coverage instrumentation, so their
# coverage is the server's (as CMakeLists.txt's sd__no_coverage does): clang takes the list
# as a flag, afl-clang-fast from its environment (it strips the flag).
ignorelist="$root/fuzz/coverage-ignorelist.txt"
cc_nocov() { # cc_nocov OUTPUT.o SOURCE
	AFL_LLVM_DENYLIST="$ignorelist" cc "$1" "$2" -fsanitize-coverage-ignorelist="$ignorelist" \
		-Wno-unused-command-line-argument
}

mkdir -p "$obj/cov" "$obj/nocov" "$obj/user"
# The library twice: instrumented for the targets that fuzz it, not for the server targets
# (each only when a chosen target needs it).
lib_cov=()
lib_nocov=()
for s in $lib_sources; do
	o="$(echo "$s" | tr / _).o"
	if [ -n "$need_cov" ]; then
		cc "$obj/cov/$o" "$s"
		lib_cov+=("$obj/cov/$o")
	fi
	if [ -n "$need_nocov" ]; then
		cc_nocov "$obj/nocov/$o" "$s"
		lib_nocov+=("$obj/nocov/$o")
	fi
done
layer_objs=()
if [ -n "$need_nocov" ]; then
	for s in $layer_sources; do
		o="$obj/nocov/$(echo "$s" | tr / _).o"
		cc_nocov "$o" "$s"
		layer_objs+=("$o")
	done
fi
if [ -n "$need_qa" ]; then
	# The server targets' servers and glue, instrumented: the Q&A example (example_server's
	# server, and fragile_server's protocol), the oracle.
	cc "$obj/qa.o" examples/qa.c
	cc "$obj/qa_oracle.o" fuzz/qa_oracle.c
	# The fragile server's own source, unchanged but for its main, renamed for the target to call.
	cc "$obj/fragile_server_main.o" examples/fragile_server.c -Dmain=sd_fragile_main
fi

zip_dir() { # zip_dir ZIP DIR: the files of DIR at the top of ZIP
	local z="$1" d="$2"
	rm -f "$z"
	if command -v zip >/dev/null 2>&1; then
		(cd "$d" && zip -q -X "$z" ./*)
	else
		python3 -m zipfile -c "$z" "$d"/*
	fi
}

link() { # link NAME OBJECTS...: $OUT/NAME, with the engine (LIBS: more libraries after them)
	local t="$1"
	shift
	echo "  LD $OUT/$t"
	# shellcheck disable=SC2086 # flag strings split into words
	"$LD" $LDFLAGS_FUZZ "$@" $LIB_FUZZING_ENGINE ${LIBS:-} -lpthread -ldl -o "$OUT/$t"
}

# What goes beside a fuzzer in $OUT, named as OSS-Fuzz and ClusterFuzzLite look for them.
target_files() { # target_files NAME SEEDS_DIR DICT MAX_LEN (empty or - for none)
	local t="$1" seeds="$2" dict="$3" max_len="$4"
	if [ -n "$seeds" ] && [ -d "$seeds" ] && [ -n "$(ls -A "$seeds")" ]; then
		zip_dir "$OUT/${t}_seed_corpus.zip" "$seeds"
	fi
	rm -f "$OUT/$t.dict" "$OUT/$t.options"
	if [ -n "$dict" ] && [ -f "$dict" ]; then
		cp "$dict" "$OUT/$t.dict"
	fi
	# Inputs longer than what a target reads only slow the fuzzer down. The dictionary is
	# found by its name as well; the options say it for engines run by hand.
	{
		if [ "$max_len" != - ] && [ -n "$max_len" ]; then
			echo "max_len = $max_len"
		fi
		if [ -f "$OUT/$t.dict" ]; then
			echo "dict = $t.dict"
		fi
	} >"$obj/options"
	if [ -s "$obj/options" ]; then
		{ echo "[libfuzzer]" && cat "$obj/options"; } >"$OUT/$t.options"
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
	link "$t" "$obj/fuzz_$t.o" "${objs[@]}"
	# (max_len: sim_ops, a seed byte and 64 ops of 4 bytes; sim_vs_kernel: 30 ops of 4 bytes;
	# the servers: 12 bytes, 4 clients of <= 102.)
	target_files "$t" "$root/corpus/$t" "$root/fuzz/$t.dict" "$(target_field "$t" 3)"
done

# The project's own server targets, as sockdrill_add_server_fuzzer builds them: the glue and
# the server's sources instrumented (its main renamed for the whole target), against the
# uninstrumented layer, driver and library.
for t in $user_targets; do
	mkdir -p "$obj/user/$t"
	# shellcheck disable=SC2206 # the project's flags, one word each
	extra=(${u_cflags[$t]} ${u_main[$t]:+-Dmain=${u_main[$t]}})
	objs=()
	i=0
	for s in ${u_glue[$t]} ${u_sources[$t]}; do
		i=$((i + 1))
		o="$obj/user/$t/$i-$(basename "$s").o"
		cc "$o" "$s" "${extra[@]}"
		objs+=("$o")
	done
	LIBS="${u_libs[$t]}" link "$t" "${objs[@]}" "${layer_objs[@]}" "${lib_nocov[@]}"
	target_files "$t" "${u_seeds[$t]}" "${u_dict[$t]}" "${u_max_len[$t]}"
done
# shellcheck disable=SC2086 # the names, one word each
echo "built:" $targets $user_targets "-> $OUT"
