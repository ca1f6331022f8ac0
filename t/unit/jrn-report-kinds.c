/* Unit tests of jrn-report's kinds' pure parts: the funnel's walk of one
 * customer (funnel.c), the median (funnel.c), and the cohorts' UTC periods
 * (cohorts.c).
 *
 * Expected values worked out by hand: the day numbers from date(1)
 * (date -u -d 2026-03-01 +%s / 86400 = 20513; 2026-02-23: 20507;
 * 2024-02-29: 19782), 2026-03-01 being a Sunday (date -u +%A), 1970-01-01
 * a Thursday so that week 0 starts on Monday 1969-12-29 (day -3).
 */
#include <math.h>

#include "jrn-report.h"
#include "unit.h"

static const char *const ABC[] = {"A", "B", "C"};
static const char *const AA[] = {"A", "A"};

static void walk(const report_funnel_def *d, report_funnel_walk *w, const char *const *types,
		 const int64_t *ts, size_t n)
{
	memset(w, 0, sizeof *w);
	for (size_t i = 0; i < n; i++)
		report_funnel_step(d, w, types[i], ts[i]);
}

static void test_funnel(void)
{
	report_funnel_def d = {ABC, 3, 10, 0, 100};
	report_funnel_walk w;
	/* B before any A: ignored; A@5 is step 1; a second A: not step 2; B@8
	 * step 2 (gap 3); C@16 is 11 after step 1: past within 10. */
	const char *t1[] = {"B", "A", "A", "B", "C"};
	int64_t s1[] = {1, 5, 6, 8, 16};
	walk(&d, &w, t1, s1, 5);
	CHECK(w.k == 2 && w.first == 5 && w.gap[1] == 3, "funnel: step 2 reached, step 3 too late");
	/* C at 15: exactly within after step 1 counts. */
	int64_t s2[] = {1, 5, 6, 8, 15};
	walk(&d, &w, t1, s2, 5);
	CHECK(w.k == 3 && w.gap[2] == 7, "funnel: at most within counts (15 - 5 = 10)");
	/* Step 1 must be in [since, until): A@-1 no, A@0 yes; A@100 no. */
	const char *t3[] = {"A", "A", "B"};
	int64_t s3[] = {-1, 0, 4};
	walk(&d, &w, t3, s3, 3);
	CHECK(w.k == 2 && w.first == 0 && w.gap[1] == 4, "funnel: since is inclusive");
	const char *t4[] = {"A", "B"};
	int64_t s4[] = {100, 101};
	walk(&d, &w, t4, s4, 2);
	CHECK(w.k == 0, "funnel: until is exclusive");
	/* C before B does not count; after the last step nothing changes. */
	const char *t5[] = {"A", "C", "B", "C", "C"};
	int64_t s5[] = {10, 11, 12, 13, 14};
	walk(&d, &w, t5, s5, 5);
	CHECK(w.k == 3 && w.gap[1] == 2 && w.gap[2] == 1 && w.prev == 13,
	      "funnel: steps in order only; the first match is kept");
	/* A repeated type: the same millisecond, stored later, is after. */
	report_funnel_def a = {AA, 2, 10, 0, 100};
	const char *t6[] = {"A", "A"};
	int64_t s6[] = {5, 5};
	walk(&a, &w, t6, s6, 2);
	CHECK(w.k == 2 && w.gap[1] == 0, "funnel: A,A: the second A at the same ms is step 2");
}

static void test_median(void)
{
	int64_t one[] = {3}, two[] = {4, 1}, three[] = {5, 1, 3}, four[] = {7, 1, 3, 5};
	CHECK(isnan(report_median(NULL, 0)), "median of nothing is NAN");
	CHECK(report_median(one, 1) == 3, "median of one");
	CHECK(report_median(two, 2) == 2.5, "median of two: their mean, 2.5");
	CHECK(report_median(three, 3) == 3, "median of three (unsorted): 3");
	CHECK(report_median(four, 4) == 4, "median of four: (3 + 5) / 2");
}

static void test_periods(void)
{
	char s[48];
	int64_t mar1 = 20513 * DAY_MS;
	CHECK(report_period_of(REPORT_DAY, 0) == 0 && report_period_of(REPORT_DAY, -1) == -1,
	      "day: floor division before 1970");
	CHECK(report_period_of(REPORT_DAY, mar1 + DAY_MS - 1) == 20513, "day: 2026-03-01 23:59:59.999");
	CHECK_STR(report_period_name(REPORT_DAY, 20513, s), "2026-03-01", "day name");
	CHECK_STR(report_period_name(REPORT_DAY, 19782, s), "2024-02-29", "day name: leap day");
	CHECK(report_period_of(REPORT_WEEK, 0) == 0, "week 0 holds 1970-01-01");
	CHECK(report_period_of(REPORT_WEEK, -3 * DAY_MS) == 0, "week 0 starts Monday 1969-12-29");
	CHECK(report_period_of(REPORT_WEEK, -3 * DAY_MS - 1) == -1, "Sunday 1969-12-28 is week -1");
	CHECK_STR(report_period_name(REPORT_WEEK, -1, s), "1969-12-22", "week -1 is named by its Monday");
	/* Sunday 2026-03-01 is in the week of Monday 02-23; Monday 03-02 starts
	 * the next. */
	int64_t w = report_period_of(REPORT_WEEK, mar1);
	CHECK_STR(report_period_name(REPORT_WEEK, w, s), "2026-02-23", "a Sunday's week is the Monday before");
	CHECK(report_period_of(REPORT_WEEK, mar1 + DAY_MS) == w + 1, "Monday 2026-03-02 starts a week");
	CHECK(report_period_of(REPORT_MONTH, mar1 + 14 * DAY_MS) == 2026 * 12 + 2, "month of 2026-03-15");
	CHECK_STR(report_period_name(REPORT_MONTH, 2026 * 12 + 2, s), "2026-03", "month name");
	CHECK(report_period_of(REPORT_MONTH, -1) == 1969 * 12 + 11, "1969-12-31T23:59:59.999Z is December");
	CHECK_STR(report_period_name(REPORT_MONTH, 1969 * 12 + 11, s), "1969-12", "month name before 1970");
	CHECK(report_period_of(REPORT_MONTH, mar1 - 1) == 2026 * 12 + 1, "the last ms of February 2026");
}

int main(void)
{
	test_funnel();
	test_median();
	test_periods();
	return unit_done();
}
