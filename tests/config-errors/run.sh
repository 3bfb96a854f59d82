#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Broken topologies: each NN-name/ directory holds only what differs from
# base/ (whole files that replace base's, plus optional "remove": paths to
# delete, one per line, and "args": options for validate, default
# "--platform host"). The case is built in a scratch directory, validated as
# `bulkhead validate ARGS NN-name` from there, and must print exactly the
# lines in "expected" and exit 1. base/, configs/demo and configs/examples
# must validate cleanly.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bh=${BH_BULKHEAD:-$root/build/bulkhead}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); printf '  ok    %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf '  FAIL  %s\n' "$1"; }

expect_clean() {
	local dir=$1 args=$2 out rc
	out=$(cd "$(dirname "$dir")" && "$bh" validate $args "$(basename "$dir")" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && [ "$out" = "configuration OK" ]; then
		ok "$dir $args"
	else
		bad "$dir $args (exit $rc)"
		printf '%s\n' "$out" | sed 's/^/        /'
	fi
}

build_case() {
	local src=$1 dst=$2 f
	cp -r "$here/base" "$dst"
	(cd "$src" && find . -type f ! -name expected ! -name args ! -name remove) |
		while read -r f; do
			mkdir -p "$dst/$(dirname "$f")"
			cp "$src/$f" "$dst/$f"
		done
	if [ -f "$src/remove" ]; then
		while read -r f; do
			[ -n "$f" ] && rm -rf "${dst:?}/$f"
		done <"$src/remove"
	fi
}

expect_clean "$here/base" "--platform host"
expect_clean "$here/base" "--platform xen"
expect_clean "$root/configs/demo" "--platform host"
expect_clean "$root/configs/examples" "--platform host"

for src in "$here"/[0-9][0-9]-*/; do
	src=${src%/}
	name=$(basename "$src")
	if [ ! -f "$src/expected" ]; then
		bad "$name (no expected file)"
		continue
	fi
	build_case "$src" "$tmp/$name"
	args="--platform host"
	[ -f "$src/args" ] && args=$(cat "$src/args")
	actual=$(cd "$tmp" && "$bh" validate $args "$name" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && [ "$actual" = "$(cat "$src/expected")" ]; then
		ok "$name"
	else
		bad "$name (exit $rc)"
		diff -u "$src/expected" <(printf '%s\n' "$actual") | tail -n +3 | sed 's/^/        /'
	fi
done

echo "config-errors: $pass passed, $fail failed"
[ $fail -eq 0 ]
