#!/bin/bash
# SPDX-License-Identifier: MIT
#
# `make images`: the kernel and initramfs images of bulkhead's Xen domains,
# from Debian 12 packages (scripts/fetch-debs.sh: apt-get download + dpkg -x
# into a cache, nothing installed on the host) and our own daemons.
#
#   mkimages.sh OUT CACHE BUILD_DIR
#
#   OUT/vmlinuz       Debian's kernel as a gzipped ELF, for PV (and PVH) domUs
#   OUT/netdom.cpio   the network service domain: netdomd, the netback and
#                     nftables modules
#   OUT/stordom.cpio  the storage service domain: stordomd
#   OUT/vtpm.cpio     the vTPM service domain: vtpmd
#   OUT/guest.cpio    a test guest: vchan-socket-proxy, xenstore tools,
#                     nbdinfo/nbdcopy, tpm2-tools (swtpm TCTI)
#   OUT/SHA256SUMS    of the five above
#
# Each service image holds busybox, its daemon (BUILD_DIR/<role>d, debug
# sections stripped) with exactly the shared libraries it links, resolved in
# the Debian tree, xenstore-read/-write/-watch/-ls, the kernel modules it
# needs with their dependencies, and images/init-service.sh as /init (netdom
# also its vif hotplug agent, images/netdom-vif.sh). The guest's /init is
# images/init-guest.sh. Uncompressed cpio: it boots fastest.
#
# Reproducible: the same packages, daemons and scripts give the same bytes
# (see scripts/imagelib.sh); mtimes are SOURCE_DATE_EPOCH, by default the
# time of the checkout's last commit. Nothing is done when no input changed
# since the last run.
set -euo pipefail

usage="usage: mkimages.sh OUT CACHE BUILD_DIR"
mkdir -p "${1:?$usage}"
out=$(realpath "$1")
cache=${2:?$usage}
build=$(realpath "${3:?$usage}")
top=$(dirname "$(dirname "$(realpath "$0")")")
work=$out/.work

for f in "$build/netdomd" "$build/stordomd" "$build/vtpmd"; do
	[ -x "$f" ] || { echo "images: $f not built" >&2; exit 1; }
done
for tool in apt-get dpkg cpio xz gzip objcopy strip readelf; do
	command -v "$tool" >/dev/null ||
		{ echo "images: $tool missing; run scripts/install-deps.sh" >&2; exit 1; }
done

"$top/scripts/fetch-debs.sh" "$cache"
# shellcheck source=scripts/imagelib.sh
. "$top/scripts/imagelib.sh"
img_init "$cache/root"

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$top" log -1 --format=%ct 2>/dev/null || echo 0)
fi
img_epoch=$SOURCE_DATE_EPOCH

# Nothing to do when no input changed: the scripts, the daemons, the
# unpacked tree's package list and the epoch.
inputs=("$top/scripts/mkimages.sh" "$top/scripts/imagelib.sh" "$top/scripts/fetch-debs.sh"
	"$top"/images/*.sh "$build/netdomd" "$build/stordomd" "$build/vtpmd" "$img_root/.complete")
stamp=$( (sha256sum "${inputs[@]}" | cut -d' ' -f1; echo "$img_epoch") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] && [ -e "$out/SHA256SUMS" ]; then
	echo "images: up to date in $out"
	exit 0
fi
rm -f "$out/.stamp" "$out/SHA256SUMS"
rm -rf "$work"
mkdir -p "$work"

# The extracted kernel is kept (.kernel) and redone only when the tree's is newer.
img_kernel "$out/.kernel"
cp "$out/.kernel/vmlinuz" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"

# Every domain talks to its peers over libxenvchan: the event-channel and
# grant devices.
VCHAN_MODS=(xen-evtchn xen-gntdev xen-gntalloc)
# A second disk (xvdb) holds a service domain's persistent state: blkfront
# and ext4, and e2fsprogs' mkfs.ext4 to format a blank one with a journal
# (the domain may be destroyed at any time: ext2 then needs an fsck).
STATE_MODS=(xen-blkfront ext4)
STATE_PROGS=(/sbin/mkfs.ext4)

# A service domain: busybox, xenstore tools, its daemon and exactly its
# libraries, modules, /init.
service() {
	local role=$1 d=$work/$1
	shift
	add_common "$d" "$top/images/init-service.sh"
	install -D -m 0755 "$build/${role}d" "$d/usr/sbin/${role}d"
	# Debug sections carry the build's paths and are of no use in the domain.
	strip --strip-debug "$d/usr/sbin/${role}d"
	img_libs "$d" "$d/usr/sbin/${role}d"
	[ "$role" = netdom ] || img_programs "$d" "${STATE_PROGS[@]}"
	# netdom's vif hotplug agent, which its /init sources.
	if [ "$role" = netdom ]; then
		install -D -m 0644 "$top/images/netdom-vif.sh" "$d/lib/bulkhead/netdom-vif.sh"
	fi
	img_modules "$d" "${VCHAN_MODS[@]}" "$@"
	img_cpio "$d" "$out/$role.cpio"
}

add_common() {
	rm -rf "$1"
	img_base "$1"
	img_xenstore "$1" read write watch ls list exists rm chmod
	install -m 0755 "$2" "$1/init"
}

# netdom is the guests' vif backend and filters what it forwards between them
# with nftables: netback, and the nftables and conntrack modules netdomd's
# table uses (ct, limit, log to an NFLOG group, reject, counter objects;
# ctnetlink to prune flows).
service netdom xen-netback nf_tables nft_ct nft_limit nft_log nft_reject_inet nft_objref \
	nfnetlink_log nf_conntrack_netlink
service stordom "${STATE_MODS[@]}"
service vtpm "${STATE_MODS[@]}"

# The test guest: the standard clients of the services, reaching them through
# Xen's vchan-socket-proxy. tpm2-tools is one binary that acts on the name it
# is run by (every tpm2_* link of the package is kept); tpm2-tss's loader
# dlopens the TCTI named by -T, so the swtpm TCTI is added by hand.
g=$work/guest
add_common "$g" "$top/images/init-guest.sh"
img_programs "$g" /usr/lib/xen-4.17/bin/vchan-socket-proxy /usr/bin/nbdinfo /usr/bin/nbdcopy \
	/usr/bin/tpm2
while read -r t; do
	ln -s tpm2 "$g/usr/bin/$t"
done < <(find "$img_root/usr/bin" -maxdepth 1 -type l -name 'tpm2_*' -lname tpm2 -printf '%f\n' |
	LC_ALL=C sort)
tcti=$(realpath "$img_root/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0")
install -m 0644 "$tcti" "$g/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0"
img_libs "$g" "$tcti"
# vchan-socket-proxy opens privcmd (xc_interface_open) before each session.
img_modules "$g" "${VCHAN_MODS[@]}" xen-privcmd xen-netfront xen-blkfront
img_cpio "$g" "$out/guest.cpio"

(cd "$out" && sha256sum vmlinuz netdom.cpio stordom.cpio vtpm.cpio guest.cpio) >"$out/SHA256SUMS.tmp"
mv "$out/SHA256SUMS.tmp" "$out/SHA256SUMS"
echo "$stamp" >"$out/.stamp"
rm -rf "$work"
echo "images: built in $out (epoch $img_epoch):"
for f in vmlinuz netdom.cpio stordom.cpio vtpm.cpio guest.cpio; do
	printf '  %-12s %5.1f MB\n' "$f" "$(($(stat -c %s "$out/$f") / 100000))e-1"
done
