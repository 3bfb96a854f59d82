#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of a bulkhead service domain (busybox ash as PID 1), built into
# netdom.cpio, stordom.cpio and vtpm.cpio by `make images`.
#
# Kernel command line:
#   bh_role=netdom|stordom|vtpm   which daemon this domain runs (required)
#   bh_verbose=1                  the daemon logs at debug level (-v)
#   bh_args=BASE64                more daemon options, base64 of a
#                                 space-separated list (e.g. stordomd's
#                                 --export-chan NAME=SPEC, vtpmd's
#                                 --instance-chan NAME=SPEC)
#   bh_gw=ADDR/LEN,...            netdom: its gateway addresses on the
#                                 guest networks (netdom.cfg's bh_gateway)
#
# What it does: mounts /proc, /sys, /dev, /run and /tmp; loads the kernel
# modules of this image in dependency order (/modules/order) and raises
# gntalloc's grant limit (the channels' rings are grants); mounts the
# domain's persistent state on /var/lib/bulkhead: the second disk xvdb when
# the domain has one (formatted ext4 only when it is blank: its
# first MiB all zeros), else a tmpfs (state lost at shutdown, said on the
# console). Then it runs the role's daemon in the foreground with its control
# socket under /run/<role> served to dom0 over a channel,
# `--control-chan xen:0:data/bulkhead/ctl` (the daemon advertises it at
# /local/domain/<own domid>/data/bulkhead/ctl; dom0 connects as client):
#
#   netdom   netdomd --control /run/netdom/ctl
#   stordom  stordomd --listen /run/stordom --control /run/stordom/ctl
#                     --unseal /run/stordom/unseal.sock
#            (volumes' backing files are wherever dom0's control messages
#            say: /var/lib/bulkhead/volumes, made here; the --unseal socket
#            is a channel client of vtpm's, once dom0 wires the two)
#   vtpm     vtpmd --state-dir /var/lib/bulkhead/vtpm
#                  --key-file /var/lib/bulkhead/vtpm.key --control /run/vtpm/ctl
#                  --unseal /run/vtpm/unseal.sock
#            (the key is made with vtpmd --gen-key on first boot; the UNSEAL
#            socket is served to the stordom domain alone when dom0 asks)
#
# netdom is the backend of the guests' vifs, and does here what `xl devd`
# and Xen's vif-route script do in a driver domain (images/netdom-vif.sh):
# for each vif netback creates (backend/vif/<guest domid>/<devid> in this
# domain's xenstore home), rename it to the backend's vifname when dom0 set
# one, bring it up, give it the gateway addresses as host addresses and a
# host route to each of the guest's addresses (the backend's "ip"), then
# write hotplug-status "connected", which netback waits for before it
# connects the guest; when dom0 closes one (its guest destroyed), remove
# its backend directory, which dom0's libxl waits for. Forwarding is
# switched on, and vifs are set up, only once netdomd is up, so nothing is
# forwarded before its (closed) policy is in force.
#
# Extension point: once the daemon is up (its control socket exists), every
# executable file in /etc/bulkhead/init.d/ runs, one after the other in the
# C locale's order of their names, in the background (the daemon is not
# waited for them, nor they for each other's end beyond that order), output
# on the console, with the environment:
#   BH_ROLE        netdom, stordom or vtpm
#   BH_STATE       the state directory (/var/lib/bulkhead)
#   BH_STATE_DISK  how it was mounted: "formatted" (a blank xvdb, formatted
#                  now), "mounted" (xvdb as it was) or "tmpfs" (no xvdb)
#   BH_DAEMON_PID  the daemon's process id
# Each one's exit status is logged. The images `make images` builds have no
# such directory: nothing runs. (The nested Xen test adds its checks there:
# tests/nested/svcdom-check.sh.)
#
# When the daemon exits, for any reason, the domain powers itself off
# (poweroff -f), so dom0's supervisor sees it gone and restarts it. A
# shutdown request (xl shutdown: the kernel runs /sbin/poweroff, which
# signals PID 1) stops the daemon with SIGTERM first. Everything is logged
# to the console (hvc0; dom0's xenconsoled keeps it).
set -u

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
STATE=/var/lib/bulkhead
CTL_CHAN=xen:0:data/bulkhead/ctl

log() {
	echo "bulkhead-init: $*"
}

# The end of the domain: unmount the state disk cleanly, then power off.
halt_domain() {
	log "$1; powering off"
	sync
	umount "$STATE" 2>/dev/null
	poweroff -f
	# Not reached; PID 1 must never exit.
	while :; do sleep 3600; done
}

