/* SPDX-License-Identifier: MIT */
/*
 * Capabilities, no_new_privs and seccomp: see bulkhead/sandbox.h. This is
 * the only file that includes libseccomp's header (STYLE.md: one adapter
 * per library); a role's allow-list is data here, so adding a daemon's list
 * is adding a table.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bulkhead/sandbox.h"
#include "bulkhead/util.h"

/* What a shell, coreutils, iproute2's ip and a small network server need. */
static const int guest_syscalls[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64),
	SCMP_SYS(pwrite64), SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(close), SCMP_SYS(stat),
	SCMP_SYS(fstat), SCMP_SYS(lstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(lseek),
	SCMP_SYS(access), SCMP_SYS(faccessat), SCMP_SYS(faccessat2), SCMP_SYS(readlink),
	SCMP_SYS(readlinkat), SCMP_SYS(getdents64), SCMP_SYS(getcwd), SCMP_SYS(chdir),
	SCMP_SYS(fchdir), SCMP_SYS(mkdir), SCMP_SYS(mkdirat), SCMP_SYS(unlink), SCMP_SYS(unlinkat),
	SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(rmdir),
	SCMP_SYS(ftruncate), SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(fcntl), SCMP_SYS(ioctl),
	SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(pipe), SCMP_SYS(pipe2),
	SCMP_SYS(umask), SCMP_SYS(chmod), SCMP_SYS(fchmod), SCMP_SYS(fchmodat), SCMP_SYS(utimensat),
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(mremap), SCMP_SYS(brk),
	SCMP_SYS(madvise), SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(get_robust_list),
	SCMP_SYS(set_tid_address), SCMP_SYS(arch_prctl), SCMP_SYS(rseq), SCMP_SYS(prlimit64),
	SCMP_SYS(getrlimit), SCMP_SYS(sysinfo), SCMP_SYS(uname), SCMP_SYS(getrandom),
	SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(fork), SCMP_SYS(vfork), SCMP_SYS(clone),
	SCMP_SYS(clone3), SCMP_SYS(wait4), SCMP_SYS(waitid), SCMP_SYS(exit), SCMP_SYS(exit_group),
	SCMP_SYS(kill), SCMP_SYS(tgkill), SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigsuspend), SCMP_SYS(sigaltstack), SCMP_SYS(pause),
	SCMP_SYS(getpid), SCMP_SYS(getppid), SCMP_SYS(gettid), SCMP_SYS(getpgrp), SCMP_SYS(getpgid),
	SCMP_SYS(setpgid), SCMP_SYS(getsid), SCMP_SYS(setsid), SCMP_SYS(getuid), SCMP_SYS(geteuid),
	SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(getresuid), SCMP_SYS(getresgid),
	SCMP_SYS(getgroups), SCMP_SYS(capget), SCMP_SYS(prctl), SCMP_SYS(sched_yield),
	SCMP_SYS(sched_getaffinity), SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday), SCMP_SYS(time),
	SCMP_SYS(alarm), SCMP_SYS(setitimer), SCMP_SYS(getitimer), SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(select), SCMP_SYS(pselect6), SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl),
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(eventfd2), SCMP_SYS(timerfd_create),
	SCMP_SYS(timerfd_settime), SCMP_SYS(signalfd4), SCMP_SYS(socket), SCMP_SYS(socketpair),
	SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept), SCMP_SYS(accept4),
	SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
	SCMP_SYS(sendto), SCMP_SYS(recvfrom), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmmsg), SCMP_SYS(recvmmsg), SCMP_SYS(shutdown), SCMP_SYS(memfd_create),
	SCMP_SYS(restart_syscall), SCMP_SYS(getrusage), SCMP_SYS(times), SCMP_SYS(sendfile),
	SCMP_SYS(copy_file_range), SCMP_SYS(splice), SCMP_SYS(statfs), SCMP_SYS(fstatfs),
	SCMP_SYS(fadvise64), SCMP_SYS(flock), SCMP_SYS(getpriority), SCMP_SYS(setpriority),
	SCMP_SYS(membarrier), SCMP_SYS(close_range), SCMP_SYS(pidfd_open), SCMP_SYS(sched_getparam),
	SCMP_SYS(sched_getscheduler), SCMP_SYS(mincore), SCMP_SYS(msync), SCMP_SYS(mlock),
	SCMP_SYS(munlock), SCMP_SYS(inotify_init1), SCMP_SYS(inotify_add_watch),
	SCMP_SYS(inotify_rm_watch), SCMP_SYS(symlink), SCMP_SYS(symlinkat), SCMP_SYS(link),
	SCMP_SYS(linkat), SCMP_SYS(chown), SCMP_SYS(fchown), SCMP_SYS(fchownat), SCMP_SYS(lchown),
	SCMP_SYS(mknodat), SCMP_SYS(truncate), SCMP_SYS(fallocate),
};

