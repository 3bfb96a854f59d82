#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of the nested test's guest domains, which `bulkhead up` creates on
# the xen platform (busybox ash, PID 1). Loads the vchan and netfront
# modules, says "BH-NESTED-DOMU: guest-init <name>" on its console (dom0
# reads it from xenconsoled's log), sets up its network through netdom and
# runs its part of the network checks in the background (g1 the client, g2
# the server; "net-..." lines, "net-done" at the end), prints the endpoints
# dom0 wrote into its xenstore home (data/bulkhead/<endpoint> = "<domid>
# <path>"), says "guest-done" and stays up.
set -u

export PATH=/bin:/sbin:/usr/bin:/usr/sbin

say() {
	echo "BH-NESTED-DOMU: $*"
}

# ---- network: netfront's eth0, its backend the guest's vif in netdom ----------
# The address is the vif's ip= from the guest's config, as dom0 wrote it into
# the vif's backend directory (which this guest may read); the gateway is
# bh_gw= from its command line (the config's extra=): netdom has every
# gateway address on each vif and a host route to the guest. busybox's ip and
# nc (no exec of a dynamically linked program). g2 serves tcp 5432 and 22;
# g1 checks that netdomd's policy lets it reach 5432 and not 22, and that a
# packet with a forged source address (allowed 5432, from an address that is
# not its vif's) is dropped. dom0 and netdom check the rest (audit log, nft
# counters).
G2=10.81.2.2

# connect PORT SECONDS: does g1 reach g2's server on PORT (it answers "ok")?
connect() {
	timeout $(($2 + 3)) nc -w "$2" $G2 "$1" </dev/null 2>/dev/null | grep -q '^ok$'
}

net_up() {
	gw=$(sed -n 's/.*bh_gw=\([^ ]*\).*/\1/p' /proc/cmdline)
	be=$(xenstore-read device/vif/0/backend 2>/dev/null)
	addr=$(xenstore-read "$be/ip" 2>/dev/null)
	if [ -z "$be" ] || [ -z "$addr" ] || [ -z "$gw" ]; then
		say "FAIL: net: no vif address in xenstore or no bh_gw= ('$gw')"
		return 1
	fi
	addr=${addr%% *}
	addr=${addr%/*}
	n=100
	while [ ! -e /sys/class/net/eth0 ] && [ $n -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	if ! { ip link set lo up && ip link set eth0 up && ip addr add "$addr/32" dev eth0 &&
		ip route add "$gw" dev eth0 && ip route add default via "$gw" dev eth0; }; then
		say "FAIL: net: cannot configure eth0"
		return 1
	fi
	say "net-up (eth0 $addr, default via $gw)"
}

net_g2() {
	for p in 22 5432; do
		nc -ll -p $p -e echo ok >/dev/null 2>&1 &
	done
	say "net-listening (tcp 22 and 5432)"
}

net_g1() {
	# g2 may still be booting: retry the allowed flow for up to 300 s, every
	# 2 s (each try costs CPU the booting domains share).
	end=$(($(cut -d. -f1 /proc/uptime) + 300))
	until connect 5432 5; do
		if [ "$(cut -d. -f1 /proc/uptime)" -ge $end ]; then
			say "FAIL: net: g1 -> g2 tcp 5432 never connected"
			return
		fi
		sleep 2
	done
	say "net-allowed-ok (g1 -> g2 tcp 5432 connects through netdom)"
	if connect 22 5; then
		say "FAIL: net: forbidden g1 -> g2 tcp 22 connected"
	else
		say "net-forbidden-ok (g1 -> g2 tcp 22 fails)"
	fi
	# The allowed flow again, from an address that is not g1's vif's.
	if ! { ip addr add 10.81.1.99/32 dev eth0 &&
		ip route replace default via "$gw" dev eth0 src 10.81.1.99; }; then
		say "FAIL: net: cannot add the forged source"
		return
	fi
	if connect 5432 5; then
		say "FAIL: net: g1 -> g2 tcp 5432 from forged source 10.81.1.99 connected"
	else
		say "net-spoof-ok (g1 -> g2 tcp 5432 from forged source 10.81.1.99 fails)"
	fi
	ip route replace default via "$gw" dev eth0 src "$addr"
	ip addr del 10.81.1.99/32 dev eth0
}

guest_net() {
	net_up || return
	case $1 in
	g1) net_g1 ;;
	g2) net_g2 ;;
	esac
	say "net-done"
}

/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
while read -r m; do
	insmod "/modules/$m" || say "FAIL: insmod $m"
done </modules/order
name=$(xenstore-read name 2>/dev/null)
say "guest-init ${name:-unknown}"
# PV or PVH, as this kernel found itself booted (dom0 checks g2 is PVH).
say "guest-type $(cat /sys/hypervisor/guest_type 2>/dev/null || echo unknown)"
guest_net "$name" &
for e in $(xenstore-list data/bulkhead 2>/dev/null); do
	say "endpoint $e = $(xenstore-read "data/bulkhead/$e" 2>&1)"
done
if dmesg | grep -E 'segfault at|traps:|general protection|BUG:|Oops'; then
	say "FAIL: crash seen in the guest kernel log"
fi
say "guest-done"
while :; do sleep 3600; done
