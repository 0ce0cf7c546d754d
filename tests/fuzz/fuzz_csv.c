/*
 * fuzz_csv.c: libFuzzer target for the bulk-enrolment CSV parser: every
 * parsed cell must lie within the input's size.
 */
#include "policy.h"

#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GPtrArray *rows = cg_csv_parse((const char *)data, size, 1000, NULL);
	guint r, c;

	if (rows == NULL)
		return 0;
	for (r = 0; r < rows->len; r++) {
		GPtrArray *row = rows->pdata[r];

		for (c = 0; c < row->len; c++)
			if (strlen(row->pdata[c]) > size)
				abort();
	}
	g_ptr_array_unref(rows);
	return 0;
}
