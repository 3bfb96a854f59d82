#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Host-platform domains for real (dom0/platform-host.c through
# helper-hostdom): start guest "web" of a copy of configs/demo, joined to a
# stand-in netdom namespace this test creates, and check from outside that
# it runs bh_host_cmd in its own mount/pid/net/ipc/uts namespaces as nobody
# with no capabilities, no_new_privs and a seccomp filter; that its cgroup holds
# the configured limits (or SKIP that part, saying why, when the cgroup v2
# hierarchy lacks the controllers); that its vif is a veth named like a vif
# in netdom's namespace with eth0 (and the configured MAC) in the guest's;
# then stop it and
# check that no process, namespace, veth or cgroup is left.
set -u
B=${BH_BUILD:-build}
HELPER=$B/tests/unit/dom0/helper-hostdom
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for t in ip nsenter; do command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
S=$$
ND=bhhdnd$S
TMP=$(mktemp -d /tmp/bh-hostdom.XXXXXX)
HPID= fails=0
cleanup() {
	exec 8>&- 2>/dev/null
	[ -n "$HPID" ] && kill "$HPID" 2>/dev/null && wait "$HPID" 2>/dev/null
	ip netns del $ND 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
. "$(dirname "$0")/lib-check.sh"

cp -r configs/demo "$TMP/topo"
MARK=bh-hostdom-$S
sed -i "s|^bh_host_cmd = .*|bh_host_cmd = \"echo $MARK >/dev/null; exec sleep 600\"|; s|^memory = .*|memory = 96|; s|^vcpus = .*|vcpus = 2|" \
	"$TMP/topo/guests/web.cfg"
ip netns add $ND || exit 1

mkfifo "$TMP/in"
"$HELPER" "$TMP/topo" web /run/netns/$ND <"$TMP/in" >"$TMP/out" 2>"$TMP/err" &
HPID=$!
exec 8>"$TMP/in"
for _ in $(seq 50); do grep -q '^ready' "$TMP/out" && break; sleep 0.1; done
grep -q '^ready' "$TMP/out" || { cat "$TMP/out" "$TMP/err"; bad "guest did not start"; exit 1; }
GP=$(sed -n 's/^pid=//p' "$TMP/out")
CG=$(sed -n 's/^cgroup=//p' "$TMP/out")
LIM=$(sed -n 's/^limits=//p' "$TMP/out")
VIF=$(sed -n 's/^vif=//p' "$TMP/out")
sleep 0.3 # let sh exec sleep

# The command runs (sh exec'd into sleep).
grep -q "sleep" /proc/$GP/cmdline 2>/dev/null && ok "guest runs bh_host_cmd (pid $GP)" ||
	bad "guest command: $(tr '\0' ' ' </proc/$GP/cmdline 2>&1)"
for ns in mnt pid net ipc uts; do
	[ "$(readlink /proc/$GP/ns/$ns)" != "$(readlink /proc/self/ns/$ns)" ] &&
		ok "own $ns namespace" || bad "shares our $ns namespace"
done
[ "$(nsenter -t "$GP" -u hostname)" = web ] && ok "hostname web in its uts namespace" || bad "hostname"
st() { sed -n "s/^$1:[[:space:]]*//p" /proc/$GP/status; }
[ "$(st CapEff)" = 0000000000000000 ] && [ "$(st CapBnd)" = 0000000000000000 ] &&
	[ "$(st CapPrm)" = 0000000000000000 ] && ok "no capabilities (eff, prm, bounding)" ||
	bad "caps: eff $(st CapEff) bnd $(st CapBnd)"
[ "$(st NoNewPrivs)" = 1 ] && ok "no_new_privs" || bad "NoNewPrivs $(st NoNewPrivs)"
[ "$(st Seccomp)" = 2 ] && ok "seccomp filter mode" || bad "Seccomp $(st Seccomp)"
# pid 1 in its own pid namespace
[ "$(sed -n 's/^NSpid:[[:space:]]*//p' /proc/$GP/status | awk '{print $NF}')" = 1 ] &&
	ok "pid 1 of its pid namespace" || bad "NSpid"

# cgroup v2 limits
if [ -z "$CG" ]; then
	echo "SKIP (limits): no writable cgroup v2 hierarchy: $LIM"
else
	[ "$(sed -n 's/^0:://p' /proc/$GP/cgroup)" = "${CG#"$(findmnt -n -o TARGET -t cgroup2 | head -1)"}" ] &&
		ok "in its own cgroup $CG" || bad "cgroup membership $(cat /proc/$GP/cgroup)"
	if [ "$LIM" = applied ]; then
		[ "$(cat "$CG/memory.max")" = $((96 * 1024 * 1024)) ] && ok "memory.max 96 MiB" || bad "memory.max"
		[ "$(cat "$CG/cpu.max")" = "200000 100000" ] && ok "cpu.max 2 vcpus" || bad "cpu.max"
		[ "$(cat "$CG/pids.max")" = 1024 ] && ok "pids.max" || bad "pids.max"
	else
		echo "$LIM" | grep -q "controller not available" && [ ! -e "$CG/memory.max" ] &&
			echo "SKIP (limits): not applied, and reported: $LIM" || bad "limits not applied: $LIM"
	fi
fi

# vif: veth named like a vif in netdom's namespace, eth0 with web's MAC in the guest's.
[ "$VIF" = vif2.0 ] && ok "vif named vif2.0 (web is the second guest)" || bad "vif name '$VIF'"
ip -n $ND -d link show "$VIF" 2>/dev/null | grep -q veth && ok "veth $VIF in netdom's namespace" ||
	bad "no $VIF in $ND"
nsenter -t "$GP" -n ip -d link show eth0 2>/dev/null | grep -q "link/ether 00:16:3e:0a:01:0a" &&
	ok "eth0 with web's MAC in the guest's namespace" || bad "guest eth0"
ip link show "$VIF" >/dev/null 2>&1 && bad "$VIF appeared in our namespace" || ok "nothing in our namespace"

[ "$(st Seccomp_filters)" = 1 ] && ok "one seccomp filter installed" || bad "Seccomp_filters $(st Seccomp_filters)"
[ "$(st Uid | awk '{print $1 $2 $3 $4}')" = 65534655346553465534 ] &&
	[ "$(st Gid | awk '{print $1 $2 $3 $4}')" = 65534655346553465534 ] && [ -z "$(st Groups)" ] &&
	ok "runs as nobody:nogroup, no supplementary groups" || bad "ids: $(st Uid) / $(st Gid) / $(st Groups)"

# Stop: nothing left.
exec 8>&-
for _ in $(seq 50); do grep -q '^stopped' "$TMP/out" && break; sleep 0.1; done
grep -q '^stopped' "$TMP/out" && ok "stopped" || bad "stop: $(cat "$TMP/err")"
wait $HPID; HPID=
[ -e /proc/$GP ] && bad "guest process $GP still exists" || ok "guest process gone"
pgrep -f "$MARK" >/dev/null && bad "a process of the guest survived" || ok "no guest process left"
ip -n $ND link show "$VIF" >/dev/null 2>&1 && bad "$VIF left in netdom's namespace" || ok "veth gone"
[ -n "$CG" ] && { [ -e "$CG" ] && bad "cgroup $CG left" || ok "cgroup removed"; }
[ -n "$CG" ] && { [ -e "$(dirname "$CG")" ] && bad "cgroup parent left" || ok "bulkhead.<pid>/ cgroup removed"; }

echo "$fails failure(s)"
[ $fails = 0 ]
