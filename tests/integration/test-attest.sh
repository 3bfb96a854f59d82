#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Measured boot and attestation for real (issue 9 items 1 and 2): a vtpmd
# instance as tests/integration/test-vtpm.sh starts one, a host-platform
# guest whose command is a copy of /bin/true, and tpm2-tools as the outside
# judge. Checks: `bulkhead measure --extend` extends the vTPM and writes a log
# that tpm2_eventlog parses and whose replay equals tpm2_pcrread in every bank,
# and equals the golden values of `bulkhead measure`; measuring twice without
# a power cycle is refused; `bulkhead attest` passes on the unmodified guest
# and leaves no transient object; tpm2_checkquote accepts the same quote; an
# old quote (old nonce) is refused; one byte changed in the executable or in
# the config fails naming that event, a comment does not; a tampered log, an
# extension behind bulkhead's back (SHA-256 bank, or SHA-1 only) fail; the
# guest's own control socket cannot power-cycle the vTPM to replay its log
# (dom0's VTPM_RESET through vtpmd can).
set -u
B=$(cd "${BH_BUILD:-build}" && pwd)
BH=${BH_BULKHEAD:-$B/bulkhead}
VTPMD=$B/vtpmd
CTL=$B/tests/unit/vtpm/helper-vtpmctl
for t in tpm2_eventlog tpm2_checkquote tpm2_pcrread xxd; do command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
[ -x "$VTPMD" ] && [ -x "$BH" ] || { echo "FAIL: vtpmd or bulkhead not built"; exit 1; }
TMP=$(mktemp -d /tmp/bh-attest.XXXXXX)
ST=$TMP/vtpm
PID=
fails=0
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
. "$(dirname "$0")/lib-check.sh"

SOCK=$ST/web/tpm.sock
T="swtpm:path=$SOCK"
BANKS=sha1:1,8,9+sha256:1,8,9+sha384:1,8,9+sha512:1,8,9
DIR=$TMP/topo
LOG=$TMP/state/eventlog/web.bin

mkdir -p "$ST" "$DIR/guests" "$TMP/state"
cp /bin/true "$TMP/guest-bin"
cat >"$DIR/host.cfg" <<CFG
bh_platform = "host"
bh_state_dir = "$TMP/state"
bh_audit_log = "$TMP/audit.jsonl"
CFG
printf 'name = "vtpm"\nbh_role = "vtpm"\n' >"$DIR/vtpm.cfg"
cat >"$DIR/guests/web.cfg" <<CFG
# a measured guest
name = "web"
memory = 128
bh_vtpm = 1
bh_measure = "yes"
bh_host_cmd = "$TMP/guest-bin --serve 8080"
CFG

"$VTPMD" --gen-key "$TMP/key" || exit 1
"$VTPMD" --state-dir "$ST" --key-file "$TMP/key" --control "$TMP/ctl" 2>>"$TMP/vtpmd.log" &
PID=$!
for _ in $(seq 100); do [ -S "$TMP/ctl" ] && break; sleep 0.05; done
[ -S "$TMP/ctl" ] || { bad "vtpmd did not come up"; cat "$TMP/vtpmd.log"; exit 1; }
check "vtpmd: create and start web" "$CTL" "$TMP/ctl" create web start web
cd "$TMP" || exit 1

# tpm2_pcrread / tpm2_eventlog / bulkhead measure PCR lists, as "bank pcr value" lines
pcrs_of() { awk '/^ *sha[0-9]+:$/ {b=$1} /^ *[0-9]+ *: *0x/ {sub(":","",b); v=$NF; print b, $1, tolower(v)}'; }
tpm_pcrs() { tpm2_pcrread -T "$T" "$BANKS" | pcrs_of; }

# --- golden values without a TPM, then measuring for real ---
check "bulkhead measure (golden values, no vTPM)" bash -c "'$BH' measure '$DIR' web | grep -q 'event 2 (PCR 9, EV_IPL, kernel: \"$TMP/guest-bin\")'"
check "bulkhead measure --extend" "$BH" measure --extend --tpm "$SOCK" "$DIR" web
check "event log written" test -s "$LOG"
check "tpm2_eventlog parses the log without a warning" bash -c "tpm2_eventlog '$LOG' >el.yaml 2>el.err && ! grep -q . el.err"
grep -q "kernel_cmdline: $TMP/guest-bin --serve 8080" el.yaml && ok "tpm2_eventlog shows the command line" || bad "command line in tpm2_eventlog output"
pcrs_of <el.yaml | sort >el.pcrs
tpm_pcrs | sort >tpm.pcrs
[ "$(wc -l <tpm.pcrs)" = 12 ] && cmp -s el.pcrs tpm.pcrs && ok "tpm2_eventlog's replay equals tpm2_pcrread (PCRs 1, 8, 9 in 4 banks)" ||
	{ bad "replay vs tpm2_pcrread"; diff el.pcrs tpm.pcrs; }
