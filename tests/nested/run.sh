#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Boot real Xen 4.17 + a Debian dom0 under QEMU (TCG, no KVM needed), have
# dom0 create a PV domU, run chan-xen.c's stress test between them, then run
# `bulkhead up configs/nested`: netdomd, stordomd and vtpmd each in a service
# domain bulkhead creates and drives over chan-xen, and two guest domains;
# check the milestone markers on the serial console.
#
#   tests/nested/run.sh DIR STRESS_BINARY BUILD_DIR IMAGES   (what `make check-xen` runs)
#
# BUILD_DIR holds bulkhead and the daemons, which go into the images as
# built; IMAGES the service domains' images `make images` built from them
# (booted as they ship, with the test's checks added: mkimages.sh).
# DIR holds the downloaded .debs, the unpacked tree, the images and the
# serial log (DIR/serial.log). Exit 0 when every marker appeared and nothing
# crashed; otherwise print the last milestone reached and the diagnostics
# dom0 dumped, and exit 1.
#
# Knobs: NESTED_TIMEOUT (seconds for the QEMU run, default 1260),
#        NESTED_VERBOSE=1 (echo the whole serial console as it arrives),
#        NESTED_ONLY=services (skip the chan-xen stress test and its markers:
#        a quicker run while working on the service domains).
set -euo pipefail

usage="usage: run.sh DIR STRESS_BINARY BUILD_DIR IMAGES"
dir=${1:?$usage}
stress=${2:?$usage}
build=${3:?$usage}
images=${4:?$usage}
here=$(dirname "$(realpath "$0")")
qemu_timeout=${NESTED_TIMEOUT:-1260}
log=$dir/serial.log

# In order. The last one seen says where a failed run stopped.
MARKERS=(dom0-init modules-loaded xenstored-up dom0-ready domu-created domu-init
	vchan-connected stress-ok peer-death-detected reconnect-ok third-domain-denied perms-ok
	bulkhead-up netdom-policy-applied stordom-volume-open state-disk-mounted sealed-volume-open
	vtpm-instance-started stordom-nbd-ok vtpm-tpm2-ok guests-running guest-pvh service-pvh
	guest-attested guest-nbd-ok guest-tpm-ok guest-disk-denied netdom-vif-connected netdom-vif-enforced
	netdom-enforced stordom-at-rest-ok service-chans-private guest-attested-after-restart
	supervise-restart sealed-volume-after-restarts bulkhead-down PASS)

if [ "${NESTED_ONLY:-}" = services ]; then
	MARKERS=(dom0-init modules-loaded xenstored-up dom0-ready "${MARKERS[@]:12}")
elif [ -n "${NESTED_ONLY:-}" ]; then
	echo "nested: NESTED_ONLY must be 'services' or empty" >&2
	exit 2
fi

start=$(date +%s)
elapsed() {
	echo "$(($(date +%s) - start))s"
}

for tool in qemu-system-x86_64 cpio apt-get dpkg xz objcopy; do
	if ! command -v "$tool" >/dev/null; then
		echo "nested: $tool missing; run scripts/install-deps.sh" >&2
		exit 1
	fi
done

mkdir -p "$dir"
echo "nested: fetching Debian packages into $dir ($(elapsed))"
timeout 600 "$here/../../scripts/fetch-debs.sh" "$dir"
echo "nested: building images ($(elapsed))"
timeout 300 "$here/mkimages.sh" "$dir" "$stress" "$build" "$images"

img=$dir/img
# serial_tx_buffer: Xen queues console output for the UART in a buffer of
# 16 KiB by default and silently drops what does not fit (xen/drivers/char/
# serial.c); dom0 writes bursts far larger (the guests' consoles, the
# diagnostics), so lines, markers among them, could vanish from the log.
xen_cmdline="console=com1 com1=115200,8n1 serial_tx_buffer=4M loglvl=all guest_loglvl=all"
xen_cmdline+=" bootscrub=0"
xen_cmdline+=" dom0_mem=768M,max:768M dom0_max_vcpus=1 smap=0 spec-ctrl=eager-fpu"
dom0_cmdline="console=hvc0 earlyprintk=xen rdinit=/init"
[ "${NESTED_ONLY:-}" = services ] && dom0_cmdline+=" bh_only=services"

