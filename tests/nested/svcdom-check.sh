#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The nested test's checks inside a service domain. The service domains run
# the shipped images/init-service.sh as /init (the daemon, the state disk,
# netdom's vif agent: what operators deploy); tests/nested/mkimages.sh adds
# this file to each one as /etc/bulkhead/init.d/50-nested-checks, which
# init-service.sh runs once the daemon's control socket exists, with
# BH_ROLE (netdom|stordom|vtpm), BH_STATE (/var/lib/bulkhead) and
# BH_STATE_DISK (formatted|mounted|tmpfs) in its environment. It reports on
# the console, which dom0 reads from xenconsoled's log:
# "BH-NESTED-DOMU: <role>-<step>" lines, "ALL-OK" when every check of this
# domain passed, and always "done" at the end of its checks.
#
# dom0 -> domU signals travel through xenstore: this domain creates
# data/bulkhead/step (so it owns it and may read it) and dom0 writes the
# name of the step it finished there.
set -u

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
role=${BH_ROLE:?} STATE=${BH_STATE:?}

# say, wait_step: shared with the other test images' /init scripts.
# shellcheck source=tests/nested/init-lib.sh
. /lib/bulkhead/test-init-lib.sh

ok=1
bad() {
	say "FAIL: $*"
	ok=0
}

finish() {
	if dmesg | grep -E 'segfault at|traps:|general protection|BUG:|Oops'; then
		bad "crash seen in the domU kernel log"
	fi
	[ $ok = 1 ] && say ALL-OK
	say "done"
	exit 0
}

# wait_signal STEP: wait for dom0's signal STEP, at most 600 s: on a loaded host
# `bulkhead up` alone took 150 s and the steps before the signal as long
# again (dom0's 1200 s watchdog bounds the whole).
wait_signal() {
	wait_step 600 "$1" || { bad "dom0 never signalled '$1' (step: '$step')"; return 1; }
	say "$role-signalled $1"
}

# ---- netdom -------------------------------------------------------------------
# netdom is the backend of the guests' vifs: xen-netback makes them here, and
# the shipped image's hotplug agent (images/netdom-vif.sh, which its /init
# runs) renames each to its vifname (vif1.0 for g1, vif2.0 for g2: the names
# netdomd's policy uses), routes the guest's address to it with the
# gateways of bh_gw= (bulkhead puts netdom.cfg's bh_gateway there) and marks
# it connected; netdomd's table filters what this domain forwards between
# them. The guests run the traffic (guest-init.sh); once they are done (dom0
# signals "traffic-done"), this domain checks what the policy in its kernel
# counted.

# packets FILE NAME: a named counter's packets in an `nft list ruleset` FILE
# (0 if none).
packets() {
	sed -n 's/^[[:space:]]*counter \([^ ]*\) {.*/\1/p; s/^[[:space:]]*packets \([0-9]*\).*/\1/p' "$1" |
		paste - - | awk -v name="$2" '$1 == name { n = $2 } END { print n + 0 }'
}

role_netdom() {
	grep -q 'bh_gw=' /proc/cmdline || bad "netdom: no bh_gw= on the command line"
	wait_signal traffic-done || return
	# One nft run: the table, its sets and its named counters.
	nft list ruleset >/run/ruleset.txt 2>&1
	sed 's/^/BH-NFT| /' /run/ruleset.txt
	if grep -q 'comment "bulkhead generation 1"' /run/ruleset.txt &&
		grep -q '"vif1.0" . 10.81.1.2' /run/ruleset.txt &&
		grep -q '"vif2.0" . 10.81.2.2' /run/ruleset.txt &&
		grep -Eq '(tcp|6) \. 5432 : accept' /run/ruleset.txt; then
		say "netdom-ruleset-ok (nft list ruleset: table inet bulkhead, generation 1)"
	else
		bad "netdom: nft list ruleset does not show the policy"
	fi
	for v in vif1.0 vif2.0; do
		[ -e /sys/class/net/$v ] || bad "netdom: no interface $v (the guest's vif, renamed)"
	done
	# g1 -> g2 tcp 5432 was accepted by its rule (r1), tcp 22 fell to the
	# table's default drop, the forged source was dropped by the anti-spoof
	# rule: each counter counted.
	r1=$(packets /run/ruleset.txt r1) dd=$(packets /run/ruleset.txt default-drop)
	sp=$(packets /run/ruleset.txt spoof)
	# Also into this domain's xenstore home, for dom0's marker (the
	# console is only copied into the serial log at the end).
	xenstore-write data/bulkhead/counters "r1 $r1, default-drop $dd, spoof $sp packets"
	if [ "$r1" -gt 0 ] && [ "$dd" -gt 0 ] && [ "$sp" -gt 0 ]; then
		say "netdom-counters-ok (r1 $r1, default-drop $dd, spoof $sp packets)"
	else
		bad "netdom: counters r1 $r1, default-drop $dd, spoof $sp: each should be > 0"
	fi
}

