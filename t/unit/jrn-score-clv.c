/* Unit tests of jrn-score's pure parts: the CLV maths (clv-math.c: the
 * BG/NBD and Gamma-Gamma likelihoods, 2F1, the forecast, the fits) and the
 * RFM score rules (jrn-score.h, rfm.c).
 *
 * The reference values were computed independently of this code, with
 * mpmath at 30 digits from the models' closed forms (not the log-space
 * sums the code uses):
 *
 *   BG/NBD (Fader, Hardie and Lee 2005, eq. 6), per customer
 *     L = B(a, b+x)/B(a, b) G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
 *       + [x > 0] B(a+1, b+x-1)/B(a, b) G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))
 *   P(alive) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))
 *   E[Y(t)] = (a+b+x-1)/(a-1) (1 - ((alpha+T)/(alpha+T+t))^(r+x)
 *             2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))) P(alive)   (eq. 10)
 *   Gamma-Gamma (Fader and Hardie 2013), per customer
 *     L = G(px+q)/(G(px) G(q)) v^q m^(px-1) x^(px) / (v + x m)^(px+q)
 *     E[M | x, m] = (q-1)/(px+q-1) p v/(q-1) + px/(px+q-1) m
 *
 * at the published CDNOW fits: BG/NBD r = 0.243, alpha = 4.414, a = 0.793,
 * b = 2.426 (weeks); Gamma-Gamma p = 6.25, q = 3.74, v = 15.44. The paper's
 * own example, a customer with x = 2, t_x = 30.43, T = 38.86, expects 1.226
 * purchases in the next 39 weeks; mpmath gives 1.22602817476714. (The
 * paper's log-likelihood of -9582.4 needs the CDNOW sample itself, which
 * the repository does not hold.)
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "clv-math.h"
#include "jrn-score.h"
#include "unit.h"

static const double R = 0.243, ALPHA = 4.414, A = 0.793, B = 2.426;
static const double P = 6.25, Q = 3.74, V = 15.44;

static bool near(double got, double want, double rel)
{
	return fabs(got - want) <= rel * fabs(want);
}

/* ---- a small deterministic generator for the simulated customers ---------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static double unif(void) /* (0, 1): splitmix64 */
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double rnorm(void)
{
	return sqrt(-2 * log(unif())) * cos(6.283185307179586 * unif());
}

/* Gamma(k, 1), Marsaglia and Tsang (2000). */
static double rgamma(double k)
{
	if (k < 1)
		return rgamma(k + 1) * pow(unif(), 1 / k);
	double d = k - 1.0 / 3, c = 1 / sqrt(9 * d);
	for (;;) {
		double x, w;
		do {
			x = rnorm();
			w = 1 + c * x;
		} while (w <= 0);
		w = w * w * w;
		if (log(unif()) < 0.5 * x * x + d - d * w + d * log(w))
			return d * w;
	}
}

/* ---- BG/NBD ---------------------------------------------------------------- */

static double bg_ll(const clv_cust *cc, size_t n, double r, double al, double a, double b)
{
	clv_bg_data d;
	if (clv_bg_prepare(&d, cc, n) < 0)
		return NAN;
	double v[4] = {log(r), log(al), log(a), log(b)};
	double ll = -clv_bg_nll(v, &d);
	clv_bg_release(&d);
	return ll;
}

static void test_bg_likelihood(void)
{
	/* (x, t_x, T); the second twice, so that grouping weighs it twice */
	const clv_cust cc[] = {
		{.x = 0, .tx = 0, .T = 38.86}, {.x = 2, .tx = 30.43, .T = 38.86},
		{.x = 1, .tx = 1.71, .T = 38.86}, {.x = 0, .tx = 0, .T = 20},
		{.x = 5, .tx = 26, .T = 30}, {.x = 3, .tx = 10.5, .T = 25},
		{.x = 2, .tx = 30.43, .T = 38.86},
	};
	double ll = bg_ll(cc, 7, R, ALPHA, A, B);
	CHECK(near(ll, -51.6993152751144, 1e-12), "BG/NBD log-likelihood of 7 customers at the CDNOW "
	      "fit: %.15g (mpmath -51.6993152751144)", ll);
	clv_bg_data d;
	CHECK(clv_bg_prepare(&d, cc, 7) == 0 && d.ng == 6 && d.maxx == 5 && d.ntx == 5 && d.nT == 4,
	      "7 customers, 6 distinct summaries, 5 distinct t_x, 4 distinct T");
	double out[4] = {log(R), 26, 0, 0};
	CHECK(clv_bg_nll(out, &d) == 1e300, "parameters past e^25 are refused");
	clv_bg_release(&d);
	CHECK(bg_ll(NULL, 0, R, ALPHA, A, B) == 0, "no customers: log-likelihood 0");
}

