#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Fetch the Debian 12 packages the nested-Xen test boots (hypervisor, dom0
# kernel, Xen tools and their libraries) and unpack them under the build
# directory. Nothing is installed: `apt-get download` + `dpkg -x` only, so
# no hypervisor or kernel ever lands in the host's /boot.
#
#   fetch.sh DIR      leaves DIR/debs/*.deb and DIR/root/ (the unpacked tree)
#
# A second run finds DIR/root/.complete and does nothing. Delete DIR/root to
# unpack again, DIR/debs as well to download again.
set -euo pipefail

mkdir -p "${1:?usage: fetch.sh DIR}"
dir=$(realpath "$1")
debs=$dir/debs
root=$dir/root

if [ -e "$root/.complete" ]; then
	exit 0
fi

# What dom0 needs to run xl/xenstored/xenconsoled/xen-init-dom0: the tools,
# and every libxen* library they link (libxenmisc4.17 holds libxenctrl,
# libxenguest, libxenlight, libxlutil). glibc, zlib, liblzma, libzstd and
# libuuid come from the host, which is the same Debian release.
PKGS="xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common xenstore-utils
	libxenmisc4.17 libxenstore4 libxencall1 libxenevtchn1 libxenforeignmemory1
	libxengnttab1 libxentoollog1 libxendevicemodel1 libxentoolcore1 libxenhypfs1
	libyajl2"

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
	echo "nested: apt-get download failed, running apt-get update once" >&2
	if [ "$(id -u)" != 0 ]; then
		cat download.log >&2
		echo "nested: not root: run 'apt-get update' as root, then retry" >&2
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
	echo "nested: cannot tell which kernel linux-image-amd64 depends on" >&2
	exit 1
fi

# shellcheck disable=SC2086
download $PKGS "$kpkg"

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
touch "$root.tmp/.complete"
rm -rf "$root"
mv "$root.tmp" "$root"
