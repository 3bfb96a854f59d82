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
#   DIR/img/domu.cpio    the stress domU: busybox, three modules, the static
#                        test binary
#   DIR/img/SVC.cpio     a service domU each (netdom, stordom, vtpm): busybox,
#                        the daemon as `make` built it with its exact shared-
#                        library closure, the kernel modules it needs with
#                        their dependencies, xenstore-read/-write/-watch
#   DIR/img/dom0.cpio    dom0's initramfs: busybox, the Xen tools, bulkhead,
#                        the standard clients (nbdinfo, nbdcopy, tpm2-tools,
#                        vchan-socket-proxy) and their exact shared-library
#                        closure, the Xen modules, our static test programs,
#                        the domUs' kernel, initramfs images and configs
#
#   mkimages.sh DIR STRESS_BINARY BUILD_DIR
#
# BUILD_DIR holds bulkhead, netdomd, stordomd and vtpmd; DIR holds the static
# xen-svc-ctl next to the stress binary. Uncompressed cpio: it boots fastest.
set -euo pipefail

dir=$(realpath "${1:?usage: mkimages.sh DIR STRESS_BINARY BUILD_DIR}")
stress=$(realpath "${2:?usage: mkimages.sh DIR STRESS_BINARY BUILD_DIR}")
build=$(realpath "${3:?usage: mkimages.sh DIR STRESS_BINARY BUILD_DIR}")
here=$(dirname "$(realpath "$0")")
root=$dir/root
img=$dir/img
kver=$(basename "$(ls -d "$root"/lib/modules/*)")
svcctl=$dir/xen-svc-ctl
mkdir -p "$img"

die() {
	echo "mkimages: $*" >&2
	exit 1
}

for f in "$build/bulkhead" "$build/netdomd" "$build/stordomd" "$build/vtpmd" "$svcctl"; do
	[ -x "$f" ] || die "$f not built"
done

# Nothing to do when no input changed since the last build: the scripts,
# configs and programs that go into the images, the unpacked tree and busybox.
inputs=("$here"/*.sh "$here"/*.cfg "$here"/topo/*.cfg "$here"/topo/guests/*.cfg "$stress" \
	"$svcctl" "$build/bulkhead" "$build/netdomd" "$build/stordomd" "$build/vtpmd" \
	"$root/.complete" /bin/busybox)
stamp=$( (cd / && sha256sum "${inputs[@]}") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$img/.stamp" 2>/dev/null)" = "$stamp" ] && [ -e "$img/dom0.cpio" ]; then
	exit 0
fi
rm -f "$img/.stamp"

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
	[ -n "$off" ] || die "no XZ stream in $vmlinuz"
	# xz stops reading at the end of the stream: feed it through a process
	# substitution so the writer's SIGPIPE does not fail the pipeline.
	xz -dc --single-stream < <(tail -c +$((off + 1)) "$vmlinuz") >"$img/vmlinux.tmp"
	readelf -h "$img/vmlinux.tmp" >/dev/null
	mv "$img/vmlinux.tmp" "$img/vmlinux"
	# The domUs get the same kernel, gzipped: libxenguest in dom0 inflates
	# it, and gzip is much cheaper than XZ under emulation.
	gzip -1 -c "$img/vmlinux" >"$img/vmlinux.gz"
fi

# Install busybox and the /bin/sh that /init needs; /init makes the other
# applet links itself with `busybox --install -s` (one process in the guest
# instead of hundreds of ln runs here). Debian's merged /usr: /lib and
# /lib64 are links, so the paths baked into binaries (the ELF interpreter
# /lib64/ld-linux-x86-64.so.2) resolve.
add_base() {
	local dst=$1
	mkdir -p "$dst"/{proc,sys,dev,run,tmp,var,etc,usr/lib/x86_64-linux-gnu,usr/lib64}
	mkdir -p "$dst"/{bin,sbin,usr/bin,usr/sbin}
	ln -s usr/lib "$dst/lib"
	ln -s usr/lib64 "$dst/lib64"
	install -m 0755 /bin/busybox "$dst/bin/busybox"
	ln -s busybox "$dst/bin/sh"
}

# Kernel modules by name, in an order that loads each after what it depends
# on (the "depends=" and "softdep=pre:" of its .modinfo, followed
# recursively): DST/modules/*.ko and DST/modules/order, which /init reads.
# The guests have no modprobe, so nothing is loaded on demand: a module whose
# init asks for another (libcrc32c wants the "crc32c" crypto algorithm) must
# name it as a soft dependency. Soft dependencies that are aliases, not
# module names, are mapped here.
declare -A soft_alias=([crc32c]=crc32c_generic)
declare -A ko_path=()
while read -r n f; do
	n=${n%.ko}
	ko_path[${n//-/_}]=$f
done < <(find "$root/lib/modules/$kver" -name '*.ko' -printf '%f %p\n')
modinfo_tmp=$(mktemp)
trap 'rm -f "$modinfo_tmp"' EXIT
module_deps() {
	objcopy -O binary --only-section=.modinfo "$1" "$modinfo_tmp"
	tr '\0' '\n' <"$modinfo_tmp" | sed -n 's/^depends=//p; s/^softdep=pre: *\([^:]*\)\( post:.*\)\{0,1\}$/\1/p' |
		tr ',' ' '
}
declare -A mod_seen=()
mod_order=()
resolve_module() {
	local n=${1//-/_} f d
	n=${soft_alias[$n]:-$n}
	[ -z "${mod_seen[$n]:-}" ] || return 0
	mod_seen[$n]=1
	f=${ko_path[$n]:-}
	[ -n "$f" ] || die "module $1 not found under $root/lib/modules/$kver"
	for d in $(module_deps "$f"); do
		resolve_module "$d"
	done
	mod_order+=("$f")
}
add_modules() {
	local dst=$1 f
	shift
	mod_seen=()
	mod_order=()
	for f in "$@"; do
		resolve_module "$f"
	done
	mkdir -p "$dst/modules"
	for f in "${mod_order[@]}"; do
		install -m 0644 "$f" "$dst/modules/"
		echo "${f##*/}" >>"$dst/modules/order"
	done
}

