#!/bin/bash
# SPDX-License-Identifier: MIT
#
# vtpm for real: vtpmd with two instances, driven by tpm2-tools over the
# swtpm TCTI (-T swtpm:path=DIR/<name>/tpm.sock) and by raw bytes.
# Checks: startup, getrandom, pcrextend/pcrread (value recomputed), createprimary,
# create/load, sign/verifysignature, nvdefine/nvwrite/nvread, quote +
# checkquote; control channel (capabilities, locality, INIT = power cycle);
# restart of the worker and of vtpmd keeps NV and persistent objects while
# PCRs reset; rolled-back, tampered, deleted and swapped state files are
# refused with a clear error; instances do not see each other; oversized,
# truncated and garbage commands get TPM errors and the worker lives on; the
# worker runs as nobody, chrooted, with seccomp.
set -u
B=$(cd "${BH_BUILD:-build}" && pwd)
VTPMD=$B/vtpmd
CTL=$B/tests/unit/vtpm/helper-vtpmctl
for t in tpm2_startup python3; do command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
[ -x "$VTPMD" ] || { echo "FAIL: $VTPMD not built"; exit 1; }
TMP=$(mktemp -d /tmp/bh-vtpm.XXXXXX)
ST=$TMP/state
PID=
fails=0
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
. "$(dirname "$0")/lib-check.sh"

start_vtpmd() {
	"$VTPMD" --state-dir "$ST" --key-file "$TMP/key" --control "$TMP/ctl" 2>>"$TMP/vtpmd.log" &
	PID=$!
	for _ in $(seq 100); do [ -S "$TMP/ctl" ] && return 0; sleep 0.05; done
	bad "vtpmd did not come up"; cat "$TMP/vtpmd.log"; exit 1
}
stop_vtpmd() { kill "$PID"; wait "$PID"; PID=; }
ctl() { "$CTL" "$TMP/ctl" "$@"; }
# tpm2-tools against instance $I; ECDSA may answer TPM_RC_RETRY once: retry.
I=web
t() { local c=$1; shift; "tpm2_$c" -T "swtpm:path=$ST/$I/tpm.sock" "$@"; }
tr3() { for _ in 1 2 3; do t "$@" && return 0; done; return 1; }

# raw HEX [half-close]: send bytes on the data socket, print the response as hex
raw() {
	python3 - "$ST/$I/tpm.sock" "$1" "${2:-}" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
s.sendall(bytes.fromhex(sys.argv[2]))
if sys.argv[3]: s.shutdown(socket.SHUT_WR)
r = b""
while len(r) < 10 or len(r) < int.from_bytes(r[2:6], "big"):
    d = s.recv(8192)
    if not d: break
    r += d
print(r.hex())
PY
}
# ctrl HEX...: send control requests on one connection, print each response as hex
ctrlc() {
	python3 - "$ST/$I/tpm.sock.ctrl" "$@" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
for req in sys.argv[2:]:
    s.sendall(bytes.fromhex(req)); print(s.recv(64).hex())
PY
}
rc_of() { echo "${1:12:8}"; }

mkdir -p "$ST"
"$VTPMD" --gen-key "$TMP/key" || exit 1
start_vtpmd
check "create and start two instances" ctl create web create db start web start db
cd "$TMP" || exit 1

