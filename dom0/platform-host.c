/* SPDX-License-Identifier: MIT */
/*
 * The host platform's domains (DESIGN.md section 2): a domain is a process
 * tree in its own mount, pid, net, ipc and uts namespaces, started straight
 * into its own cgroup v2 (clone3 CLONE_INTO_CGROUP) when a writable cgroup v2
 * hierarchy exists, limited there by memory.max, cpu.max and pids.max where
 * the controllers are available, with every capability its role does not
 * need gone, no_new_privs and a seccomp allow-list per role (common/sandbox.c).
 * A guest runs as nobody (it shares the host's file system: no pivot_root
 * yet) and finds its disk and TPM sockets, bound from the service domains,
 * in a private tmpfs at BH_GUEST_ENDPOINT_DIR (host-mount.c). A service
 * domain runs its daemon as root with only its role's capabilities (kept
 * across exec as ambient capabilities), fd 3 its control channel, in its
 * own root (pivot_root into a tmpfs holding only what it needs: host-root.c).
 * A guest's vifs are veth pairs: "vif<k>.<n>" in netdom's network namespace,
 * "eth<n>" (with the configured MAC and address) in the guest's, routed by
 * netdom (its gateway address on each vif, a host route to the guest).
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
#include <linux/close_range.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <poll.h>
#include <sched.h>
#include <time.h>

#include "bulkhead/log.h"

#include "bulkhead/sandbox.h"
#include "dom0.h"

#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
#define PIDS_DEFAULT 1024
#define BH_HOST_GUEST_UID 65534 /* nobody/nogroup */

void bh_host_dom_free(struct bh_pdom *d)
{
	if (!d)
		return;
	if (d->exit_fd >= 0)
		close(d->exit_fd);
	free(d->cgroup);
	free(d);
}

static void note(struct bh_pdom *d, const char *fmt, ...) _printf_(2, 3);

static void note(struct bh_pdom *d, const char *fmt, ...)
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

static void set_limit(struct bh_pdom *d, const char *file, const char *val)
{
	int r = write_file(d->cgroup, file, val);

	if (r == -ENOENT)
		note(d, "%s not set: controller not available in this cgroup v2 hierarchy", file);
	else if (r < 0)
		note(d, "%s not set: %s", file, strerror(-r));
}

/* bh_io_max on the block device that holds @path ("MAJ:MIN rbps=..."). */
static void apply_io(struct bh_pdom *d, const struct bh_domain *dom, const char *path)
{
	char v[320];
	struct stat st;

	if (!dom->io_max)
		return;
	if (!path || stat(path, &st) < 0 || major(st.st_dev) == 0) {
		note(d, "io.max not set: %s is not on a block device", path ? path : "(no path)");
		return;
	}
	snprintf(v, sizeof(v), "%u:%u %s", major(st.st_dev), minor(st.st_dev), dom->io_max);
	set_limit(d, "io.max", v);
}

static void apply_limits(struct bh_pdom *d, const struct bh_domain *dom, const char *io_path)
{
	char v[64];

	snprintf(v, sizeof(v), "%llu", (unsigned long long)dom->memory_mib << 20);
	set_limit(d, "memory.max", v);
	snprintf(v, sizeof(v), "%u 100000", (dom->vcpus ? dom->vcpus : 1) * 100000u);
	set_limit(d, "cpu.max", v);
	snprintf(v, sizeof(v), "%u", dom->pids_max ? dom->pids_max : PIDS_DEFAULT);
	set_limit(d, "pids.max", v);
	apply_io(d, dom, io_path);
}

/*
 * Create bulkhead.<our pid>/<name> under our cgroup; its fd for
 * CLONE_INTO_CGROUP, or -errno. The supervisor's pid in the name keeps two
 * topologies (or two runs of one) on a host from taking each other's cgroups.
 */
