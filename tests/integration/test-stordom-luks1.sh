#!/bin/bash
# SPDX-License-Identifier: MIT
#
# LUKS1 interop with a LUKS implementation that is not ours: an image made by
# cryptsetup, written through nbdkit's luks filter, reads back identical
# through stordomd; and what stordomd writes reads back identical through
# nbdkit's luks filter.
set -u
B=${BH_BUILD:-build}
SD=$B/stordomd
CTL=$B/tests/unit/stordom/helper-storctl
for t in nbdkit nbdcopy cryptsetup; do
	command -v $t >/dev/null || { echo "SKIP: $t missing (scripts/install-deps.sh)"; exit 77; }
done
TMP=$(mktemp -d /tmp/bh-stordom1.XXXXXX)
PID=
fails=0
cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	[ -f "$TMP/nbdkit.pid" ] && kill "$(cat "$TMP/nbdkit.pid")" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
. "$(dirname "$0")/lib-check.sh"

nbdkit_start() {
	rm -f "$TMP/nbdkit.pid" "$TMP/kit.sock"
	nbdkit -U "$TMP/kit.sock" -P "$TMP/nbdkit.pid" --filter=luks file "$TMP/v1.img" \
		passphrase=+"$TMP/pass" || { bad "nbdkit start"; exit 1; }
	for _ in $(seq 50); do [ -S "$TMP/kit.sock" ] && return 0; sleep 0.1; done
	bad "nbdkit did not listen"; exit 1
}
nbdkit_stop() {
	local p
	p=$(cat "$TMP/nbdkit.pid")
	kill "$p"
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	rm -f "$TMP/nbdkit.pid"
}

KIT="nbd+unix:///?socket=$TMP/kit.sock"
OURS="nbd+unix:///?socket=$TMP/v1.sock"
printf 'correct horse battery staple' >"$TMP/pass"
truncate -s 64M "$TMP/v1.img"
cryptsetup luksFormat --batch-mode --type luks1 --pbkdf-force-iterations 1000 \
	--key-file "$TMP/pass" "$TMP/v1.img" || { bad "luksFormat"; exit 1; }

# nbdkit writes, stordom reads.
head -c 32M /dev/urandom >"$TMP/a.bin"
nbdkit_start
size_kit=$(nbdinfo --size "$KIT")
nbdcopy --flush "$TMP/a.bin" "$KIT" || bad "nbdcopy into nbdkit"
nbdkit_stop

"$SD" --listen "$TMP" --control "$TMP/ctl" 2>"$TMP/stordomd.log" &
PID=$!
for _ in $(seq 50); do [ -S "$TMP/ctl" ] && break; sleep 0.1; done
$CTL "$TMP/ctl" open v1 "$TMP/v1.img" "$TMP/pass" || { bad "stordom open LUKS1"; exit 1; }
[ "$(nbdinfo --size "$OURS")" = "$size_kit" ] && ok "same export size as nbdkit ($size_kit)" ||
	bad "size differs from nbdkit's $size_kit"
nbdcopy "$OURS" - | head -c 32M | cmp -s - "$TMP/a.bin" &&
	ok "written through nbdkit luks, read through stordom" || bad "stordom reads other data"

# stordom writes, nbdkit reads.
head -c 32M /dev/urandom >"$TMP/b.bin"
nbdcopy --flush "$TMP/b.bin" "$OURS" || bad "nbdcopy into stordom"
$CTL "$TMP/ctl" close v1 >/dev/null || bad "close"
nbdkit_start
nbdcopy "$KIT" - | head -c 32M | cmp -s - "$TMP/b.bin" &&
	ok "written through stordom, read through nbdkit luks" || bad "nbdkit reads other data"
nbdkit_stop

kill -TERM "$PID"
rc=0; wait "$PID" || rc=$?
PID=
[ $rc = 0 ] || bad "stordomd exit status $rc"
[ $fails = 0 ] || { echo "$fails failure(s)"; cat "$TMP/stordomd.log"; exit 1; }
echo "LUKS1 interop with nbdkit passed"
