/* SPDX-License-Identifier: MIT */
/*
 * Who may do what on the management socket. The caller is identified by the
 * kernel (SO_PEERCRED: uid, gid, pid at connect time), never by anything it
 * says. Its permissions are the union of the bh_manage grants that name its
 * user, or a group it is in: its primary gid from SO_PEERCRED plus the
 * supplementary groups the group database gives its user (getgrouplist).
 * Grant names are resolved when asked, so a user added to a group later is
 * seen without a restart. uid 0 has every permission: it could bypass the
 * socket anyway, and refusing it would only hide what it does from the log.
 */
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>

#include "dom0.h"

#define GROUPS_MAX 256

int bh_peer_from_socket(int fd, struct bh_peer *ret)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	if (len != sizeof(uc))
		return -EIO;
	*ret = (struct bh_peer){ .uid = uc.uid, .gid = uc.gid, .pid = uc.pid };
	return 0;
}

static bool user_matches(const char *name, uint32_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[2048];

	return getpwnam_r(name, &pw, buf, sizeof(buf), &res) == 0 && res && pw.pw_uid == uid;
}

/* The peer's groups: primary gid, then its user's supplementary groups. */
static size_t peer_groups(const struct bh_peer *peer, gid_t *groups, size_t max)
{
	struct passwd pw, *res = NULL;
	char buf[2048];
	int n = (int)max - 1;

	groups[0] = peer->gid;
	if (getpwuid_r(peer->uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return 1;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups + 1, &n) < 0)
		n = (int)max - 1; /* more than we look at: the first ones are filled in */
	return (size_t)n + 1;
}

static bool group_matches(const char *name, const gid_t *groups, size_t n)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	for (size_t i = 0; i < n; i++)
		if (groups[i] == gr.gr_gid)
			return true;
	return false;
}

unsigned bh_rbac_perms(const struct bh_grant *grants, size_t n_grants, const struct bh_peer *peer)
{
	gid_t groups[GROUPS_MAX];
	size_t n_groups = peer_groups(peer, groups, GROUPS_MAX);
	unsigned perms = 0;

	if (peer->uid == 0)
		return BH_PERM_ALL;
	for (size_t i = 0; i < n_grants; i++) {
		const struct bh_grant *g = &grants[i];

		if (g->is_group ? group_matches(g->principal, groups, n_groups)
				: user_matches(g->principal, peer->uid))
			perms |= g->perms;
	}
	return perms;
}

static const char *const perm_names[] = { "status", "logs", "up", "down", "attest",
					  "policy", "measure", "restart", "reseal" };

const char *bh_perm_name(unsigned perm)
{
	for (size_t i = 0; i < BH_ARRAY_SIZE(perm_names); i++)
		if (perm == 1u << i)
			return perm_names[i];
	return "unknown";
}
