/* buf.c: the growable byte buffer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "jrn.h"

int jrn_buf_reserve(jrn_buf *b, size_t more)
{
	if (b->cap - b->len > more)
		return 0;
	if (more > SIZE_MAX / 2 - b->len)
		return -1;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len <= more)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

int jrn_buf_add(jrn_buf *b, const void *s, size_t n)
{
	if (jrn_buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int jrn_buf_adds(jrn_buf *b, const char *s)
{
	return jrn_buf_add(b, s, strlen(s));
}

int jrn_buf_addc(jrn_buf *b, char c)
{
	if (b->cap - b->len <= 1 && jrn_buf_reserve(b, 1) < 0)
		return -1;
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
	return 0;
}

int jrn_buf_addf(jrn_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || jrn_buf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void jrn_buf_reset(jrn_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

void jrn_buf_free(jrn_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void *jrn_huge_alloc(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, n, MADV_HUGEPAGE); /* a hint: its failure changes nothing */
#endif
	return p;
}

void jrn_huge_free(void *p, size_t n)
{
	if (p)
		munmap(p, n);
}
