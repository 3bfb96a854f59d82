#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The nested dom0's block hotplug script, /etc/xen/scripts/block: libxl runs
# it (add, remove; XENBUS_PATH = the disk's backend directory) for each disk
# of a domain `bulkhead up` creates, here the service domains' state disks.
# It does what Xen's own block script does for a file or block device
# target, without that script's dependencies (bash, util-linux, its locks):
# a file gets a loop device, and blkback is given the device's numbers.
set -u

case ${1:-} in
add)
	p=$(xenstore-read "$XENBUS_PATH/params") || exit 1
	dev=$p
	if [ -f "$p" ]; then
		dev=$(losetup -f) && losetup "$dev" "$p" || exit 1
	fi
	[ -b "$dev" ] || exit 1
	mm=$(printf '%x:%x' "$(stat -L -c 0x%t "$dev")" "$(stat -L -c 0x%T "$dev")")
	xenstore-write "$XENBUS_PATH/physical-device" "$mm" \
		"$XENBUS_PATH/physical-device-path" "$dev" "$XENBUS_PATH/hotplug-status" connected
	;;
remove)
	dev=$(xenstore-read "$XENBUS_PATH/physical-device-path" 2>/dev/null) || exit 0
	case $dev in /dev/loop*) losetup -d "$dev" 2>/dev/null ;; esac
	;;
esac
exit 0
