/* SPDX-License-Identifier: MIT */
/*
 * The sandbox every bulkhead process enters before it touches untrusted
 * input: capabilities cut to what its role needs, no_new_privs, and a
 * seccomp allow-list per role (common/sandbox.c, the one libseccomp user).
 * Order as STYLE.md says: whoever calls this has already changed its root
 * and ids; this is the last step, after which only the listed syscalls work
 * and a denied one kills the process.
 */
#ifndef BULKHEAD_SANDBOX_H
#define BULKHEAD_SANDBOX_H

#include <stdint.h>

enum bh_sandbox_role {
	/* A guest on the host platform: runs an arbitrary command (/bin/sh -c),
	 * so a broad list of ordinary process syscalls, but no mount, module,
	 * kexec, bpf, ptrace, keyring, namespace or clock changes; no capabilities. */
	BH_SANDBOX_GUEST,
	/* A vtpm worker (vtpm/worker.c): serves the sockets it was handed and
	 * runs libtpms and OpenSSL. No open/openat, no socket/connect/bind, no
	 * exec, no ptrace: a compromised worker keeps its already-open sockets
	 * and its memory, nothing else. */
	BH_SANDBOX_VTPM_WORKER,
	/* The service daemons as dom0 starts them on the host platform
	 * (dom0/platform-host.c): an ordinary process's syscalls (the guest list:
	 * still no mount, module, kexec, bpf, ptrace, keyring or namespace
	 * changes) plus what each daemon needs, and only its capabilities:
	 * netdomd CAP_NET_ADMIN (nftables, NFLOG); stordomd CAP_IPC_LOCK (keys
	 * mlocked); vtpmd CAP_SYS_CHROOT, CAP_SETUID, CAP_SETGID and the
	 * chroot/setres[ug]id/seccomp calls its worker sandbox makes. */
	BH_SANDBOX_NETDOM,
	BH_SANDBOX_STORDOM,
	BH_SANDBOX_VTPM,
	BH_SANDBOX_ROLE_MAX_,
};

/* Capability bits (1 << CAP_*) a role keeps; the rest leave the bounding set. */
uint64_t bh_sandbox_role_caps(enum bh_sandbox_role role);

/*
 * Drop every capability not in @keep from the bounding, permitted,
 * effective, inheritable and ambient sets, and lock root out of regaining
 * them on exec (SECBIT_NOROOT). Returns 0 or -errno.
 */
int bh_sandbox_drop_caps(uint64_t keep);

/*
 * Become @uid/@gid with no supplementary groups, keeping (for the drop that
 * must follow) the capabilities held now; verified. Returns 0 or -errno.
 */
int bh_sandbox_setuid(uint32_t uid, uint32_t gid);

/* Set no_new_privs and load @role's seccomp allow-list. 0 or -errno. */
int bh_sandbox_seccomp(enum bh_sandbox_role role);

/* bh_sandbox_drop_caps(role's caps), then bh_sandbox_seccomp(role). */
int bh_sandbox_enter(enum bh_sandbox_role role);
/*
 * For a process about to exec a daemon as root: bh_sandbox_enter(role), with
 * the role's capabilities also raised in the ambient set so that they, and
 * only they, survive the exec (SECBIT_NOROOT stops root regaining the rest).
 * The role's list must allow execve. Returns 0 or -errno.
 */
int bh_sandbox_enter_exec(enum bh_sandbox_role role);

#endif
