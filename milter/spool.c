/*
 * spool.c: a message body kept in memory up to a threshold, then spilled to
 * an unlinked private file, so that many large messages in flight do not
 * hold their bodies in memory.
 */
#include "milter.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
cg_spool_init(CgSpool *s, const char *dir, gsize threshold)
{
	s->mem = g_byte_array_new();
	s->fd = -1;
	s->size = 0;
	s->threshold = threshold;
	s->dir = g_strdup(dir);
}

static int
private_tmpfile(const char *dir, GError **error)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		g_autofree char *path = g_build_filename(dir, "body-XXXXXX", NULL);

		fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0)
			unlink(path);
	}
	if (fd < 0)
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "spool file in %s: %s", dir,
		            g_strerror(errno));
	return fd;
}

static gboolean
write_all(int fd, const guint8 *p, gsize len, GError **error)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			g_set_error(error, CG_ERROR, CG_ERROR_IO, "spool write: %s",
			            g_strerror(n < 0 ? errno : EIO));
			return FALSE;
		}
		p += n;
		len -= (gsize)n;
	}
	return TRUE;
}

gboolean
cg_spool_append(CgSpool *s, const void *data, gsize len, GError **error)
{
	if (s->fd < 0 && s->size + len > s->threshold) {
		g_mkdir_with_parents(s->dir, 0700);
		s->fd = private_tmpfile(s->dir, error);
		if (s->fd < 0 || !write_all(s->fd, s->mem->data, s->mem->len, error))
			return FALSE;
		g_byte_array_set_size(s->mem, 0);
	}
	if (s->fd >= 0) {
		if (!write_all(s->fd, data, len, error))
			return FALSE;
	} else {
		g_byte_array_append(s->mem, data, (guint)len);
	}
	s->size += len;
	return TRUE;
}

GBytes *
cg_spool_take(CgSpool *s, const void *head, gsize head_len, GError **error)
{
	gsize got = 0, total = head_len + s->size;
	guint8 *buf;

	/* One buffer of the exact size: a message of tens of megabytes is
	 * not held twice (the spool and the message), nor rounded up to a
	 * power of two as a growing array is. */
	buf = g_malloc(total ? total : 1);
	if (head_len > 0)
		memcpy(buf, head, head_len);
	if (s->fd < 0) {
		if (s->mem->len > 0)
			memcpy(buf + head_len, s->mem->data, s->mem->len);
		g_byte_array_set_size(s->mem, 0);
		s->size = 0;
		return g_bytes_new_take(buf, total);
	}
	while (got < s->size) {
		ssize_t n = pread(s->fd, buf + head_len + got, s->size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			g_set_error(error, CG_ERROR, CG_ERROR_IO, "spool read: %s",
			            g_strerror(n < 0 ? errno : EIO));
			g_free(buf);
			return NULL;
		}
		got += (gsize)n;
	}
	close(s->fd);
	s->fd = -1;
	s->size = 0;
	return g_bytes_new_take(buf, total);
}

void
cg_spool_clear(CgSpool *s)
{
	if (s->mem != NULL)
		g_byte_array_unref(s->mem);
	s->mem = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->size = 0;
	g_clear_pointer(&s->dir, g_free);
}