# Mount the second disk on $STATE. A blank disk (first MiB all zeros) is
# formatted; a disk with anything else on it that does not mount is never
# touched: the domain stops rather than run without its state.
mount_state() {
	mkdir -p "$STATE"
	if [ ! -b /dev/xvdb ]; then
		# blkfront may still be probing the disk xl gave it.
		n=20
		while [ ! -b /dev/xvdb ] && [ -e /sys/bus/xen/devices/vbd-51728 ] && [ $n -gt 0 ]; do
			sleep 0.1
			n=$((n - 1))
		done
	fi
	if [ ! -b /dev/xvdb ]; then
		log "no state disk (xvdb): state on tmpfs, lost at shutdown"
		mount -t tmpfs -o mode=0700 tmpfs "$STATE"
		state_disk=tmpfs
		return 0
	fi
	if mount -t ext4 /dev/xvdb "$STATE" 2>/dev/null; then
		log "state disk xvdb mounted on $STATE"
		state_disk=mounted
		return 0
	fi
	if [ "$(head -c 1048576 /dev/xvdb | tr -d '\000' | wc -c)" != 0 ]; then
		log "state disk xvdb holds data but no filesystem that mounts: refusing to format it"
		return 1
	fi
	log "state disk xvdb is blank: formatting it"
	# ext4 with a journal (e2fsprogs): the domain may be destroyed at any time.
	mkfs.ext4 -q -F /dev/xvdb >/dev/null || { log "mkfs.ext4 /dev/xvdb failed"; return 1; }
	mount -t ext4 /dev/xvdb "$STATE" || { log "cannot mount the new filesystem"; return 1; }
	log "state disk xvdb formatted and mounted on $STATE"
	state_disk=formatted
}

# The daemon's command line for $role, on stdout (so anything else goes to
# stderr, the console too).
daemon_args() {
	case $role in
	netdom)
		mkdir -p /run/netdom
		echo "netdomd --control /run/netdom/ctl"
		;;
	stordom)
		mkdir -p /run/stordom "$STATE/volumes"
		echo "stordomd --listen /run/stordom --control /run/stordom/ctl --unseal /run/stordom/unseal.sock"
		;;
	vtpm)
		mkdir -p /run/vtpm "$STATE/vtpm"
		if [ ! -e "$STATE/vtpm.key" ]; then
			vtpmd --gen-key "$STATE/vtpm.key" >&2 || return 1
			sync # on the state disk before anything is sealed under it
			log "made a new vtpmd manager key" >&2
		fi
		echo "vtpmd --state-dir $STATE/vtpm --key-file $STATE/vtpm.key --control /run/vtpm/ctl --unseal /run/vtpm/unseal.sock"
		;;
	*)
		return 1
		;;
	esac
}

# Wait until the daemon's control socket exists (at most 30 s); 1 if it
# never came.
daemon_up() {
	n=300
	while [ ! -S "/run/$role/ctl" ]; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}

# The extension point (see the header): each executable in
# /etc/bulkhead/init.d/, in order, once the daemon is up.
run_hooks() {
	daemon_up || { log "$role's daemon never came up: /etc/bulkhead/init.d not run"; return 1; }
	for h in /etc/bulkhead/init.d/*; do
		{ [ -f "$h" ] && [ -x "$h" ]; } || continue
		log "running $h"
		BH_ROLE=$role BH_STATE=$STATE BH_STATE_DISK=$state_disk BH_DAEMON_PID=$daemon "$h"
		log "$h exited with status $?"
	done
}

# netdom's vif backend, once netdomd is up (its control socket exists): the
# hotplug agent of /lib/bulkhead/netdom-vif.sh (images/netdom-vif.sh), the
# same file the nested test's netdom image runs.
netdom_backend() {
	daemon_up || { log "netdomd never came up: no vifs served"; return 1; }
	# shellcheck source=images/netdom-vif.sh
	. /lib/bulkhead/netdom-vif.sh
	vif_agent "$gateways"
}

# ---- main ---------------------------------------------------------------------
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /tmp
ln -sf /run /var/run

role="" verbose="" extra="" gateways="" state_disk=""
# shellcheck disable=SC2013 # the command line's words
for w in $(cat /proc/cmdline); do
	case $w in
	bh_role=*) role=${w#bh_role=} ;;
	bh_verbose=1) verbose=-v ;;
	bh_gw=*) gateways=${w#bh_gw=} ;;
	bh_args=*) extra=$(echo "${w#bh_args=}" | base64 -d) || halt_domain "bh_args is not base64" ;;
	esac
done
hostname "${role:-bulkhead}"
log "role '$role'"

while read -r m; do
	insmod "/modules/$m" || log "insmod $m failed"
done </modules/order
# Each page of a channel's rings is a grant from gntalloc, whose default
# limit is 1024 for the whole domain: one of stordom's NBD channels (1 MiB
# each way, 513 grants) per guest volume would leave room for one. The
# grant table holds 32768 (Xen's default of 64 frames).
echo 16384 >/sys/module/xen_gntalloc/parameters/limit || log "cannot raise gntalloc's grant limit"

mount_state || halt_domain "no usable state disk"
cmd=$(daemon_args) || halt_domain "unknown role '$role' (bh_role=netdom|stordom|vtpm) or set-up failed"

# shellcheck disable=SC2086 # split into words on purpose
set -- $cmd --control-chan "$CTL_CHAN" $extra $verbose
log "starting: $*"
"$@" &
daemon=$!
if [ "$role" = netdom ]; then
	netdom_backend &
fi
# Only when there is anything to run: the shipped images have no init.d.
if [ -n "$(ls /etc/bulkhead/init.d 2>/dev/null)" ]; then
	run_hooks &
fi
# Shutdown requests reach PID 1 as signals (busybox poweroff, halt, reboot:
# USR2, USR1, TERM): stop the daemon; the wait below then returns.
trap 'log "shutdown requested"; kill -TERM $daemon 2>/dev/null' TERM USR1 USR2
# A trapped signal interrupts wait; wait again until the daemon is gone.
while :; do
	wait $daemon
	rc=$?
	kill -0 $daemon 2>/dev/null || break
done
halt_domain "$1 exited with status $rc"
