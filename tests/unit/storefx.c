/*
 * storefx.c: see storefx.h.
 */
#include "storefx.h"

int
cg_storefx_setup(void **state)
{
	Fx *fx = g_new0(Fx, 1);
	g_autofree char *db = NULL, *ev = NULL;
	g_autoptr(GError) err = NULL;

	fx->dir = cg_test_tmpdir("store");
	db = g_build_filename(fx->dir, "db", NULL);
	ev = g_build_filename(fx->dir, "evidence", NULL);
	fx->s = cg_store_open(db, ev, CG_STORE_DEFAULT, &err);
	if (fx->s == NULL)
		print_error("open: %s\n", err->message);
	*state = fx;
	return fx->s == NULL;
}

int
cg_storefx_teardown(void **state)
{
	Fx *fx = *state;

	cg_store_close(fx->s);
	cg_test_rmtree(fx->dir);
	g_free(fx->dir);
	g_free(fx);
	return 0;
}
