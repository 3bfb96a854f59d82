#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Boot `make images`' images under real Xen: Debian 12's Xen 4.17 and a
# small dom0 (busybox, the Xen tools, xen-svc-ctl) under QEMU TCG, which
# creates netdom, stordom, vtpm and a guest from the images as they ship and
# checks what their /init scripts promise (tests/images/boot-dom0.sh).
#
#   tests/images/boot.sh DIR CACHE IMAGES SVCCTL   (what `make check-images-boot` runs)
#
# DIR gets the dom0 image and the serial log; CACHE is the unpacked Debian
# tree's cache (scripts/fetch-debs.sh); IMAGES is `make images`' output;
# SVCCTL the static xen-svc-ctl (tests/nested). Knob: IMAGES_BOOT_TIMEOUT
# (seconds for QEMU, default 780).
set -euo pipefail

usage="usage: boot.sh DIR CACHE IMAGES SVCCTL"
mkdir -p "${1:?$usage}"
dir=$(realpath "$1")
cache=$(realpath "${2:?$usage}")
images=$(realpath "${3:?$usage}")
svcctl=$(realpath "${4:?$usage}")
here=$(dirname "$(realpath "$0")")
top=$(dirname "$(dirname "$here")")
log=$dir/serial.log
start=$(date +%s)

MARKERS=(dom0-init dom0-ready netdom-ctl stordom-ctl vtpm-ctl vtpm-state-disk vtpm-instance
	guest-created guest-ok vtpm-shutdown vtpm-state-kept PASS)

"$top/scripts/fetch-debs.sh" "$cache"
# shellcheck source=scripts/imagelib.sh
. "$top/scripts/imagelib.sh"
img_init "$cache/root"

if [ "$img_root/boot/xen-4.17-amd64.gz" -nt "$dir/xen" ]; then
	gzip -dc "$img_root/boot/xen-4.17-amd64.gz" >"$dir/xen.tmp"
	mv "$dir/xen.tmp" "$dir/xen"
fi
img_kernel "$dir/kernel"

# dom0: busybox, the Xen tools with their libraries, the modules (blkback
# and loop for the vtpm's state disk), xen-svc-ctl, the images under test.
d0=$dir/dom0-root
rm -rf "$d0"
img_base "$d0"
xenbin=/usr/lib/xen-4.17/bin
img_programs "$d0" "$xenbin/xl" "$xenbin/xenstored" "$xenbin/xenconsoled" "$xenbin/xen-init-dom0"
img_xenstore "$d0" read write ls list rm chmod exists watch
mkdir -p "$d0/etc/xen" "$d0/bh/img"
install -m 0644 "$img_root/etc/xen/xl.conf" "$d0/etc/xen/xl.conf"
img_modules "$d0" xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc xen-blkback loop
install -m 0755 "$here/boot-dom0.sh" "$d0/init"
# The helpers it shares with the nested test's /init scripts.
install -D -m 0644 "$top/tests/nested/init-lib.sh" "$d0/lib/bulkhead/test-init-lib.sh"
install -m 0755 "$svcctl" "$d0/bh/xen-svc-ctl"
for f in vmlinuz netdom.cpio stordom.cpio vtpm.cpio guest.cpio; do
	install -m 0644 "$images/$f" "$d0/bh/img/$f"
done
img_cpio "$d0" "$dir/dom0.cpio"
rm -rf "$d0"

timeout_s=${IMAGES_BOOT_TIMEOUT:-780}
echo "images-boot: booting Xen under QEMU, timeout ${timeout_s}s ($(($(date +%s) - start))s)"
set +e
# The machine the nested test uses (tests/nested/README.md: qemu64 with one
# vCPU is what runs reliably under TCG; RDRAND seeds the guests' RNG).
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
	-machine q35 -accel tcg -cpu qemu64,+rdrand -smp 1 -m 2048 \
	-nographic -monitor none -serial stdio -no-reboot -nic none \
	-kernel "$dir/xen" \
	-append "console=com1 com1=115200,8n1 serial_tx_buffer=4M loglvl=all guest_loglvl=all bootscrub=0 dom0_mem=768M,max:768M dom0_max_vcpus=1" \
	-initrd "$dir/kernel/vmlinux console=hvc0 earlyprintk=xen rdinit=/init,$dir/dom0.cpio" \
	</dev/null >"$log" 2>&1 &
qemu=$!
trap 'kill $qemu 2>/dev/null || true' EXIT
tail --pid=$qemu -n +1 -F "$log" 2>/dev/null | grep --line-buffered -aoE 'BH-IMG: .*' |
	while IFS= read -r line; do echo "[$(($(date +%s) - start))s] ${line%$'\r'}"; done &
follower=$!
wait $qemu
rc=$?
wait $follower
set -e

clean=$dir/serial.clean.log
tr -d '\r' <"$log" >"$clean"
missing=()
for m in "${MARKERS[@]}"; do
	grep -qE "BH-IMG: $m( |\$)" "$clean" || missing+=("$m")
done
crashes=$(grep -aE 'segfault at|traps:|general protection fault|Kernel panic|BUG:|Oops:' "$clean" |
	grep -v BH-IMG-DIAG | head -n 10 || true)
if [ $rc -eq 0 ] && [ ${#missing[@]} -eq 0 ] && [ -z "$crashes" ]; then
	echo "images-boot: PASS in $(($(date +%s) - start))s (serial log: $log)"
	echo "images-boot: ${#MARKERS[@]} passed, 0 failed"
	exit 0
fi
echo "images-boot: FAIL after $(($(date +%s) - start))s; missing: ${missing[*]:-none}; QEMU exit $rc"
[ -z "$crashes" ] || echo "$crashes"
grep -a 'BH-IMG: FAIL\|watchdog-expired' "$clean" || true
sed -n '/BH-IMG-DIAG: ---- xl list/,/BH-IMG-DIAG: ---- end/p' "$clean" | tail -n 200
echo "images-boot: $((${#MARKERS[@]} - ${#missing[@]})) passed, $((${#missing[@]} > 0 ? ${#missing[@]} : 1)) failed"
exit 1
