#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Control over a channel: each daemon started with `--control-chan fd:3`, as
# dom0 starts service domains on the host platform. helper-chanctl holds the
# memfd channel's server end and carries one client connection over it; the
# same control clients as elsewhere (and then nft, nbdinfo, tpm2-tools) show
# that what went through the channel took effect.
set -u
B=${BH_BUILD:-build}
CHANCTL=$B/tests/unit/common/helper-chanctl
POL=$B/tests/unit/netdom/helper-ndpolicy
STORCTL=$B/tests/unit/stordom/helper-storctl
VTPMCTL=$B/tests/unit/vtpm/helper-vtpmctl
TMP=$(mktemp -d /tmp/bh-ctlchan.XXXXXX)
NS=bhcc$$
HPID=
fails=0
cleanup() {
	[ -n "$HPID" ] && kill "$HPID" 2>/dev/null && wait "$HPID" 2>/dev/null
	ip netns del $NS 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
. "$(dirname "$0")/lib-check.sh"

# start NAME PROGRAM ARGS...: the daemon behind a channel; waits for the socket
start() {
	local name=$1; shift
	"$CHANCTL" "$TMP/$name.sock" "$@" 2>"$TMP/$name.log" &
	HPID=$!
	for _ in $(seq 100); do [ -S "$TMP/$name.sock" ] && return 0; sleep 0.05; done
	bad "$name: helper did not come up"; cat "$TMP/$name.log"; return 1
}
# finish NAME: stop the helper and its daemon; both must end cleanly
finish() {
	local rc=0
	kill -TERM "$HPID"
	wait "$HPID" || rc=$?
	HPID=
	[ $rc = 0 ] && ok "$1: session ended, daemon exited cleanly" ||
		{ bad "$1: helper/daemon exit $rc"; cat "$TMP/$1.log"; }
}

# --- netdomd: a policy sent through the channel is in the kernel ---
if [ "$(id -u)" = 0 ] && command -v nft >/dev/null; then
	ip netns add $NS || exit 1
	$POL write "$TMP/p1" 1 "zone web" "guest g1 web vif1.0 00:16:3e:00:00:01 10.82.1.2" \
		"rule 1 g=g1 self tcp 22 accept" || exit 1
	start netdom "$B/netdomd" --netns $NS --control "$TMP/nd.ctl" --control-chan fd:3 &&
		out=$($POL send "$TMP/netdom.sock" "$TMP/p1") && [[ $out == *"gen=1 status=0"* ]] &&
		ok "netdomd: policy over the channel applied ($out)" || bad "netdomd: policy: ${out:-}"
	ip netns exec $NS nft list table inet bulkhead | grep -q 'tcp \. 22 : accept' &&
		ok "nft shows the rule sent over the channel" || bad "nft: rule missing"
	out=$($POL counters "$TMP/netdom.sock") && [[ $out == *"generation 1"* ]] &&
		ok "a second control session on the same channel (counters, gen=1)" ||
		bad "counters over the channel: ${out:-}"
	finish netdom
	ip netns del $NS
else
	echo "skip: netdomd part needs root and nft"
fi

# --- stordomd: a volume opened through the channel serves NBD ---
head -c 48 /dev/urandom >"$TMP/key"
mkdir "$TMP/exports"
if start stordom "$B/stordomd" --listen "$TMP/exports" --control "$TMP/sd.ctl" --control-chan fd:3; then
	$STORCTL "$TMP/stordom.sock" open vol1 "$TMP/v.img" "$TMP/key" create 16M test-kdf >"$TMP/out" &&
		ok "stordomd: volume created over the channel" || { bad "stordomd: open"; cat "$TMP/out"; }
	if command -v nbdinfo >/dev/null; then
		[ "$(nbdinfo --size "nbd+unix:///?socket=$TMP/exports/vol1.sock")" = 16777216 ] &&
			ok "nbdinfo: the volume is served (16 MiB)" || bad "nbdinfo"
	fi
	finish stordom
fi

# --- vtpmd: an instance created through the channel answers tpm2-tools ---
mkdir "$TMP/st"
$B/vtpmd --gen-key "$TMP/vkey" || exit 1
if start vtpm "$B/vtpmd" --state-dir "$TMP/st" --key-file "$TMP/vkey" --control "$TMP/vt.ctl" \
	--control-chan fd:3; then
	$VTPMCTL "$TMP/vtpm.sock" create web start web >"$TMP/out" &&
		ok "vtpmd: instance created and started over the channel" ||
		{ bad "vtpmd: create/start"; cat "$TMP/out"; }
	if command -v tpm2_startup >/dev/null; then
		tpm2_startup -T "swtpm:path=$TMP/st/web/tpm.sock" -c &&
			[ "$(tpm2_getrandom -T "swtpm:path=$TMP/st/web/tpm.sock" 16 | wc -c)" = 16 ] &&
			ok "tpm2-tools: startup, getrandom" || bad "tpm2-tools against the instance"
	fi
	finish vtpm
fi

# --- a bad spec is refused up front ---
timeout 10 "$B/stordomd" --listen "$TMP/exports" --control "$TMP/x.ctl" \
	--control-chan xen:notanumber:p 2>"$TMP/out" &&
	bad "stordomd accepted a bad --control-chan" ||
	{ grep -q "control-chan" "$TMP/out" && ok "bad --control-chan refused, named"; } ||
	{ bad "bad spec: no clear error"; cat "$TMP/out"; }

[ $fails = 0 ] && echo "control-chan: all ok" || echo "control-chan: $fails failed"
exit $((fails > 0))
