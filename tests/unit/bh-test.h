/* SPDX-License-Identifier: MIT */
/*
 * Shared CUnit boilerplate: every test executable lists its suites in a table
 * and calls bh_test_main(), which runs them verbosely and exits non-zero on
 * any failure or registration error.
 */
#ifndef BH_TEST_H
#define BH_TEST_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

struct bh_test {
	const char *name;
	void (*fn)(void);
};

struct bh_suite {
	const char *name;
	const struct bh_test *tests; /* terminated by { NULL, NULL } */
};

static inline int bh_test_main(const struct bh_suite *suites)
{
	unsigned failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (const struct bh_suite *s = suites; s->name; s++) {
		CU_pSuite cs = CU_add_suite(s->name, NULL, NULL);

		if (!cs)
			goto fail;
		for (const struct bh_test *t = s->tests; t->name; t++)
			if (!CU_add_test(cs, t->name, t->fn))
				goto fail;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		goto fail;
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
fail:
	CU_cleanup_registry();
	return 2;
}

#endif
