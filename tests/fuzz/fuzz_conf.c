/*
 * fuzz_conf.c: libFuzzer target for the configuration parser and dump.
 */
#include "conf.h"

#include <stdint.h>
#include <stddef.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) c =
	    cg_conf_load_data("fuzz.conf", "/etc/certgate", (const char *)data, size, &err);

	if (c != NULL) {
		g_autoptr(GString) out = g_string_new(NULL);

		cg_conf_dump(c, FALSE, out);
	}
	return 0;
}
