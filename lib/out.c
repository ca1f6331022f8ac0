/* out.c: buffered record output. Records are written in large blocks; a
 * closed pipe is remembered (EPIPE) so the tool can stop quietly. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "jrn.h"

#define OUT_BLOCK (256 * 1024)

void jrn_out_init(jrn_out *o, int fd)
{
	o->fd = fd;
	o->err = 0;
	o->buf = (jrn_buf){0};
}

int jrn_out_flush(jrn_out *o)
{
	size_t off = 0;
	if (o->err)
		return -1;
	while (off < o->buf.len) {
		ssize_t n = write(o->fd, o->buf.p + off, o->buf.len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			o->err = errno;
			return -1;
		}
		off += (size_t)n;
	}
	jrn_buf_reset(&o->buf);
	return 0;
}

int jrn_out_lines(jrn_out *o, const char *p, size_t len)
{
	if (jrn_out_flush(o) < 0)
		return -1;
	while (len) {
		ssize_t n = write(o->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			o->err = errno;
			return -1;
		}
		p += n, len -= (size_t)n;
	}
	return 0;
}

/* Appends p[0..len), then a newline when nl: 0 or -1 (see o->err). */
static int out_add(jrn_out *o, const char *p, size_t len, bool nl)
{
	if (o->err)
		return -1;
	if (jrn_buf_reserve(&o->buf, len + 1) < 0) {
		o->err = ENOMEM;
		return -1;
	}
	memcpy(o->buf.p + o->buf.len, p, len);
	o->buf.len += len;
	if (nl)
		o->buf.p[o->buf.len++] = '\n';
	o->buf.p[o->buf.len] = '\0';
	if (o->buf.len >= OUT_BLOCK)
		return jrn_out_flush(o);
	return 0;
}

int jrn_out_line(jrn_out *o, const char *p, size_t len)
{
	return out_add(o, p, len, true);
}

int jrn_out_text(jrn_out *o, const char *p, size_t len)
{
	return out_add(o, p, len, false);
}

int jrn_out_close(jrn_out *o)
{
	int rc = jrn_out_flush(o);
	jrn_buf_free(&o->buf);
	return rc;
}
