/* stats.c: the statistics of jrn-report experiment (stats.h says what each
 * function computes and where its formula comes from). */
#include <math.h>

#include "stats.h"

double stats_norm_cdf(double x)
{
	return 0.5 * erfc(-x / M_SQRT2);
}

double stats_norm_sf(double x)
{
	return 0.5 * erfc(x / M_SQRT2);
}

/* Acklam's rational approximation for 0 < p <= 0.5, then one Halley step
 * on e = cdf(x) - p (Acklam's refinement). */
static double ppf_lower(double p)
{
	static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
				   -2.759285104469687e+02, 1.383577518672690e+02,
				   -3.066479806614716e+01, 2.506628277459239e+00};
	static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
				   -1.556989798598866e+02, 6.680131188771972e+01,
				   -1.328068155288572e+01};
	static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
				   -2.400758277161838e+00, -2.549732539343734e+00,
				   4.374664141464968e+00, 2.938163982698783e+00};
	static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
				   2.445134137142996e+00, 3.754408661907416e+00};
	double x;
	if (p < 0.02425) {
		double q = sqrt(-2 * log(p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
		    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	} else {
		double q = p - 0.5, r = q * q;
		x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
		    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
	}
	double e = stats_norm_cdf(x) - p;
	double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
	return x - u / (1 + x * u / 2);
}

double stats_norm_ppf(double p)
{
	if (isnan(p) || p < 0 || p > 1)
		return NAN;
	if (p == 0)
		return -INFINITY;
	if (p == 1)
		return INFINITY;
	/* 1 - p is exact for p >= 0.5 (Sterbenz), and the upper tail is
	 * refined on its own side, without cancellation near 1. */
	return p <= 0.5 ? ppf_lower(p) : -ppf_lower(1 - p);
}

/* Q(a, x), the regularised upper incomplete gamma, a > 0, x > 0. */
static double gamma_q(double a, double x)
{
	const double eps = 1e-16, tiny = 1e-300;
	double lead = exp(-x + a * log(x) - lgamma(a));
	if (x < a + 1) {
		/* P(a, x) = e^-x x^a / G(a) * sum x^n / (a (a+1) ... (a+n)) */
		double ap = a, sum = 1 / a, del = sum;
		for (int n = 0; n < 100000; n++) {
			ap += 1;
			del *= x / ap;
			sum += del;
			if (fabs(del) < fabs(sum) * eps)
				break;
		}
		return 1 - sum * lead;
	}
	/* Q(a, x) = e^-x x^a / G(a) * 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...))) */
	double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
	for (int i = 1; i < 100000; i++) {
		double an = -i * (i - a);
		b += 2;
		d = an * d + b;
		if (fabs(d) < tiny)
			d = tiny;
		c = b + an / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1 / d;
		double del = d * c;
		h *= del;
		if (fabs(del - 1) < eps)
			break;
	}
	return lead * h;
}

double stats_chi2_sf(double x, double k)
{
	if (isnan(x) || isnan(k) || k <= 0)
		return NAN;
	if (x <= 0)
		return 1;
	if (isinf(x))
		return 0;
	if (k == 1)
		return erfc(sqrt(x / 2));
	if (k == 2)
		return exp(-x / 2);
	return gamma_q(k / 2, x / 2);
}

/* z_(1 - (1-level)/2), computed from the small tail for accuracy. */
static double z_of_level(double level)
{
	return -stats_norm_ppf((1 - level) / 2);
}

void stats_wilson(uint64_t x, uint64_t n, double level, double *lo, double *hi)
{
	if (n == 0) {
		*lo = *hi = NAN;
		return;
	}
	double z = z_of_level(level), nn = (double)n, p = (double)x / nn;
	double z2 = z * z, den = 1 + z2 / nn;
	double mid = p + z2 / (2 * nn);
	double half = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
	*lo = (mid - half) / den;
	*hi = (mid + half) / den;
}

void stats_two_prop(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2, double level,
		    stats_cmp *c)
{
	c->p1 = n1 ? (double)x1 / (double)n1 : NAN;
	c->p2 = n2 ? (double)x2 / (double)n2 : NAN;
	c->diff = c->p1 - c->p2;
	c->lift = c->p2 > 0 ? c->diff / c->p2 : NAN;
	c->z = c->p_value = NAN;
	c->wald_lo = c->wald_hi = c->newcombe_lo = c->newcombe_hi = NAN;
	if (!n1 || !n2)
		return;
	double a = (double)n1, b = (double)n2;
	double p = (double)(x1 + x2) / (a + b);
	double se0 = sqrt(p * (1 - p) * (1 / a + 1 / b));
	if (se0 > 0) {
		c->z = c->diff / se0;
		c->p_value = 2 * stats_norm_sf(fabs(c->z));
	}
	double z = z_of_level(level);
	double se = sqrt(c->p1 * (1 - c->p1) / a + c->p2 * (1 - c->p2) / b);
	c->wald_lo = c->diff - z * se;
	c->wald_hi = c->diff + z * se;
	double l1, u1, l2, u2;
	stats_wilson(x1, n1, level, &l1, &u1);
	stats_wilson(x2, n2, level, &l2, &u2);
	c->newcombe_lo = c->diff - sqrt((c->p1 - l1) * (c->p1 - l1) + (u2 - c->p2) * (u2 - c->p2));
	c->newcombe_hi = c->diff + sqrt((u1 - c->p1) * (u1 - c->p1) + (c->p2 - l2) * (c->p2 - l2));
}

void stats_srm(const uint64_t *obs, const double *w, size_t k, double *chi2, double *p)
{
	*chi2 = *p = NAN;
	double total = 0, wsum = 0;
	for (size_t i = 0; i < k; i++) {
		total += (double)obs[i];
		wsum += w[i];
	}
	if (k < 2 || total <= 0 || !(wsum > 0))
		return;
	double s = 0;
	for (size_t i = 0; i < k; i++) {
		double e = total * w[i] / wsum, d = (double)obs[i] - e;
		s += d * d / e;
	}
	*chi2 = s;
	*p = stats_chi2_sf(s, (double)(k - 1));
}