/* What libtpms, OpenSSL, glibc's malloc and the worker's poll loop and channel need. */
static const int vtpm_worker_syscalls[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg),
	SCMP_SYS(accept4), SCMP_SYS(accept), SCMP_SYS(shutdown), SCMP_SYS(close),
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl),
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(fcntl), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(lseek), SCMP_SYS(ftruncate),
	SCMP_SYS(memfd_create), SCMP_SYS(eventfd2), /* bulkhead channel set-up */
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(brk),
	SCMP_SYS(madvise), SCMP_SYS(mprotect), SCMP_SYS(futex), SCMP_SYS(getrandom),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(gettimeofday), SCMP_SYS(sched_yield), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(getrusage), /* tpm.chan's spin: was a gap between two looks a task's? */
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(restart_syscall),
	SCMP_SYS(exit), SCMP_SYS(exit_group),
#if defined(__SANITIZE_ADDRESS__)
	/* ASan's own needs (reports, stack checks); never in a release build. */
	SCMP_SYS(sigaltstack), SCMP_SYS(prctl), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(tgkill), SCMP_SYS(rt_sigaction),
#endif
};

/* Beyond the guest list: per service daemon. */
static const int netdom_syscalls[] = { SCMP_SYS(rt_sigtimedwait) };
static const int stordom_syscalls[] = {
	SCMP_SYS(mlock2), SCMP_SYS(mlockall), SCMP_SYS(munlockall), SCMP_SYS(sync_file_range),
	SCMP_SYS(pwritev), SCMP_SYS(preadv), SCMP_SYS(pwritev2), SCMP_SYS(preadv2),
	SCMP_SYS(flistxattr), SCMP_SYS(fgetxattr), SCMP_SYS(getxattr), SCMP_SYS(lgetxattr),
	SCMP_SYS(sched_setaffinity), SCMP_SYS(tkill), SCMP_SYS(rt_sigtimedwait),
};
static const int vtpm_syscalls[] = {
	SCMP_SYS(chroot), SCMP_SYS(setresuid), SCMP_SYS(setresgid), SCMP_SYS(setuid),
	SCMP_SYS(setgid), SCMP_SYS(setgroups), SCMP_SYS(capset), SCMP_SYS(seccomp),
	SCMP_SYS(mlock2), SCMP_SYS(tkill), SCMP_SYS(pidfd_send_signal), SCMP_SYS(rt_sigtimedwait),
};

/* LeakSanitizer's exit-time check in a sanitizer build of a daemon (it
 * lists and ptrace-stops its own threads); never in a release build. */
static const int san_syscalls[] = {
#if defined(__SANITIZE_ADDRESS__)
	SCMP_SYS(getdents), SCMP_SYS(ptrace),
#endif
	-1,
};

#define CAP(c) (1ull << (c))

