#!/bin/sh
# Build and run the snapshot benchmark (tests/bench/snapshot_bench.c) against the
# program's own objects; prints a markdown table. Usage: snapshot_bench.sh [BUILD] [args...]
set -e
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
[ $# -gt 0 ] && shift
make --no-print-directory -s BUILD="$BUILD" "$BUILD/mcpbox" >/dev/null
PKGS=$(make -pn -f Makefile 2>/dev/null | sed -n 's/^PKGS := //p' | head -1)
objs=$(ls "$BUILD"/obj/*/*.o | grep -v "/server/main.o")
mkdir -p "$BUILD/bench"
cc -O2 -g -std=gnu11 -D_GNU_SOURCE -I. $(pkg-config --cflags $PKGS) -o "$BUILD/bench/snapshot_bench" \
	tests/bench/snapshot_bench.c $objs $(pkg-config --libs $PKGS) -lpthread
exec "$BUILD/bench/snapshot_bench" "$@"
