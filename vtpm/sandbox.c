/* SPDX-License-Identifier: MIT */
/*
 * The worker sandbox. Order as STYLE.md says: chroot into an empty
 * directory, drop to nobody, verify, then no_new_privs and the seccomp
 * allow-list of BH_SANDBOX_VTPM_WORKER (common/sandbox.c, the one libseccomp
 * user): no open/openat, no socket/connect/bind, no exec, no ptrace.
 */
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bulkhead/sandbox.h"
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

int vt_sandbox_enter(const char *empty_dir)
{
	int r;

	if (geteuid() == 0 && empty_dir) {
		r = drop_root(empty_dir);
		if (r < 0)
			return r;
	}
	/* Not dumpable: no core file or ptrace attach can read the TPM's state. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return bh_sandbox_seccomp(BH_SANDBOX_VTPM_WORKER);
}
