#!/bin/bash
# SPDX-License-Identifier: MIT
#
# netdom for real: three guest namespaces and a netdom namespace joined by
# veths named like vifs, real TCP/UDP through netdomd's nftables table.
# Checks allowed flows connect, forbidden ones fail, forged IP/MAC is dropped,
# guests reach services inside the netdom namespace only on ports rules to
# "self" allow (its input chain), a policy change cuts a flow it now forbids,
# kill -9 of netdomd keeps the
# policy (fail closed) and a restart adopts it, a bad policy is refused
# naming the rule and the old one stays; kernel state read with `nft -j`.
set -u
B=${BH_BUILD:-build}
ND=$B/netdomd
POL=$B/tests/unit/netdom/helper-ndpolicy
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for t in nft ip python3; do command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
# The interpreter itself, not a version-manager shim that costs a process or two per call.
PY=$(python3 -c 'import sys; print(sys.executable)')
S=$$
NS=bhnd$S
G1=bhg1$S G2=bhg2$S G3=bhg3$S
TMP=$(mktemp -d)
NDPID=
fails=0

cleanup() {
	[ -n "$NDPID" ] && kill "$NDPID" 2>/dev/null
	for n in $NS $G1 $G2 $G3; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

. "$(dirname "$0")/lib-check.sh"
nsx() { local n=$1; shift; ip netns exec "$n" "$@"; }

# --- topology ---
ip netns add $NS || exit 1
nsx $NS sysctl -qw net.ipv4.ip_forward=1
nsx $NS sysctl -qw net.ipv6.conf.all.forwarding=1
nsx $NS ip link set lo up
i=0
for g in $G1 $G2 $G3; do
	i=$((i + 1))
	ip netns add $g
	ip link add vif$i.0 netns $NS type veth peer name eth0 netns $g
	nsx $g ip link set eth0 address 00:16:3e:00:00:0$i
	nsx $g ip link set lo up
	nsx $g ip link set eth0 up
	nsx $g ip addr add 10.81.$i.2/24 dev eth0
	nsx $g ip addr add fd00:81:$i::2/64 dev eth0 nodad
	nsx $g ip route add default via 10.81.$i.1
	nsx $g ip -6 route add default via fd00:81:$i::1
	nsx $NS ip link set vif$i.0 up
	nsx $NS ip addr add 10.81.$i.1/24 dev vif$i.0
	nsx $NS ip addr add fd00:81:$i::1/64 dev vif$i.0 nodad
done

# --- helpers: a TCP/UDP server in a namespace, a client that reports success ---
server() { # ns proto port
	nsx "$1" $PY -c '
import socket,sys,threading,time
p=sys.argv[1]; port=int(sys.argv[2])
if p in ("tcp","tick"):
    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(("",port)); s.listen(16)
    def h(c):
        while p=="tick":   # the server speaks first, every 0.2 s
            try: c.sendall(b"t"); time.sleep(0.2)
            except Exception: return
        while True:
            d=c.recv(100)
            if not d: break
            c.sendall(d)
    while True:
        c,_=s.accept(); threading.Thread(target=h,args=(c,),daemon=True).start()
else:
    v6=p=="udp6"
    s=socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM); s.bind(("::" if v6 else "",port))
    while True:
        d,a=s.recvfrom(100); open(sys.argv[3],"a").write(a[0]+"\n"); s.sendto(d,a)
' "$2" "$3" "$TMP/udp-$1-$3" >/dev/null 2>&1 &
	echo $! >>"$TMP/pids"
}
client() { # ns proto host port [src] -> exit 0 on an echoed reply within 1 s
	nsx "$1" $PY -c '
import socket,sys
p,h,port=sys.argv[1],sys.argv[2],int(sys.argv[3]); src=sys.argv[4] if len(sys.argv)>4 else ""
v6=":" in h
s=socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM if p=="tcp" else socket.SOCK_DGRAM); s.settimeout(1)
# IP_TRANSPARENT, not IP_FREEBIND: only a transparent socket may send from a
# non-local source (FREEBIND binds, but the route lookup then fails ENETUNREACH
# and nothing leaves the namespace).
if src: s.setsockopt(41 if v6 else 0, 75 if v6 else 19, 1); s.bind((src,0))   # SOL_IPV6|SOL_IP, IPV6_|IP_TRANSPARENT
try:
    if p=="tcp": s.connect((h,port)); s.sendall(b"x")
    else: s.sendto(b"x",(h,port))
    sys.exit(0 if s.recv(10)==b"x" else 1)