static void test_hyp2f1(void)
{
	double l = clv_log_hyp2f1(1, 1, 2, 0.5); /* 2F1(1, 1; 2; z) = -ln(1-z)/z */
	CHECK(near(l, log(2 * log(2)), 1e-14), "log 2F1(1, 1; 2; 0.5) = log(2 ln 2): %.17g", l);
	l = clv_log_hyp2f1(0.5, 1.5, 2, 0.3);
	CHECK(near(l, 0.130731173296651, 1e-13), "log 2F1(0.5, 1.5; 2; 0.3): %.17g", l);
	l = clv_log_hyp2f1(2.2, 3.5, 1.5, 0.999);
	CHECK(near(l, 29.6419868763390, 1e-13), "log 2F1(2.2, 3.5; 1.5; 0.999), near z = 1: %.17g", l);
	l = clv_log_hyp2f1(300, 300, 2, 0.9);
	CHECK(near(l, 1766.16630554565, 1e-12), "log 2F1(300, 300; 2; 0.9), past 1e250 (rescaled): "
	      "%.17g", l);
	CHECK(clv_log_hyp2f1(3, 4, 5, 0) == 0, "2F1(a, b; c; 0) = 1");
}

static void test_forecast(void)
{
	clv_model m = {.r = R, .alpha = ALPHA, .a = A, .b = B, .gg_ok = true, .p = P, .q = Q, .v = V,
		       .pop_mean = P * V / (Q - 1)};
	clv_cust cc[] = {
		{.x = 2, .tx = 30.43, .T = 38.86, .m = 35},
		{.x = 0, .tx = 0, .T = 38.86},
		{.x = 7, .tx = 35, .T = 38, .m = 50},
		{.x = 1, .tx = 1.71, .T = 38.86, .m = 20},
	};
	static const double palive[] = {0.726578570080673, 1, 0.861991065093433, 0.212100985377379};
	static const double e39[] = {1.22602817476714, 0.195098052011263, 4.55618527658972,
				     0.203186987079754};
	clv_predict(&m, cc, 4, 39);
	for (int i = 0; i < 4; i++) {
		CHECK(near(cc[i].palive, palive[i], 1e-12), "P(alive | x=%d, t_x=%g, T=%g) = %.15g "
		      "(mpmath %.15g)", cc[i].x, cc[i].tx, cc[i].T, cc[i].palive, palive[i]);
		CHECK(near(cc[i].expected, e39[i], 1e-10), "E[Y(39) | x=%d, t_x=%g, T=%g] = %.15g "
		      "(mpmath %.15g)", cc[i].x, cc[i].tx, cc[i].T, cc[i].expected, e39[i]);
	}
	CHECK(fabs(cc[0].expected - 1.226) < 0.0005, "FHL 2005's example: 1.226 purchases in 39 weeks");
	/* the value: E[Y] times the Gamma-Gamma conditional mean */
	CHECK(near(cc[0].value / cc[0].expected, 35.0393700787402, 1e-12),
	      "E[M | x=2, m=35] = %.15g (mpmath 35.0393700787402)", cc[0].value / cc[0].expected);
	CHECK(near(cc[3].value / cc[3].expected, 24.6384872080089, 1e-12),
	      "E[M | x=1, m=20] = %.15g (mpmath 24.6384872080089)", cc[3].value / cc[3].expected);
	CHECK(near(cc[1].value / cc[1].expected, 35.2189781021898, 1e-12),
	      "no repeat purchases: the population mean p v / (q - 1)");
	m.gg_ok = false;
	clv_predict(&m, cc, 1, 39);
	CHECK(near(cc[0].value / cc[0].expected, 35, 1e-12), "without a Gamma-Gamma fit: m itself");
	/* a = 1 is a removable singularity of E[Y]: either side agrees */
	clv_cust k[3] = {{.x = 3, .tx = 20, .T = 30}, {.x = 3, .tx = 20, .T = 30},
			 {.x = 3, .tx = 20, .T = 30}};
	clv_model m1 = m, m2 = m, m3 = m;
	m1.a = 1, m2.a = 1 - 1e-3, m3.a = 1 + 1e-3;
	clv_predict(&m1, k, 1, 39);
	clv_predict(&m2, k + 1, 1, 39);
	clv_predict(&m3, k + 2, 1, 39);
	CHECK(isfinite(k[0].expected) && k[0].expected > 0 && near(k[0].expected, k[1].expected, 1e-2) &&
	      near(k[0].expected, k[2].expected, 1e-2), "E[Y] at a = 1 is finite and continuous: "
	      "%.9g %.9g %.9g", k[1].expected, k[0].expected, k[2].expected);
}

