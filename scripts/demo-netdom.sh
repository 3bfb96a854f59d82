#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make demo, netdom part: configs/demo's network policy as bulkhead exports it
# and, as root, netdomd enforcing it in a scratch network namespace (created
# here, removed on exit; the host's own interfaces and ruleset are untouched).
set -eu
B=${1:-build}
TMP=$(mktemp -d)
NS=bhdemo$$
cleanup() { ip netns del $NS 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

echo "netdom: bulkhead policy-export configs/demo"
$B/bulkhead policy-export --generation 1 configs/demo $TMP/demo.policy
echo "  $(stat -c %s $TMP/demo.policy) bytes of POLICY_* messages for netdomd"
if [ "$(id -u)" != 0 ] || ! command -v nft >/dev/null || ! command -v ip >/dev/null; then
	echo "  (as root, netdomd would now enforce it in a scratch namespace)"
	exit 0
fi
ip netns add $NS
$B/netdomd --netns $NS --policy $TMP/demo.policy
echo "netdom: table inet bulkhead in force (nft list chain forward, map allow-guest-guest):"
ip netns exec $NS nft list chain inet bulkhead forward | sed 's/^/  /'
ip netns exec $NS nft list map inet bulkhead allow-guest-guest | sed 's/^/  /'