except Exception: sys.exit(1)
' "$2" "$3" "$4" ${5:-}
}
expect() { # yes|no description client-args...
	local want=$1 what=$2; shift 2
	if client "$@"; then got=yes; else got=no; fi
	[ "$got" = "$want" ] && ok "$what" || bad "$what (connected: $got, wanted $want)"
}

server $G2 tcp 5432; server $G2 tcp 22; server $G1 tcp 8080; server $G3 tcp 8080; server $G1 tick 8081
server $G2 udp 5353; server $G2 udp 5354; server $G2 udp 7000; server $G2 udp 7001; server $G2 udp6 7006
# Services of the netdom itself (DNS-like): reached through its input chain.
server $NS udp 5300; server $NS tcp 5300; server $NS udp 5301; server $NS tcp 5301
sleep 0.5

GUESTS=("guest g1 web vif1.0 00:16:3e:00:00:01 10.81.1.2,fd00:81:1::2"
	"guest g2 db vif2.0 00:16:3e:00:00:02 10.81.2.2,fd00:81:2::2"
	"guest g3 - vif3.0 00:16:3e:00:00:03 10.81.3.2,fd00:81:3::2")
$POL write $TMP/p1 1 "zone web" "zone db" "${GUESTS[@]}" \
	"rule 1 g=g1 g=g2 tcp 5432 accept" \
	"rule 2 z=web z=db udp 5353 accept" \
	"rule 3 g=g3 g=g1 tcp 8080,8081 accept" \
	"rule 4 10.81.1.0/24 g=g2 udp 7000 accept" \
	"rule 5 g=g3 g=g2 udp 7001 accept" \
	"rule 6 fd00:81:1::/64 g=g2 udp 7006 accept" \
	"rule 7 g=g1 self udp 5300 accept" \
	"rule 8 z=web self tcp 5300 accept" || exit 1

# --- before any policy: netdomd's closed policy must already forbid forwarding ---
$ND --netns $NS --control $TMP/ctl.sock 2>$TMP/nd1.log &
NDPID=$!
for _ in $(seq 50); do [ -S $TMP/ctl.sock ] && break; sleep 0.1; done
expect no "closed policy: g1 -> g2:5432 before any policy" $G1 tcp 10.81.2.2 5432
expect no "closed policy: g1 -> netdom udp 5300 before any policy" $G1 udp 10.81.1.1 5300

out=$($POL send $TMP/ctl.sock $TMP/p1) && [[ $out == *"gen=1 status=0"* ]] && ok "policy 1 applied" ||
	bad "policy 1: $out"

expect yes "allowed: g1 -> g2 tcp 5432 (guest rule)" $G1 tcp 10.81.2.2 5432
# A second control connection listens for DROP_EVENTs while the first is refused.
$POL events $TMP/ctl.sock 2 >$TMP/events &
EVPID=$!
for _ in $(seq 30); do grep -q listening $TMP/events 2>/dev/null && break; sleep 0.1; done
expect no "forbidden: g1 -> g2 tcp 22" $G1 tcp 10.81.2.2 22
wait $EVPID
grep -q '^drop guest=g1 src=10.81.1.2 dst=10.81.2.2 proto=6 dport=22 count=[1-9]' $TMP/events &&
	ok "DROP_EVENT names g1, 10.81.1.2 -> 10.81.2.2, tcp, port 22" ||
	bad "drop events: $(cat $TMP/events)"
