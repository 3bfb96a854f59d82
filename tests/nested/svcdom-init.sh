#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of the nested test's service domains, which `bulkhead up` creates on
# the xen platform (busybox ash, PID 1). The kernel command line names the
# role (bh_role=netdom|stordom|vtpm, added by bulkhead); the domain runs that
# daemon, unmodified from the normal build, with its control socket served
# over chan-xen to dom0 (--control-chan xen:0:data/bulkhead/ctl), where
# bulkhead connects and pushes the domain its part of configs/nested; paths
# are the ones bulkhead sends (state under /var/lib/bulkhead). It reports on
# its console, which dom0 reads from xenconsoled's log:
# "BH-NESTED-DOMU: <role>-<step>" lines, "ALL-OK" when every check of this
# domain passed, and always "done" at the end of its checks.
#
# dom0 -> domU signals travel through xenstore: this domain creates
# data/bulkhead/step (so it owns it and may read it) and dom0 writes the
# name of the step it finished there.
set -u

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
CTL_CHAN=xen:0:data/bulkhead/ctl

say() {
	echo "BH-NESTED-DOMU: $*"
}

ok=1
bad() {
	say "FAIL: $*"
	ok=0
}

# The daemons' logs, for the diagnostics dom0 prints on failure.
show_logs() {
	for f in /run/*.log; do
		[ -e "$f" ] || continue
		echo "---- $f"
		tail -n 40 "$f"
	done
}

finish() {
	if dmesg | grep -E 'segfault at|traps:|general protection|BUG:|Oops'; then
		bad "crash seen in the domU kernel log"
	fi
	show_logs
	[ $ok = 1 ] && say ALL-OK
	say "done"
	# Keep serving (dom0 may still talk to the daemon) until dom0 powers off.
	while :; do sleep 3600; done
}

# Wait up to $1 seconds for command "$2..." to succeed.
wait_for() {
	n=$(($1 * 10))
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}

# Wait for dom0 to write STEP into data/bulkhead/step, at most $2 seconds.
# Not a polling loop of xenstore-read (each one a dynamically linked exec,
# costly under emulation while three domains share one vCPU): read, and if
# it is not there yet, sleep in xenstore-watch until the node changes. A
# watch fires once when set, so -n 2 returns at the first change after it;
# the 5 s bound covers a change between the read and the watch. Callers
# allow 600 s: on a loaded host `bulkhead up` alone took 150 s and the steps
# before the signal as long again (dom0's 1200 s watchdog bounds the whole).
wait_step() {
	end=$(($(cut -d. -f1 /proc/uptime) + $2))
	while [ "$(xenstore-read data/bulkhead/step 2>/dev/null)" != "$1" ]; do
		if [ "$(cut -d. -f1 /proc/uptime)" -ge $end ]; then
			bad "dom0 never signalled '$1'"
			return 1
		fi
		timeout 5 xenstore-watch -n 2 data/bulkhead/step >/dev/null 2>&1
	done
}

# ---- netdom -------------------------------------------------------------------
# netdom is the backend of the guests' vifs: xen-netback makes them here, and
# the hotplug agent the shipped image runs too (images/netdom-vif.sh, as
# /lib/bulkhead/netdom-vif.sh) renames each to its vifname (vif1.0 for g1,
# vif2.0 for g2: the names netdomd's policy uses), routes the guest's
# address to it with the gateways of bh_gw= (bulkhead puts netdom.cfg's
# bh_gateway there) and marks it connected; netdomd's table filters what
# this domain forwards between them. The guests run the traffic
# (guest-init.sh); once they are done (dom0 signals "traffic-done"), this
# domain checks what the policy in its kernel counted.

# packets FILE NAME: a named counter's packets in an `nft list ruleset` FILE
# (0 if none).
packets() {
	sed -n 's/^[[:space:]]*counter \([^ ]*\) {.*/\1/p; s/^[[:space:]]*packets \([0-9]*\).*/\1/p' "$1" |
		paste - - | awk -v name="$2" '$1 == name { n = $2 } END { print n + 0 }'
}

