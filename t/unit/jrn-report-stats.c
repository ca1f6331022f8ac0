/* Unit tests of jrn-report's statistics (cmd/jrn-report/stats.c).
 *
 * Reference values from scipy 1.10.1 (Debian python3-scipy; norm.ppf,
 * chi2.sf, chisquare), independent of this code:
 *   /usr/bin/python3 -c 'from scipy.stats import norm; print(repr(norm.ppf(0.001)))'
 * and from the literature: Newcombe (1998), Table II, example (a): 56/70
 * against 48/80, method 10 (hybrid score) gives 0.0524 to 0.3339.
 *
 * The two-proportion example worked by hand: 60 of 500 against 40 of 500:
 * p1 = 0.12, p2 = 0.08, pooled p = 100/1000 = 0.1, se0 = sqrt(0.1 * 0.9 *
 * (1/500 + 1/500)) = sqrt(0.00036) = 0.0189736659610103, z = 0.04 / se0 =
 * 2.10818510677892; lift = 0.04/0.08 = 0.5; Wald se = sqrt(0.12*0.88/500 +
 * 0.08*0.92/500) = sqrt(0.0003584) = 0.0189314552...; at 0.95, z = 1.95996...,
 * 0.04 -+ 0.0371050 = 0.0028950, 0.0771050.
 * SRM: 5100 and 4900 against 1:1: expected 5000 each, chi2 = 2 * 100^2/5000
 * = 4, p = chi2.sf(4, 1) = erfc(sqrt 2) = 0.0455002638963586. 30, 50, 20
 * against 1:2:1: expected 25, 50, 25: chi2 = 1 + 0 + 1 = 2, p = exp(-1).
 */
#include <math.h>
#include <stdint.h>

#include "stats.h"
#include "unit.h"

static int near(double got, double want, double rel)
{
	if (want == 0)
		return fabs(got) <= rel;
	return fabs(got - want) <= rel * fabs(want);
}

