#!/bin/bash
# lighttpd for the in-process fuzzer (servers/README: SRC, OUT, CC, CFLAGS, LDFLAGS, JOBS).
# Debian builds it with autotools; so does this, with its static-modules switch
# (LIGHTTPD_STATIC=yes: the modules named in plugin-static.h are compiled into the binary
# instead of being dlopen()ed) and with every feature that needs a library switched off.
set -euo pipefail

# http_header_hkey_get() forms `http_headers + i` before it checks i != -1, for a header name
# of a length no known header has (a lighttpd bug: docs/server-findings.md, "An array index of
# -1 in http_header.c"); UBSan's array-bounds check would stop such inputs there, so that one
# check is off for this server (ASan still sees any access out of bounds).
CFLAGS="${CFLAGS:-} -fno-sanitize=array-bounds"
B="$SRC/sd-build"
# Configure afresh when the compiler or flags change, so a re-run is otherwise incremental.
want="$CC|$CFLAGS|${LDFLAGS:-}"
if [ "$(cat "$B/.sd-configured" 2>/dev/null)" != "$want" ]; then
	rm -rf "$B"
fi
mkdir -p "$B"
cd "$B"
# The modules the glue's config loads; lighttpd adds indexfile, dirlisting and staticfile
# by itself. plugin.c includes this file twice (declarations, then the table).
modules="mod_access mod_alias mod_setenv mod_status mod_indexfile mod_dirlisting
mod_staticfile"
mkdir -p src
{
	for m in $modules; do echo "PLUGIN_INIT($m)"; done
} >src/plugin-static.h.new
cmp -s src/plugin-static.h.new src/plugin-static.h 2>/dev/null || mv src/plugin-static.h.new src/plugin-static.h
rm -f src/plugin-static.h.new

if [ ! -f Makefile ]; then
	LIGHTTPD_STATIC=yes "$SRC/configure" --disable-shared --enable-static \
		--without-pcre2 --without-pcre --without-zlib --without-zstd --without-bzip2 \
		--without-brotli --without-libdeflate --without-openssl --without-xxhash \
		--without-lua --without-maxminddb --without-webdav-props --without-webdav-locks \
		--without-libunwind --without-fam --without-attr \
		CC="$CC" CFLAGS="$CFLAGS" LDFLAGS="$LDFLAGS" >configure.log 2>&1 ||
		{ tail -30 configure.log >&2; exit 1; }
	printf '%s' "$want" >.sd-configured
fi
# BUILT_SOURCES (versionstamp.h, the config parser) first: naming the target skips them.
make -C src -j"$JOBS" parsers versionstamp >make.log 2>&1 || { tail -40 make.log >&2; exit 1; }
make -C src -j"$JOBS" lighttpd >>make.log 2>&1 || { tail -40 make.log >&2; exit 1; }

# The program's objects: automake names them lighttpd-<source>.o (per-target CPPFLAGS).
find "$B/src" -name 'lighttpd-*.o' | LC_ALL=C sort >"$OUT/objects.txt"
grep -q 'lighttpd-server\.o$' "$OUT/objects.txt" || { echo "build.sh: no server.o" >&2; exit 1; }
# What the Makefile links lighttpd with besides its objects (-lcrypt, ... as configure found).
printf 'sd-libs:\n\t@echo $(lighttpd_LDADD) $(LIBS)\n' |
	make -s -C src -f Makefile -f - sd-libs >"$OUT/libs.txt"
