#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of the nested test's dom0 (busybox ash, PID 1). Brings up the Xen
# control plane by hand (no systemd, no xencommons), creates one PV domU and
# runs chan-xen.c's stress test between the two. Every milestone prints one
# "BH-NESTED: <name>" line on the console, which Xen forwards to QEMU's
# serial port, where tests/nested/run.sh reads it. Every step is bounded; a
# watchdog prints diagnostics and powers off if the whole run hangs.
#
# busybox ash, not bash: pipefail exists but -e in PID 1 would panic the
# kernel on the first failure, so failures go through fail() instead.
# shellcheck disable=SC3040 # busybox ash has pipefail
set -u -o pipefail

export PATH=/usr/lib/xen-4.17/bin:/usr/sbin:/usr/bin:/sbin:/bin
export XENSTORED_ROOTDIR=/run/xenstored

STRESS=/bh/xen-chan-stress
DOMU=bh-domu
INTRUDER=bh-intruder
LOGDIR=/var/log/xen
# The stress channel and the private one, relative to dom0's xenstore home.
CHAN_PATH=data/bulkhead/stress
PRIV_PATH=data/bulkhead/private
FOR_DOMU_PATH=data/bulkhead/for-domu
WATCHDOG=${BH_WATCHDOG:-200}

mark() {
	echo "BH-NESTED: $*"
}

# Diagnostics for a failed or hung run; each command bounded on its own.
diag() {
	echo "BH-NESTED-DIAG: ---- xl list ----"
	timeout 10 xl list 2>&1
	echo "BH-NESTED-DIAG: ---- xenstore-ls -fp /local/domain ----"
	timeout 10 xenstore-ls -fp /local/domain 2>&1 | head -n 150
	for f in "$LOGDIR"/guest-*.log; do
		echo "BH-NESTED-DIAG: ---- guest console ($f) ----"
		sed 's/^/BH-DOMU| /' "$f" 2>/dev/null | tail -n 120
	done
	echo "BH-NESTED-DIAG: ---- xl dmesg (tail) ----"
	timeout 10 xl dmesg 2>&1 | tail -n 40
	echo "BH-NESTED-DIAG: ---- end ----"
}

# Scan dom0's and the guest's kernel logs for crashed programs: a run in which
# anything segfaulted or trapped fails even if every marker was reached.
crash_scan() {
	pat='segfault at|traps:|general protection|Kernel panic|BUG:|Oops|invalid opcode'
	if dmesg | grep -E "$pat"; then
		echo "BH-NESTED: crash-in-dom0"
		return 1
	fi
	if cat "$LOGDIR"/guest-*.log | grep -E "$pat"; then
		echo "BH-NESTED: crash-in-domu"
		return 1
	fi
	return 0
}

poweroff_now() {
	sync
	# QEMU runs with -no-reboot: Xen's reboot of the machine ends QEMU.
	reboot -f
	sleep 30
}

