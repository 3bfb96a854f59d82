/* SPDX-License-Identifier: MIT */
/*
 * vtpmd's side of sealed volume secrets (DESIGN.md section 4): stordom's
 * UNSEAL(guest, volume) on its own socket, and dom0's VTPM_RESEAL(guest,
 * volume) on the control socket. The sealing itself runs in the guest's
 * worker, in its TPM (keyseal.c); this file keeps each secret's record:
 *
 *   DIR/<guest>/seal-<volume>   the sealed object's blobs, its policy branches
 *                               and its admin password, sealed again under
 *                               the manager key (seal.c; AAD "<guest>/<volume>")
 *
 * The secret itself passes through here only on its way to stordom (UNSEAL),
 * and is wiped at once. dom0 never sees it: RESEAL answers a status and a
 * text, and the admin password never leaves vtpmd.
 *
 * stordom is the only peer on the UNSEAL socket (its directory is bound into
 * the stordom and vtpm domains only); the request is still checked as peer
 * input, and a secret is given only by the guest's own TPM, to its PCRs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/cursor.h"
#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "bulkhead/msg.h"
#include "vtpm.h"

#define RECORD_MAX 4096

static void record_names(const char *guest, const char *volume, char *file, char *aad,
			 size_t len)
{
	snprintf(file, len, "seal-%s", volume);
	snprintf(aad, len, "%s/%s", guest, volume);
}

/* 0 and the record, -ENOENT when the volume has none yet, or -errno. */
static int record_load(struct vt_manager *m, int dirfd, const char *guest, const char *volume,
		       struct vt_sealed *ret)
{
	char file[160], aad[160];
	uint8_t *raw = NULL, *pt = NULL;
	size_t len = 0, ptlen = 0;
	struct bh_cursor c;
	uint64_t gen = 0;
	int r;

	record_names(guest, volume, file, aad, sizeof(file));
	r = vt_read_file(dirfd, file, RECORD_MAX, &raw, &len);
	if (r == 0)
		r = vt_unseal(vt_manager_key(m), aad, raw, len, &gen, &pt, &ptlen);
	free(raw);
	if (r < 0)
		return r;
	bh_cursor_init(&c, pt, ptlen);
	r = vt_sealed_decode(&c, ret);
	if (r == 0 && bh_cursor_finish(&c) < 0)
		r = -EBADMSG;
	explicit_bzero(pt, ptlen);
	free(pt);
	return r;
}

static int record_save(struct vt_manager *m, int dirfd, const char *guest, const char *volume,
		       const struct vt_sealed *rec)
{
	char file[160], aad[160];
	uint8_t pt[sizeof(*rec) + 16], *out = NULL;
	size_t outlen = 0;
	long n = vt_sealed_encode(rec, pt, sizeof(pt));
	int r = n < 0 ? (int)n : 0;

	record_names(guest, volume, file, aad, sizeof(file));
	if (r == 0)
		r = vt_seal(vt_manager_key(m), aad, 1, pt, (size_t)n, &out, &outlen);
	explicit_bzero(pt, sizeof(pt));
	if (r == 0)
		r = vt_write_atomic(dirfd, file, out, outlen);
	free(out);
	return r;
}

/* One KEY_OP in @guest's worker; its decoded answer in @res (the caller wipes it). */
static int key_call(struct vt_manager *m, const char *guest, uint8_t op,
		    const struct vt_sealed *rec, struct vt_keyres *res)
{
	static uint8_t body[2048], reply[2048];
	size_t rlen = 0;
	long n = vt_keyop_encode(op, rec, body, sizeof(body));
	int r = n < 0 ? (int)n : vt_manager_key_call(m, guest, body, (size_t)n, reply,
						     sizeof(reply), &rlen);

	explicit_bzero(body, sizeof(body));
	if (r == 0)
		r = vt_keyres_decode(reply, rlen, res);
	explicit_bzero(reply, sizeof(reply));
	return r;
}

static const char *record_error(int r)
{
	switch (r) {
	case -ENOENT:
		return "no secret is sealed for this volume";
	case -EKEYREJECTED:
		return "its sealed record failed authentication (tampered, or not this volume's)";
	case -EBADMSG:
		return "its sealed record is malformed";
	case -ESRCH:
		return "the guest's vTPM is not running";
	default:
		return strerror(-r);
	}
}

/*
 * The secret of (guest, volume): unsealed through the guest's PCRs, or made
 * and sealed now when the volume has none and the request says CREATE (its
 * record is durable before the new secret leaves). Status and text in @res.
 */