# --- the TPM works with an unmodified client ---
check "tpm2_startup" t startup -c
check "tpm2_getrandom 32" bash -c "tpm2_getrandom -T swtpm:path=$ST/web/tpm.sock 32 | wc -c | grep -qx 32"
DATA=$(printf 'ab%.0s' $(seq 32))
check "tpm2_pcrextend 16" t pcrextend "16:sha256=$DATA"
WANT=$(python3 -c "import hashlib; print(hashlib.sha256(bytes(32) + bytes.fromhex('$DATA')).hexdigest().upper())")
check "tpm2_pcrread shows sha256(0..0 || data)" bash -c "tpm2_pcrread -T swtpm:path=$ST/web/tpm.sock sha256:16 | grep -q $WANT"
check "tpm2_createprimary (ECC)" t createprimary -C o -g sha256 -G ecc -c prim.ctx
check "tpm2_create signing key" t create -C prim.ctx -G ecc:ecdsa-sha256 -u sig.pub -r sig.priv
t flushcontext -t
check "tpm2_load" t load -C prim.ctx -u sig.pub -r sig.priv -c sig.ctx
t flushcontext -t
echo "message to sign" >msg
check "tpm2_sign" tr3 sign -c sig.ctx -g sha256 -o sig.bin msg
check "tpm2_verifysignature" t verifysignature -c sig.ctx -g sha256 -m msg -s sig.bin
echo "another message" >msg2
check_fails "tpm2_verifysignature refuses another message" t verifysignature -c sig.ctx -g sha256 -m msg2 -s sig.bin
t flushcontext -t
check "tpm2_nvdefine" t nvdefine -C o -s 16 -a "ownerread|ownerwrite" 0x1500016
check "tpm2_nvwrite" bash -c "printf 0123456789abcdef | tpm2_nvwrite -T swtpm:path=$ST/web/tpm.sock -C o -i - 0x1500016"
check "tpm2_nvread" bash -c "tpm2_nvread -T swtpm:path=$ST/web/tpm.sock -C o -s 16 0x1500016 | grep -qx 0123456789abcdef"
check "tpm2_evictcontrol (persistent primary)" t evictcontrol -C o -c prim.ctx 0x81000001
check "tpm2_create AK (restricted ECDSA)" t create -C 0x81000001 -G ecc:ecdsa-sha256:null \
	-a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign" -u ak.pub -r ak.priv
check "tpm2_load AK" t load -C 0x81000001 -u ak.pub -r ak.priv -c ak.ctx
check "tpm2_readpublic AK as PEM" t readpublic -c ak.ctx -f pem -o ak.pem
t flushcontext -t
check "tpm2_quote" tr3 quote -c ak.ctx -l sha256:0,16 -q 0badc0de -m q.msg -s q.sig -o q.pcrs -g sha256
check "tpm2_checkquote" tpm2_checkquote -u ak.pem -m q.msg -s q.sig -f q.pcrs -g sha256 -q 0badc0de
check_fails "tpm2_checkquote refuses a wrong nonce" tpm2_checkquote -u ak.pem -m q.msg -s q.sig -f q.pcrs -g sha256 -q 0badc0df
t flushcontext -t

# --- isolation between instances ---
I=db
check "db: tpm2_startup" t startup -c
check "db: does not see web's NV index" bash -c "! tpm2_getcap -T swtpm:path=$ST/db/tpm.sock handles-nv-index | grep -qi 0x1500016"
check "db: does not see web's persistent key" bash -c "! tpm2_getcap -T swtpm:path=$ST/db/tpm.sock handles-persistent | grep -qi 0x81000001"
check_fails "db: web's NV index is not readable" t nvread -C o -s 16 0x1500016
# Look for a worker among this vtpmd's descendants only (other runs of this
# test, or other vtpmds on the machine, may have a "web" too).
descendants() { local p; for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done; }
worker_pid() {
	local p
	for p in $(descendants "$PID"); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qE -- "--worker $1( |\$)" && echo "$p"
	done
}
W=$(worker_pid web)
check "web worker runs as nobody" grep -Eq '^Uid:\s+65534\s+65534\s+65534' "/proc/$W/status"
check "web worker has seccomp and no_new_privs" bash -c "grep -q '^Seccomp:\s*2' /proc/$W/status && grep -q '^NoNewPrivs:\s*1' /proc/$W/status"
check "web worker is chrooted into an empty directory" bash -c "[ \$(readlink /proc/$W/root) = $ST/.empty ] && [ -z \"\$(ls -A $ST/.empty)\" ]"
check "state files are readable by vtpmd only" bash -c "[ \$(stat -c %a $ST/web) = 700 ] && [ \$(stat -c %a $ST/web/state) = 600 ]"
check_fails "state file holds no plaintext NV data" grep -q 0123456789abcdef "$ST/web/state"

