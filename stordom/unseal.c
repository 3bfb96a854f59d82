/* SPDX-License-Identifier: MIT */
/*
 * A sealed volume's keyslot secret, from vtpm (DESIGN.md section 4): stordom
 * asks vtpmd with UNSEAL(guest, volume) on vtpmd's unseal socket, a channel
 * between the two service domains that dom0 never reads, and vtpmd answers
 * with the secret only when the guest's vTPM holds the PCRs it was sealed to.
 *
 * The answer is peer input: checked by the codec, its secret copied into
 * mlocked memory (secret.c) and every other copy wiped. Nothing here logs
 * the secret; the caller logs the names and vtpm's reason.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bulkhead/fdio.h"
#include "bulkhead/msg.h"
#include "stordom.h"

static int ask(int fd, const char *guest, const char *volume, bool create,
	       struct bh_msg_unseal_result *res)
{
	struct bh_msg_unseal u = { .flags = create ? BH_UNSEAL_CREATE : 0 };
	static uint8_t buf[BH_MSG_HDR_SIZE + 1024];
	struct bh_msg_hdr h;
	long n;
	int r;

	snprintf(u.guest, sizeof(u.guest), "%s", guest);
	snprintf(u.volume, sizeof(u.volume), "%s", volume);
	n = bh_msg_unseal_encode(&u, buf, sizeof(buf));
	r = n < 0 ? (int)n : bh_msg_write(fd, BH_MSG_UNSEAL, 0, 1, buf, (size_t)n);
	if (r == 0)
		r = bh_msg_read(fd, &h, buf, sizeof(buf));
	if (r == 0)
		r = -EPIPE; /* closed before the answer */
	if (r > 0)
		r = h.type == BH_MSG_UNSEAL_RESULT && h.request_id == 1 ? 0 : -EPROTO;
	if (r == 0)
		r = bh_msg_unseal_result_decode(buf, h.length, res);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

int sd_unseal(const char *path, const char *guest, const char *volume, bool create,
	      struct sd_secret **ret, char *err, size_t errlen)
{
	static struct bh_msg_unseal_result res;
	int fd = path ? bh_unix_connect(path, SOCK_STREAM) : -ENOTCONN;
	int r = fd < 0 ? fd : ask(fd, guest, volume, create, &res);

	if (fd >= 0)
		close(fd);
	if (r < 0) {
		snprintf(err, errlen, "no answer from vtpm on %s: %s", path ? path : "(none)",
			 strerror(-r));
		return r;
	}
	r = res.status;
	if (r == 0 && !res.secret_len)
		r = -EPROTO;
	if (r == 0)
		r = sd_secret_new(res.secret_len, ret);
	if (r == 0)
		memcpy((*ret)->data, res.secret, res.secret_len);
	snprintf(err, errlen, "%s", r < 0 && res.text[0] ? res.text : strerror(-r));
	explicit_bzero(&res, sizeof(res));
	return r;
}
