#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of the nested test's guest domains, which `bulkhead up` creates on
# the xen platform (busybox ash, PID 1). Loads the vchan (privcmd included:
# vchan-socket-proxy opens it) and netfront modules, says "BH-NESTED-DOMU:
# guest-init <name>" on its console (dom0 reads it from xenconsoled's log),
# sets up its network through netdom and runs its part of the network checks
# in the background (g1 the client, g2 the server; "net-..." lines,
# "net-done" at the end), prints the endpoints dom0 wrote into its xenstore
# home (data/bulkhead/<endpoint> = "<domid> <path>"), says "guest-done" and
# stays up.
#
# In between, the guest's own data paths, with standard clients through
# Xen's vchan-socket-proxy, once dom0 writes "go" into its
# data/bulkhead/step (after dom0's own sessions on the same volume and
# vTPM, which must not overlap these):
#   disk0 (g1): qemu-img reads the volume's size, writes 4 MiB of random
#       data with a plaintext marker in every MiB and reads it back, cmp
#       compares: "guest-nbd-ok" (stordom then checks that the backing file
#       holds no marker);
#   tpm, tpm-ctrl (g1): tpm2_pcrread of PCR 9 through the swtpm TCTI:
#       "guest-pcr9 <hex>", which dom0 compares with what it reads from the
#       same vTPM over its own channel;
# and, when dom0 writes "probe <domid> <path>" instead (g2), another
# guest's channel: its xenstore nodes must be unreadable and an NBD
# session through vchan-socket-proxy must fail: "guest-disk-denied".
# "guest-checks-done" ends this part.
set -u

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
PROXY=/usr/lib/xen-4.17/bin/vchan-socket-proxy
MARKER=BULKHEAD-NESTED-PLAINTEXT

# say, wait_for, wait_step: shared with the other test images' /init scripts.
# shellcheck source=tests/nested/init-lib.sh
. /lib/bulkhead/test-init-lib.sh

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

# proxy ENDPOINT SOCKET: vchan-socket-proxy (client mode) to the channel the
# endpoint names, listening on SOCKET: one channel session per connection.
proxy() {
	val=$(xenstore-read "data/bulkhead/$1") || return 1
	# shellcheck disable=SC2086 # "<domid> <path>": two arguments
	$PROXY $val "$2" >>"/run/proxy-$1.log" 2>&1 &
	wait_for 30 test -S "$2"
}

# g1's volume (export g1-data) over NBD with qemu-img: 4 MiB (dom0 wrote all
# 8 before; a session is slow under emulation).
guest_nbd() {
	proxy disk0 /run/disk0.sock || { say "FAIL: vchan-socket-proxy for disk0 did not listen"; return; }
	uri="nbd+unix:///g1-data?socket=/run/disk0.sock"
	size=$(timeout 120 qemu-img info --output=json "$uri" 2>/run/qemu-img.log |
		sed -n 's/^ *"virtual-size": \([0-9]*\),*$/\1/p')
	[ "$size" = 8388608 ] || { say "FAIL: qemu-img info: size '$size'"; return; }
	dd if=/dev/urandom of=/tmp/in.img bs=1M count=4 2>/dev/null
	i=0
	while [ $i -lt 4 ]; do
		printf %s $MARKER | dd of=/tmp/in.img bs=1 seek=$((i * 1048576 + 8000)) conv=notrunc 2>/dev/null
		i=$((i + 1))
	done
	timeout 180 qemu-img convert -n -f raw -O raw /tmp/in.img "$uri" 2>>/run/qemu-img.log ||
		{ say "FAIL: qemu-img convert (write)"; return; }
	timeout 180 qemu-img convert -f raw -O raw "$uri" /tmp/out.img 2>>/run/qemu-img.log ||
		{ say "FAIL: qemu-img convert (read)"; return; }
	# The whole volume comes back: its first 4 MiB must be what was written.
	head -c 4194304 /tmp/out.img | cmp /tmp/in.img - ||
		{ say "FAIL: data read back differs"; return; }
	say "guest-nbd-ok (qemu-img info: 8388608 bytes; 4 MiB written and read back equal, md5 $(md5sum </tmp/in.img | cut -c1-12))"
	rm -f /tmp/in.img /tmp/out.img
}

# g1's vTPM: PCR 9 (dom0 measured the kernel and initramfs into it).
guest_tpm() {
	if ! proxy tpm /run/tpm.sock || ! proxy tpm-ctrl /run/tpm.sock.ctrl; then
		say "FAIL: vchan-socket-proxy for the TPM did not listen"
		return
	fi
	timeout 120 tpm2_pcrread -T swtpm:path=/run/tpm.sock sha256:9 >/run/pcr9.txt 2>&1 ||
		{ say "FAIL: tpm2_pcrread: $(tail -n 3 /run/pcr9.txt | tr '\n' ' ')"; return; }
	say "guest-pcr9 $(sed -n 's/^ *9 *: *0x\([0-9A-Fa-f]*\).*/\1/p' /run/pcr9.txt)"
}

# Another guest's channel ("<domid> <path>"), which dom0 saw advertised just
# before: unreadable, and no NBD session over it.
guest_probe() {
	if xenstore-read "$2/ring-ref" >/run/probe.txt 2>&1; then
		say "FAIL: read another guest's channel: ring-ref $(cat /run/probe.txt)"
		return
	fi
	denied=$(cat /run/probe.txt)
	# shellcheck disable=SC2086 # domid and path
	$PROXY $1 $2 /run/probe.sock >/run/proxy-probe.log 2>&1 &
	wait_for 30 test -S /run/probe.sock || { say "FAIL: vchan-socket-proxy (probe) did not listen"; return; }
	if timeout 10 qemu-img info "nbd+unix:///g1-data?socket=/run/probe.sock" >/run/probe-nbd.txt 2>&1; then
		say "FAIL: NBD session over another guest's channel"
		return
	fi
	say "guest-disk-denied (xenstore-read of its ring-ref: ${denied:-refused}; qemu-img info over it fails)"
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
# Created here, so this domain may read it, and before guest-init is said:
# dom0 writes what to do into it only after that.
xenstore-write data/bulkhead/step started || say "FAIL: cannot write data/bulkhead/step"
say "guest-init ${name:-unknown}"
# PV or PVH, as this kernel found itself booted (dom0 checks g2 is PVH).
say "guest-type $(cat /sys/hypervisor/guest_type 2>/dev/null || echo unknown)"
guest_net "$name" &
for e in $(xenstore-list data/bulkhead 2>/dev/null); do
	[ "$e" = step ] || say "endpoint $e = $(xenstore-read "data/bulkhead/$e" 2>&1)"
done
if wait_step 1200; then
	case $step in
	go)
		xenstore-exists data/bulkhead/disk0 && guest_nbd
		xenstore-exists data/bulkhead/tpm && guest_tpm
		;;
	probe\ *)
		# shellcheck disable=SC2086 # "probe <domid> <path>"
		guest_probe ${step#probe }
		;;
	*) say "FAIL: unknown step '$step'" ;;
	esac
else
	say "FAIL: dom0 never said what to check"
fi
say "guest-checks-done"
if dmesg | grep -E 'segfault at|traps:|general protection|BUG:|Oops'; then
	say "FAIL: crash seen in the guest kernel log"
fi
say "guest-done"
while :; do sleep 3600; done
