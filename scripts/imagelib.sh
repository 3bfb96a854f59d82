# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Building blocks for domain initramfs images, sourced by scripts/mkimages.sh
# (`make images`) and tests/nested/mkimages.sh (`make check-xen`): one copy
# of the library closure, module order and cpio logic.
#
# Everything comes from the Debian tree scripts/fetch-debs.sh unpacked (ROOT):
# busybox, glibc and every other library, the kernel and its modules. Nothing
# is taken from the host except our own programs, which the caller names.
#
#   img_init ROOT            before anything else; sets img_root, img_kver
#   img_base DST             the skeleton: dirs, busybox, /bin/sh, lib links
#   img_modules DST NAME...  modules with their dependencies, DST/modules/order
#   img_libs DST ELF...      the exact shared-library closure of ELF files
#   img_programs DST PATH... programs of the Debian tree (absolute paths in it)
#   img_xenstore DST VERB... xenstore-VERB links to the multi-call xenstore
#   img_kernel DIR           DIR/vmlinux (ELF) and DIR/vmlinuz (gzipped ELF)
#   img_cpio DIR OUT         a reproducible newc archive of DIR
#
# Reproducible output: every archive lists its entries sorted (LC_ALL=C),
# with uid/gid 0, modes normalised (0755 directories and executables, 0644
# other files, whatever the umask), mtimes SOURCE_DATE_EPOCH (0 if unset) and
# device-independent inode numbers; gzip runs with -n (no name, no time).

img_die() {
	echo "images: $*" >&2
	exit 1
}

