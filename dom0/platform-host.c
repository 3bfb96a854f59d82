/* SPDX-License-Identifier: MIT */
/*
 * The host platform's domains (DESIGN.md section 2): a domain is a process
 * tree in its own mount, pid, net, ipc and uts namespaces, started straight
 * into its own cgroup v2 (clone3 CLONE_INTO_CGROUP) when a writable cgroup v2
 * hierarchy exists, limited there by memory.max, cpu.max and pids.max where
 * the controllers are available, with every capability its role does not
 * need gone, running as nobody (the guest shares the host's file system: no
 * pivot_root yet), no_new_privs and a seccomp allow-list (common/sandbox.c).
 * A guest's vifs are veth pairs: "vif<k>.<n>" in netdom's network namespace,
 * "eth<n>" (with the configured MAC) in the guest's.
 *
 * Stopping kills the whole tree at once (cgroup.kill, else SIGKILL to its
 * pid 1, which takes the pid namespace with it), reaps it through its pidfd
 * and removes the cgroup; the namespaces, their mounts and the veth pairs
 * die with the last process in them.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <linux/sched.h>
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "bulkhead/sandbox.h"
#include "dom0.h"

#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
#define PIDS_DEFAULT 1024
#define BH_HOST_GUEST_UID 65534 /* nobody/nogroup */

void bh_host_dom_free(struct bh_host_dom *d)
{
	if (!d)
		return;
	if (d->pidfd >= 0)
		close(d->pidfd);
	free(d->cgroup);
	free(d);
}

static void note(struct bh_host_dom *d, const char *fmt, ...) _printf_(2, 3);

static void note(struct bh_host_dom *d, const char *fmt, ...)
{
	size_t used = strlen(d->limits_note);
	va_list ap;

	if (used && used + 2 < sizeof(d->limits_note))
		strcpy(d->limits_note + used, "; "), used += 2;
	va_start(ap, fmt);
	vsnprintf(d->limits_note + used, sizeof(d->limits_note) - used, fmt, ap);
	va_end(ap);
	d->limits_ok = false;
}

static int write_file(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	size_t len = strlen(val);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, len) != (ssize_t)len)
		return -errno;
	return 0;
}

