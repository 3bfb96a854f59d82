#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of the dom0 that tests/images/boot.sh boots under QEMU: it creates
# service domains and a guest from `make images`' own kernel and initramfs
# images (images/init-service.sh, images/init-guest.sh as they ship) with
# plain `xl create`, and checks what those /init scripts promise:
#
#   netdom   runs netdomd, advertises its control channel, and serves a
#            guest's vif (renamed to its vifname, up, gateway from bh_gw=,
#            route to the guest, hotplug-status "connected")
#   stordom  runs stordomd on a tmpfs state directory (no second disk)
#   vtpm     formats its blank second disk (xvdb), runs vtpmd on it, serves
#            dom0's control messages (create + start an instance), stops
#            its daemon and powers off on `xl shutdown`, and when created
#            again with the same disk mounts it as it is: the instance it
#            made is still there and starts
#   guest    gets a proxy socket per endpoint dom0 wrote into its xenstore
#            home, reaches the gateway through netdom, runs bh_cmd64 and
#            reports its exit status in data/bulkhead/cmd-status
#
# One "BH-IMG: <milestone>" line per step on the console; diagnostics and a
# power-off on any failure or when the watchdog fires.
# A && B || fail: fail when either check fails, on purpose.
# shellcheck disable=SC2015
set -u

export PATH=/usr/lib/xen-4.17/bin:/usr/sbin:/usr/bin:/sbin:/bin
export XENSTORED_ROOTDIR=/run/xenstored
IMG=/bh/img
LOGDIR=/var/log/xen
SVCCTL=/bh/xen-svc-ctl

# mark: "BH-IMG: ..." milestone lines; fail: mark FAIL, diag below, power
# off; wait_for, poweroff_now: shared with the nested test's /init scripts.
MARK_PREFIX=BH-IMG
# shellcheck source=tests/nested/init-lib.sh
. /lib/bulkhead/test-init-lib.sh

