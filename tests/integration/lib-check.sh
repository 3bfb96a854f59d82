# SPDX-License-Identifier: MIT
#
# Sourced by the integration tests: how a check reports. ok/bad print one
# line each (bad counts into $fails, which the test turns into its exit
# status); check/check_fails run a command (its output kept in $TMP/out and
# shown when the result is not the expected one); fails_saying also wants the
# failure to say PATTERN.

fails=0

ok() { echo "ok: $* [${SECONDS}s]"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# check WHAT CMD...: CMD must succeed.
check() {
	local what=$1
	shift
	if "$@" >"$TMP/out" 2>&1; then ok "$what"; else bad "$what"; cat "$TMP/out"; fi
}

# check_fails WHAT CMD...: CMD must fail.
check_fails() {
	local what=$1
	shift
	if "$@" >"$TMP/out" 2>&1; then bad "$what (succeeded)"; cat "$TMP/out"; else ok "$what"; fi
}

# fails_saying WHAT PATTERN CMD...: CMD must fail and say PATTERN.
fails_saying() {
	local what=$1 pat=$2
	shift 2
	if "$@" >"$TMP/out" 2>&1; then
		bad "$what (succeeded)"
		cat "$TMP/out"
	elif grep -qF -- "$pat" "$TMP/out"; then
		ok "$what: $(grep -F -- "$pat" "$TMP/out" | head -1 | cut -c1-160)"
	else
		bad "$what (no '$pat')"
		cat "$TMP/out"
	fi
}
