/*
 * testutil.h: small helpers for certgate's cmocka tests.
 */
#ifndef CG_TESTUTIL_H
#define CG_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <glib.h>

/* $CG_TEST_DATA/rel. Caller frees. */
char *cg_test_data(const char *rel);
/* A fresh empty directory under $CG_TEST_TMP. Caller frees (and may remove). */
char *cg_test_tmpdir(const char *prefix);
/* A helper program built next to this test (cg-storetool, ...). Caller frees. */
char *cg_test_tool(const char *name);
/* Removes a directory tree. */
void cg_test_rmtree(const char *path);
/* Asserts that err is set with the given code and its message contains needle. */
#define assert_error(err, code, needle)                                                            \
	cg_test_assert_error((err), (code), (needle), __FILE__, __LINE__)
void cg_test_assert_error(const GError *err, int code, const char *needle, const char *file,
                          int line);

#endif
