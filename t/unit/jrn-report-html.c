/* Unit tests of jrn-report --format html (cmd/jrn-report/html.c,
 * html-chart.c): escaping, label cutting, the nice axis (Heckbert's 1-2-5
 * ticks), tick labels, the heatmap's colours, and report_html on fixed rows
 * (structure, escaping, bars scaled to the max, negatives and nulls, the
 * chart's cap with "and K more", the heatmap, "no data").
 *
 * Expected values are worked out by hand from the rules in html-int.h:
 *   axis(lo, hi, 5): step = round1_2_5(ceil1_2_5(hi - lo) / 5),
 *                    min = floor(lo/step)*step, max = ceil(hi/step)*step
 *   bar y in the 440 x 960 box: the plot runs from y = 320 (axis min) up
 *   to y = 48 (axis max), 272 units.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "html-int.h"
#include "unit.h"

/* How many times needle occurs in hay. */
static int count(const char *hay, const char *needle)
{
	int n = 0;
	size_t k = strlen(needle);
	for (const char *p = hay; (p = strstr(p, needle)); p += k)
		n++;
	return n;
}

static char *escaped(const char *s, size_t n)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	html_escape(f, s, n);
	fclose(f);
	return out;
}

/* report_html of rows (a JSON array) for kind with --by (NULL: none) and
 * config (JSON or NULL); the page (the caller's to free). */