"$BH" measure --tpm "$SOCK" "$DIR" web | pcrs_of | sort >golden.pcrs
cmp -s golden.pcrs tpm.pcrs && ok "bulkhead measure's golden values equal tpm2_pcrread" || { bad "golden vs pcrread"; diff golden.pcrs tpm.pcrs; }
fails_saying "measuring twice without a power cycle is refused" "freshly started" \
	"$BH" measure --extend --tpm "$SOCK" "$DIR" web

# --- attestation ---
check "bulkhead attest passes on the unmodified guest" "$BH" attest --tpm "$SOCK" --save-quote q1 "$DIR" web
grep -q "attest web: pass" "$TMP/out" && ok "$(cat "$TMP/out")" || bad "no pass line"
check "no transient object left in the vTPM" bash -c "[ -z \"\$(tpm2_getcap -T '$T' handles-transient)\" ]"
tpm2_pcrread -T "$T" -o q1/pcrs.bin sha256:1,8,9 >/dev/null
check "tpm2_checkquote accepts the quote (PEM key, PCRs from tpm2_pcrread, nonce)" \
	tpm2_checkquote -u q1/ak.pem -m q1/quote.msg -s q1/quote.sig -f q1/pcrs.bin -l sha256:1,8,9 -g sha256 -q q1/nonce
check "tpm2_checkquote accepts it with the TSS public key too" \
	tpm2_checkquote -u q1/ak.pub -m q1/quote.msg -s q1/quote.sig -g sha256 -q q1/nonce
check_fails "tpm2_checkquote refuses it for another nonce" \
	tpm2_checkquote -u q1/ak.pem -m q1/quote.msg -s q1/quote.sig -g sha256 -q 00
check "a second attestation" "$BH" attest --tpm "$SOCK" --save-quote q2 "$DIR" web
check_fails "each attestation has its own nonce" cmp -s q1/nonce q2/nonce
cmp -s q1/ak.pub q2/ak.pub && ok "the AK is the same key each time (primary from a fixed template)" || bad "AK changed"
check "the saved quote verifies offline with its own nonce" \
	"$BH" attest --quote-from q1 --nonce "$(xxd -p -c 64 q1/nonce)" "$DIR" web
fails_saying "a quote with an old nonce is refused" "old or replayed" "$BH" attest --quote-from q1 "$DIR" web
fails_saying "--quote-from with another quote's nonce is refused" "old or replayed" \
	"$BH" attest --quote-from q1 --nonce "$(xxd -p -c 64 q2/nonce)" "$DIR" web

# --- the guest cannot power-cycle its vTPM (PCRs reset) and replay its log ---
R=$(python3 - "$SOCK.ctrl" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
out = []
for req in ("0000000200000000", "0000000e", "00000003"):  # INIT, STOP, SHUTDOWN
    s.sendall(bytes.fromhex(req)); out.append(s.recv(64).hex())
print(" ".join(out))
PY
)
[ "$R" = "0000000a 0000000a 0000000a" ] && ok "the guest's CMD_INIT/STOP/SHUTDOWN on tpm.sock.ctrl refused" ||
	bad "guest power commands: '$R'"
check "attest still passes (the PCRs were not reset)" "$BH" attest --tpm "$SOCK" "$DIR" web
# What a guest replaying its log would extend: without the reset it only piles up.
tpm2_pcrextend -T "$T" "9:sha256=$(sha256sum guest-bin | cut -d' ' -f1)" >/dev/null
fails_saying "a guest's replay on top of its PCRs fails attestation" "replays to (PCR 9 sha256" \
	"$BH" attest --tpm "$SOCK" "$DIR" web
