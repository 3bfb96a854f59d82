#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of bulkhead's test guest (busybox ash as PID 1), built into
# guest.cpio by `make images`: a small domain that uses the services the way
# a guest does, with standard clients (nbdinfo, nbdcopy, tpm2-tools) through
# Xen's vchan-socket-proxy.
#
# Kernel command line:
#   bh_cmd=WORD        run this command (no spaces: a path or one word)
#   bh_cmd64=BASE64    run the base64-decoded command (any shell text)
# The command runs as `/bin/sh -c CMD` once the endpoints below are up; its
# output goes to the console, and its exit status is written to this
# domain's data/bulkhead/cmd-status (readable by dom0) and printed as
# "bulkhead-guest: bh_cmd exited N". Without a command, or after it, the
# domain stays up (a shell loop) until it is shut down or destroyed.
#
# Endpoints: dom0 writes into this domain's own xenstore home, under
# data/bulkhead/, one node per service endpoint, "<backend domid> <xenstore
# path of the channel>" (e.g. disk0 = "3 /local/domain/3/data/bulkhead/nbd-web").
# For each, a vchan-socket-proxy client listens on /run/bulkhead/NAME.sock
# and connects the channel per accepted connection; a NAME ending in -ctrl
# gets /run/bulkhead/BASE.sock.ctrl instead, the control socket tpm2-tss's
# swtpm TCTI expects next to its data socket. When a `tpm` endpoint exists,
# TPM2TOOLS_TCTI points tpm2-tools at it. The endpoints present at boot are
# up before the command runs; later ones, and changed ones (dom0 rewrites
# an endpoint when the service domain behind it restarts), get a new proxy
# as they appear.
set -u

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
RUN=/run/bulkhead
PROXY=/usr/lib/xen-4.17/bin/vchan-socket-proxy

log() {
	echo "bulkhead-guest: $*"
}

# Socket path for endpoint NAME.
sock_for() {
	case $1 in
	*-ctrl) echo "$RUN/${1%-ctrl}.sock.ctrl" ;;
	*) echo "$RUN/$1.sock" ;;
	esac
}

# (Re)start the proxy of endpoint $1 for value $2 ("<domid> <path>") when
# the value changed since its proxy started: dom0 rewrites an endpoint when
# the service domain behind it restarts (new domid), and a proxy connects
# each accepted connection to the channel it was started with.
endpoint() {
	name=$1 val=$2 sock=$(sock_for "$1")
	[ "$(cat "$RUN/.$name.val" 2>/dev/null)" = "$val" ] && return 0
	if [ -e "$RUN/.$name.pid" ]; then
		kill "$(cat "$RUN/.$name.pid")" 2>/dev/null
		rm -f "$RUN/.$name.pid"
	fi
	rm -f "$sock"
	# shellcheck disable=SC2086 # "<domid> <path>" as two arguments
	"$PROXY" $val "$sock" >>"/run/proxy-$name.log" 2>&1 &
	echo $! >"$RUN/.$name.pid"
	echo "$val" >"$RUN/.$name.val"
	log "endpoint $name: domain ${val%% *} ${val#* } -> $sock"
}

# Every endpoint dom0 wrote: data/bulkhead/NAME = "<domid> <absolute path>".
scan_endpoints() {
	for name in $(xenstore-list data/bulkhead 2>/dev/null); do
		val=$(xenstore-read "data/bulkhead/$name" 2>/dev/null) || continue
		dom=${val%% *} path=${val#* }
		case $dom in '' | *[!0-9]*) continue ;; esac # not an endpoint (cmd-status)
		case $path in '' | *' '* | [!/]*) continue ;; esac
		endpoint "$name" "$val"
	done
}

# Follow the endpoints for the guest's lifetime. A watch fires once when it
# is set, so -n 2 returns at the first change after it; the timeout covers
# a change between the scan and the watch.
follow_endpoints() {
	while :; do
		timeout 30 xenstore-watch -n 2 data/bulkhead >/dev/null 2>&1
		scan_endpoints
	done
}

# Wait (at most 10 s in all) for the socket of every endpoint started.
wait_sockets() {
	n=100
	for f in "$RUN"/.*.val; do
		[ -e "$f" ] || continue
		name=${f#"$RUN"/.}
		sock=$(sock_for "${name%.val}")
		while [ ! -S "$sock" ] && [ $n -gt 0 ]; do
			sleep 0.1
			n=$((n - 1))
		done
		[ -S "$sock" ] || log "no socket at $sock"
	done
}

# ---- main ---------------------------------------------------------------------
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /tmp
ln -sf /run /var/run
hostname guest

cmd=""
# shellcheck disable=SC2013 # the command line's words
for w in $(cat /proc/cmdline); do
	case $w in
	bh_cmd=*) cmd=${w#bh_cmd=} ;;
	bh_cmd64=*) cmd=$(echo "${w#bh_cmd64=}" | base64 -d) || log "bh_cmd64 is not base64" ;;
	esac
done

while read -r m; do
	insmod "/modules/$m" || log "insmod $m failed"
done </modules/order

mkdir -p "$RUN"
scan_endpoints
follow_endpoints &
wait_sockets
if [ -S "$RUN/tpm.sock" ]; then
	export TPM2TOOLS_TCTI="swtpm:path=$RUN/tpm.sock"
fi
if [ -n "$cmd" ]; then
	log "running bh_cmd"
	/bin/sh -c "$cmd"
	rc=$?
	xenstore-write data/bulkhead/cmd-status "$rc" 2>/dev/null
	log "bh_cmd exited $rc"
fi
while :; do sleep 3600; done
