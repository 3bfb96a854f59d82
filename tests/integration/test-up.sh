#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bulkhead up/status/down for real, on a copy of configs/demo with its own
# state dir and audit log, checked with clients nobody here wrote:
#  - up starts vtpm, stordom, netdom and the guests; status prints the table
#    and --json; a caller without a role is refused;
#  - web reaches db on tcp 5432 through netdom's nftables, db cannot reach web;
#  - web (as nobody, in its own mount namespace) writes and reads its
#    encrypted volume over NBD with nbdcopy/nbdinfo, sees only its own disk,
#    and its vTPM answers tpm2-tools;
#  - kill -9 of each service daemon: restarted, audit-logged, serving again,
#    guests untouched, no write acknowledged by FLUSH lost;
#  - down leaves no process, namespace, veth, mount, cgroup or socket;
#  - a second up reopens the same volume (data still there) and vTPM;
#  - a service that never becomes ready: up fails naming it, nothing left.
set -u
. "$(dirname "$0")/lib-up.sh"
up_test_init up cryptsetup nbdinfo nbdcopy tpm2_getrandom tpm2_startup nsenter setpriv python3 ip

cp -r configs/demo "$TMP/topo"
sed -i -e "s|^bh_audit_log = .*|bh_audit_log = \"$LOG\"|" -e 's|^bh_syslog = .*|bh_syslog = "off"|' \
	-e 's|^bh_manage = .*|bh_manage = [ "user=nobody:auditor" ]|' "$TMP/topo/host.cfg"
# Under ASan every daemon starts slower.
UP=("$BH" up --state-dir "$ST" --timeout 60 "$TMP/topo")

