/*
 * fuzz.h: what the fuzz targets share.
 *
 *   cg_fuzz_workdir()       a fresh directory (on tmpfs when there is one),
 *                           removed when the target exits
 *   cg_fuzz_private_copy()  a test key copied where the milter will read it
 *                           (a key file must be the reader's own, mode 0600)
 */
#ifndef CG_FUZZ_H
#define CG_FUZZ_H

#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>

static char *cg_fuzz_dir;

static inline void
cg_fuzz_remove_workdir(void)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", cg_fuzz_dir);

	if (system(cmd) != 0)
		fprintf(stderr, "fuzz: could not remove %s\n", cg_fuzz_dir);
}

/* A fresh directory for the target NAME's store and files, on /dev/shm when
 * there is one, removed at exit. Aborts the target when it cannot. */
static inline const char *
cg_fuzz_workdir(const char *name)
{
	const char *base =
	    g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : g_get_tmp_dir();
	g_autofree char *leaf = g_strdup_printf("%s.XXXXXX", name);
	char *tmpl = g_build_filename(base, leaf, NULL);

	if (g_mkdtemp(tmpl) == NULL)
		g_error("%s: no temporary directory", name);
	cg_fuzz_dir = tmpl;
	atexit(cg_fuzz_remove_workdir);
	return cg_fuzz_dir;
}

/* tests/data/fuzzpki/NAME copied to DIR/NAME, mode 0600; its path. Aborts
 * the target when it cannot. Caller frees. */
static inline char *
cg_fuzz_private_copy(const char *src, const char *name, const char *dir)
{
	g_autofree char *from = g_build_filename(src, "tests", "data", "fuzzpki", name, NULL);
	g_autofree char *data = NULL;
	char *to = g_build_filename(dir, name, NULL);
	gsize len;

	if (!g_file_get_contents(from, &data, &len, NULL) ||
	    !g_file_set_contents_full(to, data, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
	                              NULL))
		g_error("fuzz: cannot copy %s to %s", from, to);
	return to;
}

#endif
