/* SPDX-License-Identifier: MIT */
/*
 * The worker sandbox, the only libseccomp user in vtpm. Order as STYLE.md
 * says: chroot into an empty directory, drop to nobody, verify, then
 * no_new_privs and a seccomp allow-list. The list has no open/openat, no
 * socket/connect/bind, no exec, no ptrace: a compromised worker keeps its
 * already-open sockets and its memory, nothing else.
 */
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "vtpm.h"

#define NOBODY 65534

static int drop_root(const char *empty_dir)
{
	uid_t r, e, s;

	if (chroot(empty_dir) < 0 || chdir("/") < 0)
		return -errno;
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		return -errno;
	/* Verify: no way back to root. */
	if (getresuid(&r, &e, &s) < 0 || r != NOBODY || e != NOBODY || s != NOBODY ||
	    setuid(0) == 0)
		return -EPERM;
	return 0;
}

/* What libtpms, OpenSSL, glibc's malloc and our poll loop and channel need. */
static const int allowed[] = {
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
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(restart_syscall),
	SCMP_SYS(exit), SCMP_SYS(exit_group),
#if defined(__SANITIZE_ADDRESS__)
	/* ASan's own needs (reports, stack checks); never in a release build. */
	SCMP_SYS(sigaltstack), SCMP_SYS(prctl), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(tgkill), SCMP_SYS(rt_sigaction),
#endif
};

static int load_seccomp(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int r = 0;

	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; i < BH_ARRAY_SIZE(allowed) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r < 0 ? r : 0;
}

int vt_sandbox_enter(const char *empty_dir)
{
	int r;

	if (geteuid() == 0 && empty_dir) {
		r = drop_root(empty_dir);
		if (r < 0)
			return r;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return load_seccomp();
}
