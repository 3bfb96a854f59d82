#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of the nested test's guest domains, which `bulkhead up` creates on
# the xen platform (busybox ash, PID 1). Loads the vchan and netfront
# modules, says "BH-NESTED-DOMU: guest-init <name>" on its console (dom0
# reads it from xenconsoled's log), prints the endpoints dom0 wrote into its
# xenstore home (data/bulkhead/<endpoint> = "<domid> <path>"), says
# "guest-done" and stays up.
set -u

export PATH=/bin:/sbin:/usr/bin:/usr/sbin

say() {
	echo "BH-NESTED-DOMU: $*"
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
for e in $(xenstore-list data/bulkhead 2>/dev/null); do
	say "endpoint $e = $(xenstore-read "data/bulkhead/$e" 2>&1)"
done
if dmesg | grep -E 'segfault at|traps:|general protection|BUG:|Oops'; then
	say "FAIL: crash seen in the guest kernel log"
fi
say "guest-done"
while :; do sleep 3600; done