static char *page(const char *kind, const char *by, const char *rows_json, const char *config)
{
	report_run run;
	memset(&run, 0, sizeof run);
	for (size_t i = 0; i < report_nkinds; i++)
		if (strcmp(report_kinds[i].name, kind) == 0)
			run.kind = &report_kinds[i];
	run.opts.config = config ? jv_parse(config) : jv_object();
	char *byv[1] = {(char *)by};
	run.by = by ? byv : NULL;
	run.nby = by ? 1 : 0;
	run.now_ms = 1767225600000LL;  /* 2026-01-01T00:00:00Z */
	run.until_ms = run.now_ms;
	run.since_ms = run.now_ms - 7 * DAY_MS;
	run.since_given = true;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	int rc = report_html(&run, jv_parse(rows_json), f);
	fclose(f);
	jv_free(run.opts.config);
	if (rc != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static void test_escape(void)
{
	char *s = escaped("<script>alert('x')</script> & \"q\"", 33);
	CHECK_STR(s, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;",
		  "escape: & < > \" ' as references");
	free(s);
	s = escaped("a\0b\x01" "c\td\x7f" "e\xc2\x85" "f\xc3\xa9", 14);
	CHECK_STR(s, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\td\xef\xbf\xbd" "e\xef\xbf\xbd" "f\xc3\xa9",
		  "escape: NUL, C0, DEL and C1 controls as U+FFFD; tab and é kept");
	free(s);
	CHECK(html_prefix_chars("h\xc3\xa9llo", 6, 2) == 3, "prefix: 2 characters of héllo are 3 bytes");
	CHECK(html_prefix_chars("abc", 3, 18) == 3, "prefix: a short label whole");
	CHECK(html_prefix_chars("abc", 3, 3) == 3, "prefix: exactly max characters whole");
}

static void test_axis(void)
{
	html_axis a;
	char t[48];
	/* 0..87: ceil125(87) = 100, /5 = 20 → step 20, 0..100, 6 ticks */
	html_axis_make(0, 87, 5, &a);
	CHECK(a.step == 20 && a.min == 0 && a.max == 100 && a.ticks == 6,
	      "axis 0..87: step 20, 0..100, 6 ticks (got %g %g..%g %d)", a.step, a.min, a.max, a.ticks);
	/* -3..7: ceil125(10) = 10, /5 = 2 → -4..8, 7 ticks */
	html_axis_make(-3, 7, 5, &a);
	CHECK(a.step == 2 && a.min == -4 && a.max == 8 && a.ticks == 7,
	      "axis -3..7: step 2, -4..8, 7 ticks (got %g %g..%g %d)", a.step, a.min, a.max, a.ticks);
	CHECK_STR(html_tick_format(&a, -4, t), "-4", "tick -4");
	/* 0..0.37: ceil125(0.37) = 0.5, /5 = 0.1 → 0..0.4 */
	html_axis_make(0, 0.37, 5, &a);
	CHECK(fabs(a.step - 0.1) < 1e-12 && a.min == 0 && fabs(a.max - 0.4) < 1e-12 && a.ticks == 5,
	      "axis 0..0.37 (a rate): step 0.1, 0..0.4, 5 ticks");
	CHECK_STR(html_tick_format(&a, 0.1 + 0.2, t), "0.3", "tick 0.1+0.2 prints 0.3");
	CHECK_STR(html_tick_format(&a, 0, t), "0", "tick 0");
	/* 5..5: one step around: 0..5, step 1 */
	html_axis_make(5, 5, 5, &a);
	CHECK(a.step == 1 && a.min == 0 && a.max == 5, "axis of one value 5: 0..5 by 1");
	/* 0..0: 0..1 by 0.2 */
	html_axis_make(0, 0, 5, &a);
	CHECK(fabs(a.step - 0.2) < 1e-12 && a.min == 0 && a.max == 1 && a.ticks == 6,
	      "axis of zeros: 0..1 by 0.2");
	/* -50..-10: ceil125(40) = 50, /5 = 10 → -50..0 (0 included) */
	html_axis_make(-50, 0, 5, &a);
	CHECK(a.step == 10 && a.min == -50 && a.max == 0, "axis -50..0: step 10");
	/* 0..1234567: ceil125 = 2e6, /5 = 4e5 → round125 = 5e5; 0..1.5e6 */
	html_axis_make(0, 1234567, 5, &a);
	CHECK(a.step == 5e5 && a.max == 1.5e6 && a.ticks == 4, "axis 0..1234567: step 500000, to 1.5M");
	CHECK_STR(html_tick_format(&a, 5e5, t), "0.5M", "tick 500000 as 0.5M");
	CHECK_STR(html_tick_format(&a, 1e6, t), "1M", "tick 1000000 as 1M");
	html_axis_make(0, 18000, 5, &a);
	CHECK_STR(html_tick_format(&a, 15000, t), "15k", "tick 15000 as 15k (step 5000)");
	html_axis_make(0, 4000, 5, &a);
	CHECK_STR(html_tick_format(&a, 3000, t), "3000", "tick 3000 plain below 10^4");
	/* Never a step that is not 1, 2 or 5 × 10^k. */
	bool all = true;
	for (double hi = 0.013; hi < 1e9; hi *= 1.37) {
		html_axis_make(0, hi, 5, &a);
		double m = a.step / pow(10, floor(log10(a.step) + 1e-9));
		all = all && (fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9) &&
		      a.max >= hi && a.ticks >= 3 && a.ticks <= 12;
	}
	CHECK(all, "axis: every step 1, 2 or 5 × 10^k, the max covers hi, 3..12 ticks");
}

static void test_colour(void)
{
	char c[8];
	CHECK_STR(html_colour(0, false, c), "#f7fbff", "colour 0: Blues' lightest");
	CHECK_STR(html_colour(1, false, c), "#08306b", "colour 1: Blues' darkest");
	CHECK_STR(html_colour(2, false, c), "#08306b", "colour clamped above 1");
	CHECK_STR(html_colour(NAN, false, c), "#dddddd", "colour of a null: grey");
	CHECK_STR(html_colour(0, true, c), "#b2182b", "diverging 0: red");
	CHECK_STR(html_colour(0.5, true, c), "#f7f7f7", "diverging 0.5: white");
}

static void test_page(void)
{
	/* metrics --by campaign, series sent opened clicked converted (kinds.c).
	 * Max 10 → axis 0..10 by 2; the bar of sent = 10 runs from y 48 to 320
	 * (height 272); opened = 5 from y 184 (height 136). 3 rows × 4 series,
	 * one null → 11 bars. */
	const char *rows =
		"[{\"campaign\":\"spring\",\"sent\":10,\"opened\":5,\"clicked\":2,\"converted\":1,\"openRate\":0.5},"
		"{\"campaign\":\"<script>alert(1)</script>\",\"sent\":4,\"opened\":null,\"clicked\":0,"
		"\"converted\":0,\"openRate\":null},"
		"{\"campaign\":\"a campaign whose name is long\",\"sent\":7,\"opened\":3,\"clicked\":1,"
		"\"converted\":1,\"openRate\":0.42857142857142855}]";
	char *p = page("metrics", "campaign", rows, NULL);
	CHECK(p != NULL, "page: report_html returns 0");
	if (!p)
		return;
	CHECK(strncmp(p, "<!DOCTYPE html>\n<html lang=\"en\">", 31) == 0, "page: HTML5 doctype and lang");
	CHECK(count(p, "<title>jrn-report metrics</title>") == 1, "page: default title");
	CHECK(count(p, "<h1>jrn-report metrics</h1>") == 1, "page: heading");
	CHECK(strstr(p, "Window: <time datetime=\"2025-12-25T00:00:00.000Z\">") != NULL,
	      "page: the window's start");
	CHECK(strstr(p, "Computed at <time datetime=\"2026-01-01T00:00:00.000Z\">") != NULL,
	      "page: the --now time");
	CHECK(strstr(p, "@media print{") != NULL, "page: a print stylesheet");
	CHECK(count(p, "<script") == 0, "page: no script element, the campaign's is text");
	CHECK(count(p, "&lt;script&gt;alert(1)&lt;/script&gt;") >= 2,
	      "page: the campaign's name escaped in the table and the chart");
	CHECK(count(p, "http") == 0 && count(p, "url(") == 0 && count(p, "@import") == 0,
	      "page: no URL at all");
	CHECK(count(p, "<svg class=\"chart bar\"") == 1, "page: one bar chart");
	CHECK(count(p, "<rect class=\"bar\"") == 11, "page: 11 bars (12 values, one null)");
	CHECK(count(p, "<rect class=\"bar\" data-series=\"0\"") == 3, "page: 3 bars of sent");
	CHECK(count(p, "<text class=\"null\"") == 1, "page: the null marked on the baseline");
	CHECK(strstr(p, "y=\"48.00\" width=\"57.33\" height=\"272.00\" fill=\"#1f77b4\"") != NULL,
	      "page: the max bar fills the plot (y 48, height 272)");
	CHECK(strstr(p, "y=\"184.00\" width=\"57.33\" height=\"136.00\" fill=\"#ff7f0e\"") != NULL,
	      "page: opened 5 is half the height");
	CHECK(strstr(p, "text-anchor=\"end\">10</text>") && strstr(p, "text-anchor=\"end\">8</text>") &&
	      strstr(p, "text-anchor=\"end\">0</text>") && !strstr(p, "text-anchor=\"end\">12</text>"),
	      "page: y ticks 0..10 by 2");
	CHECK(count(p, "<rect class=\"key\"") == 4, "page: a legend key per series");
	CHECK(strstr(p, "<title>a campaign whose name is long</title>a campaign whose n\xe2\x80\xa6") != NULL,
	      "page: a long label cut at 18 characters, whole in its tooltip");
	CHECK(strstr(p, ">campaign</text>") != NULL, "page: the x axis titled by --by");
	CHECK(count(p, "<th scope=\"col\">") == 6, "page: a column per key");
	CHECK(count(p, "<tr>") == 4, "page: a header and 3 rows");
	CHECK(strstr(p, "<td class=\"num\">0.42857142857142855</td>") != NULL,
	      "page: numbers as jq prints them");
	CHECK(count(p, "<td class=\"null\">") == 2, "page: nulls in the table");
	free(p);

	/* negatives: values -3 and 7 → axis -4..8 by 2; zero line at
	 * y = 320 - 4/12*272 = 229.33; the bar of -3 runs down from there
	 * by 3/12*272 = 68 */
	p = page("kpis", NULL, "[{\"kpi\":\"uplift\",\"value\":-3,\"target\":7}]", NULL);
	CHECK(p && strstr(p, "y=\"229.33\" width=\"344.00\" height=\"68.00\""),
	      "negative: the bar hangs below the zero line");
	CHECK(p && strstr(p, "text-anchor=\"end\">-4</text>") && strstr(p, "<line class=\"grid zero\""),
	      "negative: ticks from -4 and a zero line");
	CHECK(p && strstr(p, ">kpi</text>"), "the x axis titled by the chart's column");
	free(p);

	/* many groups: 45 rows, the chart keeps 40 and says the rest; the
	 * table keeps 45 */
	jv many = jv_array();
	for (int i = 0; i < 45; i++)
		many = jv_array_append(many, JV_OBJECT(jv_string("campaign"), jv_string_fmt("c%02d", i),
						       jv_string("sent"), jv_number(i + 1)));
	jv js = jv_dump_string(many, 0);
	p = page("metrics", "campaign", jv_string_value(js), NULL);
	jv_free(js);
	CHECK(p && count(p, "<rect class=\"bar\"") == 40, "many: 40 bars drawn");
	CHECK(p && strstr(p, "and 5 more (every row is in the table)"), "many: and 5 more");
	CHECK(p && count(p, "<tr>") == 46, "many: all 45 rows in the table");
	CHECK(p && strstr(p, ">c44</td>"), "many: the last row in the table");
	free(p);

	/* heatmap: cohorts (x period, y cohort, value retention): 5 cells,
	 * one null in grey, 1 darkest */
	p = page("cohorts", NULL,
		 "[{\"cohort\":\"2026-01\",\"period\":0,\"retention\":1},"
		 "{\"cohort\":\"2026-01\",\"period\":1,\"retention\":0.5},"
		 "{\"cohort\":\"2026-01\",\"period\":2,\"retention\":null},"
		 "{\"cohort\":\"2026-02\",\"period\":0,\"retention\":1},"
		 "{\"cohort\":\"2026-02\",\"period\":1,\"retention\":0}]", NULL);
	CHECK(p && count(p, "<svg class=\"chart heatmap\"") == 1, "heatmap: drawn");
	CHECK(p && count(p, "<rect class=\"cell\"") == 5, "heatmap: 5 cells");
	CHECK(p && count(p, "fill=\"#dddddd\"><title>cohort 2026-01, period 2: null") == 1,
	      "heatmap: the null cell grey");
	CHECK(p && count(p, "fill=\"#08306b\"") == 2 && count(p, "fill=\"#f7fbff\"") == 1,
	      "heatmap: 1 darkest, 0 lightest");
	CHECK(p && strstr(p, "<linearGradient id=\"scale\">"), "heatmap: a colour scale");
	free(p);

	/* no rows: "no data", no chart, no table */
	p = page("metrics", NULL, "[]", NULL);
	CHECK(p && strstr(p, "<p class=\"empty\">no data</p>") && !strstr(p, "<svg") && !strstr(p, "<table"),
	      "empty: no data");
	free(p);

	/* the title from the config, escaped */
	p = page("funnel", NULL, "[{\"step\":\"a\",\"customers\":3}]",
		 "{\"report\":{\"html\":{\"title\":\"Weekly <b>&</b>\"}}}");
	CHECK(p && strstr(p, "<title>Weekly &lt;b&gt;&amp;&lt;/b&gt;</title>"), "config title, escaped");
	CHECK(p && count(p, "<rect class=\"bar\"") == 1, "funnel: one bar");
	free(p);

	/* no --by: the leading columns that are not numbers name the groups
	 * (metrics' default campaign,channel) */
	p = page("metrics", NULL, "[{\"campaign\":\"spring\",\"channel\":\"email\",\"sent\":3},"
		 "{\"campaign\":null,\"channel\":\"sms\",\"sent\":1}]", NULL);
	CHECK(p && strstr(p, ">spring / email</text>") && strstr(p, ">null / sms</text>") &&
	      strstr(p, ">campaign / channel</text>"), "no --by: labels from the leading group columns");
	free(p);

	/* journeys: rows without any series column (step rows) are left out
	 * of the chart, kept in the table; labels from the string columns
	 * before the first series; a value over each wide bar */
	p = page("journeys", NULL,
		 "[{\"level\":\"journey\",\"journey\":\"cart\",\"version\":1,\"entered\":9,"
		 "\"completed\":4,\"converted\":1,\"exited\":3},"
		 "{\"level\":\"step\",\"journey\":\"cart\",\"version\":1,\"step\":\"idle\",\"executed\":6},"
		 "{\"level\":\"journey\",\"journey\":\"welcome\",\"version\":1,\"entered\":0.16666,"
		 "\"completed\":12345,\"converted\":null,\"exited\":0}]", NULL);
	CHECK(p && count(p, "<rect class=\"bar\"") == 7 && count(p, "<text class=\"null\"") == 1,
	      "journeys: 2 groups drawn (7 bars, a null), the step row not");
	CHECK(p && strstr(p, ">journey / cart</text>") && strstr(p, ">level / journey</text>") &&
	      !strstr(p, ">step / cart"), "journeys: labels from the leading strings");
	CHECK(p && count(p, "<tr>") == 4, "journeys: every row in the table");
	CHECK(p && strstr(p, ">0.167</text>") && strstr(p, ">12.3k</text>") && strstr(p, ">9</text>"),
	      "values over the bars in 3 digits");
	free(p);

	/* rfm: distribution rows (no from/to) are not cells; with none at all,
	 * no heatmap */
	p = page("rfm", NULL,
		 "[{\"level\":\"movement\",\"from\":\"VIP\",\"to\":null,\"customers\":2},"
		 "{\"level\":\"distribution\",\"segment\":\"VIP\",\"customers\":5}]", NULL);
	CHECK(p && count(p, "<rect class=\"cell\"") == 1 && strstr(p, ">null</text>"),
	      "rfm: one cell, to null labelled null");
	free(p);
	p = page("rfm", NULL, "[{\"level\":\"distribution\",\"segment\":\"VIP\",\"customers\":5}]", NULL);
	CHECK(p && !strstr(p, "<svg") && strstr(p, "<td>distribution</td>"), "rfm: no cell, no chart");
	free(p);

	/* attribution --by campaign: the model (a string before the series)
	 * is part of the label, so two models' rows differ */
	p = page("attribution", "campaign", "[{\"model\":\"first\",\"campaign\":\"fb\",\"conversions\":1,"
		 "\"revenue\":10},{\"model\":\"last\",\"campaign\":\"fb\",\"conversions\":0,\"revenue\":0}]", NULL);
	CHECK(p && strstr(p, ">first / fb</text>") && strstr(p, ">last / fb</text>") &&
	      strstr(p, ">model / campaign</text>"), "labels: every leading string, --by or not");
	free(p);

	/* a row that is not an object (never from a kind): an empty table row,
	 * no crash */
	p = page("metrics", "campaign", "[1, {\"campaign\":\"x\",\"sent\":1}]", NULL);
	CHECK(p && count(p, "<rect class=\"bar\"") == 1 && count(p, "<tr>") == 3,
	      "a row that is not an object: left out of the chart, an empty table row");
	free(p);

	/* no numeric series: the table only */
	p = page("metrics", "campaign", "[{\"campaign\":\"x\",\"note\":\"n/a\"}]", NULL);
	CHECK(p && !strstr(p, "<svg") && strstr(p, "<td>n/a</td>"), "no numbers: no chart, the table");
	free(p);
}

/* A line chart (no kind asks for one yet): a polyline per run of
 * non-null points, a circle per point. 0..4 → step 1 (ceil125(4) = 5,
 * /5 = 1), axis 0..4 (ceil(4/1)); y of 4 = 48 (the top), y of 2 = 320 -
 * 2/4*272 = 184. */
static void test_line(void)
{
	report_chart c = {CHART_LINE, "day", NULL, {"orders", NULL}, "Orders"};
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	jv rows = jv_parse("[{\"day\":\"d1\",\"orders\":1},{\"day\":\"d2\",\"orders\":4},"
			   "{\"day\":\"d3\",\"orders\":null},{\"day\":\"d4\",\"orders\":2},"
			   "{\"day\":\"d5\",\"orders\":0}]");
	html_chart(f, &c, NULL, 0, rows);
	jv_free(rows);
	fclose(f);
	CHECK(count(out, "<svg class=\"chart line\"") == 1, "line: drawn");
	CHECK(count(out, "<polyline class=\"line\"") == 2, "line: broken at the null (2 polylines)");
	CHECK(count(out, "<circle class=\"point\"") == 4, "line: 4 points");
	CHECK(strstr(out, "cy=\"48.00\"") && strstr(out, "cy=\"184.00\""), "line: 4 at the top, 2 at y 184");
	free(out);
}

int main(void)
{
	test_escape();
	test_axis();
	test_colour();
	test_page();
	test_line();
	return unit_done();
}
