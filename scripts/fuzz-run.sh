#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Run each libFuzzer target for a while: fuzz-run.sh FUZZ_BUILD SECONDS NAME...
# New inputs go to FUZZ_BUILD/corpus/NAME (the seed corpus in tests/ is read,
# never written); a crash is saved as FUZZ_BUILD/crash-NAME-* and fails the run.
set -uo pipefail
dir=$1 secs=$2
shift 2
failed=0
for n in "$@"; do
	mkdir -p "$dir/corpus/$n"
	out=$("$dir/tests/fuzz/fuzz-$n" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$dir/crash-$n-" "$dir/corpus/$n" "tests/fuzz/corpus/$n" 2>&1)
	rc=$?
	execs=$(echo "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
	if [ $rc -eq 0 ]; then
		echo "fuzz-$n: ${secs} s, ${execs:-?} executions, no crash"
	else
		failed=1
		echo "fuzz-$n: FAILED after ${execs:-?} executions (exit $rc)"
		echo "$out" | grep -E 'ERROR|SUMMARY|Assertion|runtime error|Test unit written' | head -20
	fi
done
exit $failed
