#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The build contract: `make install` honours DESTDIR and PREFIX and puts the
# daemons in libexec/bulkhead; a missing pkg-config module makes the Makefile
# print the one apt-get line for a non-root user; the man pages render
# without groff warnings; each daemon's --help matches its man page; every
# config key is documented in bulkhead.cfg(5).
set -euo pipefail
cd "$(dirname "$0")/../.."
# Run make afresh, not as part of the make that runs this test.
unset MAKEFLAGS MAKELEVEL MFLAGS

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# 1. install into a staging root, with the build dir the suite uses.
O=${BH_BUILD:-build}
case $O in */san) make_args=(O="${O%/san}" SAN=address,undefined) ;; *) make_args=(O="$O") ;; esac
make --no-print-directory "${make_args[@]}" DESTDIR="$tmp/root" PREFIX=/opt/bh install >"$tmp/log" 2>&1 ||
	{ cat "$tmp/log"; fail "make install"; }
[ -x "$tmp/root/opt/bh/sbin/bulkhead" ] || fail "bulkhead not in PREFIX/sbin"
[ -f "$tmp/root/opt/bh/share/man/man5/bulkhead.cfg.5" ] || fail "bulkhead.cfg.5 not installed"
for page in bulkhead netdomd stordomd vtpmd; do
	[ -f "$tmp/root/opt/bh/share/man/man8/$page.8" ] || fail "$page.8 not installed"
done
[ -d "$tmp/root/opt/bh/libexec/bulkhead" ] || fail "libexec/bulkhead missing"
for d in netdom stordom vtpm; do
	if [ -f "$d/main.c" ]; then
		[ -x "$tmp/root/opt/bh/libexec/bulkhead/${d}d" ] || fail "${d}d not in libexec/bulkhead"
	fi
done
"$tmp/root/opt/bh/sbin/bulkhead" --help >/dev/null || fail "installed bulkhead --help"
echo "ok: install with DESTDIR and PREFIX"

# 2. a missing dependency, as a non-root user: the apt-get line, no build.
mkdir "$tmp/bin"
printf '#!/bin/sh\nexit 1\n' >"$tmp/bin/pkg-config"
printf '#!/bin/sh\necho 1000\n' >"$tmp/bin/id"
chmod +x "$tmp/bin/pkg-config" "$tmp/bin/id"
if PATH="$tmp/bin:$PATH" make --no-print-directory -n O="$tmp/o" all >"$tmp/log" 2>&1; then
	fail "make succeeded with pkg-config modules missing"
fi
grep -q 'missing build dependencies; as root run: apt-get install -y --no-install-recommends .*libxen-dev' \
	"$tmp/log" || { cat "$tmp/log"; fail "no apt-get line for a non-root user"; }
echo "ok: missing dependency prints the apt-get line"

# 3. man pages render cleanly.
for page in docs/*.[1-8]; do
	out=$(groff -man -Tutf8 -ww -z "$page" 2>&1) || fail "groff $page"
	[ -z "$out" ] || { echo "$out"; fail "groff warnings in $page"; }
done
echo "ok: man pages render without warnings"

# 4. every daemon: --help on stdout with exit 0, each long option it lists
#    documented in its man page, an unknown option exit 2 with the usage.
for d in netdomd stordomd vtpmd; do
	bin="$O/$d"
	[ -x "$bin" ] || continue
	help=$("$bin" --help) || fail "$d --help exit $?"
	grep -q "^usage: $d " <<<"$help" || fail "$d --help: no usage line"
	grep -q "See $d(8)" <<<"$help" || fail "$d --help does not point at $d(8)"
	page=$(groff -man -Tutf8 "docs/$d.8" 2>/dev/null | col -bx)
	for opt in $(grep -o -- '^ *--[a-z-]*' <<<"$help" | sort -u); do
		[ "$opt" = --help ] && continue
		grep -q -- "$opt" <<<"$page" || fail "$d: $opt in --help but not in $d(8)"
	done
	set +e
	"$bin" --no-such-option >/dev/null 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" = 2 ] || fail "$d --no-such-option: exit $rc, want 2"
	grep -q "^usage: $d " "$tmp/err" || fail "$d: no usage on stderr after a bad option"
done
echo "ok: daemons' --help, man pages and bad options"

# 5. every config key bulkhead reads (dom0/cfg-keys.c's table) has its entry
#    in bulkhead.cfg(5), as a .B/.BR/.I/.IR heading word.
keys=$(sed -n 's/^\t{ "\([a-z0-9_]*\)", BH_KEY_.*/\1/p' dom0/cfg-keys.c)
[ "$(wc -w <<<"$keys")" -ge 20 ] || fail "cannot read the key table in dom0/cfg-keys.c"
for k in $keys; do
	grep -Eq "^\.(B|BR|I|IR) (.*[^a-z0-9_])?$k([^a-z0-9_]|\$)" docs/bulkhead.cfg.5 ||
		fail "config key $k is not documented in bulkhead.cfg(5)"
done
echo "ok: every config key documented in bulkhead.cfg(5)"
