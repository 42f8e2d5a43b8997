#!/bin/sh
# End-to-end tests: tests/e2e/run.sh BIN
# Runs every tests/e2e/*.test.mjs with node's test runner against BIN, once as the current user and,
# when that is root, once more as nobody (uid 65534) with a data dir that user can write.
set -u
if [ $# -lt 1 ]; then echo "usage: $0 path/to/mcpbox" >&2; exit 2; fi
BIN=$(realpath "$1") || exit 2
[ -x "$BIN" ] || { echo "e2e: $BIN is not executable" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
TESTS=$(cd "$HERE/.." && pwd)
if [ ! -d "$TESTS/node_modules/@modelcontextprotocol/sdk" ]; then
	echo "e2e: npm packages missing; run 'make deps' (or npm ci in tests/)" >&2
	exit 2
fi
# Node's runner: one file at a time (the tests measure latency), a hard cap per test.
# slower builds (make asan) raise these
TEST_TIMEOUT_MS=${E2E_TEST_TIMEOUT_MS:-120000}
PASS_TIMEOUT_S=${E2E_PASS_TIMEOUT_S:-1800}
NODE_TEST="node --test --test-concurrency=1 --test-timeout=$TEST_TIMEOUT_MS --test-reporter=spec"
# serve.test.mjs drives WebSocket clients: Node 20 has a global WebSocket only behind a flag (default from 22).
if ! node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null &&
	node --experimental-websocket -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then
	NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--experimental-websocket --no-warnings=ExperimentalWarning"
	export NODE_OPTIONS
fi
FILES=$(ls "$HERE"/*.test.mjs)
[ -n "${E2E_ONLY:-}" ] && FILES=$(ls "$HERE"/*.test.mjs | grep -E "$E2E_ONLY")
status=0
cleanup=""
trap 'rm -rf $cleanup' EXIT INT TERM

# Servers a test file left running (a test that timed out never ran its after() hook): they would
# hold sessions, browsers and ports into the next files and passes. Every server of a pass has its
# data dir under the pass's, so its command line names it.
reap() { # data-dir
	pkill -TERM -f -- "--data $1/" 2>/dev/null || return 0
	echo "# e2e: stopped servers left running under $1"
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		pgrep -f -- "--data $1/" >/dev/null || return 0
		sleep 1
	done
	pkill -KILL -f -- "--data $1/" 2>/dev/null
	return 0
}

pass() { # user data-dir command...
	user=$1; data=$2; shift 2
	echo "# e2e: running as $user (data dir $data)"
	start=$(date +%s)
	# timeout: a hung server must not hang CI (a pass takes 6 to 10 minutes on a 2-core machine)
	if timeout -k 10 "$PASS_TIMEOUT_S" "$@" env MCPBOX_BIN="$BIN" MCPBOX_DATA="$data" MCPBOX_TEST_USER="$user" $NODE_TEST $FILES; then
		echo "# e2e: pass as $user OK ($(( $(date +%s) - start )) s)"
	else
		echo "# e2e: pass as $user FAILED ($(( $(date +%s) - start )) s)"
		status=1
	fi
	reap "$data"
}

cd "$TESTS"
if [ "$(id -u)" -eq 0 ]; then
	d=$(mktemp -d /tmp/mcpbox-e2e-root.XXXXXX); cleanup="$cleanup $d"
	pass root "$d"
	if [ -z "${E2E_SKIP_NOBODY:-}" ]; then
		d=$(mktemp -d /tmp/mcpbox-e2e-nobody.XXXXXX); cleanup="$cleanup $d"
		chown 65534:65534 "$d"
		AS_NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp"
		# The checkout may sit where nobody can't reach it (e.g. under /root): then run a copy.
		if ! $AS_NOBODY sh -c "test -r '$HERE/helpers.mjs' && test -x '$BIN' && test -r '$TESTS/node_modules/@modelcontextprotocol/sdk/package.json'"; then
			c=$(mktemp -d /tmp/mcpbox-e2e-copy.XXXXXX); cleanup="$cleanup $c"
			mkdir -p "$c/tests"
			cp -a "$TESTS/e2e" "$TESTS/node_modules" "$TESTS/package.json" "$c/tests/"
			cp "$BIN" "$c/mcpbox"
			cp "$(dirname "$BIN")"/mcpbox-*.so "$c/"	# modules sit beside the binary
			chmod -R a+rX "$c"
			echo "# e2e: $HERE is not readable by nobody; running a copy in $c"
			BIN="$c/mcpbox"; HERE="$c/tests/e2e"
			FILES=$(for f in $FILES; do echo "$HERE/$(basename "$f")"; done)
			cd "$c/tests"
		fi
		pass nobody "$d" $AS_NOBODY
	fi
else
	d=$(mktemp -d /tmp/mcpbox-e2e-user.XXXXXX); cleanup="$cleanup $d"
	pass "$(id -un)" "$d"
fi
exit $status
