#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make bench-chan: the memfd channel side by side with a unix socketpair and a
# pipe, in one run (two processes pinned to CPUs 0 and 1; medians). Ends with
# one `bench ...` line per target (BENCH_ROUNDS interleaved rounds, medians):
#   chan-stream-64k  64 KiB writes, 1 MiB ring       ours >= 4x socketpair
#   chan-stream-4k   4 KiB writes, 64 KiB ring        ours >= 4x socketpair
#   chan-rtt-64b     64 B ping-pong round trip        ours <= 0.1x socketpair
#   chan-idle-cpu    CPU of an idle connected pair over 2 s   ours < 5 ms
set -eu
B=${BH_BUILD:-build}/bench/chan/chanbench
[ -x "$B" ] || { echo "run.sh: $B not built (make all)" >&2; exit 1; }
SAMPLES=${BENCH_SAMPLES:-3}
ROUNDS=${BENCH_ROUNDS:-5}

# Rounds interleave the transports, so a burst of load from elsewhere on this
# shared 2-CPU machine hits each of them alike; each figure is the median of
# the per-round medians.
declare -A all
for ((round = 0; round < ROUNDS; round++)); do
	for t in chan socketpair pipe; do
		all[$t.64k]+=" $("$B" stream $t $((1 << 20)) 65536 1024 "$SAMPLES")"
		all[$t.4k]+=" $("$B" stream $t $((64 << 10)) 4096 256 "$SAMPLES")"
		all[$t.rtt]+=" $("$B" rtt $t 10000)"
	done
done
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{v[NR] = $1} END {
	print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A r
for t in chan socketpair pipe; do
	for m in 64k 4k rtt; do
		r[$t.$m]=$(echo "${all[$t.$m]}" | median)
	done
	r[$t.idle]=$("$B" idle $t 2)
done

printf '%-12s %14s %14s %14s %14s\n' transport 'stream-64k' 'stream-4k' 'rtt-64b' 'idle-cpu-2s'
for t in chan socketpair pipe; do
	printf '%-12s %10s GB/s %10s GB/s %12s us %12s ms\n' $t "${r[$t.64k]}" "${r[$t.4k]}" \
		"${r[$t.rtt]}" "${r[$t.idle]}"
done

# bench NAME OURS PEER UNIT OP TARGET [ABS]: ratio = ours/peer; with ABS the
# target applies to ours itself (idle CPU), not to the ratio.
line() {
	awk -v n="$1" -v o="$2" -v p="$3" -v u="$4" -v op="$5" -v t="$6" -v abs="${7:-}" 'BEGIN {
		ratio = p > 0 ? o / p : 0
		v = abs != "" ? o : ratio
		ok = (op == ">=" && v >= t) || (op == "<=" && v <= t) || (op == "<" && v < t)
		printf "bench %s ours=%s%s socketpair=%s%s ratio=%.3g target=%s%s%s %s\n", n, o, u, p, u,
			ratio, op, t, abs, ok ? "PASS" : "FAIL"
	}'
}
line chan-stream-64k "${r[chan.64k]}" "${r[socketpair.64k]}" GB/s '>=' 4
line chan-stream-4k "${r[chan.4k]}" "${r[socketpair.4k]}" GB/s '>=' 4
line chan-rtt-64b "${r[chan.rtt]}" "${r[socketpair.rtt]}" us '<=' 0.1
line chan-idle-cpu "${r[chan.idle]}" "${r[socketpair.idle]}" ms '<' 5 ms