static int make_cgroup(struct bh_pdom *d, const struct bh_domain *dom, const char *io_path)
{
	char own[PATH_MAX], base[PATH_MAX + 32];
	int r = own_cgroup(own, sizeof(own)), fd;

	if (r < 0) {
		note(d, "no limits: no cgroup v2 hierarchy");
		return r;
	}
	snprintf(base, sizeof(base), "%s/bulkhead.%d", own, (int)getpid());
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
	apply_limits(d, dom, io_path);
	fd = open(d->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void remove_cgroup(struct bh_pdom *d)
{
	char *slash;

	if (!d->cgroup)
		return;
	/* The last processes may take a moment to leave after the reap. */
	for (int i = 0; i < 100 && rmdir(d->cgroup) < 0 && errno == EBUSY; i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	slash = strrchr(d->cgroup, '/');
	*slash = '\0';
	rmdir(d->cgroup); /* bulkhead.<pid>/, when this was its last domain */
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

/* What a guest's eth<n> gets: its first address, on its gateway's network. */
struct vif_net {
	bool set;
	struct bh_prefix addr, gw;
};

static void vif_nets(const struct bh_topology *t, const struct bh_domain *dom,
		     struct vif_net out[BH_HOST_VIFS_MAX])
{
	for (size_t i = 0; i < dom->n_vifs && i < BH_HOST_VIFS_MAX; i++) {
		const struct bh_vif *v = &dom->vifs[i];
		const struct bh_prefix *gw = v->n_ips ? bh_net_gateway_for(t, &v->ips[0]) : NULL;

		out[i].set = gw != NULL;
		if (!gw)
			continue;
		out[i].addr = v->ips[0];
		out[i].addr.len = gw->len;
		out[i].gw = *gw;
		out[i].gw.len = gw->family == AF_INET ? 32 : 128;
	}
}

/* Wait for dom0's go (one byte on @sync; EOF means give up), then the common
 * part of every domain: private mounts, its own /proc, its host name, lo. */
static void child_common(const struct bh_domain *dom, int sync)
{
	char go = 0;
	sigset_t none;

	/* Not dom0's signal state: its blocked set (signalfd) and SIGPIPE ignored. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (read(sync, &go, 1) != 1 || go != 'g')
		_exit(126);
	close(sync);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
	    sethostname(dom->name, strlen(dom->name)) < 0)
		_exit(125);
	link_up("lo");
}

/* pid 1 of a guest: its vifs' addresses, its endpoints, the sandbox, the command. */
static _Noreturn void guest_child(const struct bh_domain *dom, const struct bh_host_opts *o,
				  const struct vif_net *nets, int sync)
{
	child_common(dom, sync);
	for (unsigned i = 0; i < dom->n_vifs && i < BH_HOST_VIFS_MAX; i++) {
		char ifname[IFNAMSIZ];

		snprintf(ifname, sizeof(ifname), "eth%u", i);
		if (!nets[i].set)
			link_up(ifname);
		else if (bh_net_iface_config(ifname, &nets[i].addr, &nets[i].gw) < 0)
			_exit(123);
	}
	if (o && o->n_binds && bh_mount_endpoints(o->binds, o->n_binds) < 0)
		_exit(122);
	/* A guest sees the host's files: it must not own them as root. */
	if (bh_sandbox_setuid(BH_HOST_GUEST_UID, BH_HOST_GUEST_UID) < 0 ||
	    bh_sandbox_enter(BH_SANDBOX_GUEST) < 0)
		_exit(124);
	execl("/bin/sh", "sh", "-c", dom->host_cmd, (char *)NULL);
	_exit(127);
}

static void sysctl_on(const char *path)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd >= 0 && write(fd, "1", 1) != 1)
		bh_debug("%s: %s", path, strerror(errno));
}

/* stdin from /dev/null, stdout and stderr to @log_fd, @pass_fd as fd 3, nothing else. */
static int child_fds(int pass_fd, int log_fd)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int p = pass_fd >= 0 ? fcntl(pass_fd, F_DUPFD_CLOEXEC, 10) : -1;
	int l = log_fd >= 0 ? fcntl(log_fd, F_DUPFD_CLOEXEC, 10) : null;

	if (null < 0 || l < 0 || (pass_fd >= 0 && p < 0))
		return -errno;
	if (dup2(null, 0) < 0 || dup2(l, 1) < 0 || dup2(l, 2) < 0)
		return -errno;
	if (p >= 0 && dup2(p, 3) < 0)
		return -errno;
	/* Everything else dom0 held is close-on-exec; make sure of it. */
	syscall(SYS_close_range, p >= 0 ? 4 : 3, ~0u, CLOSE_RANGE_CLOEXEC);
	return 0;
}

static enum bh_sandbox_role service_role(enum bh_dom_role r)
{
	return r == BH_DOM_NETDOM ? BH_SANDBOX_NETDOM :
	       r == BH_DOM_STORDOM ? BH_SANDBOX_STORDOM : BH_SANDBOX_VTPM;
}

/* pid 1 of a service domain: its daemon, with only its role's capabilities. */
static _Noreturn void service_child(const struct bh_domain *dom, const struct bh_host_opts *o,
				    int sync)
{
	/* A restarted netdom joins the namespace that kept its vifs and rules. */
	if (o->netns_fd >= 0 && setns(o->netns_fd, CLONE_NEWNET) < 0)
		_exit(121);
	child_common(dom, sync);
	if (o->root && bh_host_pivot_root(o->root, o->mnts, o->n_mnts) < 0)
		_exit(120);
	if (dom->role == BH_DOM_NETDOM) {
		/* netdom routes between the guests' vifs. */
		sysctl_on("/proc/sys/net/ipv4/ip_forward");
		sysctl_on("/proc/sys/net/ipv6/conf/all/forwarding");
	}
	umask(077);
	if (child_fds(o->pass_fd, o->log_fd) < 0)
		_exit(123);
	if (bh_sandbox_enter_exec(service_role(dom->role)) < 0)
		_exit(124);
	execv(o->argv[0], o->argv);
	_exit(127);
}

static int make_vifs(struct bh_pdom *d, const struct bh_topology *t,
		     const struct bh_domain *dom, const struct bh_host_opts *o,
		     const struct vif_net *nets)
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
		r = bh_host_veth_create(d->vifs[i], nsfd, guest_if, d->id,
					dom->vifs[i].has_mac ? dom->vifs[i].mac : NULL);
		if (r < 0)
			return r;
		d->n_vifs++;
		if (nets[i].set) {
			struct bh_prefix host = dom->vifs[i].ips[0];

			host.len = host.family == AF_INET ? 32 : 128;
			r = bh_net_vif_config(nsfd, d->vifs[i], &nets[i].gw, &host);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int clone_into(int cgfd, bool new_net, int *ret_pidfd)
{
	struct clone_args ca = {
		.flags = (NS_FLAGS & ~(new_net ? 0ull : (uint64_t)CLONE_NEWNET)) | CLONE_PIDFD |
			 (cgfd >= 0 ? CLONE_INTO_CGROUP : 0),
		.pidfd = (uint64_t)(uintptr_t)ret_pidfd,
		.exit_signal = SIGCHLD,
		.cgroup = cgfd >= 0 ? (uint64_t)cgfd : 0,
	};
	long pid = syscall(SYS_clone3, &ca, sizeof(ca));

	return pid < 0 ? -errno : (int)pid;
}

static struct bh_pdom *dom_new(const struct bh_domain *dom)
{
	struct bh_pdom *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->exit_fd = -1;
	d->limits_ok = true;
	snprintf(d->name, sizeof(d->name), "%s", dom->name);
	return d;
}

int bh_host_spawn(const struct bh_topology *t, const struct bh_domain *dom,
		  const struct bh_host_opts *o, struct bh_pdom **ret)
{
	bool guest = dom->role == BH_DOM_GUEST;
	struct vif_net nets[BH_HOST_VIFS_MAX] = { 0 };
	_cleanup_close_ int cgfd = -1;
	struct bh_pdom *d;
	int sv[2], r;

	if (guest ? !dom->host_cmd : (!o || !o->argv || !o->argv[0]))
		return -EINVAL;
	d = dom_new(dom);
	if (!d)
		return -ENOMEM;
	vif_nets(t, dom, nets);
	cgfd = make_cgroup(d, dom, o ? o->io_path : NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		goto fail;
	}
	r = clone_into(cgfd, guest || o->netns_fd < 0, &d->exit_fd);
	if (r == 0) {
		close(sv[0]);
		if (guest)
			guest_child(dom, o, nets, sv[1]);
		service_child(dom, o, sv[1]);
	}
	close(sv[1]);
	if (r > 0) {
		d->id = r;
		r = guest ? make_vifs(d, t, dom, o, nets) : 0;
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

int bh_host_reap(struct bh_pdom *d)
{
	siginfo_t si = { 0 };

	if (d->id <= 0)
		return 1;
	if (waitid(P_PIDFD, (id_t)d->exit_fd, &si, WEXITED | WNOHANG) < 0)
		return -errno;
	if (si.si_pid == 0)
		return 0;
	d->exit_code = si.si_code;
	d->exit_status = si.si_status;
	d->id = 0;
	return 1;
}

int bh_host_stop(struct bh_pdom *d)
{
	siginfo_t si = { 0 };
	int r = 0;

	if (d->id > 0) {
		if (!d->cgroup || write_file(d->cgroup, "cgroup.kill", "1") < 0)
			if (syscall(SYS_pidfd_send_signal, d->exit_fd, SIGKILL, NULL, 0) < 0)
				r = -errno;
		if (waitid(P_PIDFD, (id_t)d->exit_fd, &si, WEXITED) < 0 && r == 0)
			r = -errno;
		d->exit_code = si.si_code;
		d->exit_status = si.si_status;
		d->id = 0;
	}
	remove_cgroup(d);
	return r;
}

int bh_host_stop_gently(struct bh_pdom *d, unsigned ms)
{
	struct pollfd p = { .fd = d->exit_fd, .events = POLLIN };

	if (d->id > 0 && syscall(SYS_pidfd_send_signal, d->exit_fd, SIGTERM, NULL, 0) == 0 &&
	    poll(&p, 1, (int)ms) == 1)
		bh_host_reap(d);
	return bh_host_stop(d);
}