# -cpu max with one vCPU, and Xen's smap=0 spec-ctrl=eager-fpu: QEMU's
# emulated SVM with nested paging lets Xen run PVH guests (g2 is one), which
# qemu64 cannot. Measured (shared notes): without smap=0 dom0 faults at once;
# without eager-fpu programs crash at random (lazy switching of AVX state
# under emulation); with both, no failure in 30 runs. One vCPU: -smp 2 was
# erratic. RDRAND (in max, emulated by TCG): without it the guests' kernels
# take minutes to seed their RNG under emulation, and every getrandom()
# (OpenSSL in stordomd and vtpmd, libcryptsetup) blocks until then.
# -nic none: the VM has no network at all.
echo "nested: booting Xen under QEMU, timeout ${qemu_timeout}s ($(elapsed))"
rm -f "$log"
touch "$log"
set +e
timeout --kill-after=10 "$qemu_timeout" qemu-system-x86_64 \
	-machine q35 -accel tcg -cpu max -smp 1 -m 2048 \
	-nographic -monitor none -serial stdio -no-reboot -nic none \
	-kernel "$img/xen" -append "$xen_cmdline" \
	-initrd "$img/kernel/vmlinux $dom0_cmdline,$img/dom0.cpio" \
	</dev/null >"$log" 2>&1 &
qemu=$!
# Interrupted (or failing below): take QEMU down with us (timeout passes the
# signal on to it).
trap 'kill $qemu 2>/dev/null || true' EXIT
# The follower's tail ends with QEMU (--pid), so the whole pipeline drains
# and ends by itself.
if [ "${NESTED_VERBOSE:-0}" = 1 ]; then
	tail --pid=$qemu -n +1 -F "$log" 2>/dev/null &
else
	# Each marker with the host's elapsed time.
	tail --pid=$qemu -n +1 -F "$log" 2>/dev/null | grep --line-buffered -oE 'BH-NESTED: .*' |
		while IFS= read -r line; do echo "[$(elapsed)] ${line%$'\r'}"; done &
fi
follower=$!
wait $qemu
qemu_rc=$?
wait $follower
set -e

# The console carries CRs; strip them so the patterns below match line ends.
clean=$dir/serial.clean.log
tr -d '\r' <"$log" >"$clean"

last=none
missing=()
for m in "${MARKERS[@]}"; do
	if grep -qE "BH-NESTED: $m( |\$)" "$clean"; then
		last=$m
	else
		missing+=("$m")
	fi
done

# A crashed program anywhere fails the run, even after PASS: dom0's kernel
# messages are on the console, and dom0 copies the domU's console into it.
crash_re='segfault at|traps:|general protection fault|Kernel panic|BUG:|Oops:|invalid opcode|TIMEOUT in phase|EXT4-fs error'
crashes=$(grep -E "$crash_re" "$clean" | grep -v 'BH-NESTED-DIAG' | head -n 20 || true)

# Xen drops console output it cannot queue: a log that lost lines may also
# have lost a crash. dom0 says how many console lines it dumped after PASS.
dumped=$(sed -n 's/^BH-NESTED-DUMPED: \([0-9]*\)$/\1/p' "$clean")
if [ -n "$dumped" ]; then
	got=$(sed -n '/BH-NESTED: PASS/,/BH-NESTED-DUMPED/p' "$clean" | grep -c '^BH-DOMU| ' || true)
	if [ "$got" != "$dumped" ]; then
		crashes+="${crashes:+$'\n'}serial log lost lines: dom0 dumped $dumped guest console lines, $got arrived"
	fi
fi

if [ $qemu_rc -eq 0 ] && [ ${#missing[@]} -eq 0 ] && [ -z "$crashes" ]; then
	echo "nested: PASS in $(elapsed) (serial log: $log)"
	echo "nested-xen: ${#MARKERS[@]} passed, 0 failed"
	exit 0
fi

# The diagnostics first and the verdict last: CI shows only the tail of
# the output, which must say where the run stopped and why.
if grep -q 'BH-NESTED-DIAG' "$clean"; then
	echo "---- diagnostics dom0 printed ----"
	sed -n '/BH-NESTED-DIAG: ---- xl list/,/BH-NESTED-DIAG: ---- end/p' "$clean" | tail -n 250
else
	echo "---- last 60 lines of the serial console ----"
	tail -n 60 "$clean"
fi
echo "---- verdict ----"
if [ -n "$crashes" ]; then
	echo "nested: crashes or timeouts in the log:"
	echo "$crashes"
fi
grep -E 'BH-NESTED: FAIL|watchdog-expired' "$clean" || true
# What the domains said went wrong (their consoles, as dom0 dumped them).
grep -E 'BH-NESTED-DOMU: .*(FAIL|[Ff]ailed|NOT |expected)' "$clean" | sort -u | tail -n 12 || true
[ $qemu_rc -eq 124 ] && echo "nested: QEMU killed after ${qemu_timeout}s"
[ $qemu_rc -ne 0 ] && [ $qemu_rc -ne 124 ] && echo "nested: QEMU exited $qemu_rc"
echo "nested: FAIL after $(elapsed): last milestone '$last', missing: ${missing[*]:-none}"
# One closing count: milestones reached, and what was missing or crashed.
nfail=${#missing[@]}
[ -n "$crashes" ] && nfail=$((nfail + 1))
[ $nfail -eq 0 ] && nfail=1
echo "nested-xen: $((${#MARKERS[@]} - ${#missing[@]})) passed, $nfail failed"
exit 1
