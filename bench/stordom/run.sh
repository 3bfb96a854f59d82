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
# All four servers run at once; after one untimed sequential pass over each,
# every workload is measured in ROUNDS rounds (fio: 1 s ramp, RUNTIME s timed)
# that interleave the servers; the median of each is reported. Ends with one
# `bench ...` line per target (ratio = ours / peer).
set -eu
B=${BH_BUILD:-build}
SD=$B/stordomd
CTL=$B/tests/unit/stordom/helper-storctl
RUNTIME=${BENCH_RUNTIME:-2}
for t in fio nbdkit qemu-nbd cryptsetup nbdinfo; do
	command -v $t >/dev/null || { echo "run.sh: $t missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x "$SD" ] && [ -x "$CTL" ] || { echo "run.sh: build first (make all)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/bh-bench-stordom.XXXXXX)
SIZE=$((1 << 30))
# Five rounds, as bench/vtpm: on this shared 2-CPU VM one 2 s sample of random
# 4 KiB reads swung 49k-75k IOPS for the same stordomd with nothing else
# running (host-side noise: no faults, no other task), and with three rounds
# one bad pair moved the median ratio from 2.4 to 2.0.
ROUNDS=${BENCH_ROUNDS:-5}
printf 'bench passphrase' >"$TMP/pass"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
uri() { echo "nbd+unix:///?socket=$TMP/$1.sock"; }

wait_sock() {
	for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done
	echo "run.sh: $1 did not appear" >&2; exit 1
}

# Fill the data area (from byte offset $2) of image $1 with random bytes: no sparse reads.
fill() {
	head -c $SIZE /dev/urandom | dd of="$1" bs=1M seek=$(($2 >> 20)) conv=notrunc status=none
}

luks1_image() {
	truncate -s $((SIZE + (2 << 20))) "$1"
	cryptsetup luksFormat --batch-mode --type luks1 --pbkdf-force-iterations 1000 \
		--key-file "$TMP/pass" "$1"
	fill "$1" $((2 << 20))
}

# run_fio SERVER RW BS QD -> MB/s for sequential jobs, IOPS for random ones
run_fio() {
	local rw=$2 kind=read
	case $rw in *write) kind=write ;; esac
	fio --name=b --ioengine=nbd --uri="$(uri "$1")" --rw="$rw" --bs="$3" --iodepth="$4" \
		--size=$SIZE --time_based --runtime="$RUNTIME" --ramp_time=1 \
		--output-format=json --output="$TMP/fio.json" >/dev/null 2>&1
	python3 - "$TMP/fio.json" "$kind" "$rw" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0][sys.argv[2]]
print("%.0f" % (j["iops"] if sys.argv[3].startswith("rand") else j["bw_bytes"] / 1e6))
PY
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# --- all four servers up at once, each on its own copy of the data ---
head -c 48 /dev/urandom >"$TMP/key"
"$SD" --listen "$TMP" --control "$TMP/ctl" 2>"$TMP/stordomd.log" &
PIDS+=($!)
wait_sock "$TMP/ctl"
$CTL "$TMP/ctl" open stordom "$TMP/stor.img" "$TMP/key" create 1G test-kdf >/dev/null
$CTL "$TMP/ctl" close stordom >/dev/null
fill "$TMP/stor.img" $((16 << 20))
$CTL "$TMP/ctl" open stordom "$TMP/stor.img" "$TMP/key" >/dev/null
luks1_image "$TMP/kit.img"
nbdkit -f -U "$TMP/nbdkit-luks.sock" --filter=luks file "$TMP/kit.img" \
	passphrase=+"$TMP/pass" &
PIDS+=($!)
luks1_image "$TMP/qemu.img"
qemu-nbd -k "$TMP/qemu-luks.sock" -t --object secret,id=sec0,file="$TMP/pass" \
	--image-opts driver=luks,key-secret=sec0,file.driver=file,file.filename="$TMP/qemu.img" &
PIDS+=($!)
truncate -s $SIZE "$TMP/plain.img"
fill "$TMP/plain.img" 0
nbdkit -f -U "$TMP/nbdkit-plain.sock" file "$TMP/plain.img" &
PIDS+=($!)
SERVERS="stordom nbdkit-luks qemu-luks nbdkit-plain"
for s in $SERVERS; do wait_sock "$TMP/$s.sock"; done

# Warm-up, the same for every server and not counted: one sequential pass
# over the whole export, so that no server's first timed round pays for
# first-touch costs (page-cache lookups, stordom's read view being mapped).
for s in $SERVERS; do
	fio --name=w --ioengine=nbd --uri="$(uri "$s")" --rw=read --bs=1M --iodepth=4 \
		--size=$SIZE --output="$TMP/warm.out" >/dev/null 2>&1
done

# Rounds interleave the servers so that a noisy neighbour hits all of them alike.
declare -A res
for w in "seqread read 1M 4" "seqwrite write 1M 4" "randread randread 4k 16" \
	"randwrite randwrite 4k 16"; do
	set -- $w
	declare -A samples=()
	for _ in $(seq "$ROUNDS"); do
		for s in $SERVERS; do
			samples[$s]="${samples[$s]:-} $(run_fio $s "$2" "$3" "$4")"
		done
	done
	for s in $SERVERS; do
		# shellcheck disable=SC2086
		res[$s.$1]=$(median ${samples[$s]})
		echo "  $1 $s:${samples[$s]} -> ${res[$s.$1]}" >&2
	done
	unset samples
done

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