# --- malformed input gets TPM errors; the worker lives on ---
I=web
R=$(raw 80010000138800000001)
[ "$(rc_of "$R")" = 00000142 ] && ok "oversized command (5000 bytes) -> TPM_RC_COMMAND_SIZE" || bad "oversized: '$R'"
R=$(raw 8001000000640000017b0010 half)
[ "$(rc_of "$R")" = 00000142 ] && ok "truncated command (100 announced, 12 sent) -> TPM_RC_COMMAND_SIZE" || bad "truncated: '$R'"
R=$(raw 00c1000000100000000000000000)
[ "$(rc_of "$R")" = 0000001e ] && ok "TPM 1.2 tag -> TPM_RC_BAD_TAG" || bad "bad tag: '$R'"
R=$(raw 80010000000a0000017b)
[ "${R:0:4}" = 8001 ] && [ "$(rc_of "$R")" != 00000000 ] && ok "command cut inside its parameters -> TPM error" || bad "cut params: '$R'"
R=$(raw 80010000000c0000017b0008)
[ "$(rc_of "$R")" = 00000000 ] && [ ${#R} = 40 ] && ok "worker still serves after malformed input" || bad "after malformed: '$R'"

# --- control channel ---
R=$(ctrlc 00000001)
[ "$R" = 00000000000038ac ] && ok "CMD_GET_CAPABILITY (with SET_DATAFD; no INIT, STOP, SHUTDOWN)" || bad "capabilities '$R'"
R=$(ctrlc 0000000503 0000000505 0000001100000000)
[ "$(echo $R | cut -d' ' -f1)" = 00000000 ] && [ "$(echo $R | cut -d' ' -f2)" = 00000003 ] &&
	[ "$(echo $R | cut -d' ' -f3 | cut -c1-16)" = 0000000000001000 ] &&
	ok "CMD_SET_LOCALITY 3 ok, 5 refused; CMD_SET_BUFFERSIZE query = 4096" || bad "ctrl: '$R'"
R=$(ctrlc 000000ff)
[ "$R" = 0000000a ] && ok "unknown control command -> BAD_ORDINAL" || bad "unknown ctrl: '$R'"
# The guest may not power-cycle its TPM (it could reset its PCRs and replay its log).
R=$(ctrlc 0000000200000000 0000000e 00000003 00000001)
[ "$(echo $R)" = "0000000a 0000000a 0000000a 00000000000038ac" ] &&
	ok "guest's CMD_INIT, CMD_STOP, CMD_SHUTDOWN refused (BAD_ORDINAL), stream goes on" || bad "power: '$R'"
check "after the refused power commands: PCR 16 kept" bash -c "tpm2_pcrread -T swtpm:path=$ST/web/tpm.sock sha256:16 | grep -q 0x$WANT"
check "tpm2-tss's Tss2_Tcti_Swtpm_Reset (CMD_INIT) fails through the guest's socket" \
	python3 -c "import ctypes, sys
t = ctypes.CDLL('libtss2-tcti-swtpm.so.0'); n = ctypes.c_size_t(0)
t.Tss2_Tcti_Swtpm_Init(None, ctypes.byref(n), None); ctx = ctypes.create_string_buffer(n.value)
assert t.Tss2_Tcti_Swtpm_Init(ctx, ctypes.byref(n), b'path=$ST/web/tpm.sock') == 0
sys.exit(0 if t.Tss2_Tcti_Swtpm_Reset(ctx) != 0 else 1)"
check "dom0's power cycle through vtpmd (VTPM_RESET)" ctl reset web
check "after VTPM_RESET: tpm2_startup again" t startup -c
check "after VTPM_RESET: PCR 16 is reset" bash -c "tpm2_pcrread -T swtpm:path=$ST/web/tpm.sock sha256:16 | grep -q 0x0000000000000000000000000000000000000000000000000000000000000000"
check "after VTPM_RESET: NV kept" bash -c "tpm2_nvread -T swtpm:path=$ST/web/tpm.sock -C o -s 16 0x1500016 | grep -qx 0123456789abcdef"
check "PCR 16 extended again" t pcrextend "16:sha256=$DATA"

# --- restart: worker, then vtpmd itself. Saved contexts of transient objects
# die with a TPM reset, as on hardware: the AK is loaded again from its blobs
# under the persistent primary, which must have survived. ---
persist_ok() {
	t startup -c &&
	tpm2_pcrread -T "swtpm:path=$ST/$I/tpm.sock" sha256:16 | grep -q 0x0000000000000000000000000000000000000000000000000000000000000000 &&
	tpm2_nvread -T "swtpm:path=$ST/$I/tpm.sock" -C o -s 16 0x1500016 | grep -qx 0123456789abcdef &&
	tpm2_getcap -T "swtpm:path=$ST/$I/tpm.sock" handles-persistent | grep -qi 0x81000001 &&
	t load -C 0x81000001 -u ak.pub -r ak.priv -c ak2.ctx >/dev/null &&
	tr3 quote -c ak2.ctx -l sha256:16 -q 01 -m q2.msg -s q2.sig -o q2.pcrs -g sha256 >/dev/null &&
	tpm2_checkquote -u ak.pem -m q2.msg -s q2.sig -f q2.pcrs -g sha256 -q 01 >/dev/null &&
	t flushcontext -t
}
check "stop + start web" ctl stop web start web
check "worker restart: PCRs reset, NV + persistent key + AK kept" persist_ok
stop_vtpmd
start_vtpmd
check "vtpmd restarted: start web" ctl start web
check "vtpmd restart: PCRs reset, NV + persistent key + AK kept" persist_ok

# --- state files: rollback, tamper, delete, swap ---
cp "$ST/web/state" "$TMP/old-state"
check "nvwrite makes a new generation" bash -c "printf fedcba9876543210 | tpm2_nvwrite -T swtpm:path=$ST/web/tpm.sock -C o -i - 0x1500016"
check "stop web" ctl stop web
cp "$ST/web/state" "$TMP/new-state"
cp "$TMP/old-state" "$ST/web/state"
ctl start web >"$TMP/out" 2>&1 && bad "rolled-back state accepted" ||
	{ grep -q "rolled-back" "$TMP/out" && ok "rolled-back state refused: $(cut -d' ' -f4- "$TMP/out")" || { bad "rollback message"; cat "$TMP/out"; }; }
cp "$TMP/new-state" "$TMP/tampered"
python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[100] ^= 1; open(p, "wb").write(b)' "$TMP/tampered"
cp "$TMP/tampered" "$ST/web/state"
ctl start web >"$TMP/out" 2>&1 && bad "tampered state accepted" ||
	{ grep -q "authentication" "$TMP/out" && ok "tampered state refused: $(cut -d' ' -f4- "$TMP/out")" || { bad "tamper message"; cat "$TMP/out"; }; }
rm "$ST/web/state"
ctl start web >"$TMP/out" 2>&1 && bad "deleted state accepted (fresh TPM)" ||
	{ grep -q "rolled-back" "$TMP/out" && ok "deleted state refused" || { bad "delete message"; cat "$TMP/out"; }; }
ctl stop db >/dev/null
cp "$ST/db/state" "$ST/web/state"
ctl start web >"$TMP/out" 2>&1 && bad "db's state accepted for web" ||
	{ grep -q "authentication" "$TMP/out" && ok "another instance's state refused" || { bad "swap message"; cat "$TMP/out"; }; }
cp "$TMP/new-state" "$ST/web/state"
check "newest state accepted again" ctl start web
check "newest NV contents" bash -c "tpm2_startup -T swtpm:path=$ST/web/tpm.sock -c && tpm2_nvread -T swtpm:path=$ST/web/tpm.sock -C o -s 16 0x1500016 | grep -qx fedcba9876543210"

# --- the guest's CMD_SHUTDOWN does not end the worker; dom0's stop does; delete erases ---
# Wait for the worker to go for up to 5 s: ASan and a loaded machine are slow.
worker_alive() { [ -n "$(worker_pid web)" ]; }
check "worker web running before CMD_SHUTDOWN" worker_alive
R=$(ctrlc 00000003)
[ "$R" = 0000000a ] && ok "the guest's CMD_SHUTDOWN refused" || bad "shutdown: '$R'"
check "worker web still running after the refused CMD_SHUTDOWN" worker_alive
check "stop web" ctl stop web
for _ in $(seq 100); do worker_alive || break; sleep 0.05; done
check_fails "worker gone after VTPM_STOP" worker_alive
check "delete web" ctl delete web
check_fails "web's directory is gone" test -e "$ST/web"
check_fails "start of a deleted instance fails" ctl start web
check "vtpmd still alive" kill -0 "$PID"
grep -qi "$(printf 0123456789abcdef)" "$TMP/vtpmd.log" && bad "NV data in the log"

echo "---- vtpmd log (tail) ----"
tail -n 15 "$TMP/vtpmd.log"
[ $fails -eq 0 ] && echo "all vtpm checks passed" || echo "$fails vtpm check(s) failed"
[ $fails -eq 0 ]