json() { "$BH" status --json --socket "$SOCK"; }
field() { # domain key
	json | $PY -c 'import json,sys; print({d["name"]: d for d in json.load(sys.stdin)["domains"]}[sys.argv[1]][sys.argv[2]])' "$1" "$2"
}
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
in_guest() { local p=$1; shift; nsenter -t "$p" -m -n setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
tcp() { # pid host port -> 0 when a connection gets the server's byte
	nsenter -t "$1" -n $PY -c '
import socket,sys
s=socket.socket(); s.settimeout(1.5)
try: s.connect((sys.argv[1],int(sys.argv[2]))); sys.exit(0 if s.recv(1)==b"y" else 1)
except Exception: sys.exit(1)' "$2" "$3"
}
serve_tcp() { # pid port: a server that says "y" to every connection
	nsenter -t "$1" -n $PY -c '
import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(("",int(sys.argv[1]))); s.listen(8)
while True:
    c,_=s.accept(); c.send(b"y"); c.close()' "$2" >/dev/null 2>&1 &
	SERVERS="${SERVERS:-} $!"
}
nbd() { echo "nbd+unix:///?socket=/run/bulkhead/$1"; }
tpm() { # pid cmd...: a tpm2-tools command inside the guest, as nobody
	local p=$1; shift
	in_guest "$p" env TPM2TOOLS_TCTI=swtpm:path=/run/bulkhead/tpm.sock "$@"
}
audit_count() { # action target result
	$PY -c '
import json,sys
print(sum(1 for l in open(sys.argv[1]) for r in [json.loads(l)]
          if r["action"]==sys.argv[2] and r["target"]==sys.argv[3] and r["result"]==sys.argv[4]))' "$LOG" "$@"
}

# --- up -------------------------------------------------------------------
out=$("${UP[@]}" 2>&1); rc=$?
[ $rc = 0 ] && ok "up: $out" || { bad "up rc $rc: $out"; cat "$ST"/log/*.log; exit 1; }
"${UP[@]}" >/dev/null 2>"$TMP/err" && bad "a second up of the same state was accepted" ||
	{ grep -q "already up" "$TMP/err" && ok "second up refused: already up" || bad "second up: $(cat "$TMP/err")"; }

# Measured boot: each guest was measured into its vTPM before it started.
[ "$(audit_count measure web ok)" = 1 ] && [ "$(audit_count measure db ok)" = 1 ] &&
	ok "web and db measured before they started (audit)" || bad "measure records: $(grep measure "$LOG")"
out=$("$BH" attest --tpm "$ST/vtpm/web/tpm.sock" --event-log "$ST/eventlog/web.bin" "$TMP/topo" web 2>&1) &&
	ok "attest web: $out" || bad "attest web after up: $out"
table=$("$BH" status --socket "$SOCK")
for d in vtpm stordom netdom web db; do
	echo "$table" | grep -Eq "^$d +[a-z]+ +running +[0-9]+ " || bad "status table: $d not running"
done
echo "$table" | grep -Eq '^netdom .* ok +firewall generation 1' && ok "status table: every domain running, firewall generation 1" ||
	bad "status table: $table"
json | $PY -c '
import json,sys
d={x["name"]: x for x in json.load(sys.stdin)["domains"]}
assert all(x["state"]=="running" and x["pid"]>0 for x in d.values()), d
assert d["netdom"]["generation"]==1 and d["netdom"]["channel"]=="ok"
assert sorted(v["name"] for v in d["stordom"]["volumes"])==["db-data","web-data"]
assert sorted(d["vtpm"]["vtpms"])==["db","web"]
assert "/run/bulkhead/disk0.sock" in d["web"]["endpoints"] and d["web"]["vifs"]==["vif2.0"]
' && ok "status --json: states, generation, volumes, vTPM instances, endpoints" || bad "status --json: $(json)"
setpriv --reuid=54321 --regid=54321 --clear-groups "$BH" status --socket "$SOCK" 2>"$TMP/err" >/dev/null &&
	bad "a caller without a role got status" ||
	{ grep -q "lacks permission 'status'" "$TMP/err" && ok "caller without a role refused" || bad "no-role: $(cat "$TMP/err")"; }
nobody "$BH" status --socket "$SOCK" >/dev/null && ok "auditor (nobody) may read status" || bad "auditor status"
nobody "$BH" down --socket "$SOCK" 2>/dev/null && bad "auditor was allowed down" || ok "auditor may not down"

W=$(field web pid) D=$(field db pid) N=$(field netdom pid)
NETNS=$(readlink /proc/$N/ns/net)

# --- network: web -> db:5432 yes, db -> web no ------------------------------
serve_tcp "$D" 5432; serve_tcp "$W" 8080; serve_tcp "$D" 22
sleep 0.5
tcp "$W" 10.10.2.20 5432 && ok "web reaches db on tcp 5432" || bad "web -> db:5432"
tcp "$W" 10.10.2.20 22 && bad "web reached db on tcp 22" || ok "web cannot reach db on 22"
tcp "$D" 10.10.1.10 8080 && bad "db reached web" || ok "db cannot reach web"

# --- disk: web's encrypted volume over NBD, as nobody in web's namespaces ----
[ "$(in_guest "$W" nbdinfo --size "$(nbd disk0.sock)")" = $((1 << 30)) ] &&
	ok "nbdinfo: web's disk0 is 1 GiB" || bad "nbdinfo web disk0"
[ "$(in_guest "$D" nbdinfo --size "$(nbd disk0.sock)")" = $((4 << 30)) ] &&
	ok "db's disk0 is its own 4 GiB volume" || bad "nbdinfo db disk0"
in_guest "$D" nbdinfo --size "nbd+unix:///?socket=$ST/run/stordom/web-data.sock" >/dev/null 2>&1 &&
	bad "db reached web's volume socket" || ok "db cannot reach web's volume socket"
head -c 8M /dev/urandom >"$TMP/in.bin"; chmod 644 "$TMP/in.bin"
in_guest "$W" nbdcopy --flush "$TMP/in.bin" "$(nbd disk0.sock)" && ok "web wrote 8 MiB (nbdcopy, FLUSH)" ||
	bad "nbdcopy into web's disk"
rd() { in_guest "$W" nbdcopy "$(nbd disk0.sock)" - | head -c 8M | cmp -s - "$TMP/in.bin"; }
rd && ok "web read its 8 MiB back" || bad "read-back differs"
off=$(cryptsetup luksDump "$ST/volumes/web-data.luks" 2>/dev/null | sed -n 's/^[[:space:]]*offset: \([0-9]*\) \[bytes\]/\1/p' | head -1)
[ -n "$off" ] && ! cmp -s -n 65536 "$TMP/in.bin" <(tail -c +$((off + 1)) "$ST/volumes/web-data.luks") &&
	ok "web-data.luks is LUKS2; its data area (offset $off) holds no plaintext" || bad "backing file: offset '$off'"

# --- vTPM --------------------------------------------------------------------
tpm "$W" tpm2_startup -c >/dev/null 2>&1
r=$(tpm "$W" tpm2_getrandom --hex 16 2>/dev/null)
[ ${#r} = 32 ] && ok "web's vTPM answers tpm2_getrandom ($r)" || bad "tpm2_getrandom: '$r'"

# --- kill -9 of each service: restarted, serving, guests untouched -----------
wait_restarted() { # domain old-pid
	for _ in $(seq 150); do
		[ "$(field "$1" state)" = running ] && [ "$(field "$1" pid)" != "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
for d in netdom stordom vtpm; do
	p=$(field $d pid)
	kill -9 "$p"
	wait_restarted $d "$p" && [ "$(field $d restarts)" = 1 ] && ok "$d restarted after kill -9" ||
		bad "$d not restarted: $(json)"
	[ "$(audit_count crash $d failed)" = 1 ] && [ "$(audit_count restart $d ok)" = 1 ] &&
		ok "$d crash and restart audit-logged" || bad "$d audit records"
done
[ "$(field web pid)" = "$W" ] && [ "$(field db pid)" = "$D" ] && ok "guests kept running" || bad "guests restarted"
[ "$(field netdom generation)" = 2 ] && ok "netdom's policy pushed again (generation 2)" || bad "generation"
tcp "$W" 10.10.2.20 5432 && ok "after restarts: web reaches db:5432" || bad "after restarts: web -> db"
tcp "$D" 10.10.1.10 8080 && bad "after restarts: db reached web" || ok "after restarts: db cannot reach web"
rd && ok "after stordom's kill -9: the FLUSHed 8 MiB read back intact" || bad "data lost across the restart"
tpm "$W" tpm2_startup -c >/dev/null 2>&1
r=$(tpm "$W" tpm2_getrandom --hex 16 2>/dev/null)
[ ${#r} = 32 ] && ok "after vtpm's kill -9: web's vTPM answers" || bad "vtpm after restart: '$r'"
out=$("$BH" attest --tpm "$ST/vtpm/web/tpm.sock" --event-log "$ST/eventlog/web.bin" "$TMP/topo" web 2>&1) &&
	[ "$(audit_count measure web ok)" = 2 ] && ok "after vtpm's kill -9: web measured again, attest passes" ||
	bad "attest after the vtpm restart: $out"

# --- bulkhead restart of a guest: a new domain, re-plugged and re-bound -------------
"$BH" restart --socket "$SOCK" web >/dev/null && W2=$(field web pid) && [ "$W2" != "$W" ] &&
	[ ! -e /proc/$W ] && [ "$(field web restarts)" = 1 ] && ok "restart web: a new guest domain" ||
	bad "restart web: $(json)"
W=$W2
tcp "$W" 10.10.2.20 5432 && ok "restarted web reaches db:5432" || bad "restarted web -> db"
out=$("$BH" attest --tpm "$ST/vtpm/web/tpm.sock" --event-log "$ST/eventlog/web.bin" "$TMP/topo" web 2>&1) &&
	[ "$(audit_count measure web ok)" = 3 ] && ok "restarted web measured afresh: $out" ||
	bad "attest after restart: $out"
rd && ok "restarted web reads its volume" || bad "restarted web: volume"

# --- down: nothing left --------------------------------------------------------
for p in ${SERVERS:-}; do kill "$p" 2>/dev/null; done
SERVERS=
PIDS="$(json | $PY -c 'import json,sys; print(" ".join(str(d["pid"]) for d in json.load(sys.stdin)["domains"]))')"
SUP=$(json | $PY -c 'import json,sys; print(json.load(sys.stdin)["supervisor"])')
CG=$(sed -n 's/^0:://p' /proc/$W/cgroup)
"$BH" down --socket "$SOCK" >/dev/null && ok "down" || bad "down failed"
for _ in $(seq 50); do kill -0 "$SUP" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SUP" 2>/dev/null && bad "supervisor $SUP still running" || ok "supervisor exited"
left=0; for p in $PIDS; do [ -e /proc/$p ] && left=1; done
[ $left = 0 ] && ok "no domain process left" || bad "processes left: $PIDS"
# A process SIGKILLed by down may linger in /proc for a moment while the
# kernel tears it down: look again for up to 3 s before calling it left over.
for _ in $(seq 30); do
	$PY -c '
import os,sys
for p in os.listdir("/proc"):
    try:
        if p.isdigit() and os.readlink("/proc/%s/ns/net" % p) == sys.argv[1]: print(p)
    except OSError: pass' "$NETNS" >"$TMP/ns"
	[ -s "$TMP/ns" ] || break
	sleep 0.1
done
if [ -s "$TMP/ns" ]; then
	bad "netdom's namespace still used by: $(for p in $(cat "$TMP/ns"); do
		printf '%s[%s] ' "$p" "$(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null)"; done)"
else
	ok "netdom's network namespace gone"
fi
ip -o link show | grep -q ' vif[0-9]' && bad "a vif left in our namespace" || ok "no veth left"
findmnt -rn | grep -q "$TMP" && bad "a mount left under $TMP" || ok "no mount left"
case $CG in
*/bulkhead.[0-9]*/web)
	[ -e "$(findmnt -n -o TARGET -t cgroup2 | head -1)$CG" ] && bad "cgroup $CG left" ||
		ok "no cgroup left" ;;
*) ok "no cgroup to leave: web ran in $CG (limits not applied on this host)" ;;
esac
[ -e "$SOCK" ] || [ -e "$ST/run" ] && bad "socket or run dir left" || ok "management socket and run dir removed"
[ "$(audit_count down "$TMP/topo" ok)" -ge 1 ] && "$BH" logs --verify --log "$LOG" | grep -q "audit log OK" &&
	ok "audit log: down recorded, chain verifies" || bad "audit log after down"