static const struct {
	const int *syscalls;
	size_t n;
	const int *extra; /* service roles: on top of the guest list */
	size_t n_extra;
	uint64_t caps;
} roles[BH_SANDBOX_ROLE_MAX_] = {
	[BH_SANDBOX_GUEST] = { guest_syscalls, BH_ARRAY_SIZE(guest_syscalls), NULL, 0, 0 },
	[BH_SANDBOX_VTPM_WORKER] = { vtpm_worker_syscalls, BH_ARRAY_SIZE(vtpm_worker_syscalls),
				     NULL, 0, 0 },
	[BH_SANDBOX_NETDOM] = { guest_syscalls, BH_ARRAY_SIZE(guest_syscalls), netdom_syscalls,
				BH_ARRAY_SIZE(netdom_syscalls), CAP(CAP_NET_ADMIN) },
	[BH_SANDBOX_STORDOM] = { guest_syscalls, BH_ARRAY_SIZE(guest_syscalls), stordom_syscalls,
				 BH_ARRAY_SIZE(stordom_syscalls), CAP(CAP_IPC_LOCK) },
	[BH_SANDBOX_VTPM] = { guest_syscalls, BH_ARRAY_SIZE(guest_syscalls), vtpm_syscalls,
			      BH_ARRAY_SIZE(vtpm_syscalls),
			      CAP(CAP_SYS_CHROOT) | CAP(CAP_SETUID) | CAP(CAP_SETGID) },
};

uint64_t bh_sandbox_role_caps(enum bh_sandbox_role role)
{
	return role < BH_SANDBOX_ROLE_MAX_ ? roles[role].caps : 0;
}

static int drop_bounding(uint64_t keep)
{
	for (unsigned cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (keep & (1ull << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	}
	return 0;
}

/* Cut the capability sets to @keep and set (and lock) @secbits. */
static int drop_caps(uint64_t keep, unsigned long secbits)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { 0 };
	int r = drop_bounding(keep);

	if (r < 0)
		return r;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (prctl(PR_SET_SECUREBITS, secbits, 0, 0, 0) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		uint32_t word = (uint32_t)(keep >> (32 * i));

		data[i].effective = data[i].permitted = data[i].inheritable = word;
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

int bh_sandbox_drop_caps(uint64_t keep)
{
	/* uid 0 would get the (now cut) bounding set back on exec: lock that off too. */
	return drop_caps(keep, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
				       SECBIT_NO_SETUID_FIXUP_LOCKED);
}

static int caps_effective_from_permitted(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { 0 };

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	for (int i = 0; i < 2; i++)
		data[i].effective = data[i].permitted;
	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

int bh_sandbox_setuid(uint32_t uid, uint32_t gid)
{
	uid_t r, e, s;

	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -errno;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	if (getresuid(&r, &e, &s) < 0 || r != uid || e != uid || s != uid)
		return -EPERM;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return -errno;
	return caps_effective_from_permitted();
}

int bh_sandbox_seccomp(enum bh_sandbox_role role)
{
	scmp_filter_ctx ctx;
	int r = 0;

	if (role >= BH_SANDBOX_ROLE_MAX_)
		return -EINVAL;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return -ENOMEM;
	/* A syscall this architecture lacks resolves to a negative number: skip it. */
	for (size_t i = 0; i < roles[role].n && r == 0; i++)
		if (roles[role].syscalls[i] >= 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, roles[role].syscalls[i], 0);
	for (size_t i = 0; i < roles[role].n_extra && r == 0; i++)
		if (roles[role].extra[i] >= 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, roles[role].extra[i], 0);
	for (size_t i = 0; roles[role].n_extra && i < BH_ARRAY_SIZE(san_syscalls) && r == 0; i++)
		if (san_syscalls[i] >= 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, san_syscalls[i], 0);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r < 0 ? r : 0;
}

int bh_sandbox_enter(enum bh_sandbox_role role)
{
	int r = bh_sandbox_drop_caps(bh_sandbox_role_caps(role));

	return r < 0 ? r : bh_sandbox_seccomp(role);
}

int bh_sandbox_enter_exec(enum bh_sandbox_role role)
{
	uint64_t keep = bh_sandbox_role_caps(role);
	/* Without SECBIT_NO_SETUID_FIXUP: a process that later drops to another
	 * uid (vtpmd's workers) loses these capabilities with it. */
	int r = drop_caps(keep, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED);

	for (unsigned cap = 0; r == 0 && cap <= CAP_LAST_CAP; cap++)
		if ((keep & (1ull << cap)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			r = -errno;
	return r < 0 ? r : bh_sandbox_seccomp(role);
}
