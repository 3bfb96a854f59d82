#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make bench-vtpm: vtpmd side by side with swtpm (and libtpms in-process) in
# one run on one machine, raw TPM 2.0 command bytes over one persistent
# connection. Every figure is the median of ROUNDS rounds, and the rounds
# interleave ours and the peer's so that both see the same machine load:
#   vtpm-extend-vs-swtpm   PCR_Extend/s, ours over the bulkhead channel
#                          (tpm.chan, data stream of the mux), swtpm over its
#                          unix socket                           ours >= 4x swtpm
#   vtpm-quote-vs-libtpms  Quote (ECDSA P-256)/s, ours over the channel,
#                          libtpms called in-process             ours >= 0.9x libtpms
#   vtpm-start-vs-swtpm    fresh instance (TPM manufactured on the way), from
#                          dom0's VTPM_START on an open control connection /
#                          from launching swtpm, to the response to
#                          TPM2_Startup; one process times both, no helper
#                          exec inside the interval               ours <= 0.5x swtpm
#                          (ours: the new TPM was manufactured ahead of time
#                          by a spare worker at nice 19 while vtpmd was idle,
#                          as swtpm_setup would prepare one; it is stored with
#                          Startup's state change, durably (2 fsyncs) before
#                          the answer; swtpm manufactures on launch and
#                          writes its state without fsync)
#   vtpm-pss-vs-swtpm      PSS per instance with N_INST running, every TPM
#                          started up; ours = (workers + spawner + spare
#                          worker + manager) / N
#                                                                 ours <= swtpm
set -eu
B=$(cd "${BH_BUILD:-build}" && pwd)
H=$B/tests/unit/vtpm/helper-tpmbench
CTL=$B/tests/unit/vtpm/helper-vtpmctl
VTPMD=$B/vtpmd
for x in "$H" "$CTL" "$VTPMD"; do [ -x "$x" ] || { echo "run.sh: $x not built (make all)" >&2; exit 1; }; done
command -v swtpm >/dev/null || { echo "run.sh: swtpm missing (scripts/install-deps.sh)" >&2; exit 1; }
N_EXT=${BENCH_EXT:-50000}
N_SW_EXT=${BENCH_SW_EXT:-10000}
N_Q=${BENCH_QUOTE:-500}
N_INST=${BENCH_INSTANCES:-20}
TMP=$(mktemp -d /tmp/bh-bench-vtpm.XXXXXX)
PIDS=()
VPID=
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -n "$VPID" ] && kill "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

mkdir "$TMP/st"
"$VTPMD" --gen-key "$TMP/key"
"$VTPMD" --state-dir "$TMP/st" --key-file "$TMP/key" --control "$TMP/ctl" 2>"$TMP/vtpmd.log" &
VPID=$!
for _ in $(seq 100); do [ -S "$TMP/ctl" ] && break; sleep 0.05; done
ctl() { "$CTL" "$TMP/ctl" "$@" >/dev/null; }
swtpm_start() { # NAME: a fresh swtpm with unix data and control sockets
	mkdir -p "$TMP/$1"
	swtpm socket --tpm2 --tpmstate "dir=$TMP/$1" --flags not-need-init \
		--server "type=unixio,path=$TMP/$1.sock" --ctrl "type=unixio,path=$TMP/$1.sock.ctrl" \
		>/dev/null 2>&1 &
	PIDS+=($!)
}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

ROUNDS=${BENCH_ROUNDS:-5}
# --- rates: ROUNDS interleaved rounds of ours (channel, socket), swtpm, libtpms ---
ctl create b0 start b0
swtpm_start sw0
"$H" first-response sock "$TMP/sw0.sock" 5000 >/dev/null
for _ in $(seq "$ROUNDS"); do
	"$H" rates chan "$TMP/st/b0/tpm.chan" "$N_EXT" "$N_Q" >>"$TMP/r.chan"
	"$H" rates sock "$TMP/sw0.sock" "$N_SW_EXT" "$N_Q" >>"$TMP/r.swtpm"
	"$H" rates inproc "$N_EXT" "$N_Q" >>"$TMP/r.inproc"
	"$H" rates sock "$TMP/st/b0/tpm.sock" "$N_SW_EXT" "$N_Q" >>"$TMP/r.sock"
done
kill "${PIDS[-1]}"
ctl stop b0
med() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" "$TMP/r.$1" | median; }
ext_ours=$(med chan extend); q_ours=$(med chan quote)
ext_sw=$(med swtpm extend); q_sw=$(med swtpm quote)
ext_in=$(med inproc extend); q_in=$(med inproc quote)
ext_sock=$(med sock extend); q_sock=$(med sock quote)

