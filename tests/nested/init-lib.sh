# shellcheck shell=sh
# SPDX-License-Identifier: MIT
#
# Shell helpers shared by the /init scripts of the Xen test images (busybox
# ash): tests/nested/dom0-init.sh, domu-init.sh, guest-init.sh,
# svcdom-check.sh and tests/images/boot-dom0.sh. tests/nested/mkimages.sh and
# tests/images/boot.sh copy it into each initramfs as
# /lib/bulkhead/test-init-lib.sh, where those scripts source it (as the
# shipped images share images/netdom-vif.sh).
#
#   say TEXT             a domU's report line on its console,
#                        "BH-NESTED-DOMU: TEXT" (dom0 reads it from
#                        xenconsoled's log)
#   mark TEXT            a dom0 milestone on the serial console,
#                        "$MARK_PREFIX: TEXT [<uptime>s]" (MARK_PREFIX:
#                        BH-NESTED unless the script sets another)
#   fail TEXT            mark "FAIL: TEXT", the script's own diag(), then
#                        poweroff_now: the end of a failed run
#   poweroff_now         end the machine (QEMU runs with -no-reboot: Xen's
#                        reboot of the machine ends QEMU)
#   wait_for SECS CMD..  until CMD succeeds, at most SECS seconds; 1 if not
#   wait_step SECS [STEP]  until dom0 wrote STEP (without STEP: anything but
#                        "started") into this domain's data/bulkhead/step,
#                        at most SECS seconds; the value in $step; 1 if not

MARK_PREFIX=${MARK_PREFIX:-BH-NESTED}

say() {
	echo "BH-NESTED-DOMU: $*"
}

mark() {
	echo "$MARK_PREFIX: $* [$(cut -d' ' -f1 /proc/uptime)s]"
}

poweroff_now() {
	sync
	reboot -f
	sleep 30
}

fail() {
	mark "FAIL: $*"
	diag
	poweroff_now
}

# Every 0.2 s: a dom0 shares the one vCPU with up to five booting domUs, and
# the domUs with each other.
wait_for() {
	n=$(($1 * 5))
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.2
	done
}

# Not a polling loop of xenstore-read (each one a dynamically linked exec,
# costly under emulation while several domains share one vCPU): read, and if
# it is not there yet, sleep in xenstore-watch until the node changes. A
# watch fires once when set, so -n 2 returns at the first change after it;
# the 5 s bound covers a change between the read and the watch. The domain
# made the node itself ("started"), so it owns it and may read it.
wait_step() {
	end=$(($(cut -d. -f1 /proc/uptime) + $1))
	while :; do
		step=$(xenstore-read data/bulkhead/step 2>/dev/null)
		case ${2:-} in
		"") case $step in "" | started) ;; *) return 0 ;; esac ;;
		"$step") return 0 ;;
		esac
		[ "$(cut -d. -f1 /proc/uptime)" -lt $end ] || return 1
		timeout 5 xenstore-watch -n 2 data/bulkhead/step >/dev/null 2>&1
	done
}
