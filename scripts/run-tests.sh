#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Run a list of tests, keep each one's output in $BH_BUILD/test-logs/, print
# one line per test and a closing "N passed, N failed" line; exit 1 if any
# test failed. Called by `make check-run`.
#
#   run-tests.sh VARIANT KIND:PATH[@ARG] ...
#     unit:BIN                 a CUnit executable
#     fuzz-replay:BIN@CORPUS   a fuzz target's replay main over a corpus dir
#     script:PATH              a shell test (gets BH_BUILD, BH_BULKHEAD)
#
# A test that prints "SKIP: reason" on its last line and exits 77 is counted
# as skipped, with the reason shown. Every test is bounded by BH_TEST_TIMEOUT
# seconds (default 600): a hang is a failure that says so, not a stuck CI.
set -u
variant=$1
shift
logdir=${BH_BUILD:-build}/test-logs
mkdir -p "$logdir"

pass=0 fail=0 skip=0
failed=()
start_all=$(date +%s)
for t in "$@"; do
	kind=${t%%:*}
	rest=${t#*:}
	arg=
	case $rest in *@*) arg=${rest#*@}; rest=${rest%%@*} ;; esac
	name=$(echo "$kind-${rest#"${BH_BUILD:-build}"/}" | tr '/' '_')
	log=$logdir/$name.log
	start=$(date +%s.%N)
	bound=(timeout -k 10 "${BH_TEST_TIMEOUT:-600}")
	case $kind in
	unit) "${bound[@]}" "$rest" >"$log" 2>&1 ;;
	fuzz-replay) "${bound[@]}" "$rest" "$arg" >"$log" 2>&1 ;;
	script) "${bound[@]}" bash "$rest" >"$log" 2>&1 ;;
	*) echo "run-tests: unknown kind '$kind'" >&2; exit 2 ;;
	esac
	rc=$?
	secs=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		summary=$(grep -E '^ +(asserts|tests) ' "$log" | awk '{print $1"="$4"/"$2}' | tr '\n' ' ')
		printf '  PASS  %-60s %5ss %s\n' "$kind:${rest#"${BH_BUILD:-build}"/}" "$secs" "$summary"
		# CUnit's own run summary, as it printed it.
		[ "$kind" = unit ] && sed -n '/^Run Summary:/,/^ *asserts/s/^/        /p' "$log"
	elif [ $rc -eq 77 ]; then
		skip=$((skip + 1))
		printf '  SKIP  %-60s %s\n' "$kind:$rest" "$(tail -n 1 "$log")"
	else
		[ $rc -eq 124 ] && echo "run-tests: timed out after ${BH_TEST_TIMEOUT:-600} s" >>"$log"
		fail=$((fail + 1))
		failed+=("$log")
		printf '  FAIL  %-60s %5ss (exit %d, log %s)\n' "$kind:$rest" "$secs" "$rc" "$log"
	fi
done

for log in "${failed[@]}"; do
	echo "---- $log (last 40 lines) ----"
	tail -n 40 "$log"
done
echo "[$variant] $(($(date +%s) - start_all)) s"
echo "$variant: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
