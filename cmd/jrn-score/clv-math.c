/* clv-math.c: the BG/NBD and Gamma-Gamma likelihoods, their fits and the
 * forecast (see clv-math.h for the models and their sources). Pure: no
 * I/O, no globals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clv-math.h"

/* One step of the simplex p[0..n] (values fv) of f: reflect the worst
 * point through the centroid of the others, expand, contract or shrink
 * (Nelder and Mead, "A Simplex Method for Function Minimization", 1965). */
static void nm_step(clv_objective f, void *ctx, double p[5][4], double fv[5], int n, int lo,
		    int hi, int nh)
{
	double c[4] = {0}, xr[4], xe[4], xc[4];
	for (int i = 0; i <= n; i++)
		if (i != hi)
			for (int j = 0; j < n; j++)
				c[j] += p[i][j] / n;
	for (int j = 0; j < n; j++)
		xr[j] = c[j] + (c[j] - p[hi][j]);
	double fr = f(xr, ctx);
	if (fr < fv[lo]) {
		for (int j = 0; j < n; j++)
			xe[j] = c[j] + 2 * (c[j] - p[hi][j]);
		double fe = f(xe, ctx);
		memcpy(p[hi], fe < fr ? xe : xr, sizeof p[hi]);
		fv[hi] = fmin(fe, fr);
	} else if (fr < fv[nh]) {
		memcpy(p[hi], xr, sizeof p[hi]);
		fv[hi] = fr;
	} else {
		bool outside = fr < fv[hi];
		for (int j = 0; j < n; j++)
			xc[j] = outside ? c[j] + 0.5 * (xr[j] - c[j]) : c[j] + 0.5 * (p[hi][j] - c[j]);
		double fc = f(xc, ctx);
		if (fc < (outside ? fr : fv[hi])) {
			memcpy(p[hi], xc, sizeof p[hi]);
			fv[hi] = fc;
		} else {
			for (int i = 0; i <= n; i++) {
				if (i == lo)
					continue;
				for (int j = 0; j < n; j++)
					p[i][j] = p[lo][j] + 0.5 * (p[i][j] - p[lo][j]);
				fv[i] = f(p[i], ctx);
			}
		}
	}
}

double clv_nelder_mead(clv_objective f, void *ctx, double *x, int n, double step)
{
	double p[5][4], fv[5], best = f(x, ctx);
	for (int restart = 0; restart < 20; restart++) {
		for (int i = 0; i <= n; i++) {
			for (int j = 0; j < n; j++)
				p[i][j] = x[j] + (i == j + 1 ? step : 0);
			fv[i] = i == 0 ? best : f(p[i], ctx);
		}
		for (int it = 0; it < 2000 * n; it++) {
			int lo = 0, hi = 0, nh = 0;
			for (int i = 1; i <= n; i++) {
				if (fv[i] < fv[lo])
					lo = i;
				if (fv[i] > fv[hi])
					hi = i;
			}
			nh = hi == 0 ? 1 : 0;
			for (int i = 0; i <= n; i++)
				if (i != hi && fv[i] > fv[nh])
					nh = i;
			double size = 0;
			for (int i = 0; i <= n; i++)
				for (int j = 0; j < n; j++)
					size = fmax(size, fabs(p[i][j] - p[lo][j]));
			if (fabs(fv[hi] - fv[lo]) <= 1e-11 * (fabs(fv[lo]) + 1e-9) && size < 1e-7)
				break;
			nm_step(f, ctx, p, fv, n, lo, hi, nh);
		}
		int lo = 0;
		for (int i = 1; i <= n; i++)
			if (fv[i] < fv[lo])
				lo = i;
		bool better = fv[lo] < best - 1e-9 * (fabs(best) + 1);
		if (fv[lo] < best) {
			best = fv[lo];
			memcpy(x, p[lo], (size_t)n * sizeof *x);
		}
		if (!better && restart > 0)
			break;
		step = 0.3;
	}
	return best;
}

