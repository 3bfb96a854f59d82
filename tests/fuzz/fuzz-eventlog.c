/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the event log reader (eventlog.c): `bulkhead attest` reads a guest's
 * log from the state directory, where the guest may be able to see it, so it
 * is untrusted. A log that parses must encode again, and that encoding must
 * parse to the same events; replay and description must not trip.
 *
 * Inputs are capped at 256 KiB: events are bounded one by one, a few are
 * enough to reach every state of the parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../dom0/dom0.h"

#define FUZZ_MAX (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bh_pcrs pcrs;
	struct bh_eventlog *log = NULL, *again = NULL;
	uint8_t *buf = NULL;
	char why[256], desc[256];
	size_t len = 0;

	if (size > FUZZ_MAX)
		return 0;
	if (bh_eventlog_parse(data, size, &log, why, sizeof(why)) != 0) {
		if (!why[0])
			abort(); /* every refusal says why */
		return 0;
	}
	if (bh_eventlog_encode(log, &buf, &len) != 0 ||
	    bh_eventlog_parse(buf, len, &again, why, sizeof(why)) != 0 || again->n != log->n)
		abort();
	if (bh_eventlog_compare(log, again, why, sizeof(why)) != 0)
		abort();
	bh_eventlog_replay(log, &pcrs);
	for (size_t i = 0; i < log->n; i++)
		bh_event_describe(log, i, desc, sizeof(desc));
	free(buf);
	bh_eventlog_free(again);
	bh_eventlog_free(log);
	return 0;
}
