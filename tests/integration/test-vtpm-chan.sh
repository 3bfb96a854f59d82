#!/bin/bash
# SPDX-License-Identifier: MIT
#
# vtpm's other transports, for real:
#  - tpm.chan, the bulkhead channel: data and control streams muxed on one
#    channel, reached by tpm2-tools through the socket bridge a guest runs
#    (helper-tpmbridge); control commands over the channel (capabilities,
#    locality, INIT = power cycle, refused state blobs, SET_DATAFD without
#    an fd); a second bridge after the first one left.
#  - QEMU's tpm-emulator way: CMD_SET_DATAFD on tpm.sock.ctrl passes one end
#    of a socketpair (SCM_RIGHTS) that then carries the TPM commands.
set -u
B=$(cd "${BH_BUILD:-build}" && pwd)
VTPMD=$B/vtpmd
CTL=$B/tests/unit/vtpm/helper-vtpmctl
BRIDGE=$B/tests/unit/vtpm/helper-tpmbridge
for t in tpm2_startup python3; do command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
for x in "$VTPMD" "$CTL" "$BRIDGE"; do [ -x "$x" ] || { echo "FAIL: $x not built"; exit 1; }; done
TMP=$(mktemp -d /tmp/bh-vtpmc.XXXXXX)
ST=$TMP/state
PID=
BPID=
fails=0
cleanup() {
	[ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
. "$(dirname "$0")/lib-check.sh"

bridge_up() {
	rm -f "$TMP/br.sock"
	"$BRIDGE" "$ST/g/tpm.chan" "$TMP/br.sock" 2>>"$TMP/bridge.log" &
	BPID=$!
	for _ in $(seq 100); do [ -S "$TMP/br.sock.ctrl" ] && return 0; sleep 0.05; done
	bad "bridge did not come up"; cat "$TMP/bridge.log"; exit 1
}
bridge_down() { kill "$BPID"; wait "$BPID"; BPID=; }
t() { local c=$1; shift; "tpm2_$c" -T "swtpm:path=$TMP/br.sock" "$@"; }
# ctrlc SOCK HEX...: control requests on one connection, each response as hex
ctrlc() {
	python3 - "$@" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
for req in sys.argv[2:]:
    try:
        s.sendall(bytes.fromhex(req))
        r = s.recv(64)
    except socket.timeout:
        r = b"timeout"
    except OSError:  # closed by the other side
        r = b""
    print(r.hex() if r else "eof")
PY
}
pcr16() { t pcrread sha256:16 | sed -n 's/.*16: 0x//p'; }

mkdir -p "$ST"
"$VTPMD" --gen-key "$TMP/key" || exit 1
"$VTPMD" --state-dir "$ST" --key-file "$TMP/key" --control "$TMP/ctl" 2>>"$TMP/vtpmd.log" &
PID=$!
for _ in $(seq 100); do [ -S "$TMP/ctl" ] && break; sleep 0.05; done
check "create and start g" "$CTL" "$TMP/ctl" create g start g
bridge_up

# --- tpm2-tools over the channel (data stream) ---
check "tpm2_startup over tpm.chan" t startup -c
check "tpm2_getrandom over tpm.chan" t getrandom --hex 16
DATA=$(printf '%064d' 1)
check "tpm2_pcrextend over tpm.chan" t pcrextend "16:sha256=$DATA"
WANT=$(python3 -c "import hashlib; print(hashlib.sha256(bytes(32) + bytes.fromhex('$DATA')).hexdigest().upper())")
[ "$(pcr16)" = "$WANT" ] && ok "PCR 16 = sha256(0^32 || data), recomputed" || bad "PCR 16 '$(pcr16)' != '$WANT'"
check "tpm2_createprimary + flush over tpm.chan" bash -c \
	"tpm2_createprimary -T swtpm:path=$TMP/br.sock -C o -g sha256 -G ecc -c $TMP/p.ctx >/dev/null &&
	 tpm2_flushcontext -T swtpm:path=$TMP/br.sock -t"

# --- control stream over the channel ---
R=$(ctrlc "$TMP/br.sock.ctrl" 00000001 0000000503 0000000505 0000001100000000)
set -- $R
[ "$1" = 00000000000038ac ] && ok "CMD_GET_CAPABILITY over tpm.chan" || bad "caps '$1'"
[ "${2:-}" = 00000000 ] && [ "${3:-}" = 00000003 ] && ok "CMD_SET_LOCALITY 3 ok, 5 refused over tpm.chan" ||
	bad "locality '$2' '$3'"
[ "${4:-}" != "" ] && [ "${4:0:16}" = 0000000000001000 ] && ok "CMD_SET_BUFFERSIZE query = 4096 over tpm.chan" || bad "bufsize '$4'"
R=$(ctrlc "$TMP/br.sock.ctrl" 0000000c000000000000000100000000 00000001)
set -- $R
[ "$1" = 0000000a000000000000000000000000 ] && [ "${2:-}" = 00000000000038ac ] &&
	ok "CMD_GET_STATEBLOB refused (BAD_ORDINAL, no blob), stream goes on" || bad "get stateblob '$R'"
R=$(ctrlc "$TMP/br.sock.ctrl" 0000000d00000000000000010000000400000000 00000001)
set -- $R
[ "$1" = 0000000a ] && [ "${2:-}" = eof ] && ok "CMD_SET_STATEBLOB refused and the stream closed" ||
	bad "set stateblob '$R'"
R=$(ctrlc "$TMP/br.sock.ctrl" 00000010)
[ "$R" = 00000003 ] && ok "CMD_SET_DATAFD over the channel (no fd) -> BAD_PARAMETER" || bad "datafd '$R'"
R=$(ctrlc "$TMP/br.sock.ctrl" 0000000200000000 0000000e 00000003)
[ "$(echo $R)" = "0000000a 0000000a 0000000a" ] && ok "CMD_INIT, CMD_STOP, CMD_SHUTDOWN refused over tpm.chan" ||
	bad "power '$R'"
[ "$(pcr16)" = "$WANT" ] && ok "the refused CMD_INIT left PCR 16 as it was" || bad "PCR 16 after INIT '$(pcr16)'"
check "dom0's power cycle through vtpmd (VTPM_RESET)" "$CTL" "$TMP/ctl" reset g
check "tpm2_startup after VTPM_RESET" t startup -c
[ "$(pcr16)" = "$(printf '%064d' 0)" ] && ok "VTPM_RESET power-cycled: PCR 16 reset" ||
	bad "PCR 16 after VTPM_RESET '$(pcr16)'"

# --- the guest's bridge goes away and comes back: a new channel ---
bridge_down
bridge_up
check "a second channel after the first closed" t getrandom --hex 8
bridge_down

# --- QEMU's way: CMD_SET_DATAFD passes the data socket on tpm.sock.ctrl ---
R=$(python3 - "$ST/g/tpm.sock.ctrl" <<'PY'
import array, socket, sys
c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); c.settimeout(5)
mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
c.sendmsg([bytes.fromhex("00000010")],
          [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [theirs.fileno()]))])
res = c.recv(4).hex()
theirs.close()
mine.settimeout(5)
mine.sendall(bytes.fromhex("80010000000c0000017b0008"))  # GetRandom(8)
r = mine.recv(64)
print(res, r[:10].hex(), len(r))
PY
)
set -- $R
[ "${1:-}" = 00000000 ] && [ "${2:-}" = 80010000001400000000 ] && [ "${3:-}" = 20 ] &&
	ok "CMD_SET_DATAFD: TPM commands over the passed socket" || bad "set datafd: '$R'"

kill -0 "$PID" && ok "vtpmd alive" || bad "vtpmd died"
# Among this vtpmd's descendants only: other vtpmds on the machine may have a "g" too.
descendants() { local p; for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done; }
worker_alive() {
	local p
	for p in $(descendants "$PID"); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qE -- "--worker g( |\$)" && return 0
	done
	return 1
}
worker_alive && ok "worker alive" || bad "worker died"
echo "---- vtpmd log (tail) ----"
tail -n 8 "$TMP/vtpmd.log"
[ $fails -eq 0 ] && echo "all vtpm channel checks passed" || echo "$fails vtpm channel check(s) failed"
[ $fails -eq 0 ]
