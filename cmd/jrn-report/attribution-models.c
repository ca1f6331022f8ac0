/* attribution-models.c: the attribution models' maths (attribution.h says
 * what each computes and where it comes from). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attribution.h"

const char *const attr_model_names[ATTR_NMODELS] = {
	"first", "last", "linear", "time-decay", "position", "markov",
};

int attr_model_find(const char *name, size_t len)
{
	for (int i = 0; i < ATTR_NMODELS; i++)
		if (strlen(attr_model_names[i]) == len && memcmp(attr_model_names[i], name, len) == 0)
			return i;
	return -1;
}

void attr_weights(int model, const attr_touch *path, size_t n, int64_t conv_ts,
		  int64_t half_life_ms, double *w)
{
	for (size_t i = 0; i < n; i++)
		w[i] = 0;
	switch (model) {
	case ATTR_FIRST:
		w[0] = 1;
		break;
	case ATTR_LAST:
		w[n - 1] = 1;
		break;
	case ATTR_LINEAR:
		for (size_t i = 0; i < n; i++)
			w[i] = 1.0 / (double)n;
		break;
	case ATTR_DECAY: {
		/* Relative to the newest touch (the largest weight, 1), so
		 * that old paths do not underflow to all zeros. */
		double sum = 0, hl = (double)half_life_ms;
		int64_t newest = path[n - 1].ts;
		(void)conv_ts; /* 2^(-age/hl) / sum: the conversion's time cancels */
		for (size_t i = 0; i < n; i++) {
			w[i] = exp2(-(double)(newest - path[i].ts) / hl);
			sum += w[i];
		}
		for (size_t i = 0; i < n; i++)
			w[i] /= sum;
		break;
	}
	case ATTR_POSITION:
		if (n == 1) {
			w[0] = 1;
		} else if (n == 2) {
			w[0] = w[1] = 0.5;
		} else {
			w[0] = w[n - 1] = 0.4;
			for (size_t i = 1; i + 1 < n; i++)
				w[i] = 0.2 / (double)(n - 2);
		}
		break;
	default:
		break;
	}
}

void attr_markov_init(attr_markov *m, size_t max)
{
	m->ngroups = m->cap = 0;
	m->max = max;
	m->count = NULL;
}

void attr_markov_free(attr_markov *m)
{
	free(m->count);
	attr_markov_init(m, m->max);
}

#define COLS(cap) ((cap) + 3)
#define AT(m, from, to) ((m)->count[(size_t)(from) * COLS((m)->cap) + (size_t)(to)])
/* Columns: 0 start (unused), 1 + g group g, 1 + cap conversion, 2 + cap
 * null. */
#define CONV(m) (1 + (m)->cap)
#define NUL(m) (2 + (m)->cap)

static int grow(attr_markov *m, size_t need)
{
	if (need <= m->cap)
		return 0;
	size_t cap = m->cap ? m->cap : 16;
	while (cap < need)
		cap *= 2;
	if (cap > m->max)
		cap = m->max;
	double *c = calloc((1 + cap) * COLS(cap), sizeof *c);
	if (!c) {
		errno = ENOMEM;
		return -1;
	}
	for (size_t r = 0; m->count && r < 1 + m->cap; r++) {
		for (size_t g = 0; g < 1 + m->cap; g++)
			c[r * COLS(cap) + g] = AT(m, r, g);
		c[r * COLS(cap) + 1 + cap] = AT(m, r, CONV(m));
		c[r * COLS(cap) + 2 + cap] = AT(m, r, NUL(m));
	}
	free(m->count);
	m->count = c;
	m->cap = cap;
	return 0;
}

int attr_markov_edge(attr_markov *m, int64_t from, int64_t to)
{
	int64_t top = from > to ? from : to;
	if (top >= (int64_t)m->max || from < ATTR_START || from == ATTR_CONV || from == ATTR_NULL ||
	    to < ATTR_NULL || to == ATTR_START) {
		errno = ERANGE;
		return -1;
	}
	if (top >= 0) {
		if (grow(m, (size_t)top + 1) < 0)
			return -1;
		if ((size_t)top + 1 > m->ngroups)
			m->ngroups = (size_t)top + 1;
	}
	size_t r = from == ATTR_START ? 0 : 1 + (size_t)from;
	size_t c = to == ATTR_CONV ? CONV(m) : to == ATTR_NULL ? NUL(m) : 1 + (size_t)to;
	if (!m->count && grow(m, 1) < 0)
		return -1;
	AT(m, r, c) += 1;
	return 0;
}

