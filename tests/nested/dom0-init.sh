#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of the nested test's dom0 (busybox ash, PID 1). Brings up the Xen
# control plane by hand (no systemd, no xencommons), creates one PV domU and
# runs chan-xen.c's stress test between the two; then creates a service domU
# each for netdomd, stordomd and vtpmd and drives them over chan-xen: a
# policy from `bulkhead policy-export`, a volume read and written with
# nbdinfo/nbdcopy and a TPM used with tpm2-tools, both through Xen's
# vchan-socket-proxy. Every milestone prints one
# "BH-NESTED: <name>" line on the console, which Xen forwards to QEMU's
# serial port, where tests/nested/run.sh reads it. Every step is bounded; a
# watchdog prints diagnostics and powers off if the whole run hangs.
#
# busybox ash, not bash: pipefail exists but -e in PID 1 would panic the
# kernel on the first failure, so failures go through fail() instead.
# shellcheck disable=SC3040 # busybox ash has pipefail
set -u -o pipefail

export PATH=/usr/lib/xen-4.17/bin:/usr/sbin:/usr/bin:/sbin:/bin
export XENSTORED_ROOTDIR=/run/xenstored

STRESS=/bh/xen-chan-stress
DOMU=bh-domu
INTRUDER=bh-intruder
LOGDIR=/var/log/xen
# The stress channel and the private one, relative to dom0's xenstore home.
CHAN_PATH=data/bulkhead/stress
PRIV_PATH=data/bulkhead/private
FOR_DOMU_PATH=data/bulkhead/for-domu
WATCHDOG=${BH_WATCHDOG:-1200}

# mark: one "BH-NESTED: ..." line per milestone, with dom0's uptime (where
# time goes under TCG); fail: mark FAIL, diag below, power off; wait_for,
# poweroff_now: shared with the other test images' /init scripts.
# shellcheck source=tests/nested/init-lib.sh
. /lib/bulkhead/test-init-lib.sh

# Progress inside a milestone, for the log only (run.sh checks no INFO line).
info() {
	echo "BH-NESTED-INFO: $* [$(cut -d' ' -f1 /proc/uptime)s]"
}

