# SPDX-License-Identifier: MIT
#
# netdom's vif hotplug agent, sourced (not run) by the netdom domain's /init,
# images/init-service.sh (the shipped image, which the nested test boots too),
# from /lib/bulkhead/netdom-vif.sh.
# busybox sh, ip and awk, and xenstore-ls/-read/-write/-rm/-watch.
#
# netdom is the backend of the guests' vifs: xen-netback creates them in
# this domain, and nothing else here would do what `xl devd` and Xen's
# vif-route script do in a driver domain. vif_agent GATEWAYS (comma-
# separated ADDR/LEN, the kernel command line's bh_gw=, from netdom.cfg's
# bh_gateway) turns forwarding on and then follows backend/vif in this
# domain's xenstore home for good; for each backend/vif/<domid>/<devid>:
#
#   new (online 1, no hotplug-status yet, netback made vif<domid>.<devid>):
#     rename the interface to the backend's vifname when dom0 set one (the
#     name netdomd's policy uses for the guest: `iifname . ip saddr`
#     anti-spoofing, per-vif zones), bring it up, give it every gateway as a
#     host address (/32, /128), route each of the guest's addresses (the
#     backend's ip, from the config's vif ip=) to it, then write
#     hotplug-status = connected, which netback waits for before it
#     connects the guest's netfront.
#   closed (state 6 and online 0: dom0 is removing it, its guest was
#     destroyed): remove its backend directory, as xl devd does. netback
#     then frees the interface (its routes go with it), and dom0's libxl,
#     which waits for that removal before it finishes destroying the guest
#     (up to 10 s, then it gives up and leaves the directory behind), goes
#     on at once.
#
# One xenstore-ls per look at the tree and busybox's ip (no exec of a
# dynamically linked program per step): each exec costs under emulation.

vif_log() {
	echo "netdom-vif: $*"
}

# One line per backend vif: DOMID DEVID STATE ONLINE CONNECTED VIFNAME IPS...
# (VIFNAME "-" when dom0 set none; CONNECTED 1 once hotplug-status says so).
vif_list() {
	xenstore-ls -f backend/vif 2>/dev/null | awk '
		{
			n = split($1, p, "/")
			if (n != 5 || $2 != "=")
				next
			k = p[3] " " p[4]
			if (!(k in seen)) {
				seen[k] = 1
				order[++cnt] = k
			}
			v = $0
			sub(/^[^=]*= "/, "", v)
			sub(/"$/, "", v)
			val[k, p[5]] = v
		}
		END {
			for (i = 1; i <= cnt; i++) {
				k = order[i]
				name = val[k, "vifname"] == "" ? "-" : val[k, "vifname"]
				print k, val[k, "state"] + 0, val[k, "online"] + 0,
					val[k, "hotplug-status"] == "connected" ? 1 : 0, name, val[k, "ip"]
			}
		}'
}

# vif_up DOMID DEVID VIFNAME IPS...: set up the new vif, then tell netback.
vif_up() {
	be=backend/vif/$1/$2 dev=vif$1.$2 name=$3
	shift 3
	[ "$name" = - ] && name=$dev
	if [ -e "/sys/class/net/$dev" ]; then
		if [ "$name" != "$dev" ]; then
			ip link set dev "$dev" name "$name" || { vif_log "vif $dev: cannot rename to $name"; return 1; }
		fi
	elif [ ! -e "/sys/class/net/$name" ]; then
		return 0 # netback has not made it yet: the next change of the tree
	fi
	ip link set dev "$name" up || return 1
	for gw in $(echo "$vif_gateways" | tr ',' ' '); do
		case $gw in
		*:*) ip addr add "${gw%/*}/128" dev "$name" 2>/dev/null ;;
		*) ip addr add "${gw%/*}/32" dev "$name" 2>/dev/null ;;
		esac
	done
	for a in "$@"; do
		ip route replace "$a" dev "$name" || vif_log "vif $name: no route to $a"
	done
	xenstore-write "$be/hotplug-status" connected || return 1
	vif_log "vif $name up (guest addresses: $*)"
}

# vif_remove DOMID DEVID: dom0 closed it; drop its backend directory (and the
# guest's, once empty).
vif_remove() {
	xenstore-rm "backend/vif/$1/$2" || return 1
	[ -n "$(xenstore-list "backend/vif/$1" 2>/dev/null)" ] || xenstore-rm "backend/vif/$1" 2>/dev/null
	vif_log "vif of domain $1 (devid $2) removed"
}

vif_scan() {
	vif_list >/run/netdom-vifs
	# shellcheck disable=SC2086 # the guest's addresses: one word each
	while read -r dom dev state online connected name ips; do
		if [ "$state" = 6 ] && [ "$online" = 0 ]; then
			vif_remove "$dom" "$dev" || vif_log "vif $dom.$dev: removal failed"
		elif [ "$online" = 1 ] && [ "$connected" = 0 ] && [ "$state" -lt 5 ]; then
			vif_up "$dom" "$dev" "$name" $ips || vif_log "vif $dom.$dev: set-up failed"
		fi
	done </run/netdom-vifs
}

# vif_agent GATEWAYS: forwarding on, then serve the vifs for good. One
# xenstore-watch stays set: it fires once when set (the first scan) and then
# at each change below backend/vif, and the pipe keeps every event that
# comes during a scan, so none is missed. As in xl devd, only a change of a
# vif's state or online node (or the first firing) calls for a look; a
# burst of events (netback and libxl write a dozen nodes per vif) is read
# off the pipe at once and costs at most one scan: netdom shares the CPU
# with the domains it serves.
vif_event() {
	case $1 in
	*backend/vif | */state | */online) vif_due=1 ;;
	esac
}

vif_agent() {
	vif_gateways=$1
	echo 1 >/proc/sys/net/ipv4/ip_forward
	echo 1 >/proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null
	while :; do
		xenstore-watch backend/vif 2>/dev/null | while read -r path; do
			vif_due=0
			vif_event "$path"
			# shellcheck disable=SC3045 # busybox ash has read -t
			while read -r -t 0.3 path; do
				vif_event "$path"
			done
			[ $vif_due = 0 ] || vif_scan
		done
		vif_log "xenstore-watch ended; watching again"
		sleep 1
	done
}
