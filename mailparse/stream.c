/*
 * stream.c: a read-only GMime stream over a GBytes, without a copy.
 *
 * GMime's memory stream copies the buffer it is made with, and the parser
 * keeps every part's content as a substream of its input: a message parsed
 * from a memory stream was held twice (the caller's bytes and GMime's copy),
 * its signed content parsed again three times. Over this stream the parts
 * are windows on the caller's bytes, which it keeps (a reference) as long
 * as any of them lives.
 *
 * Positions are offsets in the whole of the bytes, as in GMime's own
 * streams: a substream's bound_start and bound_end limit where it reads and
 * seeks. Writing fails (EBADF): the bytes are not the stream's to change.
 */
#include "mailparse-int.h"

#include <errno.h>
#include <string.h>

typedef struct {
	GMimeStream parent;
	GBytes *bytes;
} CgBytesStream;

typedef struct {
	GMimeStreamClass parent_class;
} CgBytesStreamClass;

G_DEFINE_TYPE(CgBytesStream, cg_bytes_stream, GMIME_TYPE_STREAM)

static gint64
end_of(GMimeStream *stream)
{
	gint64 size = (gint64)g_bytes_get_size(((CgBytesStream *)stream)->bytes);

	/* A bound past the bytes (never made by GMime's parser) ends at them. */
	return stream->bound_end != -1 ? MIN(stream->bound_end, size) : size;
}

static ssize_t
stream_read(GMimeStream *stream, char *buf, size_t len)
{
	CgBytesStream *s = (CgBytesStream *)stream;
	gint64 left = end_of(stream) - stream->position;
	const guint8 *data = g_bytes_get_data(s->bytes, NULL);

	if (stream->position < stream->bound_start || left < 0) {
		errno = EINVAL;
		return -1;
	}
	if ((gint64)len > left)
		len = (size_t)left;
	if (len > 0)
		memcpy(buf, data + stream->position, len);
	stream->position += (gint64)len;
	return (ssize_t)len;
}

static ssize_t
stream_write(GMimeStream *stream, const char *buf, size_t len)
{
	(void)stream;
	(void)buf;
	(void)len;
	errno = EBADF;
	return -1;
}

static int
stream_flush(GMimeStream *stream)
{
	(void)stream;
	return 0;
}

static int
stream_close(GMimeStream *stream)
{
	(void)stream;
	return 0;
}

static gboolean
stream_eos(GMimeStream *stream)
{
	return stream->position >= end_of(stream);
}

static int
stream_reset(GMimeStream *stream)
{
	stream->position = stream->bound_start;
	return 0;
}

static gint64
stream_seek(GMimeStream *stream, gint64 offset, GMimeSeekWhence whence)
{
	gint64 real;

	switch (whence) {
	case GMIME_STREAM_SEEK_SET:
		real = offset;
		break;
	case GMIME_STREAM_SEEK_CUR:
		real = stream->position + offset;
		break;
	case GMIME_STREAM_SEEK_END:
		real = end_of(stream) + offset;
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	if (real < stream->bound_start || real > end_of(stream)) {
		errno = EINVAL;
		return -1;
	}
	stream->position = real;
	return real;
}

static gint64
stream_tell(GMimeStream *stream)
{
	return stream->position;
}

static gint64
stream_length(GMimeStream *stream)
{
	return MAX(end_of(stream) - stream->bound_start, 0);
}

static GMimeStream *
stream_substream(GMimeStream *stream, gint64 start, gint64 end)
{
	CgBytesStream *sub = g_object_new(cg_bytes_stream_get_type(), NULL);

	sub->bytes = g_bytes_ref(((CgBytesStream *)stream)->bytes);
	g_mime_stream_construct(GMIME_STREAM(sub), start, end);
	return GMIME_STREAM(sub);
}

static void
cg_bytes_stream_finalize(GObject *object)
{
	CgBytesStream *s = (CgBytesStream *)object;

	g_clear_pointer(&s->bytes, g_bytes_unref);
	G_OBJECT_CLASS(cg_bytes_stream_parent_class)->finalize(object);
}

static void
cg_bytes_stream_class_init(CgBytesStreamClass *klass)
{
	GMimeStreamClass *sc = GMIME_STREAM_CLASS(klass);

	G_OBJECT_CLASS(klass)->finalize = cg_bytes_stream_finalize;
	sc->read = stream_read;
	sc->write = stream_write;
	sc->flush = stream_flush;
	sc->close = stream_close;
	sc->eos = stream_eos;
	sc->reset = stream_reset;
	sc->seek = stream_seek;
	sc->tell = stream_tell;
	sc->length = stream_length;
	sc->substream = stream_substream;
}

static void
cg_bytes_stream_init(CgBytesStream *s)
{
	s->bytes = NULL;
}

GMimeStream *
cg_mail_stream_new(GBytes *bytes)
{
	CgBytesStream *s = g_object_new(cg_bytes_stream_get_type(), NULL);

	s->bytes = g_bytes_ref(bytes);
	g_mime_stream_construct(GMIME_STREAM(s), 0, -1);
	return GMIME_STREAM(s);
}