# Diagnostics for a failed or hung run; each command bounded on its own.
diag() {
	echo "BH-NESTED-DIAG: ---- xl list ----"
	timeout 10 xl list 2>&1
	echo "BH-NESTED-DIAG: ---- xenstore-ls -fp /local/domain ----"
	timeout 10 xenstore-ls -fp /local/domain 2>&1 | head -n 150
	for f in "$LOGDIR"/guest-*.log; do
		echo "BH-NESTED-DIAG: ---- guest console ($f) ----"
		sed 's/^/BH-DOMU| /' "$f" 2>/dev/null | tail -n 400
	done
	for f in /tmp/*.log; do
		[ -e "$f" ] || continue
		echo "BH-NESTED-DIAG: ---- $f ----"
		tail -n 30 "$f"
	done
	echo "BH-NESTED-DIAG: ---- xl dmesg (tail) ----"
	timeout 10 xl dmesg 2>&1 | tail -n 40
	echo "BH-NESTED-DIAG: ---- end ----"
}

# Scan dom0's and the guest's kernel logs for crashed programs: a run in which
# anything segfaulted or trapped fails even if every marker was reached.
crash_scan() {
	pat='segfault at|traps:|general protection|Kernel panic|BUG:|Oops|invalid opcode'
	if dmesg | grep -E "$pat"; then
		echo "BH-NESTED: crash-in-dom0"
		return 1
	fi
	if cat "$LOGDIR"/guest-*.log | grep -E "$pat"; then
		echo "BH-NESTED: crash-in-domu"
		return 1
	fi
	return 0
}

# guest_says DOMAIN TEXT: has DOMAIN printed "BH-NESTED-DOMU: TEXT"?
guest_says() {
	grep -q "BH-NESTED-DOMU: $2" "$LOGDIR/guest-$1.log" 2>/dev/null
}

# Only busybox and /bin/sh are in the image: link the other applets now.
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
# xenstored dies without /var/run, and xenstore clients then block forever.
ln -sfn /run /var/run
mkdir -p /var/lib/xen /var/log/xen /var/lock /run/xen /run/xenstored
mark dom0-init

(
	sleep "$WATCHDOG"
	mark "watchdog-expired after ${WATCHDOG}s"
	diag
	poweroff_now
) &
watchdog=$!

# xen-privcmd before xenfs, which depends on it; xen-blkback and loop for
# the service domains' state disks.
for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc xen-blkback loop; do
	insmod "/modules/$m.ko" || fail "insmod $m"
done
mount -t xenfs xenfs /proc/xen || fail "mount xenfs"
mark modules-loaded

xenstored --pid-file=/run/xenstored.pid || fail "xenstored did not start"
wait_for 20 timeout 2 xenstore-read -s / || fail "xenstored does not answer"
mark xenstored-up

timeout 30 xen-init-dom0 || fail "xen-init-dom0"
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen ||
	fail "xenconsoled did not start"
timeout 30 xl info >/tmp/xl-info 2>&1 || { cat /tmp/xl-info; fail "xl info"; }
# The control plane first, as on a real host: with five domUs on the one
# vCPU (a PVH guest's boot under emulated SVM is slow and always runnable)
# dom0 at the default weight got too little CPU for `xl list` to answer in
# 20 s on a loaded host.
sched=$(sed -n 's/^xen_scheduler *: *//p' /tmp/xl-info)
timeout 30 xl "sched-$sched" -d 0 -w 1024 >/dev/null 2>&1 || fail "xl sched-$sched: dom0 weight"
mark dom0-ready

# ---- the stress test: chan-xen.c between dom0 and a domU, permissions ------
stress_phase() {
	# A channel advertised for dom0 alone: the domU will try to read it and must
	# be refused. Opened before the domU exists so it is surely there when the
	# domU tries. Both holders live until the end of this phase kills them
	# (their --seconds is only a bound): a fixed lifetime could end before a
	# slow run's third domain tried them, and its refusal would then be ENOENT.
	$STRESS hold --peer 0 --path $PRIV_PATH --seconds 900 >/tmp/hold.log 2>&1 &
	hold=$!
	wait_for 20 xenstore-exists /local/domain/0/$PRIV_PATH/ring-ref ||
		{ cat /tmp/hold.log; fail "private channel not advertised"; }

	timeout 60 xl create /bh/domu.cfg || fail "xl create"
	domid=$(timeout 10 xl domid $DOMU) || fail "xl domid"
	mark "domu-created (domid $domid)"

	# The server runs all three rounds in one process (see xen-chan-stress.c);
	# it prints the vchan-connected, stress-ok, peer-death-detected and
	# reconnect-ok markers itself.
	timeout 150 $STRESS server --peer "$domid" --path $CHAN_PATH --timeout 60 &
	server=$!
	# A channel held for the domU alone: the domU may read it (the control for
	# the refusals), the third domain created below may not.
	$STRESS hold --peer "$domid" --path $FOR_DOMU_PATH --seconds 900 >/tmp/hold2.log 2>&1 &
	hold2=$!

	wait_for 60 guest_says $DOMU init || fail "domU /init not seen on its console"
	mark domu-init

	# Permissions, from dom0's side: the stress channel's entries must be
	# readable by the domU and nobody else, the private one by nobody but dom0.
	# xenstore-ls -p prints "(n0,r<domid>)": owner dom0, others no access,
	# domid read access.
	perms_ok=1
	wait_for 60 xenstore-exists /local/domain/0/$CHAN_PATH/ring-ref || perms_ok=0
	for leaf in ring-ref event-channel; do
		p=$(xenstore-ls -p /local/domain/0/$CHAN_PATH 2>&1 | grep "^$leaf ")
		echo "BH-NESTED-PERMS: $CHAN_PATH: $p"
		case $p in *"(n0,r$domid)") ;; *) perms_ok=0 ;; esac
		p=$(xenstore-ls -p /local/domain/0/$PRIV_PATH 2>&1 | grep "^$leaf ")
		echo "BH-NESTED-PERMS: $PRIV_PATH: $p"
		case $p in *"(n0)" | *"(n0,r0)") ;; *) perms_ok=0 ;; esac
		p=$(xenstore-ls -p /local/domain/0/$FOR_DOMU_PATH 2>&1 | grep "^$leaf ")
		echo "BH-NESTED-PERMS: $FOR_DOMU_PATH: $p"
		case $p in *"(n0,r$domid)") ;; *) perms_ok=0 ;; esac
	done

	wait $server
	rc=$?
	[ $rc -eq 0 ] || fail "stress server exited $rc"

	wait_for 60 guest_says $DOMU "done" || fail "domU did not finish"
	guest_says $DOMU probe-ok || fail "domU could not read a channel held for it"
	guest_says $DOMU deny-ok || fail "domU was not refused the private channel"
	guest_says $DOMU ALL-OK || fail "domU reported a failure"

	# A third domain tries both channels meant for others.
	timeout 60 xl create /bh/intruder.cfg || fail "xl create of the third domain"
	wait_for 60 guest_says $INTRUDER "done" || fail "third domain did not finish"
	guest_says $INTRUDER ALL-OK || fail "third domain was not refused"
	mark third-domain-denied

	[ $perms_ok = 1 ] || fail "xenstore permissions of the channels are wrong"
	mark perms-ok
	kill $hold $hold2 2>/dev/null
}