expect no "forbidden: g2 -> g1 tcp 8080 (no reverse rule)" $G2 tcp 10.81.1.2 8080
expect yes "allowed: g1 -> g2 udp 5353 (zone rule)" $G1 udp 10.81.2.2 5353
expect no "forbidden: g1 -> g2 udp 5354" $G1 udp 10.81.2.2 5354
expect yes "allowed: g3 -> g1 tcp 8080" $G3 tcp 10.81.1.2 8080
expect no "forbidden: g1 -> g3 tcp 8080" $G1 tcp 10.81.3.2 8080
expect yes "allowed: g1 -> g2 udp 7000 (CIDR rule)" $G1 udp 10.81.2.2 7000

# --- rules to self: services inside the netdom namespace, input chain ---
expect yes "to self: g1 -> netdom udp 5300 (guest rule)" $G1 udp 10.81.1.1 5300
expect yes "to self: g1 -> netdom tcp 5300 (zone rule)" $G1 tcp 10.81.1.1 5300
expect no "to self: g1 -> netdom udp 5301 (no rule)" $G1 udp 10.81.1.1 5301
expect no "to self: g1 -> netdom tcp 5301 (no rule)" $G1 tcp 10.81.1.1 5301
expect no "to self: g3 -> netdom udp 5300 (rule 7 is g1's)" $G3 udp 10.81.3.1 5300
expect no "to self: g2 -> netdom tcp 5300 (zone db, rule 8 is web's)" $G2 tcp 10.81.2.1 5300

# --- anti-spoofing: g3 forges g1's address (which rule 4 would accept), then g1's MAC ---
spoof_count() {
	nsx $NS nft -j list counter inet bulkhead spoof | $PY -c \
		'import json,sys; print([o["counter"]["packets"] for o in json.load(sys.stdin)["nftables"] if "counter" in o][0])'
}
c0=$(spoof_count)
rm -f "$TMP/udp-$G2-7000"
client $G3 udp 10.81.2.2 7000 10.81.1.2 || true
c1=$(spoof_count)
if grep -q 10.81.1.2 "$TMP/udp-$G2-7000" 2>/dev/null; then bad "forged source IP reached g2"
else ok "forged source IP from g3 did not reach g2"; fi
[ "${c1:-0}" -gt "${c0:-0}" ] && ok "forged source IP left g3 and was counted by the spoof rule ($c0 -> $c1)" ||
	bad "forged source IP not seen by the spoof rule ($c0 -> $c1)"
expect yes "g3 -> g2 udp 7001 with its own MAC" $G3 udp 10.81.2.2 7001
expect yes "allowed: g1 -> g2 udp 7006 over IPv6 (CIDR rule)" $G1 udp fd00:81:2::2 7006
rm -f "$TMP/udp-$G2-7006"
c6=$(spoof_count)
client $G3 udp fd00:81:2::2 7006 fd00:81:1::2 || true
c1=$(spoof_count)
if grep -q fd00:81:1::2 "$TMP/udp-$G2-7006" 2>/dev/null; then bad "forged IPv6 source reached g2"
else ok "forged IPv6 source from g3 did not reach g2"; fi
[ "${c1:-0}" -gt "${c6:-0}" ] && ok "forged IPv6 source counted by the spoof rule ($c6 -> $c1)" ||
	bad "forged IPv6 source not seen by the spoof rule ($c6 -> $c1)"
c2=$(spoof_count)
nsx $G3 ip link set eth0 address 00:16:3e:00:00:01
expect no "g3 -> g2 udp 7001 with g1's MAC" $G3 udp 10.81.2.2 7001
nsx $G3 ip link set eth0 address 00:16:3e:00:00:03
c3=$(spoof_count)
[ "${c2:-0}" = "${c1:-0}" ] && ok "own address and MAC not counted as spoofing" ||
	bad "honest packets counted as spoofing ($c1 -> $c2)"