# --- up again: the same volume and vTPM, reopened -------------------------------
out=$("${UP[@]}" 2>&1) && ok "second up" || bad "second up: $out"
W=$(field web pid)
rd && ok "second up: web's volume reopened, data intact" || bad "second up: data"
[ "$(audit_count volume-create web-data ok)" = 1 ] && [ "$(audit_count vtpm-create web ok)" = 1 ] &&
	ok "volume and vTPM created once, reopened later" || bad "created twice"
"$BH" down --socket "$SOCK" >/dev/null && ok "down again" || bad "second down"
for _ in $(seq 50); do [ -e "$SOCK" ] || break; sleep 0.1; done

# --- a service that never becomes ready ------------------------------------------
mkdir "$TMP/fake"
printf '#!/bin/sh\nexec sleep 30\n' >"$TMP/fake/netdomd"; chmod 755 "$TMP/fake/netdomd"
# Copies, not links: a service domain's root holds its daemons directory only.
cp "$B/stordomd" "$B/vtpmd" "$TMP/fake/"
# 5 s: the real vtpm and stordom must become ready first, under ASan on a loaded machine too.
out=$("$BH" up --state-dir "$ST" --daemons "$TMP/fake" --timeout 5 "$TMP/topo" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "service domain netdom did not become ready: its control channel was not attached within 5000 ms" &&
	ok "a service never ready: up fails naming netdom" || bad "never ready: rc $rc: $out"
pgrep -f "$TMP/fake/netdomd" >/dev/null && bad "the fake netdomd was left running" || ok "nothing left running"
[ -e "$SOCK" ] && bad "socket left after a failed up" || ok "no socket after a failed up"

for p in ${SERVERS:-}; do kill "$p" 2>/dev/null; done
echo "$fails failure(s)"
[ $fails = 0 ]