# ---- bulkhead up: service domains and guests ---------------------------------
# `bulkhead up` (the xen platform: dom0/platform-xen.c) creates netdom,
# stordom and vtpm from configs/nested, each running its daemon from the
# normal build (the shipped images/init-service.sh, with the test's checks
# of svcdom-check.sh in its extension point), connects to each one's control channel
# (chan-xen), pushes it its configuration and waits until it is ready; then
# creates the guests g1 and g2. The checks below use standard tools against
# what bulkhead set up.
TOPO=/bh/configs/nested
STATE=/var/lib/bulkhead

# signal DOMID STEP: tell a service domain that dom0 finished STEP (svcdom-check.sh
# waits for it in its own data/bulkhead/step).
signal() {
	timeout 60 xenstore-write "/local/domain/$1/data/bulkhead/step" "$2"
}

# svc_ok SVC SECONDS LINE...: the service domain finished its own checks
# (svcdom-check.sh), all passed, and it printed each LINE (the checks this
# run relies on: "ALL-OK" alone would pass a check that never ran).
svc_ok() {
	svc=$1 secs=$2
	shift 2
	wait_for "$secs" guest_says "$svc" "done" || fail "$svc did not finish its checks"
	guest_says "$svc" ALL-OK || fail "$svc reported a failure"
	for l in "$@"; do
		guest_says "$svc" "$l" || fail "$svc did not say '$l'"
	done
}

# chan_private DOMID PATH: the channel a service domain advertises at PATH (in
# its own xenstore home) is readable by dom0 and nobody else: "(n<domid>,r0)".
chan_private() {
	case $(xenstore-ls -p "/local/domain/$1/$2" 2>/dev/null | grep '^ring-ref ') in
	*"(n$1,r0)") return 0 ;;
	esac
	return 1
}

# domid_of NAME: its DOMID column in the last /tmp/status.txt.
domid_of() {
	awk -v n="$1" '$1 == n && $3 == "running" { print $4 }' /tmp/status.txt
}

# status PATTERN: `bulkhead status` has a line matching PATTERN (ERE).
status_has() {
	timeout 60 bulkhead status >/tmp/status.txt 2>&1
	grep -Eq "$1" /tmp/status.txt
}

up_logs() {
	sed 's/^/BH-UP| /' /tmp/up.log
	sed 's/^/BH-UP| /' $STATE/log/bulkhead.log 2>/dev/null | tail -n 60
}

# stordom: g1's volume, opened by bulkhead, is also served over chan-xen to
# dom0 (--export-chan); nbdinfo and nbdcopy through vchan-socket-proxy: its
# size, 8 MiB written, read back equal. (g1's own session, over the channel
# bulkhead had stordom serve for it with CHAN_SERVE, comes later:
# guest_paths.)
svc_stordom() {
	vchan-socket-proxy "$stordom" "/local/domain/$stordom/data/bulkhead/nbd-g1-data" \
		/run/nbd-g1.sock >/tmp/proxy-nbd.log 2>&1 &
	wait_for 60 test -S /run/nbd-g1.sock || fail "vchan-socket-proxy (nbd) did not listen"
	uri="nbd+unix:///g1-data?socket=/run/nbd-g1.sock"
	size=$(timeout 120 nbdinfo --size "$uri" 2>/tmp/nbdinfo.log)
	[ "$size" = 8388608 ] || fail "nbdinfo --size: '$size'"
	# Random data with a plaintext marker in every MiB, which the domain must
	# not find in the backing file.
	dd if=/dev/urandom of=/tmp/in.img bs=1M count=8 2>/dev/null
	i=0
	while [ $i -lt 8 ]; do
		printf 'BULKHEAD-NESTED-PLAINTEXT' |
			dd of=/tmp/in.img bs=1 seek=$((i * 1048576 + 4000)) conv=notrunc 2>/dev/null
		i=$((i + 1))
	done
	# One connection: vchan-socket-proxy serves one client at a time.
	timeout 180 nbdcopy --connections=1 --flush /tmp/in.img "$uri" >/tmp/nbdcopy-w.log 2>&1 ||
		fail "nbdcopy write"
	timeout 180 nbdcopy --connections=1 "$uri" /tmp/out.img >/tmp/nbdcopy-r.log 2>&1 ||
		fail "nbdcopy read"
	cmp /tmp/in.img /tmp/out.img || fail "data read back differs from what was written"
	mark "stordom-nbd-ok (nbdinfo: 8388608 bytes; nbdcopy: 8 MiB written, read back equal)"
}

