#!/bin/sh
# Benchmarks: tests/bench/run.sh BIN   (bench.mjs runs the sections of wrk.mjs, compat.mjs (REST dialect overhead), rl.mjs, display.mjs too; env BENCH_N=200 iterations, BENCH_SPAWN_RUNS=20,
#   BENCH_CLIENTS=64 and BENCH_LOAD_MS=3000 for the serve throughput runs, BENCH_IDLE_WS=200;
#   BENCH_ONLY=serve prints just the serve section and leaves docs/benchmarks.md alone)
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
# the serve benchmarks use the SDK's WebSocket client: Node 20 has a global WebSocket only behind a flag
WS_FLAG=""
if ! node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null &&
	node --experimental-websocket -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then
	WS_FLAG="--experimental-websocket --no-warnings=ExperimentalWarning"
fi
node $WS_FLAG "$HERE/bench.mjs" "$BIN" --data "$DATA"
