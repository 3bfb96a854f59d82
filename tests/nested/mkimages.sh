#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Build what QEMU boots for the nested-Xen test, from the tree fetch.sh
# unpacked:
#
#   DIR/img/xen          the hypervisor as a plain ELF (QEMU's multiboot
#                        loader cannot take the .gz Debian ships)
#   DIR/img/vmlinux      the dom0 kernel as an ELF, pulled out of the bzImage
#                        so the dom0 boot skips an XZ inflate under TCG
#   DIR/img/dom0.cpio    dom0's initramfs: busybox, the Xen tools and their
#                        exact shared-library closure, the Xen modules, our
#                        test binary, and the domU's kernel, initramfs, config
#
#   mkimages.sh DIR STRESS_BINARY
#
# Uncompressed cpio: it boots fastest, and the size (~30 MB) does not matter.
set -euo pipefail

dir=$(realpath "${1:?usage: mkimages.sh DIR STRESS_BINARY}")
stress=$(realpath "${2:?usage: mkimages.sh DIR STRESS_BINARY}")
here=$(dirname "$(realpath "$0")")
root=$dir/root
img=$dir/img
kver=$(basename "$(ls -d "$root"/lib/modules/*)")
mkdir -p "$img"

# Rebuild a derived file only when its source is newer.
stale() {
	[ ! -e "$1" ] || [ "$2" -nt "$1" ]
}

if stale "$img/xen" "$root/boot/xen-4.17-amd64.gz"; then
	gzip -dc "$root/boot/xen-4.17-amd64.gz" >"$img/xen.tmp"
	mv "$img/xen.tmp" "$img/xen"
fi

# The bzImage carries the kernel as one XZ stream after the setup code: find
# the stream's magic, inflate just that stream, check we got an ELF.
vmlinuz=$root/boot/vmlinuz-$kver
if stale "$img/vmlinux" "$vmlinuz"; then
	off=$(LC_ALL=C grep -obUaP -m 1 '\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1 | sed -n 1p)
	[ -n "$off" ] || { echo "mkimages: no XZ stream in $vmlinuz" >&2; exit 1; }
	# xz stops reading at the end of the stream: feed it through a process
	# substitution so the writer's SIGPIPE does not fail the pipeline.
	xz -dc --single-stream < <(tail -c +$((off + 1)) "$vmlinuz") >"$img/vmlinux.tmp"
	readelf -h "$img/vmlinux.tmp" >/dev/null
	mv "$img/vmlinux.tmp" "$img/vmlinux"
	# The domU gets the same kernel, gzipped: libxenguest in dom0 inflates
	# it, and gzip is much cheaper than XZ under emulation.
	gzip -1 -c "$img/vmlinux" >"$img/vmlinux.gz"
fi

# Install busybox and the /bin/sh that /init needs; /init makes the other
# applet links itself with `busybox --install -s` (one process in the guest
# instead of hundreds of ln runs here).
add_busybox() {
	local dst=$1
	install -D -m 0755 /bin/busybox "$dst/bin/busybox"
	ln -s busybox "$dst/bin/sh"
	mkdir -p "$dst/sbin" "$dst/usr/bin" "$dst/usr/sbin"
}

add_modules() {
	local dst=$1 m f
	shift
	mkdir -p "$dst/modules"
	for m in "$@"; do
		f=$(find "$root/lib/modules/$kver" -name "$m.ko" -print -quit)
		[ -n "$f" ] || { echo "mkimages: module $m not found" >&2; exit 1; }
		install -m 0644 "$f" "$dst/modules/"
	done
}

mkcpio() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$2.tmp"
	mv "$2.tmp" "$2"
}

# ---- domU: busybox, three modules, the static test binary --------------------
domu=$img/domu-root
rm -rf "$domu"
mkdir -p "$domu"/{proc,sys,dev,tmp,bh}
add_busybox "$domu"
add_modules "$domu" xen-evtchn xen-gntdev xen-gntalloc
install -m 0755 "$here/domu-init.sh" "$domu/init"
install -m 0755 "$stress" "$domu/bh/xen-chan-stress"
mkcpio "$domu" "$img/domu.cpio"

# ---- dom0 ---------------------------------------------------------------------
d0=$img/dom0-root
rm -rf "$d0"
mkdir -p "$d0"/{proc,sys,dev,run,tmp,var,etc/xen,bh/domu,usr/lib/x86_64-linux-gnu,usr/lib64}
# Debian's merged /usr: /lib and /lib64 are links, so the paths baked into
# binaries (the ELF interpreter /lib64/ld-linux-x86-64.so.2) resolve.
ln -s usr/lib "$d0/lib"
ln -s usr/lib64 "$d0/lib64"
add_busybox "$d0"

xenbin=/usr/lib/xen-4.17/bin
tools=("$xenbin/xl" "$xenbin/xenstored" "$xenbin/xenconsoled" "$xenbin/xen-init-dom0"
	/usr/bin/xenstore)
for t in "${tools[@]}"; do
	install -D -m 0755 "$root$t" "$d0$t"
done
# xenstore is one multi-call binary that acts on the name it is run by.
for t in read write ls list rm chmod exists watch; do
	ln -s xenstore "$d0/usr/bin/xenstore-$t"
done

# The exact closure of shared libraries: resolve with ldd, preferring the
# unpacked Xen libraries over whatever the host has, and fail on any miss.
libdir=$root/usr/lib/x86_64-linux-gnu
closure=$(for t in "${tools[@]}"; do LD_LIBRARY_PATH=$libdir ldd "$root$t"; done |
	awk '/=>/ { print $1, $3 }' | sort -u)
if grep -q 'not' <<<"$closure"; then
	echo "mkimages: unresolved libraries:" >&2
	grep 'not' <<<"$closure" >&2
	exit 1
fi
while read -r soname path; do
	install -m 0644 "$(realpath "$path")" "$d0/usr/lib/x86_64-linux-gnu/$soname"
done <<<"$closure"
install -m 0755 "$(realpath /lib64/ld-linux-x86-64.so.2)" "$d0/usr/lib64/ld-linux-x86-64.so.2"
# glibc dlopens libgcc_s for pthread_cancel/unwinding; xl aborts without it.
install -m 0644 "$(realpath /lib/x86_64-linux-gnu/libgcc_s.so.1)" \
	"$d0/usr/lib/x86_64-linux-gnu/libgcc_s.so.1"
install -m 0644 "$root/etc/xen/xl.conf" "$d0/etc/xen/xl.conf"

add_modules "$d0" xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc
install -m 0755 "$here/dom0-init.sh" "$d0/init"
install -m 0755 "$stress" "$d0/bh/xen-chan-stress"
install -m 0644 "$here/domu.cfg" "$d0/bh/domu.cfg"
install -m 0644 "$here/intruder.cfg" "$d0/bh/intruder.cfg"
cp "$img/vmlinux.gz" "$d0/bh/domu/vmlinux.gz"
cp "$img/domu.cpio" "$d0/bh/domu/initrd.cpio"
mkcpio "$d0" "$img/dom0.cpio"
