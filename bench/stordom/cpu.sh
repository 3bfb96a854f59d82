#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What stordomd spends per GB moved, which a loaded machine hardly changes
# (wall-clock MB/s on a shared 2-vCPU VM varies by +-20% between runs of the
# same code): CPU seconds of stordomd and of fio, and stordomd's voluntary and
# involuntary context switches, each per GB, for one fio nbd job. Not a
# benchmark (bench/stordom/run.sh is): a tool for comparing two builds.
#
#   BH_BUILD=build bench/stordom/cpu.sh [GIB]
#
# GIB (default 4): GiB that fio moves in the measured run, over a 1 GiB
# LUKS2 volume filled with random bytes, after one untimed pass. The job is
# RW (write), BS (1M) and QD (4) from the environment. Switches are counted
# per thread by sampling /proc every 50 ms (a thread that ends between two
# samples loses its last few; the connection's reader lives as long as fio's
# connection). RT="chrt -f 10" runs stordomd and fio under SCHED_FIFO, which
# keeps the machine's other load off them (only for short runs on a machine
# you may slow down).
set -eu
B=${BH_BUILD:-build}
SD=$B/stordomd
CTL=$B/tests/unit/stordom/helper-storctl
GIB=${1:-4}
RW=${RW:-write}
BS=${BS:-1M}
QD=${QD:-4}
RT=${RT:-}
for t in fio python3; do
	command -v $t >/dev/null || { echo "cpu.sh: $t missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x "$SD" ] && [ -x "$CTL" ] || { echo "cpu.sh: build first (make all)" >&2; exit 1; }
case $GIB in '' | *[!0-9]* | 0) echo "cpu.sh: GIB must be a positive integer" >&2; exit 2 ;; esac
TMP=$(mktemp -d /tmp/bh-cpu-stordom.XXXXXX)
SDPID=
cleanup() {
	[ -n "$SDPID" ] && kill "$SDPID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

head -c 48 /dev/urandom >"$TMP/key"
$RT "$SD" --listen "$TMP" --control "$TMP/ctl" 2>"$TMP/stordomd.log" &
SDPID=$!
for _ in $(seq 100); do [ -S "$TMP/ctl" ] && break; sleep 0.1; done
$CTL "$TMP/ctl" open vol "$TMP/vol.img" "$TMP/key" create 1G test-kdf >/dev/null
$CTL "$TMP/ctl" close vol >/dev/null
head -c $((1 << 30)) /dev/urandom | dd of="$TMP/vol.img" bs=1M seek=16 \
	conv=notrunc status=none
$CTL "$TMP/ctl" open vol "$TMP/vol.img" "$TMP/key" >/dev/null
URI="nbd+unix:///?socket=$TMP/vol.sock"
fio --name=warm --ioengine=nbd --uri="$URI" --rw="$RW" --bs="$BS" --iodepth="$QD" --size=1G \
	>/dev/null 2>&1

# One line per thread: tid utime+stime(ticks) voluntary involuntary
threads() {
	for t in /proc/"$SDPID"/task/*; do
		awk -v tid="${t##*/}" 'NR == FNR { split($0, a, ") "); split(a[2], f, " ");
			cpu = f[12] + f[13]; next }
			/^voluntary_ctxt/ { v = $2 } /^nonvoluntary_ctxt/ { n = $2 }
			END { print tid, cpu, v, n }' "$t/stat" "$t/status" 2>/dev/null || true
	done
}

threads >"$TMP/before"
proc0=$(awk '{ split($0, a, ") "); split(a[2], f, " "); print f[12] + f[13] }' /proc/"$SDPID"/stat)
load=$(cut -d' ' -f1 /proc/loadavg)
$RT fio --name=m --ioengine=nbd --uri="$URI" --rw="$RW" --bs="$BS" --iodepth="$QD" \
	--size=1G --loops="$GIB" --output-format=json --output="$TMP/fio.json" >/dev/null 2>&1 &
FIO=$!
: >"$TMP/samples"
while kill -0 $FIO 2>/dev/null; do
	threads >>"$TMP/samples"
	sleep 0.05
done
wait $FIO
threads >>"$TMP/samples"
proc1=$(awk '{ split($0, a, ") "); split(a[2], f, " "); print f[12] + f[13] }' /proc/"$SDPID"/stat)

python3 - "$TMP/before" "$TMP/samples" "$TMP/fio.json" "$GIB" "$proc0" "$proc1" "$load" \
	"$(getconf CLK_TCK)" "$RW" <<'PY'
import json, sys
before_f, samples_f, fio_f, gib, p0, p1, load, hz, rw = sys.argv[1:]
gb = int(gib) * (1 << 30) / 1e9
hz = float(hz)
def rows(path):
    for line in open(path):
        f = line.split()
        if len(f) == 4:
            yield f[0], [int(x) for x in f[1:]]
base = dict(rows(before_f))
last = {}
for tid, v in rows(samples_f):
    last[tid] = v
vcs = ivcs = 0
per = []
for tid, v in last.items():
    b = base.get(tid, [0, 0, 0])  # a thread born during the run started at 0
    d = [v[i] - b[i] for i in range(3)]
    vcs += d[1]
    ivcs += d[2]
    if d[0] > 0 or d[1] > 100:
        per.append("  thread %s%s: cpu-s/GB=%.3f vcs/GB=%.0f ivcs/GB=%.0f" % (
            tid, "" if tid in base else " (new)", d[0] / hz / gb, d[1] / gb, d[2] / gb))
j = json.load(open(fio_f))["jobs"][0]
kind = "read" if "read" in rw else "write"
fio_cpu = (j["usr_cpu"] + j["sys_cpu"]) / 100 * j["job_runtime"] / 1000
print("\n".join(sorted(per)))
print("stordomd cpu-s/GB=%.3f vcs/GB=%.0f ivcs/GB=%.0f fio cpu-s/GB=%.3f MB/s=%.0f load=%s" % (
    (int(p1) - int(p0)) / hz / gb, vcs / gb, ivcs / gb, fio_cpu / gb,
    j[kind]["bw_bytes"] / 1e6, load))
PY
