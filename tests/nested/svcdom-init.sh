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
# iproute2's ip by its path: busybox ash prefers its own applets to PATH.
IP=/bin/ip

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
# before the signal as long again (dom0's 900 s watchdog bounds the whole).
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
# Two guests as network namespaces g1 (10.81.1.2, zone web) and g2 (10.81.2.2,
# zone db), each joined to this domain's own network stack by a veth named
# like a vif (vif1.0, vif2.0); this domain routes between them and netdomd's
# nftables table filters what it forwards.
nsx() {
	ns=$1
	shift
	nsenter --net=/run/netns/"$ns" "$@"
}

# connect PORT SECONDS: does g1 reach g2's server on PORT (it answers "ok")?
connect() {
	nsx g1 timeout $(($2 + 3)) nc -w "$2" 10.81.2.2 "$1" </dev/null 2>/dev/null | grep -q '^ok$'
}

# counters FILE: netdomd's named counters ("NAME PACKETS" lines), in one nft run.
counters() {
	nft list counters table inet bulkhead 2>/dev/null |
		sed -n 's/^[[:space:]]*counter \([^ ]*\) {.*/\1/p; s/^[[:space:]]*packets \([0-9]*\).*/\1/p' |
		paste - - >"$1"
}

# packets FILE NAME: a counter's packets in a counters FILE (0 if none).
packets() {
	awk -v name="$2" '$1 == name { n = $2 } END { print n + 0 }' "$1"
}

# iproute2 runs in three batches, not one process per command: each exec of
# the dynamically linked ip costs about a second under emulation.
netdom_net() {
	echo 1 >/proc/sys/net/ipv4/ip_forward
	$IP -batch - <<-EOF || return 1
		link set lo up
		netns add g1
		netns add g2
		link add vif1.0 type veth peer name eth0 netns g1
		link add vif2.0 type veth peer name eth0 netns g2
		link set vif1.0 up
		link set vif2.0 up
		addr add 10.81.1.1/24 dev vif1.0
		addr add 10.81.2.1/24 dev vif2.0
	EOF
	for i in 1 2; do
		$IP -n g$i -batch - <<-EOF || return 1
			link set eth0 address 00:16:3e:00:00:0$i
			link set lo up
			link set eth0 up
			addr add 10.81.$i.2/24 dev eth0
			route add default via 10.81.$i.1
		EOF
	done
	# g2 serves tcp 5432 (the policy allows g1 to reach it) and 22 (it does not).
	for p in 5432 22; do
		nsx g2 nc -ll -p $p -e echo ok >/dev/null 2>&1 &
	done
	return 0
}

role_netdom() {
	netdom_net || { bad "netdom: network set-up"; return; }
	# Control for what follows: with no firewall yet, both ports answer.
	if wait_for 20 connect 5432 10 && connect 22 10; then
		say "netdom-routing-ok (no firewall yet: g1 reaches g2 on 5432 and 22)"
	else
		bad "netdom: g1 cannot reach g2 before any firewall"
		return
	fi
	mkdir -p /run/netdom
	# bulkhead connects as soon as netdomd advertises its control channel
	# and pushes the policy at once: no window to check the closed policy
	# from here (test-netdom.sh does, on the host platform).
	netdomd --control /run/netdom/ctl --control-chan $CTL_CHAN 2>/run/netdomd.log &
	wait_for 30 test -S /run/netdom/ctl || { bad "netdomd did not come up"; return; }
	say "netdom-ready"
	wait_step policy-applied 600 || return
	nft list ruleset >/run/ruleset.txt 2>&1
	sed 's/^/BH-NFT| /' /run/ruleset.txt
	if grep -q 'comment "bulkhead generation 1"' /run/ruleset.txt &&
		grep -q '"vif1.0" . 10.81.1.2' /run/ruleset.txt &&
		grep -Eq '(tcp|6) \. 5432 : accept' /run/ruleset.txt; then
		say "netdom-ruleset-ok (nft list ruleset: table inet bulkhead, generation 1)"
	else
		bad "netdom: nft list ruleset does not show the policy"
	fi
	# The allowed flow connects and is counted by its rule's counter (r1);
	# the forbidden one fails because the table dropped it (not merely
	# because it was slow): the default-drop counter goes up.
	if connect 5432 10; then
		counters /run/c1
		if [ "$(packets /run/c1 r1)" -gt 0 ]; then
			say "netdom-allowed-ok (g1 -> g2 tcp 5432 connects; counter r1: $(packets /run/c1 r1))"
		else
			bad "netdom: g1 -> g2 tcp 5432 connected but rule counter r1 is 0"
		fi
	else
		bad "netdom: allowed g1 -> g2 tcp 5432 failed"
		counters /run/c1
	fi
	if connect 22 3; then
		bad "netdom: forbidden g1 -> g2 tcp 22 connected"
		return
	fi
	counters /run/c2
	before=$(packets /run/c1 default-drop) after=$(packets /run/c2 default-drop)
	if [ "$after" -gt "$before" ]; then
		say "netdom-forbidden-ok (g1 -> g2 tcp 22 fails; counter default-drop $before -> $after)"
	else
		bad "netdom: g1 -> g2 tcp 22 failed but default-drop did not count it ($before -> $after)"
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

# The vchan modules and the role's own, each after what it depends on.
while read -r m; do
	insmod "/modules/$m" || bad "insmod $m"
done </modules/order

xenstore-write data/bulkhead/step started || bad "cannot write data/bulkhead/step"

case $role in
netdom) role_netdom ;;
stordom) role_stordom ;;
vtpm) role_vtpm ;;
*) bad "unknown role '$role'" ;;
esac
finish
