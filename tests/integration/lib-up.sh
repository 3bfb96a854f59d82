# SPDX-License-Identifier: MIT
#
# Sourced by the integration tests that run a whole topology with `bulkhead
# up` (test-up.sh, test-seal.sh): up_test_init NAME TOOL... checks for root
# and the tools (exit 77, SKIP, when one is missing), makes $TMP with the
# state dir $ST, management socket $SOCK and audit log $LOG, and on exit
# takes the topology down and removes $TMP. ok/bad count the results in $fails.

up_test_init() {
	local name=$1 t
	shift
	B=${BH_BUILD:-build}
	BH=${BH_BULKHEAD:-$B/bulkhead}
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
	for t in "$@"; do
		command -v "$t" >/dev/null || { echo "SKIP: $t missing (scripts/install-deps.sh)"; exit 77; }
	done
	TMP=$(mktemp -d "/tmp/bh-$name.XXXXXX")
	chmod 755 "$TMP"
	ST=$TMP/state
	SOCK=$ST/mgmt.sock
	LOG=$TMP/audit.jsonl
	fails=0
	PY=$(python3 -c 'import sys; print(sys.executable)')
	trap up_test_cleanup EXIT
}

up_test_cleanup() {
	[ -S "$SOCK" ] && "$BH" down --socket "$SOCK" >/dev/null 2>&1
	rm -rf "$TMP"
}

. "$(dirname "${BASH_SOURCE[0]}")/lib-check.sh"