# --- start to first response, fresh instances, interleaved ---
for i in $(seq $((ROUNDS + 2))); do
	"$H" start vtpmd "$TMP/ctl" "$TMP/st" "s$i" >>"$TMP/start.ours"
	mkdir "$TMP/sws$i"
	"$H" start swtpm "$TMP/sws$i" >>"$TMP/start.swtpm" 2>/dev/null
done
start_ours=$(median <"$TMP/start.ours")
start_sw=$(median <"$TMP/start.swtpm")

# --- memory with N_INST instances each, every TPM started up ---
swpids=()
for i in $(seq "$N_INST"); do
	ctl create "m$i" start "m$i"
	"$H" first-response sock "$TMP/st/m$i/tpm.sock" 5000 >/dev/null
	swtpm_start "swm$i"
	swpids+=("${PIDS[-1]}")
	"$H" first-response sock "$TMP/swm$i.sock" 5000 >/dev/null
done
sleep 0.5
# shellcheck disable=SC2046
mem() { awk -v k="$1" '$1 == k":" {s += $2} END {printf "%.0f", s}' $(for p in "${@:2}"; do echo "/proc/$p/smaps_rollup"; done); }
zpid=$(pgrep -P "$VPID" -f -- "--zygote")
wpids=$(pgrep -P "$zpid" -f -- "--worker m[0-9]" | tr '\n' ' ')
# the spawner, and the spare worker with its TPM made ahead of time
zpid="$zpid $(pgrep -P "$zpid" -f -- "--zygote" | tr '\n' ' ')"
# shellcheck disable=SC2086
pss_ours=$(echo "scale=2; ($(mem Pss $wpids $zpid $VPID)) / $N_INST / 1024" | bc)
# shellcheck disable=SC2086
pss_workers=$(echo "scale=2; ($(mem Pss $wpids)) / $N_INST / 1024" | bc)
# shellcheck disable=SC2086
rss_ours=$(echo "scale=2; $(mem Rss $wpids) / $N_INST / 1024" | bc)
pss_sw=$(echo "scale=2; $(mem Pss "${swpids[@]}") / $N_INST / 1024" | bc)
rss_sw=$(echo "scale=2; $(mem Rss "${swpids[@]}") / $N_INST / 1024" | bc)

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); medians of $ROUNDS rounds"
printf '%-40s %12s %12s %12s\n' '' 'vtpmd' 'swtpm' 'libtpms'
printf '%-40s %12s %12s %12s\n' 'PCR_Extend/s (chan | socket | in-proc)' "$ext_ours" "$ext_sw" "$ext_in"
printf '%-40s %12s\n' 'PCR_Extend/s over tpm.sock' "$ext_sock"
printf '%-40s %12s %12s %12s\n' 'Quote ECDSA P-256/s' "$q_ours" "$q_sw" "$q_in"
printf '%-40s %12s\n' 'Quote ECDSA P-256/s over tpm.sock' "$q_sock"
printf '%-40s %12s %12s\n' 'start to first response (ms)' "$start_ours" "$start_sw"
printf '%-40s %12s %12s\n' "RSS per worker, $N_INST running (MiB)" "$rss_ours" "$rss_sw"
printf '%-40s %12s %12s\n' "PSS per instance, $N_INST running (MiB)" "$pss_ours" "$pss_sw"
printf '%-40s %12s\n' "  of which workers alone (MiB)" "$pss_workers"
echo "start samples (ms): ours $(tr '\n' ' ' <"$TMP/start.ours")| swtpm $(tr '\n' ' ' <"$TMP/start.swtpm")"
echo "extend samples (/s): ours $(sed -n 's/extend=\([0-9]*\).*/\1/p' "$TMP/r.chan" | tr '\n' ' ')| swtpm $(sed -n 's/extend=\([0-9]*\).*/\1/p' "$TMP/r.swtpm" | tr '\n' ' ')"

line() { # NAME OURS PEERNAME PEER UNIT OP TARGET
	awk -v n="$1" -v o="$2" -v pn="$3" -v p="$4" -v u="$5" -v op="$6" -v t="$7" 'BEGIN {
		r = p > 0 ? o / p : 0
		ok = (op == ">=" && r >= t) || (op == "<=" && r <= t)
		printf "bench %s ours=%s%s %s=%s%s ratio=%.3g target=%s%s %s\n", n, o, u, pn, p, u, r,
			op, t, ok ? "PASS" : "FAIL"
	}'
}
line vtpm-extend-vs-swtpm "$ext_ours" swtpm "$ext_sw" /s '>=' 4
line vtpm-quote-vs-libtpms "$q_ours" libtpms "$q_in" /s '>=' 0.9
line vtpm-start-vs-swtpm "$start_ours" swtpm "$start_sw" ms '<=' 0.5
line vtpm-pss-vs-swtpm "$pss_ours" swtpm "$pss_sw" MiB '<=' 1