static int unseal(struct vt_manager *m, const struct bh_msg_unseal *u, struct vt_keyres *res)
{
	static struct vt_sealed rec;
	int dirfd = vt_manager_instance_dir(m, u->guest);
	int r = dirfd < 0 ? dirfd : record_load(m, dirfd, u->guest, u->volume, &rec);
	bool create = r == -ENOENT && (u->flags & BH_UNSEAL_CREATE);

	if (create)
		r = key_call(m, u->guest, VT_KEY_CREATE, NULL, res);
	else if (r == 0)
		r = key_call(m, u->guest, VT_KEY_UNSEAL, &rec, res);
	explicit_bzero(&rec, sizeof(rec));
	if (r == 0 && res->status == 0 && create) {
		r = res->has_record ? record_save(m, dirfd, u->guest, u->volume, &res->rec) : -EPROTO;
		explicit_bzero(&res->rec, sizeof(res->rec));
		if (r < 0)
			snprintf(res->text, sizeof(res->text), "writing the sealed record: %s",
				 strerror(-r));
	}
	if (r < 0 && !res->text[0])
		snprintf(res->text, sizeof(res->text), "%s", record_error(r));
	if (r < 0)
		res->status = r;
	if (res->status < 0) {
		explicit_bzero(res->secret, sizeof(res->secret));
		res->secret_len = 0;
	} else if (create) {
		snprintf(res->text, sizeof(res->text), "new secret sealed to the guest's PCRs");
	}
	return res->status;
}

int vt_unseal_request(struct vt_manager *m, int fd)
{
	static struct bh_msg_unseal_result out;
	static struct vt_keyres res;
	static uint8_t buf[BH_MSG_HDR_SIZE + 512];
	struct bh_msg_unseal u = { { 0 } };
	uint8_t body[256];
	struct bh_msg_hdr h;
	long n;
	int r = bh_msg_read(fd, &h, body, sizeof(body));

	if (r == 0 || r == -EPIPE)
		return -EPIPE;
	if (r < 0 || h.type != BH_MSG_UNSEAL || bh_msg_unseal_decode(body, h.length, &u) < 0)
		return bh_log_errno(LOG_ERR, r < 0 ? r : -EBADMSG, "unseal socket: bad request");
	memset(&res, 0, sizeof(res));
	r = unseal(m, &u, &res);
	memset(&out, 0, sizeof(out));
	out.status = r;
	out.secret_len = r == 0 ? res.secret_len : 0;
	memcpy(out.secret, res.secret, out.secret_len);
	snprintf(out.text, sizeof(out.text), "%s", res.text);
	explicit_bzero(&res, sizeof(res));
	/* Names and outcome only: never the secret. */
	if (r < 0)
		bh_warn("UNSEAL %s for %s: %s", u.volume, u.guest, out.text);
	else
		bh_notice("UNSEAL %s for %s: %s", u.volume, u.guest,
			  out.text[0] ? out.text : "ok");
	n = bh_msg_unseal_result_encode(&out, buf, sizeof(buf));
	explicit_bzero(&out, sizeof(out));
	r = n < 0 ? (int)n : bh_msg_write(fd, BH_MSG_UNSEAL_RESULT, BH_MSGF_REPLY,
					   h.request_id, buf, (size_t)n);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

int vt_reseal_request(struct vt_manager *m, const uint8_t *untrusted_body, size_t len,
		      char *err, size_t errlen, const char **ret_name)
{
	static struct bh_msg_unseal u;
	static struct vt_sealed rec;
	static struct vt_keyres res;
	int dirfd, r = bh_msg_unseal_decode(untrusted_body, len, &u);

	if (r < 0)
		return snprintf(err, errlen, "malformed request"), r;
	*ret_name = u.guest;
	dirfd = vt_manager_instance_dir(m, u.guest);
	r = dirfd < 0 ? dirfd : record_load(m, dirfd, u.guest, u.volume, &rec);
	memset(&res, 0, sizeof(res));
	if (r == 0)
		r = key_call(m, u.guest, VT_KEY_RESEAL, &rec, &res);
	explicit_bzero(&rec, sizeof(rec));
	if (r == 0 && res.status == 0)
		r = res.has_record ? record_save(m, dirfd, u.guest, u.volume, &res.rec) : -EPROTO;
	if (r < 0)
		snprintf(err, errlen, "volume %s: %s", u.volume, record_error(r));
	else if (res.status < 0)
		snprintf(err, errlen, "volume %s: %s", u.volume, res.text);
	else
		snprintf(err, errlen, "volume %s: sealed again to the guest's PCRs now", u.volume);
	if (r == 0)
		r = res.status;
	explicit_bzero(&res, sizeof(res));
	return r;
}
