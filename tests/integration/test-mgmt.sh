#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The management socket for real: `bulkhead serve` on a copy of configs/demo
# with its own audit log, state dir and syslog socket; the real CLI run as
# other users (setpriv): root (admin), daemon (operator), nobody (auditor),
# uid 54321 (no role). Checks what each may do, that every request and every
# refusal is in the audit log with the caller's uid, that the chain
# verifies (our verifier and an independent one in python), that an edited
# record is named by line, and that the syslog copy is RFC 5424.
set -u
BH=${BH_BULKHEAD:-build/bulkhead}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for t in setpriv python3; do command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
TMP=$(mktemp -d /tmp/bh-mgmt.XXXXXX)
chmod 755 "$TMP"
SRV= SYSL=
fails=0
cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	[ -n "$SYSL" ] && kill "$SYSL" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
. "$(dirname "$0")/lib-check.sh"

cp -r configs/demo "$TMP/topo"
sed -i -e "s|^bh_manage = .*|bh_manage = [ \"user=daemon:operator\", \"user=nobody:auditor\" ]|" \
	-e "s|^bh_audit_log = .*|bh_audit_log = \"$TMP/audit/audit.jsonl\"|" \
	-e "s|^bh_state_dir = .*|bh_state_dir = \"$TMP/state\"|" \
	-e "s|^bh_syslog = .*|bh_syslog = \"on\"\nbh_syslog_socket = \"$TMP/syslog.sock\"|" \
	"$TMP/topo/host.cfg"
LOG=$TMP/audit/audit.jsonl
SOCK=$TMP/mgmt.sock

# A syslog receiver: every datagram on its own line in syslog.out.
python3 -c '
import socket,sys
s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.bind(sys.argv[1])
f=open(sys.argv[2],"ab",buffering=0)
while True: f.write(s.recv(65536)+b"\n")' "$TMP/syslog.sock" "$TMP/syslog.out" &
SYSL=$!
for _ in $(seq 50); do [ -S "$TMP/syslog.sock" ] && break; sleep 0.1; done

"$BH" serve --socket "$SOCK" "$TMP/topo" 2>"$TMP/serve.err" &
SRV=$!
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { cat "$TMP/serve.err"; bad "server did not start"; exit 1; }
[ "$(stat -c %a "$SOCK")" = 666 ] && ok "socket mode 0666 (RBAC decides)" || bad "socket mode"

as() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$BH" "$@" --socket "$SOCK"; }

# root: admin
out=$("$BH" status --socket "$SOCK") && echo "$out" | grep -Eq '^web +guest +stopped' &&
	ok "root: status lists web as stopped" || bad "root status: $out"
out=$("$BH" status --json --socket "$SOCK") &&
	echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert not d["running"]; assert {"web","db","netdom"} <= {x["name"] for x in d["domains"]}' &&
	ok "status --json parses" || bad "status --json: $out"

# nobody: auditor (status, logs; not down, not restart)
as 65534 status >/dev/null && ok "auditor: status" || bad "auditor status refused"
out=$(as 65534 logs --json) && echo "$out" | grep -q '"action":"status"' && ok "auditor: logs" ||
	bad "auditor logs: $out"
as 65534 down 2>"$TMP/err" && bad "auditor was allowed down" || {
	grep -q "lacks permission 'down'" "$TMP/err" && ok "auditor: down refused" || bad "down msg: $(cat "$TMP/err")"; }
kill -0 $SRV 2>/dev/null && ok "server still running after refused down" || bad "server stopped"

# daemon: operator (status, restart, policy; not logs)
as 1 status >/dev/null && ok "operator: status" || bad "operator status refused"
as 1 logs 2>/dev/null && bad "operator read logs" || ok "operator: logs refused"
as 1 restart netdom 2>"$TMP/err"; rc=$?
[ $rc = 1 ] && grep -q "not running" "$TMP/err" && ok "operator: restart permitted, netdom not running" ||
	bad "operator restart: rc $rc $(cat "$TMP/err")"

