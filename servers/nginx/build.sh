#!/usr/bin/env bash
# Builds nginx (Debian bookworm, 1.22) for the in-process fuzzer with its own ./configure, as
# debian/rules does, but minimal: no module that needs a library (PCRE for rewrite, zlib for
# gzip, OpenSSL), none that makes temp paths of its own (proxy, fastcgi, uwsgi, scgi, grpc),
# no dynamic modules, no threads. The glue runs it with `master_process off; daemon off;`:
# one process, one thread, epoll.
set -euo pipefail
: "${SRC:?}" "${OUT:?}" "${CC:?}" "${JOBS:=2}"
cd "$SRC"
# Configure afresh only when the compiler or flags change, so a re-run is incremental.
want="$CC|${CFLAGS:-}|${LDFLAGS:-}|nonaligned=0"
if [ ! -f objs/Makefile ] || [ "$(cat objs/.sd-configured 2>/dev/null)" != "$want" ]; then
	rm -rf objs
	# CFLAGS in the environment would replace nginx's own warning flags (auto/cc/conf):
	# the engine's flags go in --with-cc-opt only, as debian/rules passes its own.
	# NGX_HAVE_NONALIGNED=0: the HTTP parser (and MD5) read bytes one by one, as nginx
	# builds for machines without unaligned access, instead of misaligned 32-bit loads that
	# UBSan stops at on every pipelined request (docs/server-findings.md).
	env -u CFLAGS -u LDFLAGS ./configure --with-cc="$CC" \
		--with-cc-opt="${CFLAGS:-} -DNGX_HAVE_NONALIGNED=0" --with-ld-opt="${LDFLAGS:-}" \
		--without-pcre --without-http_rewrite_module --without-http_gzip_module \
		--without-http_proxy_module --without-http_fastcgi_module \
		--without-http_uwsgi_module --without-http_scgi_module --without-http_grpc_module \
		--without-http-cache --without-select_module --without-poll_module \
		>"$OUT/configure.log" 2>&1 || { tail -n 30 "$OUT/configure.log" >&2; exit 1; }
	printf '%s' "$want" >objs/.sd-configured
fi
make -f objs/Makefile -j"$JOBS" binary >"$OUT/make.log" 2>&1 ||
	{ tail -n 30 "$OUT/make.log" >&2; exit 1; }
# The program is every object the Makefile made (ngx_modules.o and objs/src/**.o, nginx.o
# with main among them); its libraries are the -l flags of its link line.
find "$SRC/objs" -name '*.o' | LC_ALL=C sort >"$OUT/objects.txt"
grep -q '/objs/src/core/nginx\.o$' "$OUT/objects.txt" || { echo "build.sh: no nginx.o" >&2; exit 1; }
libs=$(sed -n '/-o objs\/nginx/,/^$/p' objs/Makefile | tr -s ' \t\\' '\n' | grep -- '^-l' || true)
echo $libs >"$OUT/libs.txt"
