/*
 * fuzz_common.c: linked into every fuzz target. A GLib critical (a
 * g_return_if_fail that failed: a NULL where a string was due, say) aborts
 * the target, so that libFuzzer reports it as a crash and keeps the input:
 * otherwise it is a line on stderr and the run goes on. (GLib's own fatal
 * mask would end the process with SIGTRAP, which libFuzzer does not catch:
 * no input would be kept.) Other messages go to GLib's default handler (a
 * library may warn about the input it was given).
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

static void
abort_on_critical(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
		fprintf(stderr, "fuzz: GLib critical (%s): %s\n", domain ? domain : "-", message);
		abort();
	}
	g_log_default_handler(domain, level, message, data);
}

__attribute__((constructor)) static void
cg_fuzz_criticals_abort(void)
{
	g_log_set_default_handler(abort_on_critical, NULL);
}
