/*
 * storefx.h: a fresh store in a temporary directory, for the store's cmocka
 * tests (setup/teardown of a group).
 */
#ifndef CG_STOREFX_H
#define CG_STOREFX_H

#include "testutil.h"
#include "store.h"

typedef struct {
	char *dir;
	CgStore *s;
} Fx;

int cg_storefx_setup(void **state);
int cg_storefx_teardown(void **state);

#endif
