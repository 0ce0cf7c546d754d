/*
 * csv.c: RFC 4180 CSV for bulk enrolment lists.
 *
 * Records end with CRLF or LF (a lone CR inside an unquoted cell is an
 * error); cells are separated by commas; a quoted cell may hold commas,
 * doubled quotes and line breaks. UTF-8 only; a leading BOM is skipped.
 * A quote inside an unquoted cell, text after a closing quote, or an
 * unterminated quote is an error naming the line where it happens.
 */
#include "policy.h"
#include "common.h"

#include <string.h>

#define MAX_CELLS     64
#define MAX_CELL_SIZE 16384

static void
row_free(gpointer p)
{
	g_ptr_array_unref(p);
}

static gboolean G_GNUC_PRINTF(3, 4) csv_fail(GError **error, guint line, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *m = NULL;

	va_start(ap, fmt);
	m = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "CSV line %u: %s", line, m);
	return FALSE;
}

gboolean
cg_csv_foreach(const char *data, gsize len, guint max_rows, CgCsvRowFunc func, gpointer user,
               GError **error)
{
	g_autoptr(GPtrArray) row = NULL;
	guint n = 0;
	g_autoptr(GString) cell = g_string_new(NULL);
	gsize i = 0;
	guint line = 1;
	gboolean quoted = FALSE, was_quoted = FALSE, in_cell = FALSE;

	if (len == 0) /* no rows; an empty part's bytes may be NULL */
		return TRUE;
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	if (!g_utf8_validate(data + i, (gssize)(len - i), NULL))
		return csv_fail(error, 1, "not UTF-8");
	row = g_ptr_array_new_with_free_func(g_free);
	for (; i <= len; i++) {
		char c = i < len ? data[i] : '\0';
		gboolean end = i == len;

		if (quoted) {
			if (end)
				return csv_fail(error, line, "a quoted cell is not closed");
			if (c == '"') {
				if (i + 1 < len && data[i + 1] == '"') {
					g_string_append_c(cell, '"');
					i++;
				} else {
					quoted = FALSE;
				}
			} else {
				if (c == '\n')
					line++;
				g_string_append_c(cell, c);
				if (cell->len > MAX_CELL_SIZE)
					return csv_fail(error, line, "a cell longer than %d bytes",
					                MAX_CELL_SIZE);
			}
			continue;
		}
		if (c == '"') {
			if (in_cell || was_quoted)
				return csv_fail(error, line, "a quote inside an unquoted cell");
			quoted = was_quoted = in_cell = TRUE;
			continue;
		}
		if (c == ',' || c == '\n' || (c == '\r' && i + 1 < len && data[i + 1] == '\n') ||
		    end) {
			gboolean blank_line =
			    !in_cell && row->len == 0 && cell->len == 0 && c != ',';

			if (c == '\r')
				i++;
			if (!blank_line) {
				if (row->len >= MAX_CELLS)
					return csv_fail(error, line, "more than %d cells",
					                MAX_CELLS);
				g_ptr_array_add(row, g_strndup(cell->str, cell->len));
			}
			g_string_truncate(cell, 0);
			in_cell = was_quoted = FALSE;
			if (c == ',')
				continue;
			if (row->len > 0) {
				if (n++ > max_rows)
					return csv_fail(error, line, "more than %u rows", max_rows);
				if (!func(row, line, user, error))
					return FALSE;
				g_ptr_array_set_size(row, 0);
			}
			line++;
			continue;
		}
		if (was_quoted)
			return csv_fail(error, line, "text after a closing quote");
		if (c == '\r')
			return csv_fail(error, line, "a carriage return without a line feed");
		g_string_append_c(cell, c);
		in_cell = TRUE;
		if (cell->len > MAX_CELL_SIZE)
			return csv_fail(error, line, "a cell longer than %d bytes", MAX_CELL_SIZE);
	}
	return TRUE;
}

static gboolean
keep_row(GPtrArray *row, guint line, gpointer user, GError **error)
{
	GPtrArray *copy = g_ptr_array_new_full(row->len, g_free);
	guint i;

	(void)line;
	(void)error;
	for (i = 0; i < row->len; i++)
		g_ptr_array_add(copy, g_steal_pointer(&row->pdata[i]));
	g_ptr_array_add(user, copy);
	return TRUE;
}

GPtrArray *
cg_csv_parse(const char *data, gsize len, guint max_rows, GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func(row_free);

	if (!cg_csv_foreach(data, len, max_rows, keep_row, rows, error))
		return NULL;
	return g_steal_pointer(&rows);
}
