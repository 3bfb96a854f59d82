#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make bench-netdom (as root): netdom's nftables policy side by side with
# plain `nft -f`, in network namespaces this script creates and removes.
#
#   netdom-commit-10k    netdomd decoding, compiling and committing a policy of
#                        1,000 guests and 10,000 rules (helper-ndpolicy's
#                        synthetic one), against `nft -f` of the same policy
#                        written as nft users write it (helper-ndpolicy nft:
#                        one rule per policy rule, a named set per zone, sets
#                        for anti-spoofing, atomic replace of the table)
#                        ratio = ours / nft -f             target <= 0.5
#   netdom-forward-1000g iperf3 TCP g0 -> netdom -> g1 with that policy in
#                        force, against the same path with no ruleset
#                        ratio = with policy / no ruleset  target >= 0.9
#   netdom-update-1      one rule of the 10,000 changed: the POLICY_* round
#                        trip to a running netdomd over its control socket
#                        (helper-ndpolicy send), against `nft -f` of the
#                        edited file       ratio = ours / nft -f  target <= 0.5
#
# Times are medians of BENCH_RUNS (7) runs. Throughput is the best of
# BENCH_IPERF_ROUNDS (5) iperf3 runs of BENCH_IPERF_SECS (2) s each, with and
# without the policy alternating: on a shared machine the best run is the one
# least disturbed by others. Ends with one `bench ...` line per target.
set -eu
B=${BH_BUILD:-build}
ND=$B/netdomd
POL=$B/tests/unit/netdom/helper-ndpolicy
RUNS=${BENCH_RUNS:-7}
SECS=${BENCH_IPERF_SECS:-2}
ROUNDS=${BENCH_IPERF_ROUNDS:-5}
[ "$(id -u)" = 0 ] || { echo "bench-netdom: needs root (network namespaces)" >&2; exit 1; }
for t in nft ip iperf3 python3; do
	command -v $t >/dev/null || { echo "bench-netdom: $t missing" >&2; exit 1; }
done
[ -x "$ND" ] && [ -x "$POL" ] || { echo "bench-netdom: build first (make all)" >&2; exit 1; }

