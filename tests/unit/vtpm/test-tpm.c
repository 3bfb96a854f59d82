/* SPDX-License-Identifier: MIT */
/*
 * vtpm's peer-facing parsers (TPM command framing, swtpm control requests)
 * and the libtpms adapter: a manufactured TPM stores its state, answers
 * commands, and powers on again from the stored state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../bh-test.h"
#include "../../../vtpm/vtpm.h"

static const uint8_t startup_clear[] = { 0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0 };
static const uint8_t getrandom16[] = { 0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, 16 };

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_framer_split(void)
{
	struct vt_framer f;
	uint8_t two[2 * sizeof(getrandom16)];
	ssize_t n;

	vt_framer_init(&f, VT_TPM_CMD_MAX);
	/* Byte by byte. */
	for (size_t i = 0; i < sizeof(getrandom16); i++) {
		CU_ASSERT_EQUAL(vt_framer_command(&f), 0);
		CU_ASSERT_EQUAL(vt_framer_feed(&f, getrandom16 + i, 1), 1);
		CU_ASSERT_EQUAL(vt_framer_partial(&f), i + 1 < sizeof(getrandom16));
	}
	CU_ASSERT_EQUAL(vt_framer_command(&f), sizeof(getrandom16));
	CU_ASSERT_EQUAL(memcmp(f.buf, getrandom16, sizeof(getrandom16)), 0);
	/* Nothing more is taken until the command is consumed. */
	CU_ASSERT_EQUAL(vt_framer_feed(&f, getrandom16, 1), 0);
	vt_framer_next(&f);
	/* Two commands in one read: the first stops at its end. */
	memcpy(two, startup_clear, 12);
	memcpy(two + 12, getrandom16, 12);
	n = vt_framer_feed(&f, two, sizeof(two));
	CU_ASSERT_EQUAL(n, 12);
	CU_ASSERT_EQUAL(memcmp(f.buf, startup_clear, 12), 0);
	vt_framer_next(&f);
	CU_ASSERT_EQUAL(vt_framer_feed(&f, two + 12, 12), 12);
	CU_ASSERT_EQUAL(vt_framer_command(&f), 12);
}

static void expect_framing_error(const uint8_t *hdr, uint32_t max, uint32_t rc)
{
	struct vt_framer f;

	vt_framer_init(&f, max);
	CU_ASSERT_EQUAL(vt_framer_feed(&f, hdr, VT_TPM_HDR_SIZE), -EBADMSG);
	CU_ASSERT_EQUAL(f.err_rc, rc);
	CU_ASSERT_EQUAL(vt_framer_command(&f), 0);
	/* Dead after an error. */
	CU_ASSERT_EQUAL(vt_framer_feed(&f, hdr, 1), -EBADMSG);
}

static void test_framer_rejects(void)
{
	uint8_t h[VT_TPM_HDR_SIZE] = { 0x80, 0x01, 0, 0, 0x10, 0x01, 0, 0, 0x01, 0x7b };
	uint8_t resp[VT_TPM_HDR_SIZE];

	expect_framing_error(h, VT_TPM_CMD_MAX, VT_TPM_RC_COMMAND_SIZE); /* 4097 bytes */
	h[4] = 0x01;
	h[5] = 0x00; /* 256 bytes: fine at 4096, too big at a 128-byte limit */
	expect_framing_error(h, 128, VT_TPM_RC_COMMAND_SIZE);
	h[4] = 0xff; /* 0xff0100: a huge size never allocates or waits */
	expect_framing_error(h, VT_TPM_CMD_MAX, VT_TPM_RC_COMMAND_SIZE);
	h[4] = 0;
	h[5] = 9; /* smaller than the header */
	expect_framing_error(h, VT_TPM_CMD_MAX, VT_TPM_RC_COMMAND_SIZE);
	h[5] = 12;
	h[1] = 0xc1; /* TPM 1.2 tag */
	expect_framing_error(h, VT_TPM_CMD_MAX, VT_TPM_RC_BAD_TAG);
	vt_tpm_error_response(resp, VT_TPM_RC_COMMAND_SIZE);
	CU_ASSERT_EQUAL(be32(resp + 2), 10);
	CU_ASSERT_EQUAL(be32(resp + 6), VT_TPM_RC_COMMAND_SIZE);
}

