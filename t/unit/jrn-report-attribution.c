/* Unit tests of jrn-report attribution's models
 * (cmd/jrn-report/attribution-models.c). Every expected figure is worked
 * by hand in the comments.
 *
 * Markov, the literature's example: S. Puzyrov, "Markov Chain Attribution
 * - Simple Explanation Of Removal Effect" (2019,
 * serhiipuzyrov.com/2019/07/markov-chain-attribution-simple-explanation-of-removal-effect):
 * paths google ads (2 conversions), mailing (1), google ads > mailing (1),
 * google ads (0 conversions). Its transition table: start > google ads
 * 4/5, start > mailing 1/5, google ads > conv 2/4, google ads > mailing
 * 1/4, google ads > null 1/4, mailing > conv 2/2. So P(conversion) = 0.8
 * (0.5 + 0.25 * 1) + 0.2 * 1 = 0.8; without google ads 0.2 (effect 1 -
 * 0.2/0.8 = 0.75); without mailing 0.8 * 0.5 = 0.4 (effect 0.5); the 4
 * conversions credited 4 * 0.75/1.25 = 2.4 to google ads and 1.6 to
 * mailing.
 *
 * The three-path example of S. Bryl, "Marketing Multi-Channel Attribution
 * model with R" (analyzecore.com, 2016): C1 > C2 > C3 converts, C1 and
 * C2 > C3 do not. start > C1 2/3, start > C2 1/3, C1 > C2 1/2, C1 > null
 * 1/2, C2 > C3 1, C3 > conv 1/2, C3 > null 1/2: P = 2/3 * 1/2 * 1/2 + 1/3 *
 * 1/2 = 1/3; without C1: 1/3 * 1/2 = 1/6 (effect 0.5); without C2 or C3: 0
 * (effect 1); 1 conversion credited 0.2, 0.4, 0.4.
 *
 * A cycle: A > B > A converts, B does not: start > A 1/2, start > B 1/2,
 * A > B 1/2, A > conv 1/2, B > A 1/2, B > null 1/2. x_A = 1/2 + x_B/2,
 * x_B = x_A/2: x_A = 2/3, x_B = 1/3, P = (2/3 + 1/3)/2 = 1/2. Without A, B
 * only reaches null: effect 1. Without B: x_A = 1/2, P = 1/4: effect 1/2.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "attribution.h"
#include "unit.h"

#define DAY 86400000LL

static int near(double got, double want)
{
	return fabs(got - want) <= 1e-12;
}

static double sum(const double *w, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += w[i];
	return s;
}

static void add(attr_markov *m, const uint32_t *groups, size_t n, bool conv, int times)
{
	attr_touch p[8];
	for (size_t i = 0; i < n; i++)
		p[i] = (attr_touch){(int64_t)i, groups[i]};
	for (int t = 0; t < times; t++)
		if (attr_markov_add(m, p, n, conv) < 0)
			printf("# attr_markov_add failed\n");
}

int main(void)
{
	CHECK(attr_model_find("time-decay", 10) == ATTR_DECAY, "model names: time-decay");
	CHECK(attr_model_find("markov", 6) == ATTR_MARKOV, "model names: markov");
	CHECK(attr_model_find("mark", 4) == -1 && attr_model_find("linearx", 7) == -1,
	      "model names: a prefix or a longer name is no model");

	/* Four touches at days 0, 10, 20, 29; conversion at day 30. */
	attr_touch p4[] = {{0, 0}, {10 * DAY, 1}, {20 * DAY, 2}, {29 * DAY, 3}};
	double w[8];
	attr_weights(ATTR_FIRST, p4, 4, 30 * DAY, 7 * DAY, w);
	CHECK(w[0] == 1 && w[1] == 0 && w[2] == 0 && w[3] == 0, "first: 1, 0, 0, 0");
	attr_weights(ATTR_LAST, p4, 4, 30 * DAY, 7 * DAY, w);
	CHECK(w[0] == 0 && w[3] == 1 && sum(w, 4) == 1, "last: 0, 0, 0, 1");
	attr_weights(ATTR_LINEAR, p4, 4, 30 * DAY, 7 * DAY, w);
	CHECK(w[0] == 0.25 && w[1] == 0.25 && w[2] == 0.25 && w[3] == 0.25, "linear: 1/4 each");
	attr_weights(ATTR_POSITION, p4, 4, 30 * DAY, 7 * DAY, w);
	CHECK(near(w[0], 0.4) && near(w[1], 0.1) && near(w[2], 0.1) && near(w[3], 0.4),
	      "position, four touches: 0.4, 0.1, 0.1, 0.4");
	attr_weights(ATTR_POSITION, p4, 3, 30 * DAY, 7 * DAY, w);
	CHECK(near(w[0], 0.4) && near(w[1], 0.2) && near(w[2], 0.4), "position, three: 0.4, 0.2, 0.4");
	attr_weights(ATTR_POSITION, p4, 2, 30 * DAY, 7 * DAY, w);
	CHECK(w[0] == 0.5 && w[1] == 0.5, "position, two: 0.5, 0.5");
	attr_weights(ATTR_POSITION, p4, 1, 30 * DAY, 7 * DAY, w);
	CHECK(w[0] == 1, "position, one: 1");
	/* Ages 14, 7, 0 days at a half-life of 7 days: 1/4, 1/2, 1, sum 7/4:
	 * 1/7, 2/7, 4/7. */
	attr_touch p3[] = {{16 * DAY, 0}, {23 * DAY, 1}, {30 * DAY, 2}};
	attr_weights(ATTR_DECAY, p3, 3, 30 * DAY, 7 * DAY, w);
	CHECK(near(w[0], 1.0 / 7) && near(w[1], 2.0 / 7) && near(w[2], 4.0 / 7),
	      "time-decay: 1/7, 2/7, 4/7 (%.17g %.17g %.17g)", w[0], w[1], w[2]);
	/* Touches 1100, 400 and 393 days old at a half-life of 1 day: raw
	 * weights 2^-1100 (0 in a double), 2^-400, 2^-393, all but underflowing;
	 * relative to the newest: 2^-707, 2^-7, 1: about 0, 1/129, 128/129. */
	attr_touch old[] = {{0, 0}, {700 * DAY, 1}, {707 * DAY, 2}};
	attr_weights(ATTR_DECAY, old, 3, 1100 * DAY, DAY, w);
	CHECK(near(sum(w, 3), 1) && w[0] < 1e-200 && near(w[1], 1.0 / (1 + 128)) &&
		      near(w[2], 128.0 / 129),
	      "time-decay: 400 half-lives old does not underflow the newest (%.17g)", w[2]);
	for (int m = ATTR_FIRST; m <= ATTR_POSITION; m++) {
		attr_weights(m, p4, 4, 30 * DAY, 7 * DAY, w);
		CHECK(near(sum(w, 4), 1), "%s: the weights sum to 1", attr_model_names[m]);
	}

	attr_markov mk;
	double p, eff[8];
	attr_markov_init(&mk, 100);
	CHECK(attr_markov_solve(&mk, &p, eff) == 0 && p == 0, "markov: no paths, P = 0");
	/* Puzyrov: group 0 google ads, 1 mailing. */
	uint32_t ga[] = {0}, ml[] = {1}, gm[] = {0, 1};
	add(&mk, ga, 1, true, 2);
	add(&mk, ml, 1, true, 1);
	add(&mk, gm, 2, true, 1);
	add(&mk, ga, 1, false, 1);
	CHECK(attr_markov_solve(&mk, &p, eff) == 0, "markov (Puzyrov): solved");
	CHECK(near(p, 0.8), "markov (Puzyrov): P(conversion) = 0.8 (%.17g)", p);
	CHECK(near(eff[0], 0.75) && near(eff[1], 0.5),
	      "markov (Puzyrov): removal effects 0.75, 0.5 (%.17g %.17g)", eff[0], eff[1]);
	CHECK(near(4 * eff[0] / (eff[0] + eff[1]), 2.4) && near(4 * eff[1] / (eff[0] + eff[1]), 1.6),
	      "markov (Puzyrov): 4 conversions credited 2.4 and 1.6");
	attr_markov_free(&mk);

	/* Bryl: C1 = 0, C2 = 1, C3 = 2. */
	attr_markov_init(&mk, 100);
	uint32_t b1[] = {0, 1, 2}, b2[] = {0}, b3[] = {1, 2};
	add(&mk, b1, 3, true, 1);
	add(&mk, b2, 1, false, 1);
	add(&mk, b3, 2, false, 1);
	CHECK(attr_markov_solve(&mk, &p, eff) == 0 && near(p, 1.0 / 3), "markov (Bryl): P = 1/3");
	CHECK(near(eff[0], 0.5) && near(eff[1], 1) && near(eff[2], 1),
	      "markov (Bryl): effects 0.5, 1, 1 (%.17g %.17g %.17g)", eff[0], eff[1], eff[2]);
	double es = eff[0] + eff[1] + eff[2];
	CHECK(near(eff[0] / es, 0.2) && near(eff[1] / es, 0.4) && near(eff[2] / es, 0.4),
	      "markov (Bryl): credit 0.2, 0.4, 0.4");
	attr_markov_free(&mk);

	/* The cycle: A = 0, B = 1; and groups beyond the first capacity (16)
	 * to make the matrix grow between paths. */
	attr_markov_init(&mk, 100);
	uint32_t aba[] = {0, 1, 0}, bb[] = {1};
	add(&mk, aba, 3, true, 1);
	add(&mk, bb, 1, false, 1);
	CHECK(attr_markov_solve(&mk, &p, eff) == 0 && near(p, 0.5), "markov (cycle): P = 1/2");
	CHECK(near(eff[0], 1) && near(eff[1], 0.5), "markov (cycle): effects 1, 1/2 (%.17g %.17g)",
	      eff[0], eff[1]);
	uint32_t far[] = {40};
	add(&mk, far, 1, true, 2);
	/* Now start > A 1/4, > B 1/4, > G40 2/4; G40 > conv 1: P = 1/4 * 2/3 +
	 * 1/4 * 1/3 + 1/2 = 3/4; without A: 1/2 (effect 1/3); without B: 1/4 *
	 * 1/2 + 1/2 = 5/8 (effect 1/6); without G40: 1/4 (effect 2/3). */
	double eff2[64];
	CHECK(mk.ngroups == 41 && attr_markov_solve(&mk, &p, eff2) == 0 && near(p, 0.75),
	      "markov: grown to 41 groups, P = 3/4");
	CHECK(near(eff2[0], 1.0 / 3) && near(eff2[1], 1.0 / 6) && near(eff2[40], 2.0 / 3) &&
		      eff2[5] == 0,
	      "markov: effects 1/3, 1/6, 2/3, and 0 for a group never seen");
	attr_touch big = {0, 100};
	CHECK(attr_markov_add(&mk, &big, 1, true) == -1, "markov: a group at the limit is refused");
	attr_markov_free(&mk);
	return unit_done();
}
