/* SPDX-License-Identifier: MIT */
/*
 * A service domain's own root (pivot_root): a fresh tmpfs holding only what
 * its daemon needs, each at the path it has on the host so the daemon's
 * arguments stay valid: /usr and the merged-/usr links (or read-only binds
 * where /bin, /lib... are real directories), /etc/ld.so.cache, /dev/null,
 * /dev/zero, /dev/random, /dev/urandom, a new /proc, and the binds dom0
 * lists for its role (its daemons directory read-only, its run directory,
 * its state, its key files). The host's other files, the other services'
 * state and every guest's files are not in its mount namespace at all.
 * Runs in the domain's pid 1 before the sandbox, as root in a new mount
 * namespace whose mounts are already private.
 */
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "dom0.h"

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];

	if (bh_fmt(tmp, sizeof(tmp), "%s", path) < 0)
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* The mount point for @src at @dst: a directory, or an empty file. */
static int mountpoint(const char *src, const char *dst)
{
	struct stat st;
	char parent[PATH_MAX];
	char *slash;
	int fd;

	if (stat(src, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return mkdir_p(dst);
	if (bh_fmt(parent, sizeof(parent), "%s", dst) < 0)
		return -ENAMETOOLONG;
	slash = strrchr(parent, '/');
	*slash = '\0';
	if (parent[0] && mkdir_p(parent) < 0)
		return -errno;
	fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int bind(const char *root, const struct bh_host_mnt *m)
{
	char dst[PATH_MAX];
	unsigned long ro = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV;
	int r = bh_fmt(dst, sizeof(dst), "%s%s", root, m->path);

	if (r == 0)
		r = mountpoint(m->path, dst);
	if (r < 0)
		return m->optional ? 0 : r;
	if (mount(m->path, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return -errno;
	if (m->readonly && mount(NULL, dst, NULL, ro, NULL) < 0)
		return -errno;
	return 0;
}

/* /bin, /lib...: the same symlink as on the host (merged /usr), or a read-only bind. */
static int top_level(const char *root, const char *name)
{
	char host[64], dst[PATH_MAX], target[PATH_MAX];
	struct bh_host_mnt m = { .path = host, .readonly = true };
	struct stat st;
	ssize_t n;

	bh_fmt(host, sizeof(host), "/%s", name);
	if (lstat(host, &st) < 0)
		return 0;
	if (!S_ISLNK(st.st_mode))
		return S_ISDIR(st.st_mode) ? bind(root, &m) : 0;
	n = readlink(host, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	if (bh_fmt(dst, sizeof(dst), "%s%s", root, host) < 0)
		return -ENAMETOOLONG;
	return symlink(target, dst) < 0 ? -errno : 0;
}

static int base(const char *root)
{
	static const char *const links[] = { "bin", "sbin", "lib", "lib32", "lib64", "libx32" };
	static const struct bh_host_mnt mnts[] = {
		{ "/usr", true, false },
		{ "/etc/ld.so.cache", true, true },
		{ "/etc/ssl", true, true },
		{ "/dev/null", false, false },
		{ "/dev/zero", false, false },
		{ "/dev/random", false, false },
		{ "/dev/urandom", false, false },
	};
	char path[PATH_MAX];
	int r = 0;

	for (size_t i = 0; r == 0 && i < BH_ARRAY_SIZE(links); i++)
		r = top_level(root, links[i]);
	for (size_t i = 0; r == 0 && i < BH_ARRAY_SIZE(mnts); i++)
		r = bind(root, &mnts[i]);
	/* libcryptsetup's lock directory, private to this domain. */
	if (r == 0 && bh_fmt(path, sizeof(path), "%s/run/cryptsetup", root) == 0)
		r = mkdir_p(path);
	if (r == 0 && bh_fmt(path, sizeof(path), "%s/proc", root) == 0)
		r = mkdir_p(path);
	if (r == 0 && bh_fmt(path, sizeof(path), "%s/tmp", root) == 0)
		r = mkdir_p(path);
	return r;
}

int bh_host_pivot_root(const char *root, const struct bh_host_mnt *mnts, size_t n)
{
	char old[PATH_MAX];
	int r;

	if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
		return -errno;
	r = base(root);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = bind(root, &mnts[i]);
	if (r < 0)
		return r;
	if (bh_fmt(old, sizeof(old), "%s/.old", root) < 0 || mkdir(old, 0700) < 0)
		return -errno;
	if (syscall(SYS_pivot_root, root, old) < 0 || chdir("/") < 0)
		return -errno;
	if (umount2("/.old", MNT_DETACH) < 0 || rmdir("/.old") < 0)
		return -errno;
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return -errno;
	return 0;
}