[ "${c3:-0}" -gt "${c2:-0}" ] && ok "forged MAC counted by the anti-spoofing rule ($c2 -> $c3)" ||
	bad "forged MAC not caught by the anti-spoofing rule ($c2 -> $c3)"

# --- kernel state through nft itself ---
nsx $NS nft -j list ruleset >$TMP/rs.json
$PY - "$TMP/rs.json" <<'PY' && ok "nft -j: table, policy drop, maps, per-rule counters" || bad "nft -j state"
import json,sys
rs=json.load(open(sys.argv[1]))["nftables"]
t=[o["table"] for o in rs if "table" in o and o["table"]["name"]=="bulkhead"][0]
ch={o["chain"]["name"]:o["chain"] for o in rs if "chain" in o}
assert ch["forward"]["policy"]=="drop" and ch["input"]["policy"]=="drop"
maps={o["map"]["name"]:o["map"] for o in rs if "map" in o}
assert "allow-guest-guest" in maps and "allow-zone-zone" in maps
ctr={o["counter"]["name"] for o in rs if "counter" in o}
assert {"r1","r2","r3","r4","r5","r7","r8"} <= ctr, ctr
rules={}
for o in rs:
    if "rule" in o: rules.setdefault(o["rule"]["chain"],[]).append(json.dumps(o["rule"]["expr"]))
inp=" ".join(rules["input"]); fwd=" ".join(rules["forward"])
for m in ("allow-guest-self","allow-zone-self","count-guest-self","count-zone-self"):
    assert m in maps or any(o.get("set",{}).get("name")==m for o in rs), m
    assert "@"+m in inp, m
assert "-self" not in fwd
# the input chain ends with the default: counter default-drop, after the self maps
assert "default-drop" in rules["input"][-1] and "@allow-" in rules["input"][-2]
PY
$PY - "$TMP/rs.json" <<'PY' && ok "nft -j: input chain holds the self maps, guest before zone" || bad "nft -j input chain"
import json,sys
rs=json.load(open(sys.argv[1]))["nftables"]
inp=[json.dumps(o["rule"]["expr"]) for o in rs if "rule" in o and o["rule"]["chain"]=="input"]
g=[i for i,r in enumerate(inp) if "@allow-guest-self" in r]; z=[i for i,r in enumerate(inp) if "@allow-zone-self" in r]
assert len(g)==1 and len(z)==1 and g[0]<z[0], (g,z)
PY
out=$($POL counters $TMP/ctl.sock)
echo "$out" | grep -Eq '^counter 1 [1-9]' && ok "COUNTERS reply: rule 1 counted" || bad "counters: $out"
echo "$out" | grep -Eq '^counter 7 [1-9]' && echo "$out" | grep -Eq '^counter 8 [1-9]' &&
	ok "COUNTERS reply: rules 7 and 8 (to self) counted" || bad "self counters: $out"

# --- a policy change cuts an established flow it now forbids ---
nsx $G1 $PY -c '
import socket,sys,time
s=socket.create_connection(("10.81.2.2",5432),timeout=2); s.sendall(b"a"); assert s.recv(1)==b"a"
open(sys.argv[1],"w").write("up\n")
time.sleep(1.5)
try:
    s.sendall(b"b"); r=s.recv(1); print("alive" if r==b"b" else "cut")
except Exception: print("cut")
' $TMP/flow-up >$TMP/flow.out 2>/dev/null &
FLOW=$!
# ...and keeps one it still allows, even when its next packet is the server's reply.
nsx $G3 $PY -c '
import socket,sys,time
s=socket.create_connection(("10.81.1.2",8081),timeout=2); assert s.recv(1)==b"t"
open(sys.argv[1],"w").write("up\n")
s.settimeout(0.5); end=time.time()+2.5; last=0
while time.time()<end:
    try:
        if s.recv(1)==b"t": last=time.time()
    except Exception: pass