# vtpm: g1's instance, created and started by bulkhead, its data and control
# sockets served over chan-xen; tpm2-tools' swtpm TCTI through two
# vchan-socket-proxy clients.
svc_vtpm() {
	mkdir -p /run/tpm
	vchan-socket-proxy "$vtpm" "/local/domain/$vtpm/data/bulkhead/tpm-g1" /run/tpm/tpm.sock \
		>/tmp/proxy-tpm.log 2>&1 &
	vchan-socket-proxy "$vtpm" "/local/domain/$vtpm/data/bulkhead/tpm-g1-ctrl" \
		/run/tpm/tpm.sock.ctrl >/tmp/proxy-tpm-ctrl.log 2>&1 &
	wait_for 10 test -S /run/tpm/tpm.sock -a -S /run/tpm/tpm.sock.ctrl ||
		fail "vchan-socket-proxy (tpm) did not listen"
	tcti=swtpm:path=/run/tpm/tpm.sock
	# No tpm2_startup: bulkhead started (and measured) g1's TPM before g1 ran.
	data=abababababababababababababababababababababababababababababababab
	timeout 60 tpm2_pcrextend -T $tcti "16:sha256=$data" >/tmp/tpm2.log 2>&1 ||
		fail "tpm2_pcrextend"
	timeout 60 tpm2_pcrread -T $tcti sha256:16 >/tmp/pcr.txt 2>>/tmp/tpm2.log ||
		fail "tpm2_pcrread"
	# PCR 16 started at zero: now sha256(32 zero bytes || the 32 bytes extended).
	want=$({
		head -c 32 /dev/zero
		i=0
		while [ $i -lt 32 ]; do
			printf '\253'
			i=$((i + 1))
		done
	} | sha256sum | cut -d' ' -f1 | tr a-f A-F)
	sed 's/^/BH-PCR| /' /tmp/pcr.txt
	grep -q "16: 0x$want" /tmp/pcr.txt || fail "PCR 16 is not sha256(0^32 || data) = $want"
	mark "vtpm-tpm2-ok (tpm2_pcrextend, tpm2_pcrread: PCR 16 = $want)"
	signal "$vtpm" tpm-done || fail "signal vtpm"
}

# The guests' own data paths (guest-init.sh), each over the channels
# bulkhead had the services serve to that guest alone (CHAN_SERVE), once
# dom0's sessions on the same volume and vTPM are over: g1 reads and writes
# its volume with qemu-img and reads PCR 9 of its vTPM with tpm2-tools, both
# through Xen's vchan-socket-proxy in g1; then g2 tries g1's disk channel.
# stordom is told afterwards, so its at-rest check covers g1's writes too.
guest_paths() {
	# PCR 9 as dom0 sees it, over its own channel to g1's vTPM.
	timeout 60 tpm2_pcrread -T swtpm:path=/run/tpm/tpm.sock sha256:9 >/tmp/pcr9.txt 2>&1 ||
		{ cat /tmp/pcr9.txt; fail "tpm2_pcrread of PCR 9 in dom0"; }
	pcr9=$(sed -n 's/^ *9 *: *0x\([0-9A-Fa-f]*\).*/\1/p' /tmp/pcr9.txt)
	signal "$g1" go || fail "signal g1"
	wait_for 400 guest_says g1 guest-checks-done || fail "g1 did not finish its checks"
	guest_says g1 FAIL && fail "g1: $(grep -m1 'BH-NESTED-DOMU: FAIL' "$LOGDIR/guest-g1.log")"
	line=$(grep -m1 'BH-NESTED-DOMU: guest-nbd-ok' "$LOGDIR/guest-g1.log" | tr -d '\r') ||
		fail "g1 did not say guest-nbd-ok"
	mark "guest-nbd-ok (g1 itself, over its disk0 channel from stordom: ${line#*guest-nbd-ok (}"
	signal "$stordom" nbd-done || fail "signal stordom"
	got=$(sed -n 's/.*BH-NESTED-DOMU: guest-pcr9 \([0-9A-Fa-f]*\).*/\1/p' "$LOGDIR/guest-g1.log")
	case $pcr9 in "" | "$(printf '%064d' 0)") fail "PCR 9 in dom0: '$pcr9'" ;; esac
	[ "$got" = "$pcr9" ] || fail "g1's PCR 9 '$got' is not the one dom0 reads, '$pcr9'"
	mark "guest-tpm-ok (g1 itself, tpm2_pcrread over its tpm channels from vtpm: PCR 9 = $pcr9, as dom0 measured)"
	# g1's disk channel, advertised again after g1's sessions, for g1 alone.
	chan=/local/domain/$stordom/data/bulkhead/g1-disk0
	wait_for 30 xenstore-exists "$chan/ring-ref" || fail "g1's disk channel not advertised again"
	case $(xenstore-ls -p "$chan" 2>/dev/null | grep '^ring-ref ') in
	*"(n$stordom,r$g1)") ;;
	*) fail "g1's disk channel is not readable by g1 alone: $(xenstore-ls -p "$chan" 2>&1)" ;;
	esac
	signal "$g2" "probe $stordom $chan" || fail "signal g2"
	wait_for 120 guest_says g2 guest-checks-done || fail "g2 did not finish its probe"
	line=$(grep -m1 'BH-NESTED-DOMU: guest-disk-denied' "$LOGDIR/guest-g2.log" | tr -d '\r') ||
		fail "g2: $(grep -m1 'BH-NESTED-DOMU: FAIL' "$LOGDIR/guest-g2.log")"
	mark "guest-disk-denied (g2 on g1's disk channel, (n$stordom,r$g1): ${line#*guest-disk-denied (}"
}

