/* SPDX-License-Identifier: MIT */
/*
 * The libtpms adapter: the only file that includes libtpms' headers. libtpms
 * keeps one TPM in global state, so this file does too: one TPM per worker
 * process. TPM_RESULTs are translated here; the rest of vtpm sees -errno or
 * TPM 2.0 response bytes.
 *
 * Persistence goes through libtpms' NVRAM callbacks. Only the permanent
 * state ("permall") is kept: volatile state is never stored, so a restarted
 * worker powers on like a real TPM (PCRs reset, NV and persistent objects
 * kept).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libtpms/tpm_error.h>
#include <libtpms/tpm_library.h>
#include <libtpms/tpm_memory.h>
#include <libtpms/tpm_nvfilename.h>
#include <libtpms/tpm_tis.h>

#include "vtpm.h"

static struct {
	uint8_t *state; /* last stored permanent state, for loads and restarts */
	size_t state_len;
	vt_store_fn store;
	void *ctx;
	bool running;
	bool registered;
	bool defer; /* powering on: keep stores in memory (dirty) */
	bool dirty; /* T.state not yet stored durably */
	uint8_t locality;
	unsigned char *rbuf; /* libtpms' response buffer, reused across commands */
	uint32_t rbufsize;
} T;

static void drop_state(void)
{
	if (T.state) {
		explicit_bzero(T.state, T.state_len);
		free(T.state);
	}
	T.state = NULL;
	T.state_len = 0;
}

static int keep_state(const uint8_t *blob, size_t len)
{
	uint8_t *copy = NULL;

	if (len) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, blob, len);
	}
	drop_state();
	T.state = copy;
	T.state_len = len;
	return 0;
}

static TPM_RESULT cb_nvram_init(void)
{
	return TPM_SUCCESS;
}

static TPM_RESULT cb_nvram_load(unsigned char **data, uint32_t *length, uint32_t tpm_number,
				const char *name)
{
	(void)tpm_number;
	/* TPM_RETRY tells libtpms there is no such state: manufacture, or no volatile. */
	if (strcmp(name, TPM_PERMANENT_ALL_NAME) != 0 || !T.state_len)
		return TPM_RETRY;
	if (TPM_Malloc(data, (uint32_t)T.state_len) != TPM_SUCCESS)
		return TPM_FAIL;
	memcpy(*data, T.state, T.state_len);
	*length = (uint32_t)T.state_len;
	return TPM_SUCCESS;
}

static TPM_RESULT cb_nvram_store(const unsigned char *data, uint32_t length, uint32_t tpm_number,
				 const char *name)
{
	(void)tpm_number;
	if (strcmp(name, TPM_PERMANENT_ALL_NAME) != 0)
		return TPM_FAIL; /* volatile state is never persisted, see above */
	if (T.defer) {
		if (keep_state(data, length) < 0)
			return TPM_FAIL;
		T.dirty = true;
		return TPM_SUCCESS;
	}
	if (!T.store || T.store(T.ctx, data, length) < 0)
		return TPM_FAIL;
	T.dirty = false;
	return keep_state(data, length) < 0 ? TPM_FAIL : TPM_SUCCESS;
}

/* Make a state kept in memory at power-on durable (before any response depends on it). */
static int flush_deferred(void)
{
	if (!T.dirty)
		return 0;
	if (!T.store || T.store(T.ctx, T.state, T.state_len) < 0)
		return -EIO;
	T.dirty = false;
	return 0;
}

static TPM_RESULT cb_nvram_delete(uint32_t tpm_number, const char *name, TPM_BOOL must_exist)
{
	(void)tpm_number;
	(void)must_exist;
	/* Only volatile state is ever deleted by libtpms; we never keep it. */
	return strcmp(name, TPM_PERMANENT_ALL_NAME) ? TPM_SUCCESS : TPM_FAIL;
}

static TPM_RESULT cb_io_init(void)
{
	return TPM_SUCCESS;
}

static TPM_RESULT cb_io_locality(TPM_MODIFIER_INDICATOR *loc, uint32_t tpm_number)
{
	(void)tpm_number;
	*loc = T.locality;
	return TPM_SUCCESS;
}

static TPM_RESULT cb_io_pp(TPM_BOOL *pp, uint32_t tpm_number)
{
	(void)tpm_number;
	*pp = 0; /* no physical presence for a virtual TPM */
	return TPM_SUCCESS;
}