int main(void)
{
	static const struct {
		double p, x;
	} q[] = {
		{1e-300, -37.0470962993612},  {1e-20, -9.262340089798409},
		{1e-10, -6.361340902404056},  {0.001, -3.090232306167813},
		{0.02425, -1.972961051311885}, {0.025, -1.9599639845400545},
		{0.1, -1.2815515655446004},   {0.3, -0.5244005127080409},
		{0.5, 0.0},                   {0.7, 0.5244005127080407},
		{0.975, 1.959963984540054},   {0.999, 3.090232306167813},
		{0.999999999999, 7.0344869100478356},
	};
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
		double x = stats_norm_ppf(q[i].p);
		CHECK(near(x, q[i].x, 1e-12), "norm_ppf(%g) = %.17g (scipy %.17g)", q[i].p, x,
		      q[i].x);
		if (q[i].p >= 1e-20 && q[i].p < 1) {
			double back = stats_norm_cdf(x);
			CHECK(near(back, q[i].p, 1e-12), "norm_cdf(norm_ppf(%g)) = %.17g", q[i].p,
			      back);
		}
	}
	CHECK(stats_norm_ppf(0) == -INFINITY && stats_norm_ppf(1) == INFINITY,
	      "norm_ppf: 0 and 1 give -inf and +inf");
	CHECK(isnan(stats_norm_ppf(-0.1)) && isnan(stats_norm_ppf(1.5)) && isnan(stats_norm_ppf(NAN)),
	      "norm_ppf: outside [0, 1] is NaN");
	CHECK(near(stats_norm_sf(2.1081851067789192) * 2, 0.03501498101966254, 1e-12),
	      "norm_sf: the two-sided p of z = 2.108 (scipy 0.03501498101966254)");
	CHECK(near(stats_norm_sf(10), 7.61985302416047e-24, 1e-12), "norm_sf(10) in the far tail");

	static const struct {
		double x, k, p;
	} c[] = {
		{0.5, 1, 0.47950012218695337},   {3.84, 1, 0.05004352124870519},
		{10, 2, 0.006737946999085468},   {1, 3, 0.8012519569012009},
		{7.81, 3, 0.05010605635000589},  {20, 5, 0.0012497305630313773},
		{0.1, 9, 0.9999999743696746},    {50, 10, 2.669083424904495e-07},
		{150, 99, 0.0007204453957169282}, {2, 100, 1.0},
		{300, 100, 7.4121008573230175e-22},
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		double p = stats_chi2_sf(c[i].x, c[i].k);
		CHECK(near(p, c[i].p, 1e-12), "chi2_sf(%g, %g) = %.17g (scipy %.17g)", c[i].x, c[i].k, p,
		      c[i].p);
	}
	CHECK(stats_chi2_sf(0, 3) == 1 && stats_chi2_sf(-1, 3) == 1, "chi2_sf: x <= 0 is 1");
	CHECK(isnan(stats_chi2_sf(1, 0)) && isnan(stats_chi2_sf(NAN, 2)), "chi2_sf: k <= 0, NaN");

	stats_cmp m;
	stats_two_prop(60, 500, 40, 500, 0.95, &m);
	CHECK(near(m.p1, 0.12, 1e-15) && near(m.p2, 0.08, 1e-15) && near(m.diff, 0.04, 1e-12),
	      "two_prop: rates and difference");
	CHECK(near(m.lift, 0.5, 1e-12), "two_prop: lift 0.5");
	CHECK(near(m.z, 2.1081851067789192, 1e-12), "two_prop: z = %.17g", m.z);
	CHECK(near(m.p_value, 0.03501498101966254, 1e-12), "two_prop: p = %.17g", m.p_value);
	CHECK(near(m.wald_lo, 0.0028950294254694864, 1e-11) &&
		      near(m.wald_hi, 0.0771049705745305, 1e-12),
	      "two_prop: Wald [%.17g, %.17g]", m.wald_lo, m.wald_hi);
	CHECK(near(m.newcombe_lo, 0.002698550404143102, 1e-11) &&
		      near(m.newcombe_hi, 0.07762656805570067, 1e-12),
	      "two_prop: Newcombe [%.17g, %.17g]", m.newcombe_lo, m.newcombe_hi);
	stats_two_prop(56, 70, 48, 80, 0.95, &m);
	CHECK(fabs(m.newcombe_lo - 0.0524) < 5e-5 && fabs(m.newcombe_hi - 0.3339) < 5e-5,
	      "Newcombe 1998 example (a): 56/70 vs 48/80 gives [0.0524, 0.3339]: [%.5f, %.5f]",
	      m.newcombe_lo, m.newcombe_hi);
	stats_two_prop(0, 10, 0, 10, 0.95, &m);
	CHECK(isnan(m.z) && isnan(m.p_value) && isnan(m.lift) && m.diff == 0,
	      "two_prop: no conversions anywhere: z, p and lift undefined, diff 0");
	stats_two_prop(3, 10, 0, 0, 0.95, &m);
	CHECK(isnan(m.p2) && isnan(m.diff) && isnan(m.wald_lo) && isnan(m.newcombe_hi),
	      "two_prop: an empty control: everything comparative undefined");

	double chi2, p;
	uint64_t o2[] = {5100, 4900};
	double w2[] = {1, 1};
	stats_srm(o2, w2, 2, &chi2, &p);
	CHECK(near(chi2, 4, 1e-15) && near(p, 0.04550026389635857, 1e-12), "srm 5100/4900: %g %.17g",
	      chi2, p);
	uint64_t o3[] = {30, 50, 20};
	double w3[] = {1, 2, 1};
	stats_srm(o3, w3, 3, &chi2, &p);
	CHECK(near(chi2, 2, 1e-15) && near(p, 0.36787944117144245, 1e-12), "srm 30/50/20 at 1:2:1");
	uint64_t o0[] = {0, 0};
	stats_srm(o0, w2, 2, &chi2, &p);
	CHECK(isnan(chi2) && isnan(p), "srm: no exposures: undefined");
	stats_srm(o2, w2, 1, &chi2, &p);
	CHECK(isnan(chi2) && isnan(p), "srm: one arm: undefined");
	return unit_done();
}