static void test_ctrl_parser(void)
{
	/* INIT(flags 1), SET_LOCALITY(3), GET_CAPABILITY, SET_BUFFERSIZE(0) in one stream. */
	const uint8_t in[] = { 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 5, 3, 0, 0, 0, 1,
			       0, 0, 0, 0x11, 0, 0, 0, 0 };
	const uint32_t want_cmd[] = { 2, 5, 1, 0x11 }, want_arg[] = { 1, 3, 0, 0 };
	struct vt_ctrl_parser p;
	struct vt_ctrl_req req;
	size_t off = 0, got = 0;
	bool done;

	vt_ctrl_parser_init(&p);
	while (off < sizeof(in)) {
		/* Feed in 3-byte pieces to cross every boundary. */
		size_t len = sizeof(in) - off < 3 ? sizeof(in) - off : 3;
		ssize_t n = vt_ctrl_feed(&p, in + off, len, &req, &done);

		CU_ASSERT_FATAL(n >= 0);
		off += (size_t)n;
		if (done) {
			CU_ASSERT_FATAL(got < 4);
			CU_ASSERT_EQUAL(req.cmd, want_cmd[got]);
			CU_ASSERT_EQUAL(req.arg, want_arg[got]);
			got++;
		}
	}
	CU_ASSERT_EQUAL(got, 4);
}

static void test_ctrl_parser_rejects(void)
{
	const uint8_t unknown[] = { 0, 0, 0, 0x0d, 0, 0, 0, 0 }; /* SET_STATEBLOB: refused */
	const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff };
	struct vt_ctrl_parser p;
	struct vt_ctrl_req req;
	bool done;

	vt_ctrl_parser_init(&p);
	CU_ASSERT_EQUAL(vt_ctrl_feed(&p, unknown, sizeof(unknown), &req, &done), -EOPNOTSUPP);
	CU_ASSERT_FALSE(done);
	vt_ctrl_parser_init(&p);
	CU_ASSERT_EQUAL(vt_ctrl_feed(&p, junk, sizeof(junk), &req, &done), -EOPNOTSUPP);
	vt_ctrl_parser_init(&p);
	CU_ASSERT_EQUAL(vt_ctrl_feed(&p, junk, 3, &req, &done), 3); /* incomplete: waits */
	CU_ASSERT_FALSE(done);
	CU_ASSERT_EQUAL(vt_ctrl_req_size(VT_CMD_HASH_DATA), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(vt_ctrl_req_size(VT_CMD_SET_DATAFD), 0);
	CU_ASSERT_EQUAL(vt_ctrl_req_size(VT_CMD_SET_LOCALITY), 1);
}

static int no_fd(void *ctx)
{
	(void)ctx;
	return -EINVAL;
}