/* log(exp(a) + exp(b)) without overflow. */
static double logaddexp(double a, double b)
{
	if (a == -INFINITY)
		return b;
	if (b == -INFINITY)
		return a;
	return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

double clv_log_hyp2f1(double a, double b, double c, double z)
{
	double term = 1, sum = 1, scale = 0;
	for (double k = 0; k < 1e6; k++) {
		double ratio = (a + k) * (b + k) / ((c + k) * (k + 1)) * z;
		term *= ratio;
		sum += term;
		if (sum > 1e250) {
			sum *= 1e-250;
			term *= 1e-250;
			scale += 250 * M_LN10;
		}
		if (ratio < 1 && term <= 1e-16 * sum)
			break;
	}
	return log(sum) + scale;
}

/* ---- BG/NBD ---------------------------------------------------------------- */

double clv_bg_nll(const double *v, void *ctx)
{
	clv_bg_data *d = ctx;
	for (int i = 0; i < 4; i++)
		if (!(fabs(v[i]) <= 25))
			return 1e300;
	double r = exp(v[0]), al = exp(v[1]), a = exp(v[2]), b = exp(v[3]);
	for (size_t i = 0; i < d->ntx; i++)
		d->ltx[i] = log(al + d->tx[i]);
	for (size_t i = 0; i < d->nT; i++)
		d->lT[i] = log(al + d->T[i]);
	double lgr = lgamma(r), lgab = lgamma(a + b), lgb = lgamma(b), la = log(a);
	for (int x = 0; x <= d->maxx; x++) {
		d->cx[x] = lgamma(r + x) - lgr + r * log(al) + lgab + lgamma(b + x) - lgb -
			   lgamma(a + b + x);
		d->dx[x] = x > 0 ? la - log(b + x - 1) : -INFINITY;
	}
	double ll = 0;
	for (size_t i = 0; i < d->ng; i++) {
		const clv_group *g = &d->g[i];
		double rx = r + g->x;
		double a3 = -rx * d->lT[g->iT];
		double a4 = g->x > 0 ? d->dx[g->x] - rx * d->ltx[g->itx] : -INFINITY;
		ll += g->w * (d->cx[g->x] + logaddexp(a3, a4));
	}
	return isfinite(ll) ? -ll : 1e300;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The index of v in the sorted distinct values u[0..n). */
static int index_of(const double *u, size_t n, double v)
{
	size_t lo = 0, hi = n;
	while (lo + 1 < hi) {
		size_t mid = (lo + hi) / 2;
		if (u[mid] <= v)
			lo = mid;
		else
			hi = mid;
	}
	return (int)lo;
}

/* Sorts v[0..*n) and keeps each value once. */
static void uniq(double *v, size_t *n)
{
	qsort(v, *n, sizeof *v, cmp_double);
	size_t k = 0;
	for (size_t i = 0; i < *n; i++)
		if (k == 0 || v[i] != v[k - 1])
			v[k++] = v[i];
	*n = k;
}

static int cmp_group(const void *a, const void *b)
{
	const clv_group *x = a, *y = b;
	if (x->x != y->x)
		return x->x - y->x;
	if (x->itx != y->itx)
		return x->itx - y->itx;
	return x->iT - y->iT;
}

int clv_bg_prepare(clv_bg_data *d, const clv_cust *cc, size_t n)
{
	memset(d, 0, sizeof *d);
	int maxx = 0;
	for (size_t i = 0; i < n; i++)
		if (cc[i].x > maxx)
			maxx = cc[i].x;
	d->tx = malloc((n ? n : 1) * sizeof *d->tx);
	d->T = malloc((n ? n : 1) * sizeof *d->T);
	d->g = malloc((n ? n : 1) * sizeof *d->g);
	if (!d->tx || !d->T || !d->g) {
		clv_bg_release(d);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		d->tx[i] = cc[i].tx;
		d->T[i] = cc[i].T;
	}
	size_t ntx = n, nT = n;
	uniq(d->tx, &ntx);
	uniq(d->T, &nT);
	for (size_t i = 0; i < n; i++) {
		d->g[i].x = cc[i].x;
		d->g[i].itx = index_of(d->tx, ntx, cc[i].tx);
		d->g[i].iT = index_of(d->T, nT, cc[i].T);
		d->g[i].w = 1;
	}
	qsort(d->g, n, sizeof *d->g, cmp_group);
	size_t ng = 0;
	for (size_t i = 0; i < n; i++) {
		if (ng > 0 && cmp_group(&d->g[ng - 1], &d->g[i]) == 0)
			d->g[ng - 1].w++;
		else
			d->g[ng++] = d->g[i];
	}
	/* one block of scratch: ltx[ntx], lT[nT], cx[maxx + 1], dx[maxx + 1] */
	double *s = malloc((ntx + nT + 2 * ((size_t)maxx + 1) + 2) * sizeof *s);
	if (!s) {
		clv_bg_release(d);
		return -1;
	}
	d->ng = ng;
	d->ntx = ntx;
	d->nT = nT;
	d->maxx = maxx;
	d->ltx = s;
	d->lT = s + ntx;
	d->cx = s + ntx + nT;
	d->dx = s + ntx + nT + maxx + 1;
	return 0;
}

void clv_bg_release(clv_bg_data *d)
{
	free(d->g);
	free(d->tx);
	free(d->T);
	free(d->ltx);
	memset(d, 0, sizeof *d);
}

int clv_fit_bgnbd(const clv_cust *cc, size_t n, clv_model *m)
{
	clv_bg_data bd;
	if (clv_bg_prepare(&bd, cc, n) < 0)
		return -1;
	double meanT = 0;
	for (size_t i = 0; i < n; i++)
		meanT += cc[i].T / (double)n;
	double bv[4] = {0, log(meanT > 0 ? meanT : 1), 0, 0};
	m->bg_ll = 0;
	if (n > 0)
		m->bg_ll = -clv_nelder_mead(clv_bg_nll, &bd, bv, 4, 1.0);
	m->r = exp(bv[0]), m->alpha = exp(bv[1]), m->a = exp(bv[2]), m->b = exp(bv[3]);
	clv_bg_release(&bd);
	return 0;
}

/* ---- Gamma-Gamma ------------------------------------------------------------ */

double clv_gg_nll(const double *lv, void *ctx)
{
	clv_gg_data *d = ctx;
	for (int i = 0; i < 3; i++)
		if (!(fabs(lv[i]) <= 25))
			return 1e300;
	double p = exp(lv[0]), q = exp(lv[1]), v = exp(lv[2]);
	double base = -lgamma(q) + q * log(v);
	for (int x = 1; x <= d->maxx; x++) {
		d->lg1[x] = lgamma(p * x + q) - lgamma(p * x);
		d->lg2[x] = p * x * log(x);
	}
	double ll = 0;
	for (size_t i = 0; i < d->n; i++) {
		int x = d->x[i];
		double m = d->m[i], px = p * x;
		ll += d->lg1[x] + base + (px - 1) * log(m) + d->lg2[x] - (px + q) * log(x * m + v);
	}
	return isfinite(ll) ? -ll : 1e300;
}

int clv_fit_gg(const clv_cust *cc, size_t n, int maxx, clv_model *m)
{
	int *gx = malloc((n ? n : 1) * sizeof *gx);
	double *gm = malloc((n ? n : 1) * sizeof *gm);
	double *scratch = malloc(2 * ((size_t)maxx + 1) * sizeof *scratch);
	if (!gx || !gm || !scratch) {
		free(gx);
		free(gm);
		free(scratch);
		return -1;
	}
	size_t nrep = 0;
	for (size_t i = 0; i < n; i++) {
		if (cc[i].x > 0 && cc[i].m > 0) {
			gx[nrep] = cc[i].x;
			gm[nrep] = cc[i].m;
			nrep++;
		}
	}
	clv_gg_data gd = {gx, gm, nrep, maxx, scratch, scratch + maxx + 1};
	double gv[3] = {0, 0, 0};
	m->gg_ll = 0;
	m->gg_ok = false;
	m->nrep = nrep;
	if (nrep > 0) {
		double mm = 0;
		for (size_t i = 0; i < nrep; i++)
			mm += gm[i] / (double)nrep;
		gv[0] = log(1), gv[1] = log(2), gv[2] = log(mm > 0 ? mm : 1);
		m->gg_ll = -clv_nelder_mead(clv_gg_nll, &gd, gv, 3, 1.0);
		m->gg_ok = true;
	}
	m->p = exp(gv[0]), m->q = exp(gv[1]), m->v = exp(gv[2]);
	if (m->gg_ok && m->q > 1)
		m->pop_mean = m->p * m->v / (m->q - 1);
	free(gx);
	free(gm);
	free(scratch);
	return 0;
}

/* ---- the forecast -------------------------------------------------------------- */

void clv_predict(const clv_model *mo, clv_cust *cc, size_t n, double hz)
{
	double r = mo->r, al = mo->alpha, a = mo->a, b = mo->b;
	double p = mo->p, q = mo->q, v = mo->v, pop_mean = mo->pop_mean;
	bool gg_ok = mo->gg_ok;
	for (size_t i = 0; i < n; i++) {
		clv_cust *k = &cc[i];
		double rx = r + k->x;
		double ld = k->x > 0 ? log(a) - log(b + k->x - 1) +
					       rx * (log(al + k->T) - log(al + k->tx))
				     : -INFINITY;
		/* 1 / (1 + e^ld), stable either side */
		k->palive = ld > 0 ? exp(-ld) / (1 + exp(-ld)) : 1 / (1 + exp(ld));
		double z = hz / (al + k->T + hz), aa = a;
		/* the expression has a removable singularity at a = 1 */
		if (fabs(aa - 1) < 1e-4)
			aa = aa < 1 ? 1 - 1e-4 : 1 + 1e-4;
		double lt = rx * log((al + k->T) / (al + k->T + hz)) +
			    clv_log_hyp2f1(rx, b + k->x, aa + b + k->x - 1, z);
		double ey = (aa + b + k->x - 1) / (aa - 1) * -expm1(lt) * k->palive;
		if (!isfinite(ey) || ey < 0)
			ey = 0;
		double em = k->x > 0 && gg_ok && p * k->x + q > 1 && k->m > 0
				    ? p * (v + k->x * k->m) / (p * k->x + q - 1)
				    : k->x > 0 && k->m > 0 ? k->m : pop_mean;
		if (!isfinite(em))
			em = 0;
		k->expected = ey;
		k->value = ey * em;
		if (!isfinite(k->value))
			k->value = 0;
	}
}

bool clv_bg_degenerate(const clv_model *m, const clv_cust *cc, size_t n)
{
	bool repeat = false;
	for (size_t i = 0; i < n && !repeat; i++)
		repeat = cc[i].x > 0;
	return !repeat || !(m->a / (m->a + m->b) >= CLV_DROPOUT_MIN);
}
