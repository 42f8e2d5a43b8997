#!/bin/sh
# "A folder depends only on the folders below it" (docs/architecture.md), checked:
# every #include "..." of a folder's sources must resolve into that folder or one
# listed before it here. Run by `make unit`.
set -e
cd "$(dirname "$0")/.."
LAYERS="server/base sessions transport vnc proxy kernel tools fixtures server/rest server"
bad=0
below=""
for d in $LAYERS; do
	below="$below $d"
	for f in "$d"/*.c "$d"/*.h; do
		[ -e "$f" ] || continue
		for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
			dir=$(dirname "$(realpath -m --relative-to=. "$d/$inc")")
			ok=0
			for b in $below; do [ "$dir" = "$b" ] && ok=1; done
			if [ $ok = 0 ]; then
				echo "layers: $f includes $inc ($dir is not below $d)" >&2
				bad=1
			fi
		done
	done
done
[ $bad = 0 ] && echo "layers: every folder includes only itself and the folders below it ($LAYERS)"
exit $bad
