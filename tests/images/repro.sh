#!/bin/bash
# SPDX-License-Identifier: MIT
#
# `make images` is reproducible: build everything it puts into the images
# twice, from two checkouts at different paths into two different build
# directories, under different umasks, and require the same bytes
# (SHA256SUMS and every file). The daemons are compiled twice too, so a
# build path leaking into them (or into the archives) fails the test.
#
#   tests/images/repro.sh DIR CACHE    (what `make check-images` runs)
#
# DIR gets src/ (a copy of the checkout's files, built in src/build) and
# other/checkout/bulkhead (a copy of that, built in out-b/); CACHE is the
# Debian package cache both builds share (scripts/fetch-debs.sh; downloaded
# once). On a difference, the differing files are named and, for an
# archive, the members that differ.
set -euo pipefail

usage="usage: repro.sh DIR CACHE"
dir=${1:?$usage}
cache=$(realpath "${2:?$usage}")
top=$(dirname "$(dirname "$(dirname "$(realpath "$0")")")")
start=$(date +%s)

rm -rf "$dir"
mkdir -p "$dir/src"
dir=$(realpath "$dir")
# Both builds get the same epoch, whether or not they can see a git checkout.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH

# The checkout's files as they are now (committed or not), copied once, then
# that copy again at a different path (and depth), so that both builds see
# the same files even if the checkout changes meanwhile.
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	tar -c --null -T - -f -) | tar -x -C "$dir/src"
mkdir -p "$dir/other/checkout"
cp -a "$dir/src" "$dir/other/checkout/bulkhead"

build() {
	local name=$1 mask=$2 tree=$3 o=$4
	echo "repro: build $name: $tree, O=$o, umask $mask"
	(umask "$mask" && make -C "$tree" --no-print-directory -j2 O="$o" DEB_CACHE="$cache" images) \
		>"$dir/$name.log" 2>&1 || { tail -n 30 "$dir/$name.log"; echo "repro: build $name failed"; exit 1; }
}
build a 022 "$dir/src" "$dir/src/build"
build b 077 "$dir/other/checkout/bulkhead" "$dir/out-b"

# Which members of two archives differ: in metadata (cpio -tv) or content.
explain() {
	local x
	for x in a b; do
		rm -rf "$dir/x-$x"
		mkdir -p "$dir/x-$x"
	done
	(cd "$dir/x-a" && cpio -id --quiet <"$1")
	(cd "$dir/x-b" && cpio -id --quiet <"$2")
	diff <(cpio -itv --quiet <"$1") <(cpio -itv --quiet <"$2") | head -n 20 || true
	diff -r "$dir/x-a" "$dir/x-b" | head -n 20 || true
}

a=$dir/src/build/images
b=$dir/out-b/images
fail=0
for f in SHA256SUMS vmlinuz netdom.cpio stordom.cpio vtpm.cpio guest.cpio; do
	if [ ! -s "$a/$f" ] || [ ! -s "$b/$f" ]; then
		echo "repro: $f missing from a build"
		fail=1
	elif ! cmp -s "$a/$f" "$b/$f"; then
		echo "repro: $f differs"
		fail=1
		case $f in
		*.cpio) explain "$a/$f" "$b/$f" ;;
		esac
	fi
done
echo "repro: SHA256SUMS of build a:"
sed 's/^/  /' "$a/SHA256SUMS"
if [ $fail = 0 ]; then
	echo "repro: PASS: both builds gave the same bytes ($(($(date +%s) - start)) s)"
	echo "images-repro: 6 passed, 0 failed"
	exit 0
fi
echo "repro: FAIL ($(($(date +%s) - start)) s)"
echo "images-repro: 0 passed, 1 failed"
exit 1
