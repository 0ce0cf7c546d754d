/*
 * testutil.c: helpers shared by the cmocka tests.
 */
#include "testutil.h"
#include "common.h"

#include <string.h>
#include <stdio.h>

char *
cg_test_data(const char *rel)
{
	const char *base = g_getenv("CG_TEST_DATA");

	return g_build_filename(base ? base : "tests/data", rel, NULL);
}

char *
cg_test_tmpdir(const char *prefix)
{
	const char *base = g_getenv("CG_TEST_TMP");
	g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", prefix);
	g_autofree char *path = g_build_filename(base ? base : g_get_tmp_dir(), tmpl, NULL);

	g_mkdir_with_parents(base ? base : g_get_tmp_dir(), 0700);
	return g_strdup(g_mkdtemp(path));
}

char *
cg_test_tool(const char *name)
{
	g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
	g_autofree char *dir = g_path_get_dirname(self ? self : ".");

	return g_build_filename(dir, name, NULL);
}

void
cg_test_rmtree(const char *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const char *name;

	if (d == NULL) {
		remove(path);
		return;
	}
	while ((name = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(path, name, NULL);

		if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
			cg_test_rmtree(p);
		else
			remove(p);
	}
	remove(path);
}

void
cg_test_assert_error(const GError *err, int code, const char *needle, const char *file, int line)
{
	if (err == NULL)
		_fail(file, line);
	if (err->domain != CG_ERROR || err->code != code) {
		print_error("expected error code %d, got %d: %s\n", code, err->code, err->message);
		_fail(file, line);
	}
	if (needle != NULL && strstr(err->message, needle) == NULL) {
		print_error("error message \"%s\" lacks \"%s\"\n", err->message, needle);
		_fail(file, line);
	}
}
