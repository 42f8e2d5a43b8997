#!/bin/sh
# Benchmarks: tests/bench/run.sh BIN   (env BENCH_N=200 iterations, BENCH_SPAWN_RUNS=20)
# Prints a markdown table and writes docs/benchmarks.md.
set -eu
if [ $# -lt 1 ]; then echo "usage: $0 path/to/mcpbox" >&2; exit 2; fi
BIN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$HERE/../node_modules/@modelcontextprotocol/sdk" ]; then
	echo "bench: npm packages missing; run 'make deps' (or npm ci in tests/)" >&2
	exit 2
fi
DATA=$(mktemp -d /tmp/mcpbox-bench.XXXXXX)
trap 'rm -rf "$DATA"' EXIT INT TERM
node "$HERE/bench.mjs" "$BIN" --data "$DATA"
