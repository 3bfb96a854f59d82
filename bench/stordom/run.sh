#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make bench-stordom: stordomd side by side with the peers, one run, same
# client (fio's nbd engine over a unix socket), same backing: a 1 GiB file in
# the page cache filled with random bytes. Servers:
#   stordom       stordomd, LUKS2 aes-xts-plain64 4096-byte sectors
#   nbdkit-luks   nbdkit file + luks filter, LUKS1 (cryptsetup-made)
#   qemu-luks     qemu-nbd, the same kind of LUKS1 image
#   nbdkit-plain  nbdkit file, no encryption
# Workloads: seq read/write 1 MiB qd4, random read/write 4 KiB qd16.
# Ends with one `bench ...` line per target (ratio = ours / peer).
set -eu
B=${BH_BUILD:-build}
SD=$B/stordomd
CTL=$B/tests/unit/stordom/helper-storctl
RUNTIME=${BENCH_RUNTIME:-5}
for t in fio nbdkit qemu-nbd cryptsetup nbdinfo; do
	command -v $t >/dev/null || { echo "run.sh: $t missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x "$SD" ] && [ -x "$CTL" ] || { echo "run.sh: build first (make all)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/bh-bench-stordom.XXXXXX)
SPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
SIZE=$((1 << 30))
SOCK=$TMP/srv.sock
URI="nbd+unix:///?socket=$SOCK"
printf 'bench passphrase' >"$TMP/pass"

wait_sock() {
	for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done
	echo "run.sh: $1 did not appear" >&2; exit 1
}

# Fill the data area (from byte offset $2) of image $1 with random bytes: no sparse reads.
fill() {
	local img=$1 off=$2
	head -c $SIZE /dev/urandom | dd of="$img" bs=1M seek=$((off >> 20)) conv=notrunc \
		status=none
}

luks1_image() {
	truncate -s $((SIZE + (2 << 20))) "$1"
	cryptsetup luksFormat --batch-mode --type luks1 --pbkdf-force-iterations 1000 \
		--key-file "$TMP/pass" "$1"
	fill "$1" $((2 << 20))
}

# fio JOB -> "MB/s" for seq jobs, "IOPS" for random ones
run_fio() {
	local rw=$1 bs=$2 qd=$3 kind=read
	case $rw in *write) kind=write ;; esac
	fio --name=b --ioengine=nbd --uri="$URI" --rw=$rw --bs=$bs --iodepth=$qd --size=$SIZE \
		--time_based --runtime="$RUNTIME" --ramp_time=1 --output-format=json \
		--output="$TMP/fio.json" >/dev/null 2>&1
	python3 - "$TMP/fio.json" "$kind" "$rw" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0][sys.argv[2]]
print("%.0f" % (j["iops"] if sys.argv[3].startswith("rand") else j["bw_bytes"] / 1e6))
PY
}

declare -A res
measure() {
	local srv=$1
	res[$srv.seqread]=$(run_fio read 1M 4)
	res[$srv.seqwrite]=$(run_fio write 1M 4)
	res[$srv.randread]=$(run_fio randread 4k 16)
	res[$srv.randwrite]=$(run_fio randwrite 4k 16)
	echo "  $srv: seqread ${res[$srv.seqread]} MB/s, seqwrite ${res[$srv.seqwrite]} MB/s," \
		"randread ${res[$srv.randread]} IOPS, randwrite ${res[$srv.randwrite]} IOPS" >&2
}

# --- stordom ---
head -c 48 /dev/urandom >"$TMP/key"
rm -f "$SOCK"
"$SD" --listen "$TMP" --control "$TMP/ctl" 2>"$TMP/stordomd.log" &
SPID=$!
wait_sock "$TMP/ctl"
$CTL "$TMP/ctl" open srv "$TMP/stor.img" "$TMP/key" create 1G test-kdf >/dev/null
$CTL "$TMP/ctl" close srv >/dev/null
fill "$TMP/stor.img" $((16 << 20))
$CTL "$TMP/ctl" open srv "$TMP/stor.img" "$TMP/key" >/dev/null
wait_sock "$SOCK"
measure stordom
kill "$SPID"; wait "$SPID" || true; SPID=
rm -f "$TMP/stor.img" "$SOCK"

# --- nbdkit file + luks filter ---
luks1_image "$TMP/l1.img"
nbdkit -f -U "$SOCK" --filter=luks file "$TMP/l1.img" passphrase=+"$TMP/pass" &
SPID=$!
wait_sock "$SOCK"
measure nbdkit-luks
kill "$SPID"; wait "$SPID" || true; SPID=
rm -f "$SOCK"

# --- qemu-nbd, LUKS1 image ---
qemu-nbd -k "$SOCK" -t --object secret,id=sec0,file="$TMP/pass" \
	--image-opts driver=luks,key-secret=sec0,file.driver=file,file.filename="$TMP/l1.img" &
SPID=$!
wait_sock "$SOCK"
measure qemu-luks
kill "$SPID"; wait "$SPID" || true; SPID=
rm -f "$TMP/l1.img" "$SOCK"

# --- nbdkit file, no encryption ---
truncate -s $SIZE "$TMP/plain.img"
fill "$TMP/plain.img" 0
nbdkit -f -U "$SOCK" file "$TMP/plain.img" &
SPID=$!
wait_sock "$SOCK"
measure nbdkit-plain
kill "$SPID"; wait "$SPID" || true; SPID=
rm -f "$TMP/plain.img"

printf '%-14s %14s %14s %14s %14s\n' server 'seqread 1M qd4' 'seqwrite 1M qd4' \
	'randread 4k qd16' 'randwrite 4k qd16'
for s in stordom nbdkit-luks qemu-luks nbdkit-plain; do
	printf '%-14s %9s MB/s %9s MB/s %10s IOPS %10s IOPS\n' $s "${res[$s.seqread]}" \
		"${res[$s.seqwrite]}" "${res[$s.randread]}" "${res[$s.randwrite]}"
done

# line NAME WORKLOAD PEER UNIT TARGET
line() {
	local name=$1 w=$2 peer=$3 unit=$4 target=$5 ours theirs
	ours=${res[stordom.$w]}
	theirs=${res[$peer.$w]}
	python3 - "$name" "$ours" "$peer" "$theirs" "$unit" "$target" <<'PY'
import sys
name, ours, peer, theirs, unit, target = sys.argv[1:]
r = float(ours) / float(theirs) if float(theirs) > 0 else float("inf")
print("bench %s ours=%s%s %s=%s%s ratio=%.2f target=>=%s %s" % (
    name, ours, unit, peer, theirs, unit, r, target, "PASS" if r >= float(target) else "FAIL"))
PY
}
line stordom-seqread-vs-luks seqread nbdkit-luks MB/s 5
line stordom-seqread-vs-plain seqread nbdkit-plain MB/s 0.6
line stordom-seqwrite-vs-luks seqwrite nbdkit-luks MB/s 8
line stordom-randread-vs-luks randread nbdkit-luks IOPS 2
line stordom-randwrite-vs-luks randwrite nbdkit-luks IOPS 2
