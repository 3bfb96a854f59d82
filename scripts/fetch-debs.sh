#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Fetch the Debian 12 packages that `make images` and the nested-Xen test
# (`make check-xen`) put into domain images (hypervisor, kernel, busybox,
# glibc, Xen tools, the service domains' libraries and the standard clients,
# with their libraries) and unpack them under the build directory. Nothing is
# installed: `apt-get download` + `dpkg -x` only, so no hypervisor or kernel
# ever lands in the host's /boot.
#
#   fetch-debs.sh DIR   leaves DIR/debs/*.deb and DIR/root/ (the unpacked tree)
#
# A second run finds DIR/root/.complete naming the same package list and does
# nothing. Delete DIR/root to unpack again, DIR/debs as well to download again.
set -euo pipefail

mkdir -p "${1:?usage: fetch-debs.sh DIR}"
dir=$(realpath "$1")
# One fetch at a time per DIR: `make -j2 check-xen` runs `images` and
# `check-images` at once, and two unpackings into one tree left it half
# unpacked yet marked complete. The second waits, then finds it complete.
exec 9>"$dir/.lock"
flock 9
debs=$dir/debs
root=$dir/root

# What dom0 needs to run xl/xenstored/xenconsoled/xen-init-dom0 and
# vchan-socket-proxy: the tools, and every libxen* library they link
# (libxenmisc4.17 holds libxenctrl, libxenguest, libxenlight, libxlutil,
# libxenvchan).
PKGS="xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common xenstore-utils
	libxenmisc4.17 libxenstore4 libxencall1 libxenevtchn1 libxenforeignmemory1
	libxengnttab1 libxentoollog1 libxendevicemodel1 libxentoolcore1 libxenhypfs1
	libyajl2"
# The service domains: the libraries netdomd, stordomd and vtpmd link (they
# are built on the host, which runs the same Debian release), and the
# standard tools the netdom domain is checked with (nft, ip).
PKGS+=" libnftnl11 libmnl0 libssl3 libgcrypt20 libgpg-error0 libseccomp2 libtpms0
	libcryptsetup12 libdevmapper1.02.1 libargon2-1 libjson-c5 libblkid1 libselinux1
	libudev1 libpcre2-8-0 libuuid1 zlib1g liblzma5 libzstd1
	nftables libnftables1 libedit2 libjansson4 libgmp10 libxtables12 libtinfo6 libbsd0
	libmd0 iproute2 libbpf1 libelf1 libcap2"
# dom0's standard clients of the services: libnbd's nbdinfo/nbdcopy, and
# tpm2-tools with tpm2-tss's swtpm TCTI, with their libraries.
PKGS+=" libnbd-bin libnbd0 libgnutls30 libxml2 libp11-kit0 libidn2-0 libunistring2
	libtasn1-6 libnettle8 libhogweed6 libicu72 libffi8 libstdc++6
	tpm2-tools libtss2-esys-3.0.2-0 libtss2-mu0 libtss2-rc0 libtss2-sys1 libtss2-tctildr0
	libtss2-tcti-swtpm0 libcurl3-gnutls libnghttp2-14 librtmp1 libssh2-1 libpsl5
	libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1
	libldap-2.5-0 libsasl2-2 libbrotli1"
# The nested test's guest g1 reads and writes its volume with qemu-img (a
# smaller closure than libnbd's, which pulls in libicu through libxml2).
PKGS+=" qemu-utils libglib2.0-0 libaio1 liburing2 libnuma1"
# Every image's userland comes from this tree, glibc and the shell included:
# busybox (static), and glibc's loader and libraries with libgcc_s (glibc
# dlopens it for pthread_cancel). scripts/imagelib.sh takes no library from
# the host.
PKGS+=" busybox-static libc6 libgcc-s1"
# The state disks of stordom and vtpm are formatted ext4 with a journal
# (e2fsprogs' mkfs.ext4; busybox's mke2fs makes ext2 only, whose metadata
# was found corrupt after a domain was destroyed mid-run and restarted).
PKGS+=" e2fsprogs libext2fs2"
# shellcheck disable=SC2086 # one package name per word
want=$(printf '%s\n' $PKGS | sort)

if [ -e "$root/.complete" ] && [ "$(sed 1d "$root/.complete")" = "$want" ]; then
	exit 0
fi

mkdir -p "$debs"
cd "$debs"

# apt-get drops to the _apt user to download, which cannot write into a
# root-owned build directory; as root, download as root instead of failing.
apt_opts=()
if [ "$(id -u)" = 0 ]; then
	apt_opts=(-o APT::Sandbox::User=root)
fi

# On a fresh machine apt's package lists may never have been fetched; then
# `apt-get download` knows no package. Update once (needs root) and retry.
download() {
	if timeout 300 apt-get -q "${apt_opts[@]}" download "$@" >download.log 2>&1; then
		return 0
	fi
	echo "fetch-debs: apt-get download failed, running apt-get update once" >&2
	if [ "$(id -u)" != 0 ]; then
		cat download.log >&2
		echo "fetch-debs: not root: run 'apt-get update' as root, then retry" >&2
		return 1
	fi
	timeout 300 apt-get -q update >update.log 2>&1 || { cat update.log >&2; return 1; }
	timeout 300 apt-get -q "${apt_opts[@]}" download "$@" >download.log 2>&1 ||
		{ cat download.log >&2; return 1; }
}

# The kernel: whatever versioned image Debian's linux-image-amd64 points at
# today. Download the metapackage and read its Depends, which needs no
# apt-cache and so works with lists that `download` itself refreshed.
rm -f linux-image-amd64_*.deb
download linux-image-amd64
kpkg=$(dpkg-deb -f linux-image-amd64_*.deb Depends | sed -n 's/^\(linux-image-[^ ,]*\).*/\1/p')
if [ -z "$kpkg" ]; then
	echo "fetch-debs: cannot tell which kernel linux-image-amd64 depends on" >&2
	exit 1
fi

# Download only what is not here yet (a warm cache after the list grew
# fetches just the new packages).
missing=()
for p in $PKGS "$kpkg"; do
	compgen -G "${p}_*.deb" >/dev/null || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || download "${missing[@]}"

# Unpack into a scratch tree and rename it into place only when complete,
# so an interrupted run is redone rather than half-reused.
rm -rf "$root.tmp"
mkdir -p "$root.tmp"
for p in $PKGS "$kpkg"; do
	# shellcheck disable=SC2012 # Debian package file names are tame
	deb=$(ls -t "${p}"_*.deb | sed -n 1p)
	dpkg -x "$deb" "$root.tmp"
done
echo "$kpkg" >"$root.tmp/.kernel-package"
# The kernel package, then the list this tree was unpacked from.
{ echo "$kpkg"; echo "$want"; } >"$root.tmp/.complete"
rm -rf "$root"
mv "$root.tmp" "$root"