# ---- the state disk (stordom, vtpm) -------------------------------------------
# bulkhead attaches each of these domains' state disk (configs/nested: a file
# in dom0, a loop device behind blkback) as xvdb; init-service.sh mounted it
# on $STATE, formatted first when it was blank. It survives the domain: a
# restarted domain mounts it as it was. dom0 checks which of the two lines
# each domain printed.
state_disk() {
	case ${BH_STATE_DISK:-} in
	formatted) say "state-disk-formatted (blank xvdb formatted, mounted on $STATE)" ;;
	mounted) say "state-disk-mounted (xvdb mounted on $STATE as it was)" ;;
	*) bad "no state disk: '${BH_STATE_DISK:-}' on $STATE" ;;
	esac
	grep -q " $STATE ext4 " /proc/mounts || bad "$STATE is not an ext4 mount"
}

# ---- stordom ------------------------------------------------------------------
# bulkhead opens g1's volume with VOLUME_OPEN at /var/lib/bulkhead/volumes/
# g1-data.luks, on this domain's state disk. It is sealed (seal=1): no key
# file anywhere; stordomd gets the secret from vtpm (UNSEAL) through its
# --unseal socket, which bulkhead makes a channel client of vtpm's UNSEAL
# socket (CHAN_SERVE UNSEAL_PEER). The export is served over chan-xen to
# dom0 (--export-chan, from bh_args= in stordom.cfg), where the test reads
# and writes it with nbdinfo/nbdcopy through vchan-socket-proxy; and, by
# bulkhead's CHAN_SERVE, over a channel for g1 alone.
role_stordom() {
	state_disk
	# After dom0's NBD session and then g1's own (both write the marker).
	wait_signal nbd-done || return
	# What dom0 wrote through NBD is on the backing file only as ciphertext.
	img=$STATE/volumes/g1-data.luks
	keys=$(find "$STATE" -name '*.key' 2>/dev/null)
	if [ -n "$keys" ]; then
		bad "stordom: a key file for the sealed volume: $keys"
	elif ! head -c 4096 "$img" | grep -q LUKS; then
		bad "stordom: $img has no LUKS header"
	elif grep -qF BULKHEAD-NESTED-PLAINTEXT "$img"; then
		bad "stordom: plaintext found in the backing file"
	else
		say "stordom-at-rest-ok (LUKS header, no plaintext in the backing file)"
	fi
}

# ---- vtpm ---------------------------------------------------------------------
# bulkhead creates and starts g1's instance; its data and control sockets are
# served over chan-xen to dom0 (--instance-chan, from bh_args= in vtpm.cfg),
# which uses tpm2-tools through them. The instances and the manager key live
# on the state disk: after a restart the same key opens the same instances,
# and g1-data's sealed secret is still there.
role_vtpm() {
	state_disk
	say "vtpm-ready"
	wait_signal tpm-done || return
	say "vtpm-served"
}

say "checks $role"
# PV or PVH, as this domain's own kernel sees it (vtpm is PVH in
# configs/nested: dom0 checks this line for service-pvh).
say "guest-type $(cat /sys/hypervisor/guest_type 2>/dev/null || echo unknown)"
xenstore-write data/bulkhead/step started || bad "cannot write data/bulkhead/step"
case $role in
netdom) role_netdom ;;
stordom) role_stordom ;;
vtpm) role_vtpm ;;
*) bad "unknown role '$role'" ;;
esac
finish
