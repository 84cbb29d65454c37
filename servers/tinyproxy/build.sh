#!/usr/bin/env bash
# Builds tinyproxy (Debian bookworm) for the in-process fuzzer: Debian's own configure
# options (debian/rules), the engine's compiler and flags, only the program in src/.
# tinyproxy 1.11 runs one thread per connection (src/child.c), so it is one process as built.
set -euo pipefail
: "${SRC:?}" "${OUT:?}" "${CC:?}" "${JOBS:=2}"
cd "$SRC"
# hsearch.c computes `elems + mask + 1` on a NULL table for every connection (a tinyproxy bug:
# docs/server-findings.md, "Pointer arithmetic on NULL in hsearch.c"): UBSan's pointer-overflow
# check would stop every input there, so that one check is off for this server.
CFLAGS="${CFLAGS:-} -fno-sanitize=pointer-overflow"
# Reconfigure only when the compiler or flags change, so a re-run is incremental.
want="$CC|$CFLAGS|${LDFLAGS:-}"
if [ ! -f src/Makefile ] || [ "$(cat .sd-configured 2>/dev/null)" != "$want" ]; then
	[ -f Makefile ] && make distclean >/dev/null 2>&1 || true
	./configure --enable-filter --enable-reverse --enable-upstream --enable-xtinyproxy \
		--disable-manpage_support CC="$CC" CFLAGS="$CFLAGS" LDFLAGS="${LDFLAGS:-}" \
		>"$OUT/configure.log" 2>&1 || { tail -n 30 "$OUT/configure.log" >&2; exit 1; }
	printf '%s' "$want" >.sd-configured
fi
make -C src -j"$JOBS" tinyproxy >"$OUT/make.log" 2>&1 || { tail -n 30 "$OUT/make.log" >&2; exit 1; }
# The program's objects are the ones its link line names: src/tinyproxy-*.o or src/*.o,
# plus the optional features' objects (filter.o, reverse-proxy.o, transparent-proxy.o).
objs=$(make -C src -s -f Makefile -f - print-objs <<'MK'
print-objs:
	@echo $(tinyproxy_OBJECTS) $(tinyproxy_LDADD)
MK
)
: >"$OUT/objects.txt"
for o in $objs; do
	case $o in
	*.o) echo "$SRC/src/$o" >>"$OUT/objects.txt" ;;
	esac
done
echo "-lpthread" >"$OUT/libs.txt"
