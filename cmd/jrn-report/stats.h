/*
 * stats.h: the statistics of jrn-report experiment (pure functions, no
 * state; unit-tested in t/unit/jrn-report-stats.c, checked against scipy in
 * t/jrn-report-experiment.bats).
 *
 *   stats_norm_cdf, stats_norm_sf   the standard normal's CDF and survival
 *                                   function, from erfc (C99 libm)
 *   stats_norm_ppf                  its inverse: Acklam's rational
 *                                   approximation and one Halley step
 *   stats_chi2_sf                   the chi-square survival function: the
 *                                   regularised upper incomplete gamma
 *                                   Q(k/2, x/2)
 *   stats_two_prop                  the two-proportion z-test (pooled), the
 *                                   Wald and Newcombe intervals of the
 *                                   difference
 *   stats_srm                       the sample-ratio-mismatch test: the
 *                                   chi-square goodness of fit
 */
#ifndef JRN_REPORT_STATS_H
#define JRN_REPORT_STATS_H

#include <stddef.h>
#include <stdint.h>

/* P(Z <= x) and P(Z > x) for a standard normal Z: 0.5 erfc(-x/sqrt 2) and
 * 0.5 erfc(x/sqrt 2) (no cancellation in either tail). NaN gives NaN. */
double stats_norm_cdf(double x);
double stats_norm_sf(double x);

/* The x with stats_norm_cdf(x) = p, for 0 < p < 1 (-inf at 0, +inf at 1,
 * NaN outside [0, 1]). Acklam's algorithm (P. J. Acklam, "An algorithm
 * for computing the inverse normal cumulative distribution function",
 * 2003; relative error below 1.15e-9), refined by one step of Halley's
 * method on erfc (as Acklam's note gives), which brings it to about 1e-15
 * relative: t/unit/jrn-report-stats.c checks 1e-12 against reference
 * quantiles. */
double stats_norm_ppf(double p);

/* P(X > x) for X chi-square with k > 0 degrees of freedom: Q(k/2, x/2),
 * the regularised upper incomplete gamma, by its series when x/2 < k/2 + 1
 * and by Lentz's continued fraction otherwise (Numerical Recipes, 3rd ed.,
 * 6.2); exact forms for k = 1 (erfc) and k = 2 (exp). 1 for x <= 0; NaN
 * for k <= 0 or NaN. */
double stats_chi2_sf(double x, double k);

/* The comparison of one arm (x1 conversions of n1) with the control (x2 of
 * n2), at confidence level (0 < level < 1). Every field is NaN when it is
 * undefined (a denominator of 0): the caller writes null. */
typedef struct {
	double p1, p2;        /* the rates x1/n1 and x2/n2 */
	double diff;          /* p1 - p2 */
	double lift;          /* (p1 - p2) / p2 */
	double z;             /* (p1 - p2) / sqrt(p (1-p) (1/n1 + 1/n2)), p pooled */
	double p_value;       /* two-sided: 2 P(Z > |z|) */
	double wald_lo, wald_hi;      /* diff -+ z_(1-a/2) sqrt(p1q1/n1 + p2q2/n2) */
	double newcombe_lo, newcombe_hi; /* Newcombe's hybrid score interval */
} stats_cmp;

/* Fills *c for x1 of n1 against x2 of n2 at level. The z-test is the
 * pooled two-proportion test (as statsmodels' proportions_ztest; its
 * p-value from stats_norm_sf). The Wald interval is the unpooled normal
 * interval of the difference. Newcombe's is method 10 of R. G. Newcombe,
 * "Interval estimation for the difference between independent
 * proportions: comparison of eleven methods", Statistics in Medicine 17
 * (1998) 873-890: from the Wilson score intervals (l1, u1), (l2, u2) of
 * each rate, diff - sqrt((p1-l1)^2 + (u2-p2)^2) and
 * diff + sqrt((u1-p1)^2 + (p2-l2)^2). Requires x1 <= n1, x2 <= n2. */
void stats_two_prop(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2, double level,
		    stats_cmp *c);

/* The Wilson score interval of x of n at level (n > 0): E. B. Wilson,
 * "Probable inference, the law of succession, and statistical inference",
 * JASA 22 (1927); (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n). */
void stats_wilson(uint64_t x, uint64_t n, double level, double *lo, double *hi);

/* The sample-ratio-mismatch check of k arms: observed counts obs[i] against
 * the expected total * w[i] / sum(w) (w[i] > 0), Pearson's chi-square
 * sum (o - e)^2 / e with k - 1 degrees of freedom (as
 * scipy.stats.chisquare). Sets *chi2 and *p (NaN when k < 2 or the total
 * is 0). */
void stats_srm(const uint64_t *obs, const double *w, size_t k, double *chi2, double *p);

#endif