/* ---- Gamma-Gamma ------------------------------------------------------------ */

static void test_gg_likelihood(void)
{
	const int x[] = {1, 2, 5, 3, 2};
	const double mv[] = {20, 35, 12.5, 100, 35};
	double scratch[12];
	clv_gg_data d = {x, mv, 5, 5, scratch, scratch + 6};
	double lv[3] = {log(P), log(Q), log(V)};
	double ll = -clv_gg_nll(lv, &d);
	CHECK(near(ll, -22.7923403425742, 1e-12), "Gamma-Gamma log-likelihood of 5 customers at the "
	      "CDNOW fit: %.15g (mpmath -22.7923403425742)", ll);
}

/* ---- the fits recover the parameters of simulated customers --------------- */

static void test_fits(void)
{
	enum { N = 4000 };
	const double r = 0.5, al = 6, a = 0.7, b = 2.5;
	clv_cust *cc = calloc(N, sizeof *cc);
	if (!cc) {
		CHECK(0, "out of memory");
		return;
	}
	for (size_t i = 0; i < N; i++) {
		/* T uniform over a year in days; while alive, purchases at rate
		 * lambda ~ Gamma(r, alpha); after each repeat purchase the
		 * customer leaves with probability ~ Beta(a, b) */
		double T = (1 + floor(unif() * 364)) / 7, lambda = rgamma(r) / al;
		double g = rgamma(a), drop = g / (g + rgamma(b)), t = 0;
		cc[i].T = T;
		for (;;) {
			t += -log(unif()) / lambda;
			if (t >= T)
				break;
			cc[i].x++;
			cc[i].tx = t;
			if (unif() < drop)
				break;
		}
		/* order values Gamma(p, nu), nu ~ Gamma(q, v): the mean of x */
		double nu = rgamma(Q) / V, sum = 0;
		for (int j = 0; j < cc[i].x; j++)
			sum += rgamma(P) / nu;
		cc[i].m = cc[i].x > 0 ? sum / cc[i].x : 0;
	}
	clv_model m = {0};
	CHECK(clv_fit_bgnbd(cc, N, &m) == 0, "BG/NBD fit of %d simulated customers", N);
	CHECK(near(m.r, r, 0.15) && near(m.alpha, al, 0.25) && near(m.a, a, 0.3) && near(m.b, b, 0.4),
	      "BG/NBD recovers r=%g alpha=%g a=%g b=%g: %.4g %.4g %.4g %.4g", r, al, a, b, m.r,
	      m.alpha, m.a, m.b);
	CHECK(m.bg_ll >= bg_ll(cc, N, r, al, a, b), "the fit is at least as likely as the truth: "
	      "%.6f >= %.6f", m.bg_ll, bg_ll(cc, N, r, al, a, b));
	int maxx = 0;
	for (size_t i = 0; i < N; i++)
		maxx = cc[i].x > maxx ? cc[i].x : maxx;
	m.pop_mean = -1;
	CHECK(clv_fit_gg(cc, N, maxx, &m) == 0 && m.gg_ok && m.nrep > 500,
	      "Gamma-Gamma fit of the %zu repeat buyers", m.nrep);
	/* the mean order value p v / (q - 1) is well identified; p, q and v
	 * apart less so from mostly one or two repeat purchases each */
	CHECK(near(m.p * m.v / (m.q - 1), P * V / (Q - 1), 0.05) && near(m.p, P, 0.25),
	      "Gamma-Gamma recovers p v/(q-1)=%.4g and p=%g: %.4g %.4g (q=%.4g v=%.4g)",
	      P * V / (Q - 1), P, m.p * m.v / (m.q - 1), m.p, m.q, m.v);
	int *xs = malloc(N * sizeof *xs);
	double *ms = malloc(N * sizeof *ms), *scratch = malloc(2 * ((size_t)maxx + 1) * sizeof *ms);
	size_t nrep = 0;
	for (size_t i = 0; xs && ms && i < N; i++)
		if (cc[i].x > 0)
			xs[nrep] = cc[i].x, ms[nrep++] = cc[i].m;
	if (xs && ms && scratch) {
		clv_gg_data d = {xs, ms, nrep, maxx, scratch, scratch + maxx + 1};
		double truth[3] = {log(P), log(Q), log(V)};
		double ll_truth = -clv_gg_nll(truth, &d);
		CHECK(m.gg_ll >= ll_truth, "the fit is at least as likely as the truth: %.6f >= %.6f",
		      m.gg_ll, ll_truth);
	}
	free(xs);
	free(ms);
	free(scratch);
	CHECK(near(m.pop_mean, m.p * m.v / (m.q - 1), 1e-15), "the mean order value p v / (q - 1)");
	clv_model none = {.pop_mean = 7};
	clv_cust one = {.x = 0, .T = 3};
	CHECK(clv_fit_gg(&one, 1, 0, &none) == 0 && !none.gg_ok && none.p == 1 && none.q == 1 &&
	      none.v == 1 && none.pop_mean == 7, "no repeat buyers: no Gamma-Gamma fit");
	free(cc);
}