img_init() {
	img_root=$(realpath "${1:?img_init ROOT}")
	[ -e "$img_root/.complete" ] || img_die "$img_root is not an unpacked tree (scripts/fetch-debs.sh)"
	img_kver=$(sed -n 1p "$img_root/.kernel-package")
	img_kver=${img_kver#linux-image-}
	[ -d "$img_root/lib/modules/$img_kver" ] || img_die "no modules for kernel $img_kver"
	img_libpath=$img_root/lib/x86_64-linux-gnu:$img_root/usr/lib/x86_64-linux-gnu
	img_ldso=$img_root/lib64/ld-linux-x86-64.so.2
	img_epoch=${SOURCE_DATE_EPOCH:-0}
	# Module name (dashes as underscores) -> .ko path, sorted so that the
	# same tree always gives the same map.
	declare -gA img_ko_path=()
	local n f
	while read -r n f; do
		n=${n%.ko}
		img_ko_path[${n//-/_}]=$f
	done < <(find "$img_root/lib/modules/$img_kver" -name '*.ko' -printf '%f %p\n' | LC_ALL=C sort)
	img_modinfo_tmp=$(mktemp)
	trap 'rm -f "$img_modinfo_tmp"' EXIT
}

# The skeleton every image shares. Debian's merged /usr: /lib and /lib64 are
# links, so the paths baked into binaries (the ELF interpreter
# /lib64/ld-linux-x86-64.so.2) resolve. /init makes the busybox applet links
# itself (`busybox --install -s`), one process at boot instead of hundreds
# of links here.
img_base() {
	local dst=$1
	mkdir -p "$dst"/{proc,sys,dev,run,tmp,var,etc,usr/lib/x86_64-linux-gnu,usr/lib64}
	mkdir -p "$dst"/{bin,sbin,usr/bin,usr/sbin}
	ln -s usr/lib "$dst/lib"
	ln -s usr/lib64 "$dst/lib64"
	install -m 0755 "$img_root/bin/busybox" "$dst/bin/busybox"
	ln -s busybox "$dst/bin/sh"
}

# Kernel modules by name, in an order that loads each after what it depends
# on (the "depends=" and "softdep=pre:" of its .modinfo, followed
# recursively): DST/modules/*.ko and DST/modules/order, which /init reads.
# The domains have no modprobe, so nothing is loaded on demand: a module
# whose init asks for another (libcrc32c, ext4 and jbd2 want the "crc32c"
# crypto algorithm) must name it as a soft dependency. Soft dependencies
# that are aliases, not module names, are mapped here.
declare -A img_soft_alias=([crc32c]=crc32c_generic [crypto_crc32c]=crc32c_generic)

img_module_deps() {
	objcopy -O binary --only-section=.modinfo "$1" "$img_modinfo_tmp"
	tr '\0' '\n' <"$img_modinfo_tmp" |
		sed -n 's/^depends=//p; s/^softdep=pre: *\([^:]*\)\( post:.*\)\{0,1\}$/\1/p' | tr ',' ' '
}

img_resolve_module() {
	local n=${1//-/_} f d
	n=${img_soft_alias[$n]:-$n}
	[ -z "${img_mod_seen[$n]:-}" ] || return 0
	img_mod_seen[$n]=1
	f=${img_ko_path[$n]:-}
	[ -n "$f" ] || img_die "module $1 not found under $img_root/lib/modules/$img_kver"
	for d in $(img_module_deps "$f"); do
		img_resolve_module "$d"
	done
	img_mod_order+=("$f")
}

img_modules() {
	local dst=$1 f
	shift
	declare -gA img_mod_seen=()
	img_mod_order=()
	# Modules already in the image (an earlier call) are not added twice.
	if [ -e "$dst/modules/order" ]; then
		while read -r f; do
			f=${f%.ko}
			img_mod_seen[${f//-/_}]=1
		done <"$dst/modules/order"
	fi
	for f in "$@"; do
		img_resolve_module "$f"
	done
	mkdir -p "$dst/modules"
	for f in "${img_mod_order[@]}"; do
		install -m 0644 "$f" "$dst/modules/"
		echo "${f##*/}" >>"$dst/modules/order"
	done
}

# The exact closure of shared libraries of the ELF files given, listed by the
# tree's own dynamic loader (ld.so --list) with only the tree on its library
# path; every library, glibc's included, must resolve inside the tree. Fails
# on any miss. Installs the tree's loader too.
img_libs() {
	local dst=$1 f closure soname path real
	shift
	closure=$(for f in "$@"; do
		"$img_ldso" --library-path "$img_libpath" --list "$f" ||
			img_die "cannot list the libraries of $f"
	done | awk '/=>/ { print $1, $3 }' | LC_ALL=C sort -u)
	if grep -q ' not$' <<<"$closure"; then
		img_die "unresolved libraries: $(grep ' not$' <<<"$closure" | tr '\n' ' ')"
	fi
	while read -r soname path; do
		# The loader, by its absolute path: the tree's is installed below.
		case $soname in '' | */*) continue ;; esac
		real=$(realpath "$path")
		case $real in
		"$img_root"/*) ;;
		*) img_die "$soname would come from the host ($real): add its package to scripts/fetch-debs.sh" ;;
		esac
		install -m 0644 "$real" "$dst/usr/lib/x86_64-linux-gnu/$soname"
	done <<<"$closure"
	install -m 0755 "$(realpath "$img_ldso")" "$dst/usr/lib64/ld-linux-x86-64.so.2"
	# glibc dlopens libgcc_s for pthread_cancel/unwinding; xl aborts without it.
	install -m 0644 "$(realpath "$img_root/lib/x86_64-linux-gnu/libgcc_s.so.1")" \
		"$dst/usr/lib/x86_64-linux-gnu/libgcc_s.so.1"
}

# Install programs (absolute paths inside the unpacked tree) into DST at the
# same path, with their libraries.
img_programs() {
	local dst=$1 t files=()
	shift
	for t in "$@"; do
		install -D -m 0755 "$img_root$t" "$dst$t"
		files+=("$img_root$t")
	done
	img_libs "$dst" "${files[@]}"
}

# xenstore is one multi-call binary that acts on the name it is run by.
img_xenstore() {
	local dst=$1 t
	shift
	img_programs "$dst" /usr/bin/xenstore
	for t in "$@"; do
		ln -sf xenstore "$dst/usr/bin/xenstore-$t"
	done
}

# The kernel: DIR/vmlinux, the ELF pulled out of Debian's bzImage (it carries
# the kernel as one XZ stream after the setup code: find the stream's magic,
# inflate just that stream, check we got an ELF), and DIR/vmlinuz, that ELF
# gzipped. libxenguest (dom0) loads either into a PV domain; gzip is much
# cheaper to inflate than XZ, which matters under emulation. Redone only
# when the tree's kernel is newer.
img_kernel() {
	local dir=$1 vmlinuz=$img_root/boot/vmlinuz-$img_kver off
	mkdir -p "$dir"
	if [ -e "$dir/vmlinuz" ] && [ ! "$vmlinuz" -nt "$dir/vmlinuz" ]; then
		return 0
	fi
	off=$(LC_ALL=C grep -obUaP -m 1 '\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1 | sed -n 1p)
	[ -n "$off" ] || img_die "no XZ stream in $vmlinuz"
	# xz stops reading at the end of the stream: feed it through a process
	# substitution so the writer's SIGPIPE does not fail the pipeline.
	xz -dc --single-stream < <(tail -c +$((off + 1)) "$vmlinuz") >"$dir/vmlinux.tmp"
	readelf -h "$dir/vmlinux.tmp" >/dev/null || img_die "no ELF kernel in $vmlinuz"
	mv "$dir/vmlinux.tmp" "$dir/vmlinux"
	gzip -n -6 -c "$dir/vmlinux" >"$dir/vmlinuz.tmp"
	mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
}

img_cpio() {
	local src=$1 out=$2
	# Modes from the file type alone, not the umask or the source's modes.
	find "$src" -type d -exec chmod 0755 {} +
	find "$src" -type f -perm -u+x -exec chmod 0755 {} +
	find "$src" -type f ! -perm -u+x -exec chmod 0644 {} +
	find "$src" -exec touch -h -d "@$img_epoch" {} +
	(cd "$src" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet) >"$out.tmp"
	mv "$out.tmp" "$out"
}