# is_pvh NAME: libxl built domain NAME as PVH (`xl list -l`, libxl's own
# view of the domain's configuration).
is_pvh() {
	timeout 30 xl list -l "$1" >"/tmp/$1.json" 2>&1 && grep -q '"type": "pvh"' "/tmp/$1.json"
}

# A service domain may be PVH too (configs/nested/vtpm.cfg): libxl built vtpm
# so, its own kernel says so (/sys/hypervisor/guest_type, on its console),
# and it did everything a PV one does: its state disk over blkfront, its
# channels' rings from gntalloc (vtpm-tpm2-ok, sealed-volume-open before
# this). stordom and netdom stay PV.
pvh_service() {
	is_pvh vtpm || fail "vtpm is not a PVH domain for libxl: $(grep -m1 '"type"' /tmp/vtpm.json)"
	wait_for 30 guest_says vtpm "guest-type PVH" || fail "vtpm's kernel does not say it runs PVH"
	for d in stordom netdom; do
		{ guest_says $d "guest-type PV" && ! guest_says $d "guest-type PVH"; } ||
			fail "$d's kernel does not say it runs PV"
	done
	mark "service-pvh (vtpm $vtpm is PVH for libxl and its own kernel; its state disk and channels served; stordom, netdom PV)"
}

# attest MARKER: bulkhead measured g1 (kernel + initramfs into PCR 9, its
# command line into PCR 8, its config into PCR 1) into its vTPM before it
# ran; `bulkhead attest` gets a quote with a fresh nonce over dom0's channel
# to that vTPM, checks it and replays the event log against the config.
# ak_of: the attestation key fingerprint the last attest printed ("AK 7f96..").
ak_of() {
	sed -n 's/.*(AK \([0-9a-f]*\)\.*).*/\1/p' /tmp/attest.log | tail -n 1
}

attest() {
	timeout 120 bulkhead attest --tpm $STATE/run/g1-tpm.sock $TOPO g1 >/tmp/attest.log 2>&1 ||
		{ sed 's/^/BH-ATTEST| /' /tmp/attest.log; up_logs; fail "bulkhead attest g1"; }
	sed 's/^/BH-ATTEST| /' /tmp/attest.log
	mark "$1 ($(tail -n 1 /tmp/attest.log | tr -d '\r'))"
}

# g1-data is sealed (seal=1): stordom opened it with the secret it got from
# vtpm over their channel (UNSEAL), after bulkhead measured g1. dom0 holds no
# key file for it, and only ever sent the two CHAN_SERVE messages that wire
# stordom to vtpm's UNSEAL socket.
sealed_check() {
	grep -Eq '^stordom +stordom +running .* g1-data 8M \(sealed, unsealed\)' /tmp/status.txt ||
		{ cat /tmp/status.txt; up_logs; fail "status: g1-data is not open (sealed, unsealed)"; }
	keys=$(find / -xdev -name '*g1-data*.key' 2>/dev/null; ls $STATE/keys 2>/dev/null)
	[ -z "$keys" ] || fail "dom0 holds a key file for g1-data: $keys"
	grep '"volume-unseal"' $STATE/audit.jsonl | grep -q '"g1-data"' ||
		fail "the audit log has no volume-unseal of g1-data"
	grep '"unseal-wire"' $STATE/audit.jsonl | grep -q '"ok"' ||
		fail "the audit log has no unseal-wire of stordom to vtpm"
	mark "sealed-volume-open (g1-data opened by stordom with the secret vtpm unsealed after g1 was measured; no key file in dom0)"
}

