#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Build what QEMU boots for the nested-Xen test, from the tree
# scripts/fetch-debs.sh unpacked, with scripts/imagelib.sh's building blocks
# (the same as `make images`):
#
#   DIR/img/xen          the hypervisor as a plain ELF (QEMU's multiboot
#                        loader cannot take the .gz Debian ships)
#   DIR/img/kernel/vmlinux  the dom0 kernel as an ELF, pulled out of the
#                        bzImage so the dom0 boot skips an XZ inflate under TCG
#                        (vmlinuz next to it, gzipped, for the domUs)
#   DIR/img/domu.cpio    the stress domU: busybox, three modules, the static
#                        test binary
#   DIR/img/SVC.cpio     a service domain each (netdom, stordom, vtpm): the
#                        shipped image `make images` built (IMAGES/SVC.cpio:
#                        images/init-service.sh as /init, the daemon, its
#                        libraries and modules), followed by a second cpio
#                        archive that adds the test's checks,
#                        svcdom-check.sh as /etc/bulkhead/init.d/
#                        50-nested-checks (init-service.sh's extension point;
#                        netdom: also nft); the kernel unpacks both, the
#                        second over the first
#   DIR/img/guest.cpio   the guests bulkhead starts: busybox, the vchan,
#                        privcmd and netfront modules, xenstore-read/-list/
#                        -write/-watch/-exists, vchan-socket-proxy, qemu-img,
#                        tpm2-tools (tpm2_pcrread) with the swtpm TCTI
#   DIR/img/dom0.cpio    dom0's initramfs: busybox, the Xen tools, bulkhead,
#                        the standard clients (nbdinfo, nbdcopy, tpm2-tools,
#                        vchan-socket-proxy) and their exact shared-library
#                        closure, the Xen modules, our static test programs,
#                        the domUs' kernel, initramfs images, configs and
#                        configs/nested (the topology `bulkhead up` runs)
#
#   mkimages.sh DIR STRESS_BINARY BUILD_DIR IMAGES
#
# BUILD_DIR holds bulkhead, netdomd, stordomd and vtpmd; IMAGES what `make
# images` built from them (scripts/mkimages.sh). Uncompressed cpio: it boots
# fastest.
set -euo pipefail

usage="usage: mkimages.sh DIR STRESS_BINARY BUILD_DIR IMAGES"
dir=$(realpath "${1:?$usage}")
stress=$(realpath "${2:?$usage}")
build=$(realpath "${3:?$usage}")
shipped=$(realpath "${4:?$usage}")
here=$(dirname "$(realpath "$0")")
root=$dir/root
img=$dir/img
topo=$(realpath "$here/../../configs/nested")
mkdir -p "$img"

die() {
	echo "mkimages: $*" >&2
	exit 1
}

for f in "$build/bulkhead" "$build/netdomd" "$build/stordomd" "$build/vtpmd"; do
	[ -x "$f" ] || die "$f not built"
done
for f in netdom stordom vtpm; do
	[ -e "$shipped/$f.cpio" ] || die "$shipped/$f.cpio not built (make images)"
done

