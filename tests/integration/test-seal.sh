#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Sealed volumes for real (issue 9 items 3 and 4), on a copy of configs/demo
# (both volumes seal=1) with its own state dir, web running a copy of
# /bin/sleep so that its executable can change:
#  - up: both guests attest; each volume is opened with the secret vtpm
#    unsealed for stordom (audit), and no key file exists for it;
#  - the secret, asked from vtpm as stordom asks, opens the volume's LUKS2
#    keyslot (cryptsetup); the volume key it gives (cryptsetup
#    --dump-volume-key) is in stordomd's memory (the scanner works) and in
#    none of dom0's: not in the bulkhead process (whose address space holds
#    its control channels' rings), not in its audit log or the daemons' logs;
#  - one byte changed in web's executable, web restarted: attest against the
#    saved golden values fails naming that event, and web gets no volume
#    (status, status --json, audit, no disk socket in web);
#  - an operator may not reseal; an admin's `bulkhead reseal web` unlocks it:
#    web reads back what it wrote before;
#  - a config change (down, edit, up) locks it again; reseal unlocks it.
set -u
. "$(dirname "$0")/lib-up.sh"
up_test_init seal cryptsetup nbdinfo nbdcopy nsenter setpriv python3

cp -r configs/demo "$TMP/topo"
grep -q 'seal=1' "$TMP/topo/guests/web.cfg" && grep -q 'seal=1' "$TMP/topo/guests/db.cfg" ||
	{ bad "configs/demo's volumes are not sealed"; exit 1; }
sed -i -e "s|^bh_audit_log = .*|bh_audit_log = \"$LOG\"|" -e 's|^bh_syslog = .*|bh_syslog = "off"|' \
	-e 's|^bh_manage = .*|bh_manage = [ "user=nobody:operator" ]|' "$TMP/topo/host.cfg"
cp /bin/sleep "$TMP/web-bin"
chmod 755 "$TMP/web-bin"
sed -i "s|^bh_host_cmd = .*|bh_host_cmd = \"$TMP/web-bin infinity\"|" "$TMP/topo/guests/web.cfg"
UP=("$BH" up --state-dir "$ST" --timeout 60 "$TMP/topo")

json() { "$BH" status --json --socket "$SOCK"; }
field() { # domain key
	json | $PY -c 'import json,sys; print({d["name"]: d for d in json.load(sys.stdin)["domains"]}[sys.argv[1]][sys.argv[2]])' "$1" "$2"
}
in_guest() { local p=$1; shift; nsenter -t "$p" -m -n setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
nbd() { echo "nbd+unix:///?socket=/run/bulkhead/$1"; }
audit_count() { # action target result
	$PY -c '
import json,sys
print(sum(1 for l in open(sys.argv[1]) for r in [json.loads(l)]
          if r["action"]==sys.argv[2] and r["target"]==sys.argv[3] and r["result"]==sys.argv[4]))' "$LOG" "$@"
}
attest() { # guest [args]: against the running topology's vTPM and log
	local g=$1; shift
	"$BH" attest --tpm "$ST/vtpm/$g/tpm.sock" --event-log "$ST/eventlog/$g.bin" "$@" "$TMP/topo" "$g"
}
# UNSEAL(guest, volume) on vtpmd's socket, as stordomd asks: the secret in hex, or "status text".
unseal() {
	$PY - "$ST/run/unseal/unseal.sock" "$1" "$2" <<'PY'
import socket, struct, sys
def name(s): b = s.encode(); return struct.pack(">H", len(b)) + b
body = name(sys.argv[2]) + name(sys.argv[3]) + b"\0"
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(struct.pack(">IBBHII", 0x424b4844, 1, 0, 31, len(body), 9) + body)
def rd(n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b)); assert d; b += d
    return b
_, _, _, typ, ln, rid = struct.unpack(">IBBHII", rd(16))
b = rd(ln); st, sl = struct.unpack(">iH", b[:6])
tl = struct.unpack(">H", b[6 + sl:8 + sl])[0]
print(b[6:6 + sl].hex() if st == 0 else "%d %s" % (st, b[8 + sl:8 + sl + tl].decode()))
PY
}
# scan PID HEX...: which of the byte strings occur in PID's readable memory
scan() {
	$PY - "$@" <<'PY'
import re, sys
pid, needles = sys.argv[1], [bytes.fromhex(h) for h in sys.argv[2:]]
found = set()
with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        lo, hi = int(m.group(1), 16), int(m.group(2), 16)
        # skip the volumes' ciphertext views (stordom maps the data area)
        if m.group(3)[0] != "r" or "[vvar" in line or "[vsyscall" in line or ".luks" in line:
            continue
        try:
            mem.seek(lo); data = mem.read(hi - lo)
        except OSError:
            continue
        found |= {i for i, n in enumerate(needles) if n in data}
print(" ".join(sys.argv[2 + i][:8] for i in sorted(found)) or "none")
PY
}