# After the vtpm restart: the new vtpm domain mounted its state disk as it
# was (its manager key, g1's instance and the sealed secret). Then stordom is
# destroyed too: the restarted stordom finds g1-data on its own state disk
# (opened, not created again) and opens it with the secret the restarted
# vtpm unseals from its kept state (rewired: both domids are new); the data
# dom0 wrote reads back.
state_kept() {
	n=$(grep -c 'BH-NESTED-DOMU: state-disk-mounted' "$LOGDIR/guest-vtpm.log")
	[ "$n" -ge 1 ] || fail "the restarted vtpm did not mount its existing state disk"
	# g1's vTPM is the same TPM (its seeds came back from the disk): the
	# attestation key derived from them is the one attested before.
	[ -n "$ak_before" ] && [ "$(ak_of)" = "$ak_before" ] ||
		fail "g1's attestation key changed across the vtpm restart ($ak_before -> $(ak_of))"
	timeout 60 xl destroy stordom || fail "xl destroy stordom"
	wait_for 180 status_has '^stordom +stordom +running .* 1  ok +1 volumes: g1-data 8M \(sealed, unsealed\)' ||
		{ cat /tmp/status.txt; up_logs; fail "stordom not restarted with g1-data unsealed"; }
	sed 's/^/BH-STATUS| /' /tmp/status.txt
	stordom=$(domid_of stordom)
	grep -c 'BH-NESTED-DOMU: state-disk-mounted' "$LOGDIR/guest-stordom.log" | grep -q '^[1-9]' ||
		fail "the restarted stordom did not mount its existing state disk"
	vchan-socket-proxy "$stordom" "/local/domain/$stordom/data/bulkhead/nbd-g1-data" \
		/run/nbd-g1b.sock >/tmp/proxy-nbd2.log 2>&1 &
	wait_for 60 test -S /run/nbd-g1b.sock || fail "vchan-socket-proxy (nbd, restarted stordom)"
	timeout 180 nbdcopy --connections=1 "nbd+unix:///g1-data?socket=/run/nbd-g1b.sock" \
		/tmp/out2.img >/tmp/nbdcopy-r2.log 2>&1 || fail "nbdcopy read after the restarts"
	# g1 overwrote the first 4 MiB itself (guest-nbd-ok); dom0's last 4 MiB
	# must come back as dom0 wrote them.
	tail -c 4194304 /tmp/in.img >/tmp/in-tail.img
	tail -c 4194304 /tmp/out2.img >/tmp/out2-tail.img
	cmp /tmp/in-tail.img /tmp/out2-tail.img ||
		fail "g1-data after the restarts differs from what dom0 wrote"
	mark "sealed-volume-after-restarts (vtpm and stordom restarted on their state disks: g1's AK $ak_before kept, g1-data unsealed again, the 4 MiB dom0 wrote that g1 did not overwrite read back equal)"
}

# vif_state DOMID: "<hotplug-status in netdom's backend> <netfront's state>"
# of the guest's vif 0.
vif_state() {
	echo "$(xenstore-read "/local/domain/$netdom/backend/vif/$1/0/hotplug-status" 2>&1)" \
		"$(xenstore-read "/local/domain/$1/device/vif/0/state" 2>&1)"
}

# audit_drop TEXT: netdomd reported a drop event that bulkhead's supervisor
# wrote into the audit log, "SRC -> DST proto P port N".
audit_drop() {
	grep '"drop"' $STATE/audit.jsonl 2>/dev/null | grep -qF "$1"
}

# netdom as the guests' vif backend: netback in the netdom domain made both
# vifs, netdom's hotplug agent connected them (netfront state 4, Connected),
# and the guests' own traffic went through netdomd's policy: g1 reached g2
# on tcp 5432, not on 22, and not from a forged source; netdomd reported
# both drops over its control channel (the supervisor's audit log).
net_checks() {
	wait_for 300 guest_says g1 net-done || fail "g1 did not finish its network checks"
	for g in "g1 $g1" "g2 $g2"; do
		# shellcheck disable=SC2086 # "NAME DOMID": split on purpose
		set -- $g
		[ "$(vif_state "$2")" = "connected 4" ] ||
			fail "$1's vif: hotplug-status and frontend state '$(vif_state "$2")', not 'connected 4'"
	done
	guest_says g2 net-listening || fail "g2 does not serve tcp 5432 and 22"
	guest_says g1 net-allowed-ok || fail "g1 could not reach g2 tcp 5432 through netdom"
	mark "netdom-vif-connected (g1 $g1 -> vif1.0, g2 $g2 -> vif2.0 in netdom $netdom: netback there, hotplug-status connected, netfront Connected; g1 reached g2 tcp 5432)"
	guest_says g1 net-forbidden-ok || fail "g1 reached g2 tcp 22, which the policy forbids"
	guest_says g1 net-spoof-ok || fail "g1 reached g2 from a forged source address"
	guest_says g1 "FAIL: net:" && fail "g1 reported a network failure"
	wait_for 30 audit_drop "10.81.1.2 -> 10.81.2.2 proto 6 port 22" ||
		fail "no drop event for g1 -> g2 tcp 22 in the audit log"
	wait_for 30 audit_drop "10.81.1.99 -> 10.81.2.2 proto 6 port 5432" ||
		fail "no drop event for the forged source in the audit log"
	mark "netdom-vif-enforced (g1 -> g2 tcp 22 and from forged 10.81.1.99 dropped; netdomd reported both: audit drop events)"
	signal "$netdom" traffic-done || fail "signal netdom"
}