# Nothing to do when no input changed since the last build: the scripts,
# configs and programs that go into the images, the unpacked tree (its
# package list) and the shared image scripts.
inputs=("$here"/*.sh "$shipped"/{netdom,stordom,vtpm}.cpio "$here"/*.cfg "$topo"/*.cfg "$topo"/guests/*.cfg "$stress" \
	"$build/bulkhead" "$build/netdomd" "$build/stordomd" "$build/vtpmd" \
	"$root/.complete" "$here"/../../scripts/{imagelib,fetch-debs}.sh)
stamp=$( (cd / && sha256sum "${inputs[@]}") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$img/.stamp" 2>/dev/null)" = "$stamp" ] && [ -e "$img/dom0.cpio" ]; then
	exit 0
fi
rm -f "$img/.stamp"

# shellcheck source=scripts/imagelib.sh
. "$here/../../scripts/imagelib.sh"
img_init "$root"

if [ "$root/boot/xen-4.17-amd64.gz" -nt "$img/xen" ]; then
	gzip -dc "$root/boot/xen-4.17-amd64.gz" >"$img/xen.tmp"
	mv "$img/xen.tmp" "$img/xen"
fi
# dom0 boots the ELF (skips an XZ inflate under TCG); the domUs get it gzipped.
img_kernel "$img/kernel"

xenbin=/usr/lib/xen-4.17/bin

# ---- the stress domU: busybox, three modules, the static test binary ----------
domu=$img/domu-root
rm -rf "$domu"
mkdir -p "$domu"/{proc,sys,dev,tmp,bh,bin}
install -m 0755 "$root/bin/busybox" "$domu/bin/busybox"
ln -s busybox "$domu/bin/sh"
img_modules "$domu" xen-evtchn xen-gntdev xen-gntalloc
install -m 0755 "$here/domu-init.sh" "$domu/init"
install -D -m 0644 "$here/init-lib.sh" "$domu/lib/bulkhead/test-init-lib.sh"
install -m 0755 "$stress" "$domu/bh/xen-chan-stress"
img_cpio "$domu" "$img/domu.cpio"

# ---- the service domUs --------------------------------------------------------
# What operators deploy, `make images`' netdom.cpio, stordom.cpio and
# vtpm.cpio, unchanged, each followed by a second archive with the test's
# checks in init-service.sh's extension point (/etc/bulkhead/init.d/) and
# what they need beyond the shipped image: netdom's `nft list ruleset`. A
# concatenation of newc archives is one initramfs to the kernel (as an early
# microcode archive is), the later entries over the earlier.
svc_image() {
	local svc=$1 d=$img/$1-checks
	rm -rf "$d"
	mkdir -p "$d"/{etc/bulkhead/init.d,usr/lib/x86_64-linux-gnu,usr/lib64}
	install -m 0755 "$here/svcdom-check.sh" "$d/etc/bulkhead/init.d/50-nested-checks"
	# Under usr/lib: the shipped image's /lib is a link to it.
	install -D -m 0644 "$here/init-lib.sh" "$d/usr/lib/bulkhead/test-init-lib.sh"
	[ "$svc" = netdom ] && img_programs "$d" /usr/sbin/nft
	img_cpio "$d" "$img/$svc-checks.cpio"
	cat "$shipped/$svc.cpio" "$img/$svc-checks.cpio" >"$img/$svc.cpio.tmp"
	mv "$img/$svc.cpio.tmp" "$img/$svc.cpio"
}
for svc in netdom stordom vtpm; do
	svc_image $svc
done

# ---- the guests -------------------------------------------------------------
# The standard clients a guest reaches its services with: Xen's
# vchan-socket-proxy (it opens privcmd: xen-privcmd), qemu-img for the
# volume (its closure is ~15 MB, libnbd's ~47 with libicu), tpm2-tools
# with the swtpm TCTI for the vTPM.
guest=$img/guest-root
rm -rf "$guest"
img_base "$guest"
img_xenstore "$guest" read list write watch exists
img_programs "$guest" "$xenbin/vchan-socket-proxy" /usr/bin/qemu-img /usr/bin/tpm2
ln -s tpm2 "$guest/usr/bin/tpm2_pcrread"
tcti=$(realpath "$root/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0")
install -m 0644 "$tcti" "$guest/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0"
img_libs "$guest" "$tcti"
img_modules "$guest" xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xen-netfront
install -m 0755 "$here/guest-init.sh" "$guest/init"
install -D -m 0644 "$here/init-lib.sh" "$guest/lib/bulkhead/test-init-lib.sh"
img_cpio "$guest" "$img/guest.cpio"

# ---- dom0 ---------------------------------------------------------------------
d0=$img/dom0-root
rm -rf "$d0"
img_base "$d0"
mkdir -p "$d0"/{etc/xen,bh/domu}

img_programs "$d0" "$xenbin/xl" "$xenbin/xenstored" "$xenbin/xenconsoled" \
	"$xenbin/xen-init-dom0" "$xenbin/vchan-socket-proxy" /usr/bin/nbdinfo /usr/bin/nbdcopy /usr/bin/tpm2
img_xenstore "$d0" read write ls list rm chmod exists watch
# tpm2-tools is one binary that acts on the name it is run by; tpm2-tss's
# loader dlopens the TCTI named by -T, so add that library by hand.
for t in startup pcrextend pcrread; do
	ln -s tpm2 "$d0/usr/bin/tpm2_$t"
done
tcti=$(realpath "$root/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0")
install -m 0644 "$tcti" "$d0/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0"
img_libs "$d0" "$tcti"
# dom0's control plane: bulkhead itself (`bulkhead up` on the xen platform).
install -D -m 0755 "$build/bulkhead" "$d0/usr/sbin/bulkhead"
img_libs "$d0" "$build/bulkhead"
install -m 0644 "$root/etc/xen/xl.conf" "$d0/etc/xen/xl.conf"

# xen-blkback and loop: the service domains' state disks are files in dom0,
# given to blkback as loop devices by our block hotplug script.
img_modules "$d0" xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc xen-blkback loop
install -D -m 0755 "$here/block-hotplug.sh" "$d0/etc/xen/scripts/block"
install -m 0755 "$here/dom0-init.sh" "$d0/init"
install -D -m 0644 "$here/init-lib.sh" "$d0/lib/bulkhead/test-init-lib.sh"
install -m 0755 "$stress" "$d0/bh/xen-chan-stress"
install -m 0644 "$here/domu.cfg" "$here/intruder.cfg" "$d0/bh/"
mkdir -p "$d0/bh/configs"
cp -r "$topo" "$d0/bh/configs/nested"
cp "$img/kernel/vmlinuz" "$d0/bh/domu/vmlinux.gz"
cp "$img/domu.cpio" "$d0/bh/domu/initrd.cpio"
for svc in netdom stordom vtpm guest; do
	cp "$img/$svc.cpio" "$d0/bh/domu/$svc.cpio"
done
img_cpio "$d0" "$img/dom0.cpio"
echo "$stamp" >"$img/.stamp"
