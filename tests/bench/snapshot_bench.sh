#!/bin/sh
# Build and run the snapshot benchmark (tests/bench/snapshot_bench.c) against the
# program's own objects; prints a markdown table. Usage: snapshot_bench.sh [BUILD] [args...]
set -e
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
[ $# -gt 0 ] && shift
make --no-print-directory -s BUILD="$BUILD" "$BUILD/bench/snapshot_bench" >/dev/null
exec "$BUILD/bench/snapshot_bench" "$@"
