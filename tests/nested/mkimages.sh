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
#   DIR/img/SVC.cpio     a service domain each (netdom, stordom, vtpm): busybox,
#                        the daemon as `make` built it with its exact shared-
#                        library closure, the kernel modules it needs with
#                        their dependencies, xenstore-read/-write/-watch
#                        (netdom: also nft, xenstore-ls/-list/-rm and the
#                        shipped image's vif hotplug agent)
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
#   mkimages.sh DIR STRESS_BINARY BUILD_DIR
#
# BUILD_DIR holds bulkhead, netdomd, stordomd and vtpmd. Uncompressed cpio:
# it boots fastest.
set -euo pipefail

dir=$(realpath "${1:?usage: mkimages.sh DIR STRESS_BINARY BUILD_DIR}")
stress=$(realpath "${2:?usage: mkimages.sh DIR STRESS_BINARY BUILD_DIR}")
build=$(realpath "${3:?usage: mkimages.sh DIR STRESS_BINARY BUILD_DIR}")
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

# Nothing to do when no input changed since the last build: the scripts,
# configs and programs that go into the images, the unpacked tree (its
# package list) and the shared image scripts.
inputs=("$here"/*.sh "$here"/../../images/netdom-vif.sh "$here"/*.cfg "$topo"/*.cfg "$topo"/guests/*.cfg "$stress" \
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
install -m 0755 "$stress" "$domu/bh/xen-chan-stress"
img_cpio "$domu" "$img/domu.cpio"

# ---- the service domUs --------------------------------------------------------
# Each: busybox, the vchan modules, xenstore-read/-write/-watch (the test's
# dom0 -> domU signals), its daemon and what it needs, svcdom-init.sh as /init.
svc_image() {
	local svc=$1 d=$img/$1-root
	shift
	rm -rf "$d"
	img_base "$d"
	img_xenstore "$d" read write watch
	install -D -m 0755 "$build/${svc}d" "$d/usr/sbin/${svc}d"
	img_libs "$d" "$build/${svc}d"
	install -m 0755 "$here/svcdom-init.sh" "$d/init"
}

# netdom: nftables and conntrack (what netdomd's table uses: ct, limit, log
# to an NFLOG group, reject, counter objects; ctnetlink to prune flows), nft
# to check from inside; xen-netback: netdom is the backend of the guests'
# vifs, served by the shipped image's hotplug agent (images/netdom-vif.sh,
# which also needs xenstore-ls/-list/-rm).
svc_image netdom
img_programs "$img/netdom-root" /usr/sbin/nft
img_xenstore "$img/netdom-root" ls list rm
install -D -m 0644 "$here/../../images/netdom-vif.sh" "$img/netdom-root/lib/bulkhead/netdom-vif.sh"
img_modules "$img/netdom-root" xen-evtchn xen-gntdev xen-gntalloc nf_tables nft_ct \
	nft_limit nft_log nft_reject_inet nft_objref nfnetlink_log nf_conntrack_netlink xen-netback
img_cpio "$img/netdom-root" "$img/netdom.cpio"

# stordom and vtpm: blkfront and ext4 for the state disk (xvdb) bulkhead
# attaches, and e2fsprogs' mkfs.ext4, which formats it (with a journal) when
# blank.
svc_image stordom
img_programs "$img/stordom-root" /sbin/mkfs.ext4
img_modules "$img/stordom-root" xen-evtchn xen-gntdev xen-gntalloc xen-blkfront ext4
img_cpio "$img/stordom-root" "$img/stordom.cpio"

svc_image vtpm
img_programs "$img/vtpm-root" /sbin/mkfs.ext4
img_modules "$img/vtpm-root" xen-evtchn xen-gntdev xen-gntalloc xen-blkfront ext4
img_cpio "$img/vtpm-root" "$img/vtpm.cpio"

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
