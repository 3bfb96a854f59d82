#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Install exactly the Debian 12 packages bulkhead needs to build, test and
# benchmark. Called by the Makefile when a pkg-config module or a test tool
# is missing; safe to run again (apt-get skips what is already installed).
#
#   scripts/install-deps.sh           install everything
#   scripts/install-deps.sh --print   print the apt-get line, install nothing
set -eu

# Build: every library is found through pkg-config.
BUILD_PKGS="build-essential pkg-config
	libxen-dev libcunit1-dev libssl-dev libnftnl-dev libmnl-dev
	libtpms-dev libcryptsetup-dev libseccomp-dev libgcrypt20-dev"

# Fuzzing: clang with libFuzzer and the sanitizer runtimes.
FUZZ_PKGS="clang libclang-rt-14-dev"

# Tests: the man page renderer used by the docs test.
TEST_PKGS="groff-base man-db"

# Nested Xen test (make check-xen) and make images: QEMU to boot Xen under
# TCG, cpio for the initramfs images, xz to unpack the kernel. Xen, the
# kernel, busybox and every library in the images are fetched with
# `apt-get download` into the build dir, never installed here.
NESTED_PKGS="qemu-system-x86 cpio xz-utils"

# netdom tests and bench: nft (kernel state checked with `nft -j`), iperf3,
# conntrack, iproute2 (namespaces, veths), python3 (test clients/servers).
NETDOM_PKGS="nftables iperf3 conntrack iproute2 python3"

# stordom tests and bench: NBD clients (nbdinfo, nbdcopy from libnbd-bin; fio's
# nbd engine), the peers (nbdkit + luks filter, qemu-nbd/qemu-img), cryptsetup
# (luksFormat, luksDump --dump-volume-key) and an independent AES-XTS (Python's
# cryptography).
STORDOM_PKGS="libnbd-bin nbdkit fio qemu-utils cryptsetup-bin python3-cryptography"

# vtpm tests and bench: tpm2-tools with the swtpm TCTI against vtpmd, and
# swtpm itself as the peer in bench/vtpm.
VTPM_PKGS="tpm2-tools libtss2-tcti-swtpm0 swtpm swtpm-tools"

PKGS=$(echo $BUILD_PKGS $FUZZ_PKGS $TEST_PKGS $NESTED_PKGS $NETDOM_PKGS $STORDOM_PKGS $VTPM_PKGS)

if [ "${1:-}" = "--print" ]; then
	echo "apt-get install -y --no-install-recommends $PKGS"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: run as root, or run:" >&2
	echo "  sudo apt-get install -y --no-install-recommends $PKGS" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Only refresh the package lists when a package is unknown to them.
# shellcheck disable=SC2086
if ! apt-get install -y --no-install-recommends $PKGS; then
	apt-get update
	apt-get install -y --no-install-recommends $PKGS
fi