S=$$
NS_C=bhbc$S NS_P=bhbp$S NS_N=bhbn$S NS_G0=bhb0$S NS_G1=bhb1$S
TMP=$(mktemp -d)
NDPID= SRVPID=
cleanup() {
	[ -n "$NDPID" ] && kill "$NDPID" 2>/dev/null && wait "$NDPID" 2>/dev/null || true
	[ -n "$SRVPID" ] && kill "$SRVPID" 2>/dev/null && wait "$SRVPID" 2>/dev/null || true
	for n in $NS_C $NS_P $NS_N $NS_G0 $NS_G1; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
nsx() { local n=$1; shift; ip netns exec "$n" "$@"; }
now_us() { echo $(($(date +%s%N) / 1000)); }
took_ms() { # CMD... -> wall-clock milliseconds of one run (fails if CMD fails)
	local t0 t1
	t0=$(now_us)
	"$@" >/dev/null 2>&1 || { echo "bench-netdom: failed: $*" >&2; return 1; }
	t1=$(now_us)
	awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f\n", d / 1000 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- the policy: 1,000 guests in zones of 10, 9,999 synthetic rules and rule
# 10000 for the iperf3 flow; variant b moves rule 5000 to another port.
ITEMS=("synth 1000 9999" "rule 10000 g=g0 g=g1 tcp 5201 accept")
$POL write $TMP/a.pol 1 "${ITEMS[@]}"
$POL write $TMP/b.pol 2 "${ITEMS[@]}" "bump 5000"
$POL nft $TMP/a.nft "${ITEMS[@]}"
$POL nft $TMP/b.nft "${ITEMS[@]}" "bump 5000"
echo "policy: $(grep -c counter $TMP/a.nft) nft rules, $(stat -c %s $TMP/a.pol) bytes of POLICY_* messages"
PY=$(python3 -c 'import sys; print(sys.executable)') # not a version-manager shim

# --- commit: ours in one namespace, nft -f in another, alternating ---
ip netns add $NS_C
ip netns add $NS_P
took_ms $ND --netns $NS_C --policy $TMP/a.pol >/dev/null # first run: the closed policy too
took_ms nsx $NS_P nft -f $TMP/a.nft >/dev/null
: >$TMP/c.ours; : >$TMP/c.nft
for _ in $(seq $RUNS); do
	took_ms $ND --netns $NS_C --policy $TMP/a.pol >>$TMP/c.ours
	took_ms nsx $NS_P nft -f $TMP/a.nft >>$TMP/c.nft
done
nsx $NS_P nft list ruleset | grep -c 'counter packets' >$TMP/c.check
[ "$(cat $TMP/c.check)" -ge 10000 ] || { echo "bench-netdom: nft -f did not load the rules" >&2; exit 1; }
commit_ours=$(median <$TMP/c.ours) commit_nft=$(median <$TMP/c.nft)

# --- update: a running netdomd over its control socket, against nft -f of the edit ---
: >$TMP/u.ours; : >$TMP/u.nft
$ND --netns $NS_C --control $TMP/ctl.sock 2>$TMP/nd.log &
NDPID=$!
for _ in $(seq 50); do [ -S $TMP/ctl.sock ] && break; sleep 0.1; done
for i in $(seq $RUNS); do
	f=$([ $((i % 2)) = 1 ] && echo b || echo a)
	took_ms $POL send $TMP/ctl.sock $TMP/$f.pol >>$TMP/u.ours
	took_ms nsx $NS_P nft -f $TMP/$f.nft >>$TMP/u.nft
done
kill $NDPID; wait $NDPID 2>/dev/null || true; NDPID=
update_ours=$(median <$TMP/u.ours) update_nft=$(median <$TMP/u.nft)

# --- forwarding: g0 -> netdom -> g1, named and addressed as synth's g0 and g1 ---
ip netns add $NS_N
nsx $NS_N sysctl -qw net.ipv4.ip_forward=1
nsx $NS_N ip link set lo up
for i in 0 1; do
	g=$([ $i = 0 ] && echo $NS_G0 || echo $NS_G1)
	ip netns add $g
	ip link add vif$i.0 netns $NS_N type veth peer name eth0 netns $g
	nsx $g ip link set eth0 address 00:16:3e:00:00:0$i
	nsx $g ip link set lo up
	nsx $g ip link set eth0 up
	nsx $g ip addr add 10.0.$i.2/24 dev eth0
	nsx $g ip route add default via 10.0.$i.1
	nsx $NS_N ip link set vif$i.0 up
	nsx $NS_N ip addr add 10.0.$i.1/24 dev vif$i.0
done
# Not through nsx: a backgrounded function is a subshell, and killing it would
# leave iperf3 behind. `ip netns exec` execs iperf3, so $! is iperf3 itself.
ip netns exec $NS_G1 iperf3 -s >/dev/null 2>&1 &
SRVPID=$!
sleep 0.5
gbps() { # one iperf3 run -> receiver Gbit/s
	nsx $NS_G0 iperf3 -c 10.0.1.2 -t $SECS -J | $PY -c \
		'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'
}
: >$TMP/f.with; : >$TMP/f.none
for _ in $(seq $ROUNDS); do
	$ND --netns $NS_N --policy $TMP/a.pol 2>/dev/null
	gbps >>$TMP/f.with
	nsx $NS_N nft delete table inet bulkhead
	gbps >>$TMP/f.none
done
# The policy must really be what the flow went through: its rule counted it.
$ND --netns $NS_N --policy $TMP/a.pol 2>/dev/null
nsx $NS_G0 iperf3 -c 10.0.1.2 -t 1 >/dev/null
nsx $NS_N nft list counter inet bulkhead r10000 | grep -q 'packets [1-9]' ||
	{ echo "bench-netdom: the iperf3 flow did not go through rule 10000" >&2; exit 1; }
best() { sort -g | tail -1; }
fwd_with=$(best <$TMP/f.with) fwd_none=$(best <$TMP/f.none)

printf '%-22s %12s %12s\n' '' netdom 'peer'
printf '%-22s %9s ms %9s ms (nft -f)\n' 'commit 10k rules' "$commit_ours" "$commit_nft"
printf '%-22s %9s ms %9s ms (nft -f)\n' 'update 1 rule' "$update_ours" "$update_nft"
printf '%-22s %7s Gb/s %7s Gb/s (no ruleset)\n' 'forward, 1000 guests' "$fwd_with" "$fwd_none"

line() { # NAME OURS PEERNAME PEER UNIT OP TARGET
	awk -v n="$1" -v o="$2" -v pn="$3" -v p="$4" -v u="$5" -v op="$6" -v t="$7" 'BEGIN {
		r = p > 0 ? o / p : 0
		ok = (op == ">=" && r >= t) || (op == "<=" && r <= t)
		printf "bench %s ours=%s%s %s=%s%s ratio=%.3g target=%s%s %s\n", n, o, u, pn, p, u, r,
			op, t, ok ? "PASS" : "FAIL"
	}'
}
line netdom-commit-10k "$commit_ours" nft-f "$commit_nft" ms '<=' 0.5
line netdom-forward-1000g "$fwd_with" no-ruleset "$fwd_none" Gbit/s '>=' 0.9
line netdom-update-1 "$update_ours" nft-f "$update_nft" ms '<=' 0.5