# --- up: measured, unsealed, attested ------------------------------------------
out=$("${UP[@]}" 2>&1) && ok "up" || { bad "up: $out"; cat "$ST"/log/*.log; exit 1; }
W=$(field web pid)
for g in web db; do
	out=$(attest $g 2>&1) && ok "attest $g: $(echo "$out" | cut -c1-60)" || bad "attest $g: $out"
	[ "$(audit_count volume-unseal $g-data ok)" = 1 ] && ok "$g-data opened with the secret vtpm unsealed (audit)" ||
		bad "$g-data: no volume-unseal record"
	[ -e "$ST/keys/$g-data.key" ] && bad "a key file exists for sealed $g-data" || ok "no key file for sealed $g-data"
done
grep -q '"volume-create".*sealed to web' "$LOG" && ok "web-data created with a new secret sealed to web" ||
	bad "volume-create record"
head -c 4M /dev/urandom >"$TMP/in.bin"; chmod 644 "$TMP/in.bin"
rd() { in_guest "$W" nbdcopy "$(nbd disk0.sock)" - | head -c 4M | cmp -s - "$TMP/in.bin"; }
in_guest "$W" nbdcopy --flush "$TMP/in.bin" "$(nbd disk0.sock)" && rd && ok "web wrote 4 MiB and read them back" ||
	bad "web's sealed volume"

# --- the secret: stordom's, never dom0's ---------------------------------------------
SECRET=$(unseal web web-data)
[ ${#SECRET} = 128 ] && ok "vtpm unseals web-data's 64-byte secret for stordom's UNSEAL" || bad "unseal: '$SECRET'"
printf '%s' "$SECRET" | xxd -r -p >"$TMP/secret"
cryptsetup open --test-passphrase --key-file "$TMP/secret" "$ST/volumes/web-data.luks" &&
	ok "cryptsetup: the secret opens web-data's LUKS2 keyslot" || bad "cryptsetup refused the secret"
VK=$(cryptsetup luksDump --dump-volume-key --batch-mode --key-file "$TMP/secret" "$ST/volumes/web-data.luks" 2>/dev/null |
	sed -n '/^MK dump:/,$p;/^Volume key:/,$p' | grep -oE '([0-9a-f]{2} )+[0-9a-f]{2}' | tr -d ' \n')
rm -f "$TMP/secret"
[ ${#VK} = 128 ] && ok "cryptsetup --dump-volume-key: web-data's 512-bit volume key" || bad "volume key: '$VK'"
SD=$(field stordom pid) SUP=$(json | $PY -c 'import json,sys; print(json.load(sys.stdin)["supervisor"])')
SDD=$(pgrep -P "$SD" -x stordomd || echo "$SD")
if grep -q libasan "/proc/$SUP/maps"; then
	# ASan reserves terabytes of shadow and allocator space: no dump reads that.
	echo "skip: memory dumps in a sanitizer build (the plain run makes them)"
else
	[ "$(scan "$SDD" "$VK")" = "${VK:0:8}" ] && ok "the scanner finds the volume key in stordomd's memory" ||
		bad "volume key not found in stordomd ($SDD): the scan cannot be trusted"
	[ "$(scan "$SUP" "$VK" "$SECRET")" = none ] &&
		ok "dom0's bulkhead process (with its control channels' rings) holds neither the secret nor the volume key" ||
		bad "found in dom0's memory: $(scan "$SUP" "$VK" "$SECRET")"
fi
grep -rqiE "$SECRET|$VK" "$LOG" "$ST/log" && bad "the secret or volume key in a log" ||
	ok "neither is in the audit log or any daemon's log"

# --- one byte of web's executable changed: attest fails, the volume stays locked ----
"$BH" measure --tpm "$ST/vtpm/web/tpm.sock" --event-log "$TMP/golden.bin" "$TMP/topo" web >/dev/null &&
	ok "golden values saved" || bad "measure"
# The last byte (in the section headers, which the loader ignores): it still runs.
cp "$TMP/web-bin" "$TMP/web-bin.new"
$PY -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(-1, 2); b = f.read(1); f.seek(-1, 2); f.write(bytes([b[0] ^ 1]))' "$TMP/web-bin.new"
mv "$TMP/web-bin.new" "$TMP/web-bin"
"$BH" restart --socket "$SOCK" web >/dev/null 2>&1
W=$(field web pid)
[ "$(field web state)" = running ] && ok "web restarted with the changed executable (it runs)" || bad "web not running"
out=$(attest web --golden "$TMP/golden.bin" 2>&1) && bad "attest passed: $out" ||
	{ echo "$out" | grep -q "event 2 (PCR 9, EV_IPL, \"$TMP/web-bin\") differs" &&
		ok "attest fails naming the executable: $(echo "$out" | cut -c1-110)" || bad "attest: $out"; }
table=$("$BH" status --socket "$SOCK")
echo "$table" | grep -E '^web ' | grep -q "volume web-data locked: the guest's PCRs 1, 8, 9 are not those" &&
	ok "status: $(echo "$table" | grep -oE 'volume web-data locked[^;]*' | cut -c1-120)" || bad "status: $table"
[ -n "$(field web volumes_locked)" ] && ok "status --json: volumes_locked says why" || bad "json volumes_locked"
[ "$(audit_count volume-locked web-data failed)" = 1 ] && ok "audit: volume-locked web-data" || bad "no volume-locked record"
in_guest "$W" test -e /run/bulkhead/disk0.sock && bad "locked web still has disk0.sock" ||
	ok "web has no disk socket (no volume)"
[ "$(unseal web web-data | cut -d' ' -f1)" = -13 ] && ok "vtpm refuses stordom's UNSEAL (EACCES)" || bad "unseal after the change"
[ "$(audit_count volume-unseal db-data ok)" -ge 1 ] && in_guest "$(field db pid)" nbdinfo --size "$(nbd disk0.sock)" >/dev/null &&
	ok "db's volume unaffected" || bad "db's volume"

# --- reseal: an operator may not, an admin may ------------------------------------
setpriv --reuid=65534 --regid=65534 --clear-groups "$BH" reseal --socket "$SOCK" web 2>"$TMP/err" >/dev/null &&
	bad "an operator resealed" ||
	{ grep -q "lacks permission 'reseal'" "$TMP/err" && ok "an operator may not reseal" || bad "operator reseal: $(cat "$TMP/err")"; }
[ "$(audit_count reseal web refused)" = 1 ] && ok "the refusal is audit-logged" || bad "no refused record"
out=$("$BH" reseal --socket "$SOCK" web 2>&1) && ok "bulkhead reseal web: $out" || bad "reseal: $out"
W=$(field web pid)
[ "$(audit_count reseal web-data ok)" = 1 ] && [ "$(audit_count reseal web ok)" = 1 ] &&
	ok "audit: reseal granted and done" || bad "reseal audit records"
[ -z "$(field web volumes_locked)" ] && rd && ok "web reads back its 4 MiB: unlocked, same secret" ||
	bad "after reseal: $(field web volumes_locked)"
attest web >/dev/null 2>&1 && ok "attest against the (changed) files passes" || bad "attest after reseal"

# --- a config change (the topology is read at up): locked again, resealed --------------
"$BH" down --socket "$SOCK" >/dev/null && ok "down" || bad "down"
for _ in $(seq 50); do [ -e "$SOCK" ] || break; sleep 0.1; done
sed -i 's/^memory = 256$/memory = 257/' "$TMP/topo/guests/web.cfg"
out=$("${UP[@]}" 2>&1) && ok "up with web's memory changed" || bad "up: $out"
[ "$(audit_count volume-locked web-data failed)" = 2 ] && [ -n "$(field web volumes_locked)" ] &&
	ok "the changed config locks web-data" || bad "config change: $(field web volumes_locked)"
"$BH" reseal --socket "$SOCK" web >/dev/null 2>&1 && W=$(field web pid) && rd &&
	ok "reseal: web reads its data again" || bad "reseal after the config change"
"$BH" logs --verify --log "$LOG" | grep -q "audit log OK" && ok "audit chain verifies" || bad "audit chain"
"$BH" down --socket "$SOCK" >/dev/null || bad "final down"

[ $fails -eq 0 ] && echo "all seal checks passed" || echo "$fails seal check(s) failed"
[ $fails -eq 0 ]