print("alive" if time.time()-last<0.6 else "cut")
' $TMP/tick-up >$TMP/tick.out 2>/dev/null &
TICK=$!
for _ in $(seq 30); do [ -s $TMP/flow-up ] && [ -s $TMP/tick-up ] && break; sleep 0.1; done
$POL write $TMP/p2 2 "zone web" "zone db" "${GUESTS[@]}" "rule 3 g=g3 g=g1 tcp 8080,8081 accept" ||
	exit 1
out=$($POL send $TMP/ctl.sock $TMP/p2) && [[ $out == *"gen=2 status=0"* ]] && ok "policy 2 applied" ||
	bad "policy 2: $out"
wait $FLOW $TICK
[ "$(cat $TMP/flow.out)" = cut ] && ok "established g1 -> g2:5432 flow cut by policy 2" ||
	bad "established flow after policy 2: $(cat $TMP/flow.out)"
[ "$(cat $TMP/tick.out)" = alive ] && ok "established g3 -> g1:8081 flow, still allowed, kept its replies" ||
	bad "allowed flow after policy 2: $(cat $TMP/tick.out)"
expect no "new g1 -> g2 tcp 5432 refused under policy 2" $G1 tcp 10.81.2.2 5432
expect yes "new g3 -> g1 tcp 8080 still allowed under policy 2" $G3 tcp 10.81.1.2 8080
expect no "g1 -> netdom udp 5300 refused under policy 2 (no rule to self)" $G1 udp 10.81.1.1 5300

# --- a bad policy is refused whole, naming the rule; the old one stays ---
$POL write $TMP/bad 3 "zone web" "zone db" "${GUESTS[@]}" "rule 1 g=g1 g=g2 tcp 5432 accept" \
	"rule 9 g=g1 g=nosuch tcp 80 accept" || exit 1
out=$($POL send $TMP/ctl.sock $TMP/bad)
[[ $out == *"gen=2 status=-22 rule=9"*"rule 9 (cli:9)"*nosuch* ]] && ok "bad policy refused: $out" ||
	bad "bad policy: $out"
expect no "after the refused policy, g1 -> g2:5432 still forbidden (rule 1 not half-applied)" \
	$G1 tcp 10.81.2.2 5432
nsx $NS nft list table inet bulkhead | grep -q 'comment "bulkhead generation 2"' &&
	ok "kernel still at generation 2" || bad "generation after refused policy"

# --- kill -9: the kernel keeps enforcing; a restart adopts without touching it ---
kill -9 $NDPID; wait $NDPID 2>/dev/null; NDPID=
expect no "after kill -9, g1 -> g2 tcp 5432 still forbidden" $G1 tcp 10.81.2.2 5432
expect no "after kill -9, g1 -> g3 tcp 8080 still forbidden" $G1 tcp 10.81.3.2 8080
expect yes "after kill -9, g3 -> g1 tcp 8080 still allowed" $G3 tcp 10.81.1.2 8080
rm -f $TMP/ctl.sock
$ND --netns $NS --control $TMP/ctl.sock 2>$TMP/nd2.log &
NDPID=$!
for _ in $(seq 50); do [ -S $TMP/ctl.sock ] && break; sleep 0.1; done
grep -q "adopted table inet bulkhead, generation 2" $TMP/nd2.log && ok "restart adopted generation 2" ||
	bad "restart: $(cat $TMP/nd2.log)"
expect no "after restart, g1 -> g3 tcp 8080 forbidden" $G1 tcp 10.81.3.2 8080

