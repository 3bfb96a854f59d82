#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make demo: bring configs/demo up on the host platform and show, with
# standard clients run inside the guests' own namespaces, what its walls do:
# web reaches db on tcp 5432 and db cannot reach web; web writes and reads
# its encrypted volume over NBD; web's vTPM answers and attests; web's volume
# is sealed to its measurements: with its config changed it stays locked
# until `bulkhead reseal web`; `bulkhead status`; then everything down again. As root. --keep leaves it running to explore
# (`bulkhead status`, `bulkhead down`).
#
#   scripts/demo.sh [BUILD_DIR] [--keep]
set -u
B=build KEEP=
for a in "$@"; do
	case $a in --keep) KEEP=1 ;; *) B=$a ;; esac
done
BH=$B/bulkhead
TOPO=configs/demo
SOCK=/var/lib/bulkhead/mgmt.sock
AUDIT=/var/log/bulkhead/audit.jsonl
if [ "$(id -u)" != 0 ]; then
	echo "make demo: needs root (namespaces, cgroups, veth pairs): sudo make demo" >&2
	exit 1
fi
for t in nsenter setpriv nbdinfo nbdcopy tpm2_getrandom python3 cryptsetup; do
	command -v $t >/dev/null || { echo "make demo: $t missing: scripts/install-deps.sh" >&2; exit 1; }
