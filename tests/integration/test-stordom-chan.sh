#!/bin/bash
# SPDX-License-Identifier: MIT
#
# NBD over a bulkhead channel: stordomd serves a volume on a memfd channel
# (one mux stream per NBD connection); a guest-side bridge (helper-changuest)
# turns it back into a unix socket. nbdinfo, nbdcopy and fio talk to the
# guest's socket; what they write reads back the same through the channel and
# through stordomd's own unix socket; both ends exit cleanly.
set -u
B=${BH_BUILD:-build}
SD=$B/stordomd
CTL=$B/tests/unit/stordom/helper-storctl
GUEST=$B/tests/unit/stordom/helper-changuest
for t in nbdinfo nbdcopy fio; do
	command -v $t >/dev/null || { echo "SKIP: $t missing (scripts/install-deps.sh)"; exit 77; }
done
TMP=$(mktemp -d /tmp/bh-stordomc.XXXXXX)
PID= GPID=
fails=0
cleanup() {
	[ -n "$GPID" ] && kill -9 "$GPID" 2>/dev/null
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
. "$(dirname "$0")/lib-check.sh"

head -c 48 /dev/urandom >"$TMP/key"
"$SD" --listen "$TMP" --control "$TMP/ctl" --channel "$TMP/chan=vol1" 2>"$TMP/stordomd.log" &
PID=$!
for _ in $(seq 50); do [ -S "$TMP/ctl" ] && [ -S "$TMP/chan" ] && break; sleep 0.1; done
$CTL "$TMP/ctl" open vol1 "$TMP/v.img" "$TMP/key" create 128M test-kdf >/dev/null ||
	{ bad "create"; exit 1; }
"$GUEST" "$TMP/chan" "$TMP/guest.sock" 2>"$TMP/guest.log" &
GPID=$!
for _ in $(seq 50); do [ -S "$TMP/guest.sock" ] && break; sleep 0.1; done

G="nbd+unix:///?socket=$TMP/guest.sock"
D="nbd+unix:///?socket=$TMP/vol1.sock"
[ "$(nbdinfo --size "$G")" = 134217728 ] && ok "nbdinfo over the channel: 128 MiB" ||
	bad "nbdinfo over the channel"
head -c 64M /dev/urandom >"$TMP/in.bin"
nbdcopy --flush "$TMP/in.bin" "$G" || bad "nbdcopy into the channel"
nbdcopy "$G" - | head -c 64M | cmp -s - "$TMP/in.bin" &&
	ok "nbdcopy 64 MiB in and out over the channel (4 connections = 4 mux streams)" ||
	bad "channel round trip differs"
nbdcopy "$D" - | head -c 64M | cmp -s - "$TMP/in.bin" &&
	ok "the same data through stordomd's own socket" || bad "direct read differs"
if fio --name=v --ioengine=nbd --uri="$G" --rw=randwrite --bs=4k --iodepth=16 --size=8M \
	--verify_state_save=0 --verify=crc32c --do_verify=1 --verify_fatal=1 --output="$TMP/fio.out" >/dev/null 2>&1 &&
	grep -q 'err= 0' "$TMP/fio.out"; then
	ok "fio nbd over the channel, verify=crc32c"
else
	bad "fio over the channel"; cat "$TMP/fio.out"
fi

kill -TERM "$GPID"
rc=0; wait "$GPID" || rc=$?
GPID=
[ $rc = 0 ] && ok "guest bridge exits cleanly" || { bad "guest bridge exit $rc"; cat "$TMP/guest.log"; }
kill -TERM "$PID"
rc=0; wait "$PID" || rc=$?
PID=
[ $rc = 0 ] && ok "stordomd exits cleanly" || { bad "stordomd exit $rc"; cat "$TMP/stordomd.log"; }
[ $fails = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "NBD over the channel passed"