static double sq(const double *x, void *ctx)
{
	(void)ctx;
	return (x[0] - 3) * (x[0] - 3) + 10 * (x[1] + 1) * (x[1] + 1) + (x[2] - x[1]) * (x[2] - x[1]);
}

static void test_nelder_mead(void)
{
	double x[3] = {0, 0, 0};
	double f = clv_nelder_mead(sq, NULL, x, 3, 1.0);
	CHECK(f < 1e-12 && fabs(x[0] - 3) < 1e-5 && fabs(x[1] + 1) < 1e-5 && fabs(x[2] + 1) < 1e-5,
	      "Nelder-Mead finds the minimum of a quadratic: (%.7g, %.7g, %.7g), %g", x[0], x[1],
	      x[2], f);
}

/* ---- RFM ---------------------------------------------------------------------- */

static void test_rfm(void)
{
	/* jrn-score.bats's ties: recency 1, 1, 1, 9, 9 days; monetary 10 x4, 20 */
	score_cust c[5] = {{0}};
	rfm_rank_item it[5];
	const double rec[5] = {1, 1, 1, 9, 9}, mon[5] = {10, 10, 10, 10, 20};
	for (size_t i = 0; i < 5; i++)
		it[i] = (rfm_rank_item){-rec[i], i};
	rfm_rank_scores(it, 5, c, 0);
	CHECK(c[0].r == 3 && c[1].r == 3 && c[2].r == 3 && c[3].r == 1 && c[4].r == 1,
	      "rank: ties share the lower score (r 3 3 3 1 1: %d %d %d %d %d)", c[0].r, c[1].r,
	      c[2].r, c[3].r, c[4].r);
	for (size_t i = 0; i < 5; i++)
		it[i] = (rfm_rank_item){mon[i], i};
	rfm_rank_scores(it, 5, c, 2);
	CHECK(c[0].m == 1 && c[3].m == 1 && c[4].m == 5, "rank: 1 + floor(5 W / n) (m 1 and 5)");
	for (size_t i = 0; i < 5; i++)
		it[i] = (rfm_rank_item){(double)i, i};
	rfm_rank_scores(it, 5, c, 1);
	CHECK(c[0].f == 1 && c[1].f == 2 && c[2].f == 3 && c[3].f == 4 && c[4].f == 5,
	      "rank: five distinct values score 1 to 5");

	const double rb[4] = {7, 14, 30, 90}, fb[4] = {2, 4, 8, 16};
	CHECK(rfm_threshold_score(0, 3, rb) == 5 && rfm_threshold_score(0, 7, rb) == 5 &&
	      rfm_threshold_score(0, 8, rb) == 4 && rfm_threshold_score(0, 90, rb) == 2 &&
	      rfm_threshold_score(0, 91, rb) == 1, "thresholds: recency 5 within the first bound, "
	      "1 past the last");
	CHECK(rfm_threshold_score(1, 1, fb) == 1 && rfm_threshold_score(1, 2, fb) == 2 &&
	      rfm_threshold_score(1, 15, fb) == 4 && rfm_threshold_score(1, 16, fb) == 5,
	      "thresholds: frequency 1 + the bounds reached");

	rfm_segment segs[] = {{"VIP", 38}, {"Loyal", 28}, {"At Risk", 18}, {"Hibernating", -INFINITY}};
	CHECK(rfm_segment_of(40, segs, 4) == 0 && rfm_segment_of(38, segs, 4) == 0 &&
	      rfm_segment_of(37.9, segs, 4) == 1 && rfm_segment_of(18, segs, 4) == 2 &&
	      rfm_segment_of(10, segs, 4) == 3, "segments: the first whose min the score reaches");
	segs[3].min = 5;
	CHECK(rfm_segment_of(1, segs, 4) == 3, "segments: below every min, the last");
	CHECK(rfm_round4(150.25000000001) == 150.25 && !signbit(rfm_round4(-0.00001)), "monetary to 1/10000, no -0");
}

int main(void)
{
	test_bg_likelihood();
	test_hyp2f1();
	test_forecast();
	test_gg_likelihood();
	test_nelder_mead();
	test_fits();
	test_rfm();
	return unit_done();
}