services_phase() {
	# The stress domains are done: make room.
	for d in $DOMU $INTRUDER; do
		timeout 20 xl destroy "$d" >/dev/null 2>&1
	done
	# The state disks of vtpm and stordom (configs/nested: disk = [...]):
	# blank files, which libxl attaches through blkback as loop devices
	# (block-hotplug.sh); each domain formats its own on first boot.
	mkdir -p /run/bh-state
	truncate -s 64M /run/bh-state/vtpm.img /run/bh-state/stordom.img ||
		fail "cannot make the state disk files"
	info "bulkhead up $TOPO"
	timeout 420 bulkhead up --timeout 240 --state-dir $STATE $TOPO >/tmp/up.log 2>&1 ||
		{ up_logs; fail "bulkhead up"; }
	up_logs
	# The domids from `bulkhead status` (the management socket: cheap while
	# five domains boot on the one vCPU and an xl run may take many seconds).
	status_has '^g2 ' || { cat /tmp/status.txt; fail "bulkhead status"; }
	netdom=$(domid_of netdom) stordom=$(domid_of stordom) vtpm=$(domid_of vtpm)
	g1=$(domid_of g1) g2=$(domid_of g2)
	for id in "$netdom" "$stordom" "$vtpm" "$g1" "$g2"; do
		[ -n "$id" ] || { cat /tmp/status.txt; fail "a domain is not running in status"; }
	done
	mark "bulkhead-up (netdom $netdom, stordom $stordom, vtpm $vtpm, g1 $g1, g2 $g2)"
	status_has '^netdom +netdom +running .* ok +firewall generation 1,' ||
		{ cat /tmp/status.txt; fail "status: netdom not running with generation 1"; }
	sed 's/^/BH-STATUS| /' /tmp/status.txt
	mark "netdom-policy-applied (by bulkhead over chan-xen: generation 1)"
	grep -Eq '^stordom +stordom +running .* ok +1 volumes: g1-data 8M' /tmp/status.txt ||
		fail "status: stordom not running with g1-data open"
	mark "stordom-volume-open (by bulkhead over chan-xen: g1-data, 8 MiB, new LUKS2)"
	for d in vtpm stordom; do
		wait_for 10 guest_says $d state-disk-formatted ||
			fail "$d did not format and mount its blank state disk (xvdb)"
	done
	mark "state-disk-mounted (vtpm and stordom: xvdb from bulkhead's disk = [...], blank, formatted, mounted)"
	sealed_check
	grep -Eq '^vtpm +vtpm +running .* ok +1 vTPM instances: g1' /tmp/status.txt ||
		fail "status: vtpm not running with g1's instance"
	mark "vtpm-instance-started (by bulkhead over chan-xen: g1)"
	svc_stordom
	svc_vtpm
	wait_for 300 guest_says g1 "guest-init g1" || fail "g1 /init not seen on its console"
	wait_for 300 guest_says g2 "guest-init g2" || fail "g2 /init not seen on its console"
	for d in g1 g2; do
		grep -Eq "^$d +guest +running " /tmp/status.txt || fail "status: $d not running"
	done
	mark "guests-running (g1 $g1, g2 $g2: created by bulkhead, their /init ran)"
	# g2 is PVH (configs/nested/guests/g2.cfg): libxl built it so, and its
	# own kernel says it booted so.
	is_pvh g2 || fail "g2 is not a PVH domain for libxl"
	wait_for 60 guest_says g2 "guest-type PVH" || fail "g2's kernel does not say it runs PVH"
	{ guest_says g1 "guest-type PV" && ! guest_says g1 "guest-type PVH"; } ||
		fail "g1's kernel does not say it runs PV"
	mark "guest-pvh (g2 is PVH, g1 PV, as configured)"
	pvh_service
	attest "guest-attested"
	ak_before=$(ak_of)
	net_checks
	guest_paths
	svc_ok netdom 180 netdom-ruleset-ok netdom-counters-ok
	mark "netdom-enforced (counted in netdom's table: $(timeout 30 xenstore-read \
		"/local/domain/$netdom/data/bulkhead/counters" 2>&1))"
	svc_ok stordom 180 stordom-at-rest-ok
	mark stordom-at-rest-ok
	svc_ok vtpm 120 vtpm-served
	# Every channel the daemons serve is advertised for dom0 alone (again
	# after each session: wait for the re-advertisement); the control
	# channels, which bulkhead holds, are not advertised at all meanwhile.
	for c in "$stordom nbd-g1-data" "$vtpm tpm-g1" "$vtpm tpm-g1-ctrl"; do
		# shellcheck disable=SC2086 # "DOMID NAME": split on purpose
		set -- $c
		wait_for 20 chan_private "$1" "data/bulkhead/$2" ||
			fail "channel data/bulkhead/$2 of domain $1 is not private to dom0: $(
				xenstore-ls -p "/local/domain/$1/data/bulkhead/$2" 2>&1 | grep ring-ref)"
	done
	for id in $netdom $stordom $vtpm; do
		xenstore-exists "/local/domain/$id/data/bulkhead/ctl/ring-ref" &&
			fail "domain $id still advertises the control channel bulkhead holds"
	done
	# g1's own channels (CHAN_SERVE): its disk channel's permissions are
	# checked in guest_paths.
	case $(xenstore-ls -p "/local/domain/$g1/data/bulkhead" 2>/dev/null | grep '^disk0 ') in
	*"(n0,r$g1)") ;;
	*) fail "g1's endpoint entry is not readable by g1 and dom0 alone" ;;
	esac
	mark "service-chans-private (nbd-g1-data, tpm-g1, tpm-g1-ctrl: dom0 only; g1's endpoint entries: g1 and dom0; ctl: held by bulkhead, withdrawn)"
	# Supervision: a service domain destroyed behind bulkhead's back is noticed
	# (@releaseDomain), restarted with its configuration pushed again.
	timeout 60 xl destroy vtpm || fail "xl destroy vtpm"
	wait_for 120 status_has '^vtpm +vtpm +running .* 1  ok +1 vTPM instances' ||
		{ cat /tmp/status.txt; up_logs; fail "vtpm not restarted by the supervisor"; }
	sed 's/^/BH-STATUS| /' /tmp/status.txt
	attest "guest-attested-after-restart"
	# The supervisor made it from the same config: PVH again.
	is_pvh vtpm || fail "the restarted vtpm is not PVH"
	[ "$(grep -c 'BH-NESTED-DOMU: guest-type PVH' "$LOGDIR/guest-vtpm.log")" -ge 2 ] ||
		fail "the restarted vtpm's kernel did not say it runs PVH"
	mark "supervise-restart (vtpm destroyed with xl destroy: new PVH domain $(domid_of vtpm), instance g1 started again)"
	state_kept
	t0=$(cut -d. -f1 /proc/uptime)
	timeout 120 bulkhead down >/tmp/down.log 2>&1 || { cat /tmp/down.log; fail "bulkhead down"; }
	t1=$(cut -d. -f1 /proc/uptime)
	# libxl's complaints while it destroyed the domains, for the record.
	grep -h 'libxl' /tmp/down.log $STATE/log/bulkhead.log 2>/dev/null | sed 's/^/BH-DOWN| /'
	# At a guest's destroy libxl waits (10 s each) for netback to close the
	# vif and for the driver domain to remove its backend directory:
	# netdom's hotplug agent must have, for g1 and g2.
	if grep -hE 'backend/vif/.*(to be removed|unable to remove)|unable to remove device .*vif' \
		/tmp/down.log $STATE/log/bulkhead.log 2>/dev/null; then
		fail "libxl timed out waiting for netdom to close or remove a guest's vif"
	fi
	timeout 60 xl list >/tmp/xl-list.txt 2>&1
	[ "$(grep -cv '^Name\|^Domain-0' /tmp/xl-list.txt)" = 0 ] ||
		{ cat /tmp/xl-list.txt; fail "domains left after bulkhead down"; }
	grep '"restart"' $STATE/audit.jsonl 2>/dev/null | grep '"vtpm"' | grep -q '"ok"' ||
		fail "the audit log has no record of vtpm's restart"
	mark "bulkhead-down (in $((t1 - t0)) s; every domain gone; the audit log records the restart)"
}

# bh_only=services on the kernel command line (NESTED_ONLY=services in run.sh):
# skip the stress test, for quicker runs while working on the services.
case " $(cat /proc/cmdline) " in
*" bh_only=services "*) mark "skipping the stress test (bh_only=services)" ;;
*) stress_phase ;;
esac
services_phase

crash_scan || fail "a program crashed"
kill $watchdog 2>/dev/null
mark PASS
# The guests' consoles, for the record (and for run.sh's own crash scan),
# then how many lines that was: run.sh counts what reached the serial log.
n=0
for f in "$LOGDIR"/guest-*.log; do
	# awk ends every line, the last one too: one line out per line counted.
	awk '{ print "BH-DOMU| " $0 }' "$f"
	n=$((n + $(awk 'END { print NR }' "$f")))
done
echo "BH-NESTED-DUMPED: $n"
poweroff_now