role_netdom() {
	gateways=$(sed -n 's/.*bh_gw=\([^ ]*\).*/\1/p' /proc/cmdline)
	[ -n "$gateways" ] || bad "netdom: no bh_gw= on the command line"
	mkdir -p /run/netdom
	# bulkhead connects as soon as netdomd advertises its control channel
	# and pushes the policy at once: no window to check the closed policy
	# from here (test-netdom.sh does, on the host platform).
	netdomd --control /run/netdom/ctl --control-chan $CTL_CHAN 2>/run/netdomd.log &
	wait_for 30 test -S /run/netdom/ctl || { bad "netdomd did not come up"; return; }
	say "netdom-ready"
	# shellcheck source=images/netdom-vif.sh
	. /lib/bulkhead/netdom-vif.sh
	vif_agent "$gateways" &
	wait_step traffic-done 600 || return
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
# in dom0, a loop device behind blkback) as xvdb: mounted on
# /var/lib/bulkhead, formatted first when blank (its first MiB all zeros), as
# images/init-service.sh does. It survives the domain: a restarted domain
# mounts it as it was.
STATE=/var/lib/bulkhead
mount_state() {
	mkdir -p $STATE
	wait_for 5 test -b /dev/xvdb || { bad "no state disk xvdb"; return 1; }
	if mount -t ext4 /dev/xvdb $STATE 2>/dev/null; then
		say "state-disk-mounted (xvdb mounted on $STATE as it was)"
		return 0
	fi
	if [ "$(head -c 1048576 /dev/xvdb | tr -d '\000' | wc -c)" != 0 ]; then
		bad "state disk xvdb holds data but does not mount: not formatting it"
		return 1
	fi
	# ext4 with a journal (e2fsprogs; busybox's mke2fs makes ext2, which was
	# found corrupt after xl destroy and a restart).
	mkfs.ext4 -q -F /dev/xvdb >/dev/null && mount -t ext4 /dev/xvdb $STATE ||
		{ bad "cannot format and mount the blank xvdb"; return 1; }
	say "state-disk-formatted (blank xvdb formatted, mounted on $STATE)"
}

# ---- stordom ------------------------------------------------------------------
# bulkhead opens g1's volume with VOLUME_OPEN at /var/lib/bulkhead/volumes/
# g1-data.luks, on this domain's state disk. It is sealed (seal=1): no key
# file anywhere; stordomd gets the secret from vtpm (UNSEAL) through its
# --unseal socket, which bulkhead makes a channel client of vtpm's UNSEAL
# socket (CHAN_SERVE UNSEAL_PEER). An unsealed volume's key file would be
# made here for each name in bh_volumes= (once: it lives on the state disk).
# The export is served over chan-xen to dom0 (--export-chan), where the test
# reads and writes it with nbdinfo/nbdcopy through vchan-socket-proxy; and,
# by bulkhead's CHAN_SERVE, over a channel for g1 alone.
role_stordom() {
	mount_state || return
	mkdir -p /run/stordom $STATE/volumes $STATE/keys
	for v in $(sed -n 's/.*bh_volumes=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' '); do
		[ -e "$STATE/keys/$v.key" ] && continue
		head -c 64 /dev/urandom >"$STATE/keys/$v.key"
		chmod 600 "$STATE/keys/$v.key"
	done
	stordomd --listen /run/stordom --control /run/stordom/ctl --control-chan $CTL_CHAN \
		--unseal /run/stordom/unseal.sock \
		--export-chan g1-data=xen:0:data/bulkhead/nbd-g1-data 2>/run/stordomd.log &
	wait_for 30 test -S /run/stordom/ctl || { bad "stordomd did not come up"; return; }
	say "stordom-ready"
	# After dom0's NBD session and then g1's own (both write the marker).
	wait_step nbd-done 600 || return
	# What dom0 wrote through NBD is on the backing file only as ciphertext.
	img=$STATE/volumes/g1-data.luks
	if [ -n "$(ls $STATE/keys 2>/dev/null)" ]; then
		bad "stordom: a key file for the sealed volume: $(ls $STATE/keys)"
	elif ! head -c 4096 $img | grep -q LUKS; then
		bad "stordom: $img has no LUKS header"
	elif grep -qF BULKHEAD-NESTED-PLAINTEXT $img; then
		bad "stordom: plaintext found in the backing file"
	else
		say "stordom-at-rest-ok (LUKS header, no plaintext in the backing file)"
	fi
}

# ---- vtpm ---------------------------------------------------------------------
# bulkhead creates and starts g1's instance; its data and control sockets are
# served over chan-xen to dom0, which uses tpm2-tools through them. The
# instances and the manager key live on the state disk: after a restart the
# same key opens the same instances, and g1-data's sealed secret is still
# there. --unseal: the UNSEAL socket, which bulkhead has served to stordom's
# domain alone over a channel (CHAN_SERVE UNSEAL).
role_vtpm() {
	mount_state || return
	mkdir -p /run/vtpm $STATE/vtpm $STATE/keys
	if [ ! -e $STATE/keys/vtpm.key ]; then
		vtpmd --gen-key $STATE/keys/vtpm.key 2>/run/vtpmd.log || { bad "vtpmd --gen-key"; return; }
		sync # on the state disk before anything is sealed under it
	fi
	vtpmd --state-dir $STATE/vtpm --key-file $STATE/keys/vtpm.key --control /run/vtpm/ctl \
		--unseal /run/vtpm/unseal.sock \
		--control-chan $CTL_CHAN --instance-chan g1=xen:0:data/bulkhead/tpm-g1 \
		--instance-chan g1.ctrl=xen:0:data/bulkhead/tpm-g1-ctrl 2>>/run/vtpmd.log &
	wait_for 30 test -S /run/vtpm/ctl || { bad "vtpmd did not come up"; return; }
	say "vtpm-ready"
	wait_step tpm-done 600 || return
	say "vtpm-served"
}

# ---- main ---------------------------------------------------------------------
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
role=none
# shellcheck disable=SC2013 # the command line's words
for w in $(cat /proc/cmdline); do
	case $w in bh_role=*) role=${w#bh_role=} ;; esac
done
say "init $role"
# PV or PVH, as this domain's own kernel sees it (vtpm is PVH in
# configs/nested: dom0 checks this line for service-pvh).
say "guest-type $(cat /sys/hypervisor/guest_type 2>/dev/null || echo unknown)"

# The vchan modules and the role's own, each after what it depends on.
while read -r m; do
	insmod "/modules/$m" || bad "insmod $m"
done </modules/order
# Every page of a channel's rings is a grant from gntalloc, whose default
# limit (1024 for the whole domain) one 1 MiB-per-direction ring pair (513
# grants: stordom's NBD channels) nearly fills: stordom serves two (dom0's
# and g1's). The grant table has room for 32768.
echo 16384 >/sys/module/xen_gntalloc/parameters/limit || bad "cannot raise gntalloc's limit"

xenstore-write data/bulkhead/step started || bad "cannot write data/bulkhead/step"

case $role in
netdom) role_netdom ;;
stordom) role_stordom ;;
vtpm) role_vtpm ;;
*) bad "unknown role '$role'" ;;
esac
finish