fail() {
	mark "FAIL: $*"
	diag
	poweroff_now
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

# guest_says DOMAIN TEXT: has DOMAIN printed "BH-NESTED-DOMU: TEXT"?
guest_says() {
	grep -q "BH-NESTED-DOMU: $2" "$LOGDIR/guest-$1.log" 2>/dev/null
}

# Only busybox and /bin/sh are in the image: link the other applets now.
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
# xenstored dies without /var/run, and xenstore clients then block forever.
ln -sfn /run /var/run
mkdir -p /var/lib/xen /var/log/xen /var/lock /run/xen /run/xenstored
mark dom0-init

(
	sleep "$WATCHDOG"
	mark "watchdog-expired after ${WATCHDOG}s"
	diag
	poweroff_now
) &
watchdog=$!

# xen-privcmd before xenfs, which depends on it.
for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc; do
	insmod "/modules/$m.ko" || fail "insmod $m"
done
mount -t xenfs xenfs /proc/xen || fail "mount xenfs"
mark modules-loaded

xenstored --pid-file=/run/xenstored.pid || fail "xenstored did not start"
wait_for 20 timeout 2 xenstore-read -s / || fail "xenstored does not answer"
mark xenstored-up

timeout 30 xen-init-dom0 || fail "xen-init-dom0"
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen ||
	fail "xenconsoled did not start"
timeout 30 xl info >/tmp/xl-info 2>&1 || { cat /tmp/xl-info; fail "xl info"; }
mark dom0-ready

# A channel advertised for dom0 alone: the domU will try to read it and must
# be refused. Opened before the domU exists so it is surely there when the
# domU tries.
$STRESS hold --peer 0 --path $PRIV_PATH --seconds 150 >/tmp/hold.log 2>&1 &
hold=$!
wait_for 20 xenstore-exists /local/domain/0/$PRIV_PATH/ring-ref ||
	{ cat /tmp/hold.log; fail "private channel not advertised"; }

timeout 60 xl create /bh/domu.cfg || fail "xl create"
domid=$(timeout 10 xl domid $DOMU) || fail "xl domid"
mark "domu-created (domid $domid)"

# The server runs all three rounds in one process (see xen-chan-stress.c);
# it prints the vchan-connected, stress-ok, peer-death-detected and
# reconnect-ok markers itself.
timeout 150 $STRESS server --peer "$domid" --path $CHAN_PATH --timeout 60 &
server=$!
# A channel held for the domU alone: the domU may read it (the control for
# the refusals), the third domain created below may not.
$STRESS hold --peer "$domid" --path $FOR_DOMU_PATH --seconds 120 >/tmp/hold2.log 2>&1 &
hold2=$!

wait_for 60 guest_says $DOMU init || fail "domU /init not seen on its console"
mark domu-init

# Permissions, from dom0's side: the stress channel's entries must be
# readable by the domU and nobody else, the private one by nobody but dom0.
# xenstore-ls -p prints "(n0,r<domid>)": owner dom0, others no access,
# domid read access.
perms_ok=1
wait_for 60 xenstore-exists /local/domain/0/$CHAN_PATH/ring-ref || perms_ok=0
for leaf in ring-ref event-channel; do
	p=$(xenstore-ls -p /local/domain/0/$CHAN_PATH 2>&1 | grep "^$leaf ")
	echo "BH-NESTED-PERMS: $CHAN_PATH: $p"
	case $p in *"(n0,r$domid)") ;; *) perms_ok=0 ;; esac
	p=$(xenstore-ls -p /local/domain/0/$PRIV_PATH 2>&1 | grep "^$leaf ")
	echo "BH-NESTED-PERMS: $PRIV_PATH: $p"
	case $p in *"(n0)" | *"(n0,r0)") ;; *) perms_ok=0 ;; esac
	p=$(xenstore-ls -p /local/domain/0/$FOR_DOMU_PATH 2>&1 | grep "^$leaf ")
	echo "BH-NESTED-PERMS: $FOR_DOMU_PATH: $p"
	case $p in *"(n0,r$domid)") ;; *) perms_ok=0 ;; esac
done

wait $server
rc=$?
[ $rc -eq 0 ] || fail "stress server exited $rc"

wait_for 60 guest_says $DOMU "done" || fail "domU did not finish"
guest_says $DOMU probe-ok || fail "domU could not read a channel held for it"
guest_says $DOMU deny-ok || fail "domU was not refused the private channel"
guest_says $DOMU ALL-OK || fail "domU reported a failure"

# A third domain tries both channels meant for others.
timeout 60 xl create /bh/intruder.cfg || fail "xl create of the third domain"
wait_for 60 guest_says $INTRUDER "done" || fail "third domain did not finish"
guest_says $INTRUDER ALL-OK || fail "third domain was not refused"
mark third-domain-denied

[ $perms_ok = 1 ] || fail "xenstore permissions of the channels are wrong"
mark perms-ok

crash_scan || fail "a program crashed"
kill $watchdog $hold $hold2 2>/dev/null
mark PASS
# The guests' consoles, for the record (and for run.sh's own crash scan).
for f in "$LOGDIR"/guest-*.log; do
	sed 's/^/BH-DOMU| /' "$f"
done
poweroff_now