done
T0=$(date +%s%N)
TMP=$(mktemp -d /tmp/bh-demo.XXXXXX)
chmod 755 "$TMP"
SRV=
cleanup() {
	[ -n "$SRV" ] && kill $SRV 2>/dev/null
	[ -z "$KEEP" ] && [ -S "$SOCK" ] && "$BH" down --socket "$SOCK" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
pid_of() { "$BH" status --json --socket "$SOCK" |
	python3 -c 'import json,sys; print({d["name"]: d["pid"] for d in json.load(sys.stdin)["domains"]}[sys.argv[1]])' "$1"; }
# A command inside guest $1's network and mount namespaces, as the guest's user (nobody).
in_guest() { local p=$1; shift; nsenter -t "$p" -m -n setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
connect() { # guest-pid host port
	nsenter -t "$1" -n python3 -c '
import socket,sys
s=socket.socket(); s.settimeout(1.5)
try: s.connect((sys.argv[1],int(sys.argv[2]))); print("  connected:", s.recv(64).decode().strip()); sys.exit(0)
except Exception as e: print("  no connection:", e); sys.exit(1)' "$2" "$3"
}
listen() { # guest-pid port banner
	nsenter -t "$1" -n python3 -c '
import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(("",int(sys.argv[1]))); s.listen(4)
while True:
    c,_=s.accept(); c.send(sys.argv[2].encode()+b"\n"); c.close()' "$2" "$3" >/dev/null 2>&1 &
	SRV="$SRV $!"
}

say "1. validate and bring up $TOPO (vtpm, stordom, netdom, then the guests)"
run "$BH" validate "$TOPO" || exit 1
if [ -S "$SOCK" ] && "$BH" status --socket "$SOCK" >/dev/null 2>&1; then
	echo "make demo: $TOPO is already up ($SOCK); run 'bulkhead down' first" >&2
	KEEP=1
	exit 1
fi
# A volume an older bulkhead made with a key file cannot be opened sealed.
for v in web-data db-data; do
	if [ -e "/var/lib/bulkhead/keys/$v.key" ] && [ -e "/var/lib/bulkhead/volumes/$v.luks" ]; then
		echo "  (removing $v from an older, unsealed demo: it is made again, sealed)"
		rm -f "/var/lib/bulkhead/keys/$v.key" "/var/lib/bulkhead/volumes/$v.luks"
	fi
done
t=$(date +%s%N)
run "$BH" up "$TOPO" || exit 1
echo "  up in $((($(date +%s%N) - t) / 1000000)) ms"
# A demo interrupted in step 5 left web's volume sealed to a changed config.
if "$BH" status --socket "$SOCK" | grep -q 'volume web-data locked'; then
	echo "  (web-data is still sealed to the config of an interrupted demo: resealing)"
	"$BH" reseal --socket "$SOCK" web >/dev/null
fi
W=$(pid_of web) D=$(pid_of db)

say "2. network: web (10.10.1.10, zone dmz) -> db (10.10.2.20, zone internal)"
listen "$D" 5432 "db: postgres would answer here"
listen "$W" 8080 "web: you should not see this from db"
sleep 0.3
echo "web -> db tcp 5432 (guests/web.cfg: bh_allow to=db proto=tcp port=5432):"
connect "$W" 10.10.2.20 5432
echo "db -> web tcp 8080 (no rule allows it; bh_default_policy drop):"
connect "$D" 10.10.1.10 8080
kill $SRV 2>/dev/null; SRV=

say "3. disk: web's encrypted volume over NBD, from inside web (as nobody)"
echo "\$ ls -l /run/bulkhead    # in web's own mount namespace"
in_guest "$W" ls -l /run/bulkhead
in_guest "$W" nbdinfo 'nbd+unix:///?socket=/run/bulkhead/disk0.sock' | grep -E 'export-size|is_read_only|can_flush' | sed 's/^/  /'
head -c 4M /dev/urandom >"$TMP/data"; chmod 644 "$TMP/data"
echo "writing 4 MiB with nbdcopy --flush, reading them back:"
in_guest "$W" nbdcopy --flush "$TMP/data" 'nbd+unix:///?socket=/run/bulkhead/disk0.sock' &&
	in_guest "$W" nbdcopy 'nbd+unix:///?socket=/run/bulkhead/disk0.sock' - | head -c 4M | cmp - "$TMP/data" &&
	echo "  read back identical ($(sha256sum <"$TMP/data" | cut -c1-16)...)"
echo "what dom0 sees on disk is a LUKS2 container (aes-xts-plain64) holding only ciphertext:"
cryptsetup luksDump /var/lib/bulkhead/volumes/web-data.luks | grep -E '^Version|cipher:|sector:' | sed 's/^/  /'

say "4. vTPM: web's own TPM 2.0, with tpm2-tools (swtpm TCTI on /run/bulkhead/tpm.sock)"
export TPM2TOOLS_TCTI=swtpm:path=/run/bulkhead/tpm.sock
in_guest "$W" env TPM2TOOLS_TCTI="$TPM2TOOLS_TCTI" tpm2_startup -c 2>/dev/null
echo "  random: $(in_guest "$W" env TPM2TOOLS_TCTI="$TPM2TOOLS_TCTI" tpm2_getrandom --hex 16)"
echo "  PCRs 1 (its config), 8 (command line), 9 (executable): measured by dom0 before web started"
in_guest "$W" env TPM2TOOLS_TCTI="$TPM2TOOLS_TCTI" tpm2_pcrread sha256:1,8,9 | sed 's/^/  /'
echo "attestation: a quote with a fresh nonce, verified in dom0, its event log replayed against"
echo "the golden values computed from guests/web.cfg alone:"
run "$BH" attest "$TOPO" web

say "5. sealed volume: web-data's key is sealed in web's vTPM to PCRs 1, 8, 9 (seal=1)"
echo "no key file for it in dom0: $(ls /var/lib/bulkhead/keys/ | tr '\n' ' ')"
echo "stordom asked vtpm for the secret itself once web was measured (audit log):"
grep -h '"volume-unseal"' "$AUDIT" | tail -2 | python3 -c '
import json,sys
for l in sys.stdin: r=json.loads(l); print("  %s %s %s: %s" % (r["action"], r["target"], r["result"], r["detail"]))'
echo "web's config changes (memory = 256 -> 257): down, then up with the changed config"
cp -r "$TOPO" "$TMP/demo"
sed -i 's/^memory = 256$/memory = 257/' "$TMP/demo/guests/web.cfg"
"$BH" down --socket "$SOCK" >/dev/null
for _ in $(seq 50); do [ -e "$SOCK" ] || break; sleep 0.1; done
run "$BH" up "$TMP/demo" >/dev/null || exit 1
W=$(pid_of web)
run "$BH" status --socket "$SOCK" | grep -E '^(DOMAIN|stordom|web) '
echo "\$ ls /run/bulkhead    # in web: no disk"
in_guest "$W" ls /run/bulkhead | sed 's/^/  /'
echo "an admin who made the change on purpose unlocks it (same secret, sealed to the new PCRs):"
run "$BH" reseal --socket "$SOCK" web
W=$(pid_of web)
in_guest "$W" nbdcopy 'nbd+unix:///?socket=/run/bulkhead/disk0.sock' - | head -c 4M | cmp - "$TMP/data" &&
	echo "  web reads its 4 MiB back: identical"
echo "back to configs/demo as it is (locked again, so resealed again):"
"$BH" down --socket "$SOCK" >/dev/null
for _ in $(seq 50); do [ -e "$SOCK" ] || break; sleep 0.1; done
"$BH" up "$TOPO" >/dev/null && run "$BH" reseal --socket "$SOCK" web

say "6. bulkhead status"
run "$BH" status --socket "$SOCK"

if [ -n "$KEEP" ]; then
	say "left running: explore with 'bulkhead status', stop with 'bulkhead down'"
	exit 0
fi
say "7. bulkhead down: every domain stopped, nothing left behind"
run "$BH" down --socket "$SOCK"
for _ in $(seq 50); do [ -e "$SOCK" ] || break; sleep 0.1; done
left=$(pgrep -c -f '(netdomd|stordomd|vtpmd) .*/var/lib/bulkhead' || true)
echo "  service daemons left: ${left:-0}; vifs left: $(ip -o link show | grep -c ' vif[0-9]' || true)"
echo
echo "demo done in $((($(date +%s%N) - T0) / 1000000)) ms. 'bulkhead up configs/demo' keeps it running."