static int power_on(void)
{
	static struct libtpms_callbacks cbs = {
		.sizeOfStruct = sizeof(struct libtpms_callbacks),
		.tpm_nvram_init = cb_nvram_init,
		.tpm_nvram_loaddata = cb_nvram_load,
		.tpm_nvram_storedata = cb_nvram_store,
		.tpm_nvram_deletename = cb_nvram_delete,
		.tpm_io_init = cb_io_init,
		.tpm_io_getlocality = cb_io_locality,
		.tpm_io_getphysicalpresence = cb_io_pp,
	};
	TPM_RESULT rc;

	if (!T.registered) {
		if (TPMLIB_ChooseTPMVersion(TPMLIB_TPM_VERSION_2) != TPM_SUCCESS ||
		    TPMLIB_RegisterCallbacks(&cbs) != TPM_SUCCESS)
			return -EIO;
		T.registered = true;
	}
	T.locality = 0;
	/*
	 * A state change during power-on (manufacturing a new TPM, a format
	 * upgrade) is kept in memory and stored before the first command's
	 * response: until a guest saw something, losing it loses nothing, and
	 * the start does not wait for a store round trip and its fsyncs.
	 */
	T.defer = true;
	rc = TPMLIB_MainInit();
	T.defer = false;
	if (rc != TPM_SUCCESS)
		return -EIO;
	T.running = true;
	return 0;
}

int vt_tpm_start(const uint8_t *state, size_t len, vt_store_fn store, void *ctx)
{
	int r;

	if (T.running || len > VT_STATE_MAX)
		return -EINVAL;
	r = keep_state(state, len);
	if (r < 0)
		return r;
	T.store = store;
	T.ctx = ctx;
	return power_on();
}

void vt_tpm_stop(void)
{
	if (T.running)
		TPMLIB_Terminate();
	T.running = false;
	/* A state no guest has seen yet is dropped with the power: the next start makes it anew. */
}

int vt_tpm_restart(void)
{
	vt_tpm_stop();
	return power_on();
}

bool vt_tpm_running(void)
{
	return T.running;
}

void vt_tpm_fini(void)
{
	vt_tpm_stop();
	drop_state();
	if (T.rbuf) {
		explicit_bzero(T.rbuf, T.rbufsize);
		TPM_Free(T.rbuf);
	}
	T.rbuf = NULL;
	T.rbufsize = 0;
}

size_t vt_tpm_process(const uint8_t *cmd, uint32_t len, uint8_t *out, size_t cap)
{
	uint8_t copy[VT_TPM_CMD_MAX];
	uint32_t rlen = 0;

	if (!T.running || len > sizeof(copy) || cap < VT_TPM_HDR_SIZE) {
		vt_tpm_error_response(out, VT_TPM_RC_FAILURE);
		return VT_TPM_HDR_SIZE;
	}
	/* libtpms takes a non-const buffer. */
	memcpy(copy, cmd, len);
	if (TPMLIB_Process(&T.rbuf, &rlen, &T.rbufsize, copy, len) != TPM_SUCCESS ||
	    rlen < VT_TPM_HDR_SIZE || rlen > cap) {
		vt_tpm_error_response(out, VT_TPM_RC_FAILURE);
		return VT_TPM_HDR_SIZE;
	}
	if (flush_deferred() < 0) {
		vt_tpm_error_response(out, VT_TPM_RC_FAILURE);
		return VT_TPM_HDR_SIZE;
	}
	memcpy(out, T.rbuf, rlen);
	return rlen;
}

int vt_tpm_set_locality(uint8_t loc)
{
	if (loc > 4)
		return -EINVAL;
	T.locality = loc;
	return 0;
}

int vt_tpm_cancel(void)
{
	return TPMLIB_CancelCommand() == TPM_SUCCESS ? 0 : -EIO;
}

int vt_tpm_get_established(bool *ret)
{
	TPM_BOOL b = 0;

	if (!T.running || TPM_IO_TpmEstablished_Get(&b) != TPM_SUCCESS)
		return -EIO;
	*ret = b != 0;
	return 0;
}

int vt_tpm_reset_established(uint8_t loc)
{
	uint8_t saved = T.locality;
	TPM_RESULT rc;

	/* The reset is a locality 3/4 operation; the request names the locality. */
	if (loc > 4 || !T.running)
		return -EINVAL;
	T.locality = loc;
	rc = TPM_IO_TpmEstablished_Reset();
	T.locality = saved;
	return rc == TPM_SUCCESS ? 0 : -EPERM;
}

uint32_t vt_tpm_set_buffersize(uint32_t want, uint32_t *min, uint32_t *max)
{
	uint32_t lo = 0, hi = 0, cur;

	/* Changing the size is only allowed while stopped, as in swtpm. */
	cur = TPMLIB_SetBufferSize(T.running ? 0 : want, &lo, &hi);
	*min = lo;
	*max = hi < VT_TPM_CMD_MAX ? hi : VT_TPM_CMD_MAX;
	return cur < VT_TPM_CMD_MAX ? cur : VT_TPM_CMD_MAX;
}