# --- a policy from a real topology directory: bulkhead policy-export, rules labelled file:line ---
T=$TMP/topo
mkdir -p $T/guests
cat >$T/host.cfg <<'CFG'
bh_platform = "host"
bh_default_policy = "drop"
bh_zones = [ "name=web cidr=10.81.1.0/24", "name=db cidr=10.81.2.0/24" ]
bh_allow = [ "from=zone:web to=zone:db proto=udp port=5353" ]
CFG
cat >$T/netdom.cfg <<'CFG'
name = "netdom"
bh_role = "netdom"
bh_gateway = [ "10.81.1.1/24", "10.81.2.1/24", "10.81.3.1/24" ]
CFG
guest_cfg() { # name zone|- n rules
	{
		echo "name = \"$1\""
		echo "vif = [ \"mac=00:16:3e:00:00:0$3,ip=10.81.$3.2,vifname=vif$3.0\" ]"
		[ "$2" = - ] || echo "bh_zone = \"$2\""
		echo "bh_allow = [ $4 ]"
		echo 'bh_host_cmd = "sleep infinity"'
	} >$T/guests/$1.cfg
}
guest_cfg g1 web 1 '"to=g2 proto=tcp port=5432", "to=netdom proto=udp port=5300"'
guest_cfg g2 db 2 '"to=g1 proto=icmp"'
guest_cfg g3 - 3 '"to=g1 proto=tcp port=8080", "to=zone:db proto=udp port=7001"'
if ${BH_BULKHEAD:-$B/bulkhead} policy-export --generation 7 $T $TMP/p7 2>$TMP/export.err; then
	out=$($POL send $TMP/ctl.sock $TMP/p7)
	[[ $out == *"gen=7 status=0"* ]] && ok "topology policy applied: $out" || bad "topology policy: $out"
else
	bad "policy-export: $(cat $TMP/export.err)"
fi
expect yes "topology: g1 -> g2 tcp 5432 (guests/g1.cfg)" $G1 tcp 10.81.2.2 5432
expect no "topology: g1 -> g2 tcp 22" $G1 tcp 10.81.2.2 22
expect yes "topology: g1 -> g2 udp 5353 (host.cfg zone rule)" $G1 udp 10.81.2.2 5353
expect yes "topology: g3 -> g2 udp 7001 (to a zone)" $G3 udp 10.81.2.2 7001
expect no "topology: g2 -> g1 tcp 8080" $G2 tcp 10.81.1.2 8080
expect yes "topology: g1 -> netdom udp 5300 (to=netdom, exported as self)" $G1 udp 10.81.1.1 5300
expect no "topology: g1 -> netdom tcp 5300" $G1 tcp 10.81.1.1 5300
expect no "topology: g2 -> netdom udp 5300" $G2 udp 10.81.2.1 5300
[ ! -s $TMP/export.err ] && ok "policy-export: no diagnostics for the rule to the netdom" ||
	bad "policy-export diagnostics: $(cat $TMP/export.err)"
# The same topology with a rule netdom refuses (ICMP to an IPv6 network): the
# error names the rule by its config line, and generation 7 stays.
guest_cfg g2 db 2 '"to=g1 proto=icmp", "to=fd00::/64 proto=icmp"'
if ${BH_BULKHEAD:-$B/bulkhead} policy-export --generation 8 $T $TMP/p8 2>$TMP/export.err; then
	out=$($POL send $TMP/ctl.sock $TMP/p8)
	[[ $out == *"gen=7 status=-22"*"guests/g2.cfg:4"* ]] && ok "refused naming its config line: $out" ||
		bad "refused topology policy: $out"
else
	grep -q 'guests/g2.cfg:4' $TMP/export.err && ok "dom0 refuses it first, naming the line: $(cat $TMP/export.err)" ||
		bad "policy-export: $(cat $TMP/export.err)"
fi

while read -r p; do kill "$p" 2>/dev/null; done <"$TMP/pids"
echo "netdom integration: $fails failure(s)"
[ $fails -eq 0 ]