/* "<cgroup2 mount><our own cgroup>" into @out, or -ENOENT without cgroup v2. */
static int own_cgroup(char *out, size_t len)
{
	_cleanup_fclose_ FILE *mi = fopen("/proc/self/mountinfo", "re");
	_cleanup_fclose_ FILE *cg = fopen("/proc/self/cgroup", "re");
	char line[4096], mnt[PATH_MAX] = "", rel[PATH_MAX] = "";

	while (mi && fgets(line, sizeof(line), mi)) {
		char *sep = strstr(line, " - cgroup2 ");

		if (sep && sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1)
			break;
		mnt[0] = '\0';
	}
	while (cg && fgets(line, sizeof(line), cg))
		if (bh_startswith(line, "0::") && sscanf(line + 3, "%4095s", rel) == 1)
			break;
	if (!mnt[0] || !rel[0])
		return -ENOENT;
	if ((size_t)snprintf(out, len, "%s%s", mnt, bh_streq(rel, "/") ? "" : rel) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Enable what controllers we can for the children of @dir; failures show later. */
static void enable_controllers(const char *dir)
{
	static const char *const ctl[] = { "+memory", "+cpu", "+pids", "+io" };

	for (size_t i = 0; i < BH_ARRAY_SIZE(ctl); i++)
		write_file(dir, "cgroup.subtree_control", ctl[i]);
}

static void set_limit(struct bh_host_dom *d, const char *file, const char *val)
{
	int r = write_file(d->cgroup, file, val);

	if (r == -ENOENT)
		note(d, "%s not set: controller not available in this cgroup v2 hierarchy", file);
	else if (r < 0)
		note(d, "%s not set: %s", file, strerror(-r));
}

static void apply_limits(struct bh_host_dom *d, const struct bh_domain *dom)
{
	char v[64];

	snprintf(v, sizeof(v), "%llu", (unsigned long long)dom->memory_mib << 20);
	set_limit(d, "memory.max", v);
	snprintf(v, sizeof(v), "%u 100000", (dom->vcpus ? dom->vcpus : 1) * 100000u);
	set_limit(d, "cpu.max", v);
	snprintf(v, sizeof(v), "%u", dom->pids_max ? dom->pids_max : PIDS_DEFAULT);
	set_limit(d, "pids.max", v);
}

/* Create bulkhead/<name> under our cgroup; its fd for CLONE_INTO_CGROUP, or -errno. */
static int make_cgroup(struct bh_host_dom *d, const struct bh_domain *dom)
{
	char own[PATH_MAX], base[PATH_MAX + 16];
	int r = own_cgroup(own, sizeof(own)), fd;

	if (r < 0) {
		note(d, "no limits: no cgroup v2 hierarchy");
		return r;
	}
	snprintf(base, sizeof(base), "%s/bulkhead", own);
	if (mkdir(base, 0755) < 0 && errno != EEXIST) {
		note(d, "no limits: cannot create %s: %s", base, strerror(errno));
		return -errno;
	}
	enable_controllers(own);
	enable_controllers(base);
	if (asprintf(&d->cgroup, "%s/%s", base, dom->name) < 0) {
		d->cgroup = NULL;
		return -ENOMEM;
	}
	if (mkdir(d->cgroup, 0755) < 0) {
		r = -errno;
		note(d, "no limits: cannot create %s: %s", d->cgroup, strerror(errno));
		free(d->cgroup);
		d->cgroup = NULL;
		return r;
	}
	apply_limits(d, dom);
	fd = open(d->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void remove_cgroup(struct bh_host_dom *d)
{
	char *slash;

	if (!d->cgroup)
		return;
	/* The last processes may take a moment to leave after the reap. */
	for (int i = 0; i < 100 && rmdir(d->cgroup) < 0 && errno == EBUSY; i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	slash = strrchr(d->cgroup, '/');
	*slash = '\0';
	rmdir(d->cgroup); /* bulkhead/, when this was its last domain */
	free(d->cgroup);
	d->cgroup = NULL;
}

/* Bring up a link inside the child's network namespace (lo, eth<n>). */
static void link_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
}

/*
 * pid 1 of the new namespaces: wait for dom0 to finish wiring (one byte on
 * @sync; EOF means give up), make its mounts private with its own /proc,
 * name its host, enter the sandbox, and become the configured command.
 */
static _Noreturn void child(const struct bh_domain *dom, int sync)
{
	char go = 0;

	if (read(sync, &go, 1) != 1 || go != 'g')
		_exit(126);
	close(sync);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
	    sethostname(dom->name, strlen(dom->name)) < 0)
		_exit(125);
	link_up("lo");
	for (unsigned i = 0; i < dom->n_vifs && i < BH_HOST_VIFS_MAX; i++) {
		char ifname[IFNAMSIZ];

		snprintf(ifname, sizeof(ifname), "eth%u", i);
		link_up(ifname);
	}
	/* A guest sees the host's files: it must not own them as root. */
	if (bh_sandbox_setuid(BH_HOST_GUEST_UID, BH_HOST_GUEST_UID) < 0 ||
	    bh_sandbox_enter(BH_SANDBOX_GUEST) < 0)
		_exit(124);
	execl("/bin/sh", "sh", "-c", dom->host_cmd, (char *)NULL);
	_exit(127);
}

static int make_vifs(struct bh_host_dom *d, const struct bh_topology *t,
		     const struct bh_domain *dom, const struct bh_host_opts *o)
{
	_cleanup_close_ int nsfd = -1;

	if (dom->n_vifs == 0)
		return 0;
	if (!o || !o->netdom_netns)
		return -ENONET;
	nsfd = open(o->netdom_netns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return -errno;
	for (unsigned i = 0; i < dom->n_vifs && i < BH_HOST_VIFS_MAX; i++) {
		char guest_if[IFNAMSIZ];
		int r;

		bh_vif_ifname(t, dom, i, d->vifs[i], sizeof(d->vifs[i]));
		snprintf(guest_if, sizeof(guest_if), "eth%u", i);
		r = bh_host_veth_create(d->vifs[i], nsfd, guest_if, d->pid,
					dom->vifs[i].has_mac ? dom->vifs[i].mac : NULL);
		if (r < 0)
			return r;
		d->n_vifs++;
	}
	return 0;
}

static int clone_into(int cgfd, int *ret_pidfd)
{
	struct clone_args ca = {
		.flags = NS_FLAGS | CLONE_PIDFD | (cgfd >= 0 ? CLONE_INTO_CGROUP : 0),
		.pidfd = (uint64_t)(uintptr_t)ret_pidfd,
		.exit_signal = SIGCHLD,
		.cgroup = cgfd >= 0 ? (uint64_t)cgfd : 0,
	};
	long pid = syscall(SYS_clone3, &ca, sizeof(ca));

	return pid < 0 ? -errno : (int)pid;
}

int bh_host_spawn(const struct bh_topology *t, const struct bh_domain *dom,
		  const struct bh_host_opts *o, struct bh_host_dom **ret)
{
	struct bh_host_dom *d = calloc(1, sizeof(*d));
	_cleanup_close_ int cgfd = -1;
	int sv[2], r;

	if (!d)
		return -ENOMEM;
	if (dom->role != BH_DOM_GUEST || !dom->host_cmd) {
		free(d);
		return -EOPNOTSUPP; /* service domains start with their daemons (not yet) */
	}
	d->pidfd = -1;
	d->limits_ok = true;
	snprintf(d->name, sizeof(d->name), "%s", dom->name);
	cgfd = make_cgroup(d, dom);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		goto fail;
	}
	r = clone_into(cgfd, &d->pidfd);
	if (r == 0) {
		close(sv[0]);
		child(dom, sv[1]);
	}
	close(sv[1]);
	if (r > 0) {
		d->pid = r;
		r = make_vifs(d, t, dom, o);
		if (r == 0 && write(sv[0], "g", 1) != 1)
			r = -EPIPE;
	}
	close(sv[0]);
	if (r < 0)
		goto fail;
	*ret = d;
	return 0;
fail:
	bh_host_stop(d);
	bh_host_dom_free(d);
	return r;
}

int bh_host_stop(struct bh_host_dom *d)
{
	siginfo_t si;
	int r = 0;

	if (d->pid > 0) {
		if (!d->cgroup || write_file(d->cgroup, "cgroup.kill", "1") < 0)
			if (syscall(SYS_pidfd_send_signal, d->pidfd, SIGKILL, NULL, 0) < 0)
				r = -errno;
		if (waitid(P_PIDFD, (id_t)d->pidfd, &si, WEXITED) < 0 && r == 0)
			r = -errno;
		d->pid = 0;
	}
	remove_cgroup(d);
	return r;
}