# uid 54321: no role at all
as 54321 status 2>"$TMP/err" && bad "no-role caller got status" || {
	grep -q "uid 54321 gid 54321 lacks permission 'status'" "$TMP/err" && ok "no role: refused" ||
		bad "no-role msg: $(cat "$TMP/err")"; }

# A malformed request (raw bytes) is refused and logged.
python3 -c '
import socket,sys
s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET); s.connect(sys.argv[1]); s.send(b"\x01\x63\x00\x00")
print(s.recv(100000)[:64])' "$SOCK" >/dev/null

# The audit log has every request and refusal, with the caller's uid.
rec() { python3 -c '
import json,sys
n=0
for l in open(sys.argv[1]):
    r=json.loads(l)
    if r["actor"]["uid"]==int(sys.argv[2]) and r["action"]==sys.argv[3] and r["result"]==sys.argv[4]: n+=1
print(n)' "$LOG" "$@"; }
[ "$(rec 65534 down refused)" = 1 ] && ok "refused down by nobody is logged" || bad "no refusal record"
[ "$(rec 54321 status refused)" = 1 ] && ok "refused status by uid 54321 is logged" || bad "no-role record"
[ "$(rec 1 logs refused)" = 1 ] && ok "refused logs by daemon is logged" || bad "operator logs record"
[ "$(rec 1 restart granted)" = 1 ] && [ "$(rec 1 restart failed)" = 1 ] &&
	ok "restart logged as granted, then failed" || bad "restart records"
[ "$(rec 0 request refused)" = 1 ] && ok "malformed request logged" || bad "malformed record"
[ "$(rec 65534 status ok)" = 1 ] && ok "auditor status logged" || bad "auditor status record"

# down by root stops the server.
"$BH" down --socket "$SOCK" >/dev/null && ok "root: down" || bad "root down"
for _ in $(seq 30); do kill -0 $SRV 2>/dev/null || break; sleep 0.1; done
kill -0 $SRV 2>/dev/null && bad "server still running after down" || { wait $SRV; SRV=; ok "server stopped"; }
[ -e "$SOCK" ] && bad "socket left behind" || ok "socket removed"

# The chain verifies, by us and by an independent implementation.
"$BH" logs --verify --log "$LOG" | grep -q "audit log OK" && ok "logs --verify OK" || bad "verify"
python3 -c '
import hashlib,json,sys
prev="0"*64
for i,l in enumerate(open(sys.argv[1],"rb").read().split(b"\n")[:-1],1):
    r=json.loads(l); assert r["seq"]==i and r["prev"]==prev, i; prev=hashlib.sha256(l).hexdigest()
print(i)' "$LOG" >/dev/null && ok "python re-verifies the chain" || bad "python verify"

# Edit a record: named by its line, exit 1.
cp "$LOG" "$TMP/edited.jsonl"
sed -i '3s/"ts":"2/"ts":"1/' "$TMP/edited.jsonl"
cmp -s "$LOG" "$TMP/edited.jsonl" && bad "edit did not change the file"
out=$("$BH" logs --verify --log "$TMP/edited.jsonl"); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "edited.jsonl:3:" && ok "edited record 3 named (exit 1)" ||
	bad "edit: rc $rc $out"

# The syslog copies: RFC 5424, one per record, carrying the record verbatim.
sleep 0.2
python3 -c '
import re,sys
log=open(sys.argv[1],"rb").read().split(b"\n")[:-1]
msgs=open(sys.argv[2],"rb").read().split(b"\n")[:-1]
assert len(msgs)==len(log), (len(msgs),len(log))
for m,l in zip(msgs,log):
    h,_,body=m.partition(b"\xef\xbb\xbf")
    assert re.match(rb"<8[45]>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ bulkhead \d+ audit \[bulkhead@32473 seq=\"\d+\" prev=\"[0-9a-f]{64}\"\] $", h), h
    assert body==l
    assert (b"<84>" in h) == (b"\"result\":\"refused\"" in l or b"\"result\":\"failed\"" in l)
' "$LOG" "$TMP/syslog.out" && ok "syslog got every record as RFC 5424" || bad "syslog copy"

echo "$fails failure(s)"
[ $fails = 0 ]
