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

GPtrArray *
cg_csv_parse(const char *data, gsize len, guint max_rows, GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func(row_free);
	g_autoptr(GPtrArray) row = NULL;
	g_autoptr(GString) cell = g_string_new(NULL);
	gsize i = 0;
	guint line = 1;
	gboolean quoted = FALSE, was_quoted = FALSE, in_cell = FALSE;

	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	if (!g_utf8_validate(data + i, (gssize)(len - i), NULL)) {
		csv_fail(error, 1, "not UTF-8");
		return NULL;
	}
	row = g_ptr_array_new_with_free_func(g_free);
	for (; i <= len; i++) {
		char c = i < len ? data[i] : '\0';
		gboolean end = i == len;

		if (quoted) {
			if (end) {
				csv_fail(error, line, "a quoted cell is not closed");
				return NULL;
			}
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
				if (cell->len > MAX_CELL_SIZE) {
					csv_fail(error, line, "a cell longer than %d bytes",
					         MAX_CELL_SIZE);
					return NULL;
				}
			}
			continue;
		}
		if (c == '"') {
			if (in_cell || was_quoted) {
				csv_fail(error, line, "a quote inside an unquoted cell");
				return NULL;
			}
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
				if (row->len >= MAX_CELLS) {
					csv_fail(error, line, "more than %d cells", MAX_CELLS);
					return NULL;
				}
				g_ptr_array_add(row, g_strndup(cell->str, cell->len));
			}
			g_string_truncate(cell, 0);
			in_cell = was_quoted = FALSE;
			if (c == ',')
				continue;
			if (row->len > 0) {
				if (rows->len > max_rows) {
					csv_fail(error, line, "more than %u rows", max_rows);
					return NULL;
				}
				g_ptr_array_add(rows, g_steal_pointer(&row));
				row = g_ptr_array_new_with_free_func(g_free);
			}
			line++;
			continue;
		}
		if (was_quoted) {
			csv_fail(error, line, "text after a closing quote");
			return NULL;
		}
		if (c == '\r') {
			csv_fail(error, line, "a carriage return without a line feed");
			return NULL;
		}
		g_string_append_c(cell, c);
		in_cell = TRUE;
		if (cell->len > MAX_CELL_SIZE) {
			csv_fail(error, line, "a cell longer than %d bytes", MAX_CELL_SIZE);
			return NULL;
		}
	}
	return g_steal_pointer(&rows);
}
