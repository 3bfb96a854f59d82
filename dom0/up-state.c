/* SPDX-License-Identifier: MIT */
/*
 * The files of a running topology, under its state directory:
 *
 *   <state>/volumes/<name>.luks   a volume's LUKS2 container (unless bh_volume backing=)
 *   <state>/keys/<name>.key       its keyslot secret: 512 random bits, 0600
 *   <state>/keys/vtpm.key         vtpmd's manager key (vtpmd --gen-key)
 *   <state>/vtpm/<guest>/         a guest's vTPM instance (sealed state, sockets)
 *   <state>/log/<domain>.log      each service daemon's log, appended
 *   <state>/run/<service>/        its sockets, root only; removed by down
 *   <state>/run/<service>.root/   empty: where its own root (a tmpfs) is mounted
 *   <state>/run/unseal/           vtpmd's unseal socket: bound into the vtpm and
 *                                 stordom domains only
 *
 * A volume with seal=1 has no key file: its secret is sealed in its guest's
 * vTPM, and stordom gets it from vtpm (UNSEAL), never through dom0. For any
 * other volume dom0 creates the key file once and hands stordom its path,
 * never its bytes. On the xen platform the keys are made inside the service
 * domains and dom0 makes only its logs; the volume and key paths dom0 sends
 * are then under /var/lib/bulkhead in stordom's own file system (its state
 * disk), whatever dom0's state directory.
 */
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "dom0.h"

#define VOLUME_KEY_BYTES 64

static int mkdir_mode(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return bh_log_errno(LOG_ERR, -errno, "mkdir %s", path);
	if (chmod(path, mode) < 0)
		return bh_log_errno(LOG_ERR, -errno, "chmod %s", path);
	return 0;
}

static int sub_dir(const char *base, const char *name, mode_t mode)
{
	char path[PATH_MAX];

	bh_fmt(path, sizeof(path), "%s/%s", base, name);
	return mkdir_mode(path, mode);
}

/* A new key file of random bytes, created exclusively: never overwritten. */
static int make_key(const char *path)
{
	uint8_t key[VOLUME_KEY_BYTES];
	_cleanup_close_ int fd = -1;
	int r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errno == EEXIST ? 0 : bh_log_errno(LOG_ERR, -errno, "creating %s", path);
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
		r = -EIO;
	if (r == 0)
		r = bh_write_full(fd, key, sizeof(key));
	explicit_bzero(key, sizeof(key));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		unlink(path);
		return bh_log_errno(LOG_ERR, r, "writing %s", path);
	}
	return 0;
}

/* vtpmd --gen-key FILE, once. */
static int make_vtpm_key(const struct bh_up_opts *o, const char *path)
{
	char exe[PATH_MAX];
	int status = 0;
	pid_t pid;

	if (access(path, F_OK) == 0)
		return 0;
	bh_fmt(exe, sizeof(exe), "%s/vtpmd", o->daemons);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execl(exe, "vtpmd", "--gen-key", path, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		bh_err("%s --gen-key %s failed", exe, path);
		return -EIO;
	}
	return 0;
}

void bh_up_volume_paths(const struct bh_topology *t, const struct bh_up_opts *o,
			const struct bh_volume *v, char *backing, char *key, size_t len)
{
	/* On Xen the paths are in stordom's own file system, whose state (its
	 * state disk, when it has one) is always at BH_STATE_DEFAULT. */
	const char *state = o->platform == BH_PLATFORM_XEN ? BH_STATE_DEFAULT : o->state;

	(void)t;
	if (v->backing)
		bh_fmt(backing, len, "%s", v->backing);
	else
		bh_fmt(backing, len, "%s/volumes/%s.luks", state, v->name);
	bh_fmt(key, len, "%s/keys/%s.key", state, v->name);
}

void bh_up_unseal_path(const struct bh_up_opts *o, char *out, size_t len)
{
	bh_fmt(out, len, "%s/unseal/unseal.sock", o->run);
}

void bh_up_svc_dir(const struct bh_up_opts *o, const struct bh_domain *dom, char *out,
		   size_t len)
{
	bh_fmt(out, len, "%s/%s", o->run, dom->name);
}

void bh_up_root_dir(const struct bh_up_opts *o, const struct bh_domain *dom, char *out,
		    size_t len)
{
	bh_fmt(out, len, "%s/%s.root", o->run, dom->name);
}

void bh_up_ctl_path(const struct bh_up_opts *o, const struct bh_domain *dom, char *out,
		    size_t len)
{
	bh_fmt(out, len, "%s/%s/ctl.sock", o->run, dom->name);
}

static int make_dirs(const struct bh_topology *t, const struct bh_up_opts *o)
{
	static const char *const subs[] = { "keys", "volumes", "vtpm" };
	int r = mkdir_mode(o->state, 0755);

	for (size_t i = 0; r == 0 && i < BH_ARRAY_SIZE(subs); i++)
		r = sub_dir(o->state, subs[i], 0700);
	if (r == 0)
		r = mkdir_mode(o->logs, 0700);
	if (r == 0)
		r = mkdir_mode(o->run, 0700);
	if (r == 0)
		r = sub_dir(o->run, "unseal", 0700);
	for (size_t i = 0; r == 0 && i < t->n_domains; i++) {
		char root[PATH_MAX];

		if (t->domains[i].role == BH_DOM_GUEST)
			continue;
		r = sub_dir(o->run, t->domains[i].name, 0700);
		bh_up_root_dir(o, &t->domains[i], root, sizeof(root));
		if (r == 0)
			r = mkdir_mode(root, 0700);
	}
	/* The mount point of every guest's private endpoint directory. */
	if (r == 0 && mkdir(BH_GUEST_ENDPOINT_DIR, 0755) < 0 && errno != EEXIST)
		r = bh_log_errno(LOG_ERR, -errno, "mkdir %s", BH_GUEST_ENDPOINT_DIR);
	return r;
}

int bh_up_state_prepare(const struct bh_topology *t, const struct bh_up_opts *o)
{
	char backing[PATH_MAX], key[PATH_MAX];
	int r = make_dirs(t, o);

	/* On Xen the volumes, their keys and vtpmd's key are the service
	 * domains' own (made by their images' /init); dom0 keeps none. */
	if (o->platform == BH_PLATFORM_XEN)
		return r;
	for (size_t i = 0; r == 0 && i < t->n_volumes; i++) {
		if (t->volumes[i].sealed)
			continue;
		bh_up_volume_paths(t, o, &t->volumes[i], backing, key, sizeof(key));
		if (access(backing, F_OK) == 0 && access(key, F_OK) < 0) {
			bh_err("volume %s: %s exists but its key file %s does not", t->volumes[i].name,
			       backing, key);
			return -ENOKEY;
		}
		r = make_key(key);
	}
	if (r == 0 && bh_topology_service(t, BH_DOM_VTPM)) {
		bh_fmt(key, sizeof(key), "%s/keys/vtpm.key", o->state);
		r = make_vtpm_key(o, key);
	}
	return r;
}
