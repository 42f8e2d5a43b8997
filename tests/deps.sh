#!/bin/sh
# Install what the build, the runtime and the tests need; quiet when all is there.
# Debian packages come from apt, the test clients from npm (pinned by tests/package-lock.json).
set -e
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing$missing"
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ -n "${DEPS_NO_NPM:-}" ] && exit 0	# make run: no test clients
# test clients (tests/), the conformance suite with its Node 22 (tests/conformance/), playwright-core (tests/display/),
# client libraries other than the official SDK (tests/clients/)
for dir in "$(dirname "$0")" "$(dirname "$0")/conformance" "$(dirname "$0")/display" "$(dirname "$0")/clients"; do
	(
		cd "$dir" || exit 1
		if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
			echo "deps: installing npm packages in $dir"
			npm ci --silent --no-audit --no-fund >/dev/null
		fi
	) || exit 1
done