# The exact closure of shared libraries of the ELF files given, resolved with
# ldd in the unpacked Debian tree; only glibc's own libraries and libgcc_s may
# come from the host (the same Debian release). Fails on any miss.
libpath=$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu
host_ok='^(libc|libm|libresolv|libpthread|libdl|librt|libgcc_s)\.so\.'
add_libs() {
	local dst=$1 closure soname path real
	shift
	closure=$(for f in "$@"; do LD_LIBRARY_PATH=$libpath ldd "$f"; done |
		awk '/=>/ { print $1, $3 }' | sort -u)
	if grep -q ' not$' <<<"$closure"; then
		die "unresolved libraries: $(grep ' not$' <<<"$closure" | tr '\n' ' ')"
	fi
	while read -r soname path; do
		[ -n "$soname" ] || continue
		real=$(realpath "$path")
		case $real in
		"$root"/*) ;;
		*) [[ $soname =~ $host_ok ]] ||
			die "$soname would come from the host ($real): add its package to fetch.sh" ;;
		esac
		install -m 0644 "$real" "$dst/usr/lib/x86_64-linux-gnu/$soname"
	done <<<"$closure"
	install -m 0755 "$(realpath /lib64/ld-linux-x86-64.so.2)" "$dst/usr/lib64/ld-linux-x86-64.so.2"
	# glibc dlopens libgcc_s for pthread_cancel/unwinding; xl aborts without it.
	install -m 0644 "$(realpath /lib/x86_64-linux-gnu/libgcc_s.so.1)" \
		"$dst/usr/lib/x86_64-linux-gnu/libgcc_s.so.1"
}

# Install programs (absolute paths inside the unpacked tree) into DST at the
# same path, with their libraries.
add_debian_programs() {
	local dst=$1 t files=()
	shift
	for t in "$@"; do
		install -D -m 0755 "$root$t" "$dst$t"
		files+=("$root$t")
	done
	add_libs "$dst" "${files[@]}"
}

# xenstore is one multi-call binary that acts on the name it is run by.
add_xenstore_tools() {
	local dst=$1 t
	shift
	add_debian_programs "$dst" /usr/bin/xenstore
	for t in "$@"; do
		ln -s xenstore "$dst/usr/bin/xenstore-$t"
	done
}

mkcpio() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$2.tmp"
	mv "$2.tmp" "$2"
}

# ---- the stress domU: busybox, three modules, the static test binary ----------
domu=$img/domu-root
rm -rf "$domu"
mkdir -p "$domu"/{proc,sys,dev,tmp,bh,bin}
install -m 0755 /bin/busybox "$domu/bin/busybox"
ln -s busybox "$domu/bin/sh"
add_modules "$domu" xen-evtchn xen-gntdev xen-gntalloc
install -m 0755 "$here/domu-init.sh" "$domu/init"
install -m 0755 "$stress" "$domu/bh/xen-chan-stress"
mkcpio "$domu" "$img/domu.cpio"

# ---- the service domUs --------------------------------------------------------
# Each: busybox, the vchan modules, xenstore-read/-write/-watch (the test's
# dom0 -> domU signals), its daemon and what it needs, svcdom-init.sh as /init.
svc_image() {
	local svc=$1 d=$img/$1-root
	shift
	rm -rf "$d"
	add_base "$d"
	add_xenstore_tools "$d" read write watch
	install -D -m 0755 "$build/${svc}d" "$d/usr/sbin/${svc}d"
	add_libs "$d" "$build/${svc}d"
	install -m 0755 "$here/svcdom-init.sh" "$d/init"
}

# netdom: nftables and conntrack (what netdomd's table uses: ct, limit, log
# to an NFLOG group, reject, counter objects; ctnetlink to prune flows), veth
# for the two guest namespaces, and nft + ip to check from inside.
svc_image netdom
add_debian_programs "$img/netdom-root" /usr/sbin/nft /bin/ip
add_modules "$img/netdom-root" xen-evtchn xen-gntdev xen-gntalloc nf_tables nft_ct \
	nft_limit nft_log nft_reject_inet nft_objref nfnetlink_log nf_conntrack_netlink veth
mkcpio "$img/netdom-root" "$img/netdom.cpio"

svc_image stordom
add_modules "$img/stordom-root" xen-evtchn xen-gntdev xen-gntalloc
mkcpio "$img/stordom-root" "$img/stordom.cpio"

svc_image vtpm
add_modules "$img/vtpm-root" xen-evtchn xen-gntdev xen-gntalloc
mkcpio "$img/vtpm-root" "$img/vtpm.cpio"

# ---- dom0 ---------------------------------------------------------------------
d0=$img/dom0-root
rm -rf "$d0"
add_base "$d0"
mkdir -p "$d0"/{etc/xen,bh/domu}

xenbin=/usr/lib/xen-4.17/bin
add_debian_programs "$d0" "$xenbin/xl" "$xenbin/xenstored" "$xenbin/xenconsoled" \
	"$xenbin/xen-init-dom0" "$xenbin/vchan-socket-proxy" /usr/bin/xenstore \
	/usr/bin/nbdinfo /usr/bin/nbdcopy /usr/bin/tpm2
for t in read write ls list rm chmod exists watch; do
	ln -s xenstore "$d0/usr/bin/xenstore-$t"
done
# tpm2-tools is one binary that acts on the name it is run by; tpm2-tss's
# loader dlopens the TCTI named by -T, so add that library by hand.
for t in startup pcrextend pcrread; do
	ln -s tpm2 "$d0/usr/bin/tpm2_$t"
done
tcti=$(realpath "$root/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0")
install -m 0644 "$tcti" "$d0/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0"
add_libs "$d0" "$tcti"
# dom0's control plane: bulkhead itself, which exports the netdom policy.
install -D -m 0755 "$build/bulkhead" "$d0/usr/sbin/bulkhead"
add_libs "$d0" "$build/bulkhead"
install -m 0644 "$root/etc/xen/xl.conf" "$d0/etc/xen/xl.conf"

add_modules "$d0" xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc
install -m 0755 "$here/dom0-init.sh" "$d0/init"
install -m 0755 "$stress" "$d0/bh/xen-chan-stress"
install -m 0755 "$svcctl" "$d0/bh/xen-svc-ctl"
install -m 0644 "$here/domu.cfg" "$here/intruder.cfg" "$here/svcdom.cfg" "$d0/bh/"
cp -r "$here/topo" "$d0/bh/topo"
cp "$img/vmlinux.gz" "$d0/bh/domu/vmlinux.gz"
cp "$img/domu.cpio" "$d0/bh/domu/initrd.cpio"
for svc in netdom stordom vtpm; do
	cp "$img/$svc.cpio" "$d0/bh/domu/$svc.cpio"
done
mkcpio "$d0" "$img/dom0.cpio"
echo "$stamp" >"$img/.stamp"