int attr_markov_add(attr_markov *m, const attr_touch *path, size_t n, bool converted)
{
	int64_t from = ATTR_START;
	for (size_t i = 0; i < n; i++) {
		if (attr_markov_edge(m, from, path[i].group) < 0)
			return -1;
		from = path[i].group;
	}
	return attr_markov_edge(m, from, converted ? ATTR_CONV : ATTR_NULL);
}

/* Inverts the k x k matrix a (row-major) in place by Gauss-Jordan with
 * partial pivoting; 0, or -1 when singular. */
static int invert(double *a, size_t k)
{
	size_t *piv = malloc(k * sizeof *piv);
	if (!piv)
		return -1;
	double *inv = calloc(k * k, sizeof *inv);
	if (!inv) {
		free(piv);
		return -1;
	}
	for (size_t i = 0; i < k; i++)
		inv[i * k + i] = 1;
	for (size_t col = 0; col < k; col++) {
		size_t best = col;
		for (size_t r = col + 1; r < k; r++)
			if (fabs(a[r * k + col]) > fabs(a[best * k + col]))
				best = r;
		if (fabs(a[best * k + col]) < 1e-300) {
			free(piv);
			free(inv);
			return -1;
		}
		if (best != col) {
			for (size_t j = 0; j < k; j++) {
				double t = a[col * k + j];
				a[col * k + j] = a[best * k + j];
				a[best * k + j] = t;
				t = inv[col * k + j];
				inv[col * k + j] = inv[best * k + j];
				inv[best * k + j] = t;
			}
		}
		double d = a[col * k + col];
		for (size_t j = 0; j < k; j++) {
			a[col * k + j] /= d;
			inv[col * k + j] /= d;
		}
		for (size_t r = 0; r < k; r++) {
			double f = a[r * k + col];
			if (r == col || f == 0)
				continue;
			for (size_t j = 0; j < k; j++) {
				a[r * k + j] -= f * a[col * k + j];
				inv[r * k + j] -= f * inv[col * k + j];
			}
		}
	}
	memcpy(a, inv, k * k * sizeof *a);
	free(inv);
	free(piv);
	return 0;
}

int attr_markov_solve(const attr_markov *m, double *p_conv, double *effect)
{
	size_t g = m->ngroups, k = 1 + g;
	*p_conv = 0;
	for (size_t i = 0; i < g; i++)
		effect[i] = 0;
	if (!m->count)
		return 0;
	double *a = malloc(k * k * sizeof *a), *b = malloc(k * sizeof *b);
	if (!a || !b) {
		free(a);
		free(b);
		return -1;
	}
	/* a = I - Q over the transient states 0 (start) and 1 + i; b = the
	 * one-step probability of conversion. A state never left (no row:
	 * it cannot happen for a group seen in a path, but start may have
	 * none) is treated as leading to null. */
	for (size_t r = 0; r < k; r++) {
		double out = 0;
		for (size_t c = 0; c < COLS(m->cap); c++)
			out += AT(m, r, c);
		for (size_t c = 0; c < k; c++) {
			double q = out > 0 ? AT(m, r, c) / out : 0;
			a[r * k + c] = (r == c) - q;
		}
		b[r] = out > 0 ? AT(m, r, CONV(m)) / out : 0;
	}
	int rc = invert(a, k);
	if (rc == 0) {
		/* x = N b */
		double *x = calloc(k, sizeof *x);
		if (!x) {
			rc = -1;
		} else {
			for (size_t r = 0; r < k; r++) {
				double s = 0;
				for (size_t c = 0; c < k; c++)
					s += a[r * k + c] * b[c];
				x[r] = s;
			}
			double p = x[0];
			*p_conv = p;
			for (size_t i = 0; i < g && p > 0; i++) {
				size_t r = 1 + i;
				double h = a[0 * k + r] / a[r * k + r];
				double pr = p - h * x[r];
				effect[i] = 1 - pr / p;
				/* in [0, 1] but for rounding */
				effect[i] = effect[i] < 0 ? 0 : effect[i] > 1 ? 1 : effect[i];
			}
			free(x);
		}
	}
	free(a);
	free(b);
	return rc;
}
