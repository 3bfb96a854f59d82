#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of the nested test's PV domU (busybox ash, PID 1). Runs the client
# side of xen-chan-stress against dom0 and reports on its console, which
# xenconsoled in dom0 logs to a file that dom0-init.sh watches for the
# "BH-NESTED-DOMU: ..." lines. Ends with "ALL-OK" only if every step passed,
# and always with "done"; then it idles until dom0 destroys it.
set -u

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
STRESS=/bh/xen-chan-stress
CHAN_PATH=data/bulkhead/stress
PRIV_PATH=data/bulkhead/private
FOR_DOMU_PATH=data/bulkhead/for-domu

# say: "BH-NESTED-DOMU: ..." lines, shared with the other test images.
# shellcheck source=tests/nested/init-lib.sh
. /lib/bulkhead/test-init-lib.sh

finish() {
	if dmesg | grep -E 'segfault at|traps:|general protection|BUG:|Oops'; then
		say "crash seen in the domU kernel log"
		ok=0
	fi
	[ $ok = 1 ] && say ALL-OK
	say "done"
	# Stay up: dom0 destroys this domain once it has read "done". Powering
	# off here raced xenconsoled: output still in the tty's buffer or the
	# console ring when the domain died never reached dom0's log, and dom0
	# waited in vain for the last lines.
	while :; do sleep 3600; done
}

# Only busybox and /bin/sh are in the image: link the other applets now.
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say init

ok=1
role=client
case " $(cat /proc/cmdline) " in *" bh_role=intruder "*) role=intruder ;; esac
say "role $role"

# Event channels and grant mapping/allocation: what libxenvchan needs.
for m in xen-evtchn xen-gntdev xen-gntalloc; do
	insmod "/modules/$m.ko" || { say "insmod $m failed"; ok=0; }
done

# A third domain: both of dom0's channels are meant for someone else (the
# client domU, dom0 itself); opening or reading either must be refused.
if [ $role = intruder ]; then
	for p in $FOR_DOMU_PATH $PRIV_PATH; do
		if timeout 20 $STRESS deny --domu --path "$p" --timeout 15; then
			say "intruder-denied $p"
		else
			say "intruder NOT denied $p ($?)"
			ok=0
		fi
	done
	finish
fi

# Round 1: the full stress; round 2: die on purpose mid-transfer (SIGKILL,
# exit status 137); round 3: a new process reconnects to the same path.
if timeout 90 $STRESS client --domu --path $CHAN_PATH --round 1 --bytes 64M --timeout 80; then
	say round1-ok
else
	say "round1 failed ($?)"
	ok=0
fi
timeout 60 $STRESS client --domu --path $CHAN_PATH --round 2 --bytes 64M --die-after 8M \
	--timeout 50
rc=$?
if [ $rc -eq 137 ]; then
	say round2-died-as-planned
else
	say "round2: expected death by SIGKILL (137), got $rc"
	ok=0
fi
if timeout 60 $STRESS client --domu --path $CHAN_PATH --round 3 --bytes 16M --timeout 50; then
	say round3-ok
else
	say "round3 failed ($?)"
	ok=0
fi

# Positive control for the refusals: a channel dom0 holds for us is readable.
if timeout 20 $STRESS probe --domu --path $FOR_DOMU_PATH --timeout 15; then
	say probe-ok
else
	say "probe of our own channel failed ($?)"
	ok=0
fi

# dom0's private channel is advertised for dom0 alone: we must be refused.
if timeout 20 $STRESS deny --domu --path $PRIV_PATH --timeout 15; then
	say deny-ok
else
	say "deny failed ($?)"
	ok=0
fi

finish
