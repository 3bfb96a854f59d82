/* SPDX-License-Identifier: MIT */
/*
 * A guest's endpoints on the host platform (DESIGN.md section 4): the unix
 * sockets its service domains serve for it (stordom's NBD socket per volume,
 * vtpm's swtpm data and control sockets), bind-mounted one by one into a
 * private tmpfs at BH_GUEST_ENDPOINT_DIR in the guest's own mount namespace.
 * The service domains' directories are root-only (0700): a guest reaches
 * exactly the sockets bound into its namespace, and no other guest's.
 *
 * A restarted service makes new socket inodes; dom0 then replaces the bind
 * inside the running guest's namespace: a detached copy of the new socket's
 * mount (open_tree) taken in dom0's namespace, attached (move_mount) after
 * joining the guest's mount namespace, in a short-lived child (setns into a
 * mount namespace needs a single-threaded caller).
 */
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "dom0.h"

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

static int target_path(const struct bh_host_bind *b, char *out, size_t len)
{
	if ((size_t)snprintf(out, len, "%s/%s", BH_GUEST_ENDPOINT_DIR, b->name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* An empty file to mount on. */
static int make_mountpoint(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int bh_mount_endpoints(const struct bh_host_bind *b, size_t n)
{
	char path[PATH_MAX];
	int tree[BH_HOST_BINDS_MAX];
	int r = 0;

	if (n > BH_HOST_BINDS_MAX)
		return -E2BIG;
	/* Take the sources before the tmpfs could hide them. */
	for (size_t i = 0; i < n; i++) {
		tree[i] = (int)syscall(SYS_open_tree, AT_FDCWD, b[i].src,
				       OPEN_TREE_CLONE | O_CLOEXEC);
		if (tree[i] < 0)
			return -errno;
	}
	if (mount("tmpfs", BH_GUEST_ENDPOINT_DIR, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0755,size=64k") < 0)
		return -errno;
	for (size_t i = 0; i < n && r == 0; i++) {
		r = target_path(&b[i], path, sizeof(path));
		if (r == 0)
			r = make_mountpoint(path);
		if (r == 0 && syscall(SYS_move_mount, tree[i], "", AT_FDCWD, path,
				      MOVE_MOUNT_F_EMPTY_PATH) < 0)
			r = -errno;
	}
	for (size_t i = 0; i < n; i++)
		close(tree[i]);
	return r;
}

static _Noreturn void rebind_child(int pidfd, int tree, const char *path)
{
	if (setns(pidfd, CLONE_NEWNS) < 0)
		_exit(1);
	umount2(path, MNT_DETACH); /* the old socket's bind; may already be gone */
	if (syscall(SYS_move_mount, tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		_exit(2);
	_exit(0);
}

int bh_mount_rebind(int pidfd, const struct bh_host_bind *b)
{
	char path[PATH_MAX];
	_cleanup_close_ int tree = -1;
	int status = 0, r = target_path(b, path, sizeof(path));
	pid_t pid;

	if (r < 0)
		return r;
	tree = (int)syscall(SYS_open_tree, AT_FDCWD, b->src, OPEN_TREE_CLONE | O_CLOEXEC);
	if (tree < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		rebind_child(pidfd, tree, path);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}