check "dom0 power-cycles it through vtpmd (VTPM_RESET)" "$CTL" "$TMP/ctl" reset web
check "dom0 measures it again" "$BH" measure --extend --tpm "$SOCK" "$DIR" web
check "attest passes after dom0's re-measure" "$BH" attest --tpm "$SOCK" "$DIR" web

# --- changes to what was measured ---
cp guest-bin guest-bin.orig
printf '\x01' | dd of=guest-bin bs=1 seek=200 conv=notrunc status=none
fails_saying "one byte changed in the executable: attest fails naming it" \
	"event 2 (PCR 9, EV_IPL, kernel: \"$TMP/guest-bin\") differs" "$BH" attest --tpm "$SOCK" "$DIR" web
cp guest-bin.orig guest-bin
check "executable restored: pass" "$BH" attest --tpm "$SOCK" "$DIR" web
cp "$DIR/guests/web.cfg" web.cfg.orig
sed -i 's/^memory = 128$/memory = 129/' "$DIR/guests/web.cfg"
fails_saying "one byte changed in the config: attest fails naming the config event" \
	'event 1 (PCR 1, EV_PLATFORM_CONFIG_FLAGS, config: "bulkhead-config 1") differs' "$BH" attest --tpm "$SOCK" "$DIR" web
grep -q 'expected "memory=129", measured "memory=128"' "$TMP/out" && ok "the differing config line is shown" || bad "config line not shown"
cp web.cfg.orig "$DIR/guests/web.cfg"
sed -i 's/^# a measured guest$/# a measured guest (comment edited)/; s/^memory = 128$/memory   =   128   # MiB/' "$DIR/guests/web.cfg"
check "comments and spacing do not change the canonical config: pass" "$BH" attest --tpm "$SOCK" "$DIR" web
cp web.cfg.orig "$DIR/guests/web.cfg"

# --- golden values saved while the files were trusted ---
check "bulkhead measure --event-log writes the expected log" "$BH" measure --tpm "$SOCK" --event-log golden.bin "$DIR" web
check "attest --golden with the saved expected log passes" "$BH" attest --tpm "$SOCK" --golden golden.bin "$DIR" web

# --- a log or PCRs that do not match ---
cp "$LOG" log.orig
python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[200] ^= 1; open(p, "wb").write(b)' "$LOG"
fails_saying "a tampered event log fails" "from the log" "$BH" attest --tpm "$SOCK" "$DIR" web
cp log.orig "$LOG"
tpm2_pcrextend -T "$T" "9:sha1=$(printf '5a%.0s' $(seq 20))" >/dev/null
fails_saying "PCR 9 extended in the SHA-1 bank only (outside the quote) fails" "PCR 9 sha1" \
	"$BH" attest --tpm "$SOCK" "$DIR" web
tpm2_pcrextend -T "$T" "8:sha256=$(printf '5a%.0s' $(seq 32))" >/dev/null
fails_saying "PCR 8 extended behind bulkhead's back fails" "replays to (PCR 8 sha256" \
	"$BH" attest --tpm "$SOCK" "$DIR" web

# --- a power cycle (CMD_INIT through the worker's restart) makes a fresh start ---
check "restart the vTPM instance" "$CTL" "$TMP/ctl" stop web start web
check "measure again after the restart" "$BH" measure --extend --tpm "$SOCK" "$DIR" web
check "attest passes again" "$BH" attest --tpm "$SOCK" "$DIR" web
# The executable changed before the guest started: the golden values computed
# from the files now follow the change; the saved ones do not.
printf '\x02' | dd of=guest-bin bs=1 seek=300 conv=notrunc status=none
check "restart the vTPM instance" "$CTL" "$TMP/ctl" stop web start web
check "measure the changed executable" "$BH" measure --extend --tpm "$SOCK" "$DIR" web
check "attest against the files now passes (they changed together)" "$BH" attest --tpm "$SOCK" "$DIR" web
fails_saying "attest --golden with the saved log fails naming the executable" \
	"event 2 (PCR 9, EV_IPL, \"$TMP/guest-bin\") differs" "$BH" attest --tpm "$SOCK" --golden golden.bin "$DIR" web
cp guest-bin.orig guest-bin
fails_saying "attest without an event log is an error" "No such file" \
	"$BH" attest --tpm "$SOCK" --event-log "$TMP/nope.bin" "$DIR" web

[ $fails -eq 0 ] && echo "all attest checks passed" || echo "$fails attest check(s) failed"
[ $fails -eq 0 ]