/* GET_STATEBLOB is parsed (fixed size) and refused in its own layout; the stream goes on. */
static void test_ctrl_stateblob_refused(void)
{
	const uint8_t in[] = { 0, 0, 0, 0x0c, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
			       0, 0, 0, 0x01 };
	const uint8_t datafd[] = { 0, 0, 0, 0x10 };
	const struct vt_ctrl_ops ops = { .set_datafd = no_fd };
	uint8_t out[VT_CTRL_RSP_MAX];
	struct vt_ctrl_parser p;
	struct vt_ctrl_req req;
	bool done;

	vt_ctrl_parser_init(&p);
	CU_ASSERT_EQUAL(vt_ctrl_feed(&p, in, sizeof(in), &req, &done), 16);
	CU_ASSERT_FATAL(done);
	CU_ASSERT_EQUAL(req.cmd, VT_CMD_GET_STATEBLOB);
	CU_ASSERT_EQUAL(vt_ctrl_handle(&req, &ops, NULL, out), 16);
	CU_ASSERT_EQUAL(be32(out), VT_PTM_BAD_ORDINAL);
	CU_ASSERT_EQUAL(be32(out + 8), 0); /* no blob length: nothing follows */
	CU_ASSERT_EQUAL(vt_ctrl_feed(&p, in + 16, 4, &req, &done), 4);
	CU_ASSERT_TRUE(done);
	CU_ASSERT_EQUAL(req.cmd, VT_CMD_GET_CAPABILITY);
	CU_ASSERT_EQUAL(vt_ctrl_handle(&req, &ops, NULL, out), 8);
	CU_ASSERT_EQUAL(be32(out + 4) & (1u << 8 | 1u << 9), 0); /* no state blob caps */
	CU_ASSERT_EQUAL(be32(out + 4) & VT_CAP_SET_DATAFD, VT_CAP_SET_DATAFD);
	/* SET_DATAFD without an fd (a channel stream, or a forgetful client) fails. */
	CU_ASSERT_EQUAL(vt_ctrl_feed(&p, datafd, 4, &req, &done), 4);
	CU_ASSERT_TRUE(done);
	CU_ASSERT_EQUAL(vt_ctrl_handle(&req, &ops, NULL, out), 4);
	CU_ASSERT_EQUAL(be32(out), VT_PTM_BAD_PARAMETER);
}

/* ---- the real libtpms ---- */

static uint8_t *stored;
static size_t stored_len;
static unsigned stores;
static int store_result;

static int store_cb(void *ctx, const uint8_t *blob, size_t len)
{
	(void)ctx;
	if (store_result < 0)
		return store_result;
	free(stored);
	stored = malloc(len);
	memcpy(stored, blob, len);
	stored_len = len;
	stores++;
	return 0;
}

static uint32_t run(const uint8_t *cmd, size_t len, uint8_t *out, size_t *ret_len)
{
	size_t n = vt_tpm_process(cmd, (uint32_t)len, out, VT_TPM_RSP_MAX);

	CU_ASSERT(n >= VT_TPM_HDR_SIZE);
	CU_ASSERT_EQUAL(be32(out + 2), n);
	if (ret_len)
		*ret_len = n;
	return be32(out + 6);
}

static void test_tpm_manufacture_and_restart(void)
{
	uint8_t out[VT_TPM_RSP_MAX], *first;
	size_t n = 0, first_len;

	CU_ASSERT_EQUAL_FATAL(vt_tpm_start(NULL, 0, store_cb, NULL), 0);
	CU_ASSERT_EQUAL(stores, 0); /* manufactured, kept in memory until a response needs it */
	/* Even a refused command's response waits until the new TPM is stored. */
	CU_ASSERT_EQUAL(run(getrandom16, sizeof(getrandom16), out, NULL), 0x100);
	CU_ASSERT_EQUAL(stores, 1);
	CU_ASSERT(stored_len > 1000);
	CU_ASSERT_EQUAL(run(startup_clear, sizeof(startup_clear), out, NULL), 0);
	CU_ASSERT_EQUAL(run(getrandom16, sizeof(getrandom16), out, &n), 0);
	CU_ASSERT_EQUAL(n, 10 + 2 + 16);
	/* A second Startup without a power cycle is TPM_RC_INITIALIZE (0x100). */
	CU_ASSERT_EQUAL(run(startup_clear, sizeof(startup_clear), out, NULL), 0x100);
	/* Power cycle from the stored state: Startup works again. */
	CU_ASSERT_EQUAL(vt_tpm_restart(), 0);
	CU_ASSERT_EQUAL(run(startup_clear, sizeof(startup_clear), out, NULL), 0);
	/* Stopped: commands get a TPM error response, not a crash. */
	vt_tpm_stop();
	CU_ASSERT_FALSE(vt_tpm_running());
	CU_ASSERT_EQUAL(run(getrandom16, sizeof(getrandom16), out, NULL), VT_TPM_RC_FAILURE);
	vt_tpm_fini();
	/* A new process (same state): starts without manufacturing again. */
	first = stored;
	first_len = stored_len;
	stored = NULL;
	stores = 0;
	CU_ASSERT_EQUAL_FATAL(vt_tpm_start(first, first_len, store_cb, NULL), 0);
	CU_ASSERT_EQUAL(run(startup_clear, sizeof(startup_clear), out, NULL), 0);
	vt_tpm_fini();
	free(first);
	free(stored);
	stored = NULL;
}

