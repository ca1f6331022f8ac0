/* out.c: buffered record output. Records are written in large blocks; a
 * closed pipe is remembered (EPIPE) so the tool can stop quietly. Behind
 * (jrn_out_behind), the blocks are written by a thread of their own. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrn.h"

#define OUT_BLOCK (256 * 1024)

/* jrn_out_behind's thread and what it shares with the caller's, under
 * mu: the caller puts a block in slot and waits while the slot is full;
 * the thread takes it (leaving its last block's storage, empty, in its
 * place) and writes it. */
struct jrn_out_writer {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;
	jrn_buf slot;  /* handed over, not yet taken; len 0: none */
	bool writing;  /* the thread holds a block */
	bool stop;     /* jrn_out_close: end once the slot is empty */
	int err;       /* the first write error (errno); later blocks are dropped */
};

/* Writes p[0..len) to fd whole: 0, or errno. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += n, len -= (size_t)n;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	struct jrn_out_writer *w = arg;
	jrn_buf mine = {0};
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->slot.len && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->slot.len)
			break;
		jrn_buf t = w->slot;
		w->slot = mine;
		mine = t;
		w->writing = true;
		int err = w->err;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		if (!err)
			err = write_all(w->fd, mine.p, mine.len);
		jrn_buf_reset(&mine);
		pthread_mutex_lock(&w->mu);
		w->writing = false;
		if (err && !w->err)
			w->err = err;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	jrn_buf_free(&mine);
	return NULL;
}

/* The thread's error into o->err, once; w->mu held. 0 or -1. */
static int took_err(jrn_out *o)
{
	if (o->behind->err && !o->err)
		o->err = o->behind->err;
	return o->err ? -1 : 0;
}

/* Behind: b's block handed to the thread (waiting while the slot is
 * full); b left empty with the slot's old storage. 0 or -1 (o->err). */
static int hand(jrn_out *o, jrn_buf *b)
{
	struct jrn_out_writer *w = o->behind;
	pthread_mutex_lock(&w->mu);
	while (w->slot.len && !w->err)
		pthread_cond_wait(&w->cv, &w->mu);
	int rc = took_err(o);
	if (rc == 0 && b->len) {
		jrn_buf t = w->slot;
		w->slot = *b;
		*b = t;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	jrn_buf_reset(b);
	return rc;
}

void jrn_out_init(jrn_out *o, int fd)
{
	o->fd = fd;
	o->err = 0;
	o->buf = (jrn_buf){0};
	o->behind = NULL;
}

int jrn_out_behind(jrn_out *o)
{
	struct jrn_out_writer *w = calloc(1, sizeof *w);
	if (!w)
		return -1;
	w->fd = o->fd;
	int made = 0; /* 1 the mutex, 2 and the condition, 3 and the thread */
	if (pthread_mutex_init(&w->mu, NULL) == 0 && ++made && pthread_cond_init(&w->cv, NULL) == 0 &&
	    ++made && jrn_thread_start(&w->th, writer_main, w) == 0) {
		o->behind = w;
		return 0;
	}
	if (made >= 2)
		pthread_cond_destroy(&w->cv);
	if (made >= 1)
		pthread_mutex_destroy(&w->mu);
	free(w);
	return -1;
}

int jrn_out_flush(jrn_out *o)
{
	if (o->err)
		return -1;
	if (!o->behind) {
		if ((o->err = write_all(o->fd, o->buf.p, o->buf.len)))
			return -1;
		jrn_buf_reset(&o->buf);
		return 0;
	}
	if (o->buf.len && hand(o, &o->buf) < 0)
		return -1;
	struct jrn_out_writer *w = o->behind;
	pthread_mutex_lock(&w->mu);
	while ((w->slot.len || w->writing) && !w->err)
		pthread_cond_wait(&w->cv, &w->mu);
	int rc = took_err(o);
	pthread_mutex_unlock(&w->mu);
	return rc;
}

int jrn_out_lines(jrn_out *o, const char *p, size_t len)
{
	if (o->behind) /* copied: the caller keeps p */
		return jrn_out_text(o, p, len);
	if (jrn_out_flush(o) < 0)
		return -1;
	if ((o->err = write_all(o->fd, p, len)))
		return -1;
	return 0;
}

int jrn_out_give(jrn_out *o, jrn_buf *b)
{
	if (!o->behind) {
		int rc = jrn_out_lines(o, b->p, b->len);
		jrn_buf_reset(b);
		return rc;
	}
	if (o->err || (o->buf.len && hand(o, &o->buf) < 0)) {
		jrn_buf_reset(b);
		return -1;
	}
	return hand(o, b);
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
		return o->behind ? hand(o, &o->buf) : jrn_out_flush(o);
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
	struct jrn_out_writer *w = o->behind;
	if (w) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->th, NULL);
		rc = took_err(o) < 0 ? -1 : rc;
		jrn_buf_free(&w->slot);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		o->behind = NULL;
	}
	jrn_buf_free(&o->buf);
	return rc;
}
