#!/usr/bin/env bash
# Builds the mosquitto broker (Debian bookworm) for the in-process fuzzer with its own CMake
# build, as debian/rules does, but with the features that need libraries off (TLS, websockets,
# systemd, DLT, cJSON, SRV, libwrap, ADNS) and only the broker target (src/, no clients, apps,
# plugins or docs). uthash comes from the source's deps/ (WITH_BUNDLED_DEPS).
set -euo pipefail
: "${SRC:?}" "${OUT:?}" "${CC:?}" "${JOBS:=2}"
B="$SRC/sd-build"
# Configure afresh only when the compiler or flags change, so a re-run is incremental.
want="$CC|${CFLAGS:-}|${LDFLAGS:-}"
if [ ! -f "$B/CMakeCache.txt" ] || [ "$(cat "$B/.sd-configured" 2>/dev/null)" != "$want" ]; then
	rm -rf "$B"
	mkdir -p "$B"
	CC="$CC" CFLAGS="${CFLAGS:-}" LDFLAGS="${LDFLAGS:-}" cmake -S "$SRC" -B "$B" \
		-DCMAKE_BUILD_TYPE=None -DWITH_BUNDLED_DEPS=ON -DWITH_TLS=OFF -DWITH_TLS_PSK=OFF \
		-DWITH_EC=OFF -DWITH_WEBSOCKETS=OFF -DWITH_SYSTEMD=OFF -DWITH_DLT=OFF -DWITH_CJSON=OFF \
		-DWITH_SRV=OFF -DUSE_LIBWRAP=OFF -DWITH_ADNS=OFF -DWITH_CLIENTS=OFF -DWITH_APPS=OFF \
		-DWITH_PLUGINS=OFF -DDOCUMENTATION=OFF >"$OUT/configure.log" 2>&1 ||
		{ tail -n 30 "$OUT/configure.log" >&2; exit 1; }
	printf '%s' "$want" >"$B/.sd-configured"
fi
cmake --build "$B" --target mosquitto -j"$JOBS" >"$OUT/make.log" 2>&1 ||
	{ tail -n 30 "$OUT/make.log" >&2; exit 1; }
# The broker's objects and libraries are the ones its link line names (relative to src/).
link="$B/src/CMakeFiles/mosquitto.dir/link.txt"
: >"$OUT/objects.txt"
libs=""
for t in $(cat "$link"); do
	case $t in
	*.o) echo "$B/src/$t" >>"$OUT/objects.txt" ;;
	-l*) libs="$libs $t" ;;
	esac
done
[ -s "$OUT/objects.txt" ] || { echo "build.sh: no objects in $link" >&2; exit 1; }
echo "${libs# }" >"$OUT/libs.txt"