static void test_tpm_garbage_state_refused(void)
{
	uint8_t junk[4096];

	memset(junk, 0x5a, sizeof(junk));
	CU_ASSERT_EQUAL(vt_tpm_start(junk, sizeof(junk), store_cb, NULL), -EIO);
	CU_ASSERT_FALSE(vt_tpm_running());
	vt_tpm_fini();
}

static void test_tpm_malformed_commands(void)
{
	uint8_t out[VT_TPM_RSP_MAX];
	/* GetRandom whose size says 12 but whose parameter is cut (header-only). */
	uint8_t cut[] = { 0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x7b };
	uint8_t bad_cc[] = { 0x80, 0x01, 0, 0, 0, 10, 0x7f, 0xff, 0xff, 0xff };

	CU_ASSERT_EQUAL_FATAL(vt_tpm_start(NULL, 0, store_cb, NULL), 0);
	CU_ASSERT_EQUAL(run(startup_clear, sizeof(startup_clear), out, NULL), 0);
	CU_ASSERT_NOT_EQUAL(run(cut, sizeof(cut), out, NULL), 0);
	CU_ASSERT_NOT_EQUAL(run(bad_cc, sizeof(bad_cc), out, NULL), 0);
	CU_ASSERT_EQUAL(run(getrandom16, sizeof(getrandom16), out, NULL), 0);
	vt_tpm_fini();
	free(stored);
	stored = NULL;
}

/* The manufactured state could not be stored: no response may reveal it. */
static void test_tpm_deferred_store_fails(void)
{
	uint8_t out[VT_TPM_RSP_MAX];

	stores = 0;
	CU_ASSERT_EQUAL_FATAL(vt_tpm_start(NULL, 0, store_cb, NULL), 0);
	store_result = -EIO;
	/* GetRandom before Startup stores nothing itself: only the deferred store runs. */
	CU_ASSERT_EQUAL(run(getrandom16, sizeof(getrandom16), out, NULL), VT_TPM_RC_FAILURE);
	store_result = 0;
	CU_ASSERT_EQUAL(run(getrandom16, sizeof(getrandom16), out, NULL), 0x100);
	CU_ASSERT_EQUAL(stores, 1);
	vt_tpm_fini();
	free(stored);
	stored = NULL;
}

static const struct bh_test tests[] = {
	{ "framer split", test_framer_split },
	{ "framer rejects", test_framer_rejects },
	{ "ctrl parser", test_ctrl_parser },
	{ "ctrl parser rejects", test_ctrl_parser_rejects },
	{ "ctrl GET_STATEBLOB refused, SET_DATAFD needs an fd", test_ctrl_stateblob_refused },
	{ "tpm manufacture and restart", test_tpm_manufacture_and_restart },
	{ "tpm garbage state refused", test_tpm_garbage_state_refused },
	{ "tpm deferred store fails: no response", test_tpm_deferred_store_fails },
	{ "tpm malformed commands", test_tpm_malformed_commands },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = { { "vtpm-tpm", tests }, { NULL, NULL } };

	return bh_test_main(suites);
}