diag() {
	echo "BH-IMG-DIAG: ---- xl list"
	timeout 10 xl list 2>&1
	echo "BH-IMG-DIAG: ---- xenstore"
	timeout 10 xenstore-ls -fp /local/domain 2>&1 | grep -E '/(data|backend/vif|device/vif)' | head -n 80
	for f in "$LOGDIR"/guest-*.log /tmp/*.log; do
		[ -e "$f" ] || continue
		echo "BH-IMG-DIAG: ---- $f"
		grep -v '^\[ *[0-9]' "$f" | tail -n 40
	done
	echo "BH-IMG-DIAG: ---- end"
}

# says DOMAIN TEXT: has DOMAIN's console shown TEXT (fixed string)?
says() {
	grep -qF "$2" "$LOGDIR/guest-$1.log" 2>/dev/null
}

# A minimal block hotplug script for the test's phy: disks (a loop device):
# what Xen's own block script does for them, without its dependencies.
block_script() {
	mkdir -p /etc/xen/scripts
	cat >/etc/xen/scripts/block <<-'EOF'
		#!/bin/sh
		[ "$1" = add ] || exit 0
		dev=$(xenstore-read "$XENBUS_PATH/params")
		mm=$(printf '%x:%x' "$(stat -L -c 0x%t "$dev")" "$(stat -L -c 0x%T "$dev")")
		xenstore-write "$XENBUS_PATH/physical-device" "$mm" \
			"$XENBUS_PATH/physical-device-path" "$dev" "$XENBUS_PATH/hotplug-status" connected
	EOF
	chmod 0755 /etc/xen/scripts/block
}

# svc ROLE "CMDLINE" [XL-OPTION]: create bh-ROLE from its image; wait for its
# control channel.
svc() {
	timeout 90 xl create /tmp/svc.cfg "name=\"bh-$1\"" "ramdisk=\"$IMG/$1.cpio\"" \
		"extra=\"console=hvc0 rdinit=/init bh_role=$1 $2\"" ${3:+"$3"} >/tmp/create-"$1".log 2>&1 ||
		fail "xl create bh-$1"
	d=$(xl domid "bh-$1") || fail "no domid for bh-$1"
	wait_for 180 xenstore-exists "/local/domain/$d/data/bulkhead/ctl/ring-ref" ||
		fail "bh-$1 never advertised its control channel"
	mark "$1-ctl (domain $d advertises data/bulkhead/ctl)"
}

gone() {
	! xl domid "$1" >/dev/null 2>&1
}

ctl_vtpm() {
	d=$(xl domid bh-vtpm)
	timeout 100 $SVCCTL --domid "$d" --path data/bulkhead/ctl --timeout 90 vtpm "$@" \
		>/tmp/vtpm-ctl.log 2>&1
}

# ---- main ---------------------------------------------------------------------
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
ln -sfn /run /var/run
mkdir -p /var/lib/xen /var/log/xen /var/lock /run/xen /run/xenstored
mark dom0-init
(
	sleep "${BH_WATCHDOG:-720}"
	mark "watchdog-expired"
	diag
	poweroff_now
) &

while read -r m; do
	insmod "/modules/$m" || fail "insmod $m"
done </modules/order
mount -t xenfs xenfs /proc/xen || fail "mount xenfs"
xenstored --pid-file=/run/xenstored.pid || fail "xenstored"
wait_for 20 timeout 2 xenstore-read -s / || fail "xenstored does not answer"
timeout 30 xen-init-dom0 >/tmp/init-dom0.log 2>&1 || fail "xen-init-dom0"
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=$LOGDIR || fail "xenconsoled"
block_script
mark dom0-ready

cat >/tmp/svc.cfg <<EOF
type = "pv"
kernel = "$IMG/vmlinuz"
memory = 192
vcpus = 1
on_poweroff = "destroy"
on_crash = "preserve"
EOF
# vtpm's state disk: blank, as a new deployment's would be.
truncate -s 32M /run/vtpm-state.img
losetup /dev/loop0 /run/vtpm-state.img || fail "losetup"
vtpm_disk='disk=["phy:/dev/loop0,xvdb,w"]'

svc netdom "bh_gw=10.99.1.1/24"
svc stordom ""
says bh-stordom "state on tmpfs" || fail "stordom did not say its state is on tmpfs"
svc vtpm "" "$vtpm_disk"
says bh-vtpm "state disk xvdb is blank: formatting it" &&
	says bh-vtpm "state disk xvdb formatted and mounted" || fail "vtpm did not format its blank xvdb"
mark "vtpm-state-disk (blank xvdb formatted, mounted)"
ctl_vtpm create web start web || fail "vtpm create/start over the control channel"
grep -q 'start web: status=0' /tmp/vtpm-ctl.log || fail "vtpm start: $(cat /tmp/vtpm-ctl.log)"
mark "vtpm-instance ($(grep '^start ' /tmp/vtpm-ctl.log))"

# The guest, paused until its endpoint is written (as a real dom0 should).
cat >/tmp/guest.cfg <<EOF
name = "bh-guest"
type = "pv"
kernel = "$IMG/vmlinuz"
ramdisk = "$IMG/guest.cpio"
memory = 256
vcpus = 1
vif = [ "backend=bh-netdom,mac=00:16:3e:00:00:02,ip=10.99.1.2,vifname=vif1.0" ]
EOF
cmd='ip link set eth0 up && ip addr add 10.99.1.2/24 dev eth0 || exit 1
test -S /run/bulkhead/disk0.sock || { echo "GUEST: no disk0.sock"; exit 2; }
ping -c 1 -W 20 10.99.1.1 || { echo "GUEST: gateway unreachable"; exit 3; }
echo "GUEST: checks passed"'
b64=$(printf %s "$cmd" | base64 -w 0)
timeout 90 xl create -p /tmp/guest.cfg "extra=\"console=hvc0 rdinit=/init bh_cmd64=$b64\"" \
	>/tmp/create-guest.log 2>&1 || fail "xl create bh-guest"
g=$(xl domid bh-guest) s=$(xl domid bh-stordom) nd=$(xl domid bh-netdom)
xenstore-write "/local/domain/$g/data/bulkhead/disk0" "$s /local/domain/$s/data/bulkhead/nbd-x" &&
	xenstore-chmod "/local/domain/$g/data/bulkhead/disk0" n0 "r$g" || fail "endpoint"
xl unpause bh-guest || fail "xl unpause"
mark "guest-created (domain $g)"
wait_for 180 xenstore-exists "/local/domain/$g/data/bulkhead/cmd-status" || fail "guest never ran bh_cmd"
st=$(xenstore-read "/local/domain/$g/data/bulkhead/cmd-status")
[ "$st" = 0 ] || fail "guest bh_cmd exited $st"
hp=$(xenstore-read "/local/domain/$nd/backend/vif/$g/0/hotplug-status")
fe=$(xenstore-read "/local/domain/$g/device/vif/0/state")
[ "$hp" = connected ] && [ "$fe" = 4 ] || fail "vif: hotplug-status '$hp', frontend state '$fe'"
says bh-netdom "vif vif1.0 up (guest addresses: 10.99.1.2)" || fail "netdom did not set up vif1.0"
mark "guest-ok (vif1.0 connected through netdom, gateway reached, disk0.sock, bh_cmd status 0)"

# Shutdown: the daemon is stopped, the domain powers itself off.
timeout 90 xl shutdown -w bh-vtpm >/tmp/shutdown.log 2>&1 || fail "xl shutdown bh-vtpm"
# xl's monitor destroys the powered-off domain (on_poweroff) a moment later.
wait_for 30 gone bh-vtpm || fail "bh-vtpm still exists"
says bh-vtpm "shutdown requested" && says bh-vtpm "vtpmd exited with status 0; powering off" ||
	fail "vtpm did not stop its daemon"
mark "vtpm-shutdown (daemon stopped, domain powered off)"

# The same disk again: mounted as it is, the key and the instance kept.
mv "$LOGDIR/guest-bh-vtpm.log" /tmp/vtpm-first-boot.log
svc vtpm "" "$vtpm_disk"
says bh-vtpm "state disk xvdb mounted on /var/lib/bulkhead" || fail "vtpm did not mount its disk"
! says bh-vtpm "formatting" && ! says bh-vtpm "made a new vtpmd manager key" ||
	fail "vtpm formatted its disk again or made a new key"
ctl_vtpm start web || fail "vtpm start after the restart"
grep -q 'start web: status=0' /tmp/vtpm-ctl.log || fail "vtpm start: $(cat /tmp/vtpm-ctl.log)"
mark "vtpm-state-kept (xvdb mounted as it was; instance web starts again)"

pat='segfault at|traps:|general protection|Kernel panic|BUG:|Oops|invalid opcode'
if dmesg | grep -E "$pat" || cat "$LOGDIR"/guest-*.log /tmp/vtpm-first-boot.log | grep -E "$pat"; then
	fail "a crash in a kernel log"
fi
mark PASS
poweroff_now
