/* html-chart.c: a report's chart as inline SVG (html-int.h): bars, lines
 * or a heatmap, from the kind's chart hint (kinds.c), with axes, nice
 * ticks, a legend and tooltips; no script, no URL. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "html-int.h"

/* The SVG's box and the plot area inside it (user units = CSS px). */
#define W 960
#define H 440
#define PLOT_TOP 48
#define PLOT_BOTTOM 320
#define PLOT_RIGHT 940
#define BARS_LEFT 80     /* the plot's left edge for bars and lines */
#define ROTATE_BELOW 90  /* x labels are turned when a slot is narrower */

/* Tableau's 10 (the d3 category10 colours), the first six. */
const char *const html_palette[HTML_MAX_SERIES] = {
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
};

/* ---- pure parts ----------------------------------------------------------- */

void html_escape(FILE *f, const char *s, size_t n)
{
	size_t run = 0; /* s[i - run, i) is plain text not written yet */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *rep = NULL;
		switch (c) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				rep = "\xef\xbf\xbd"; /* U+FFFD */
			/* C1 controls U+0080..U+009F: C2 80..C2 9F */
			else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
				 (unsigned char)s[i + 1] <= 0x9f) {
				fwrite(s + i - run, 1, run, f);
				fputs("\xef\xbf\xbd", f);
				run = 0;
				i++;
				continue;
			}
		}
		if (!rep) {
			run++;
			continue;
		}
		fwrite(s + i - run, 1, run, f);
		fputs(rep, f);
		run = 0;
	}
	fwrite(s + n - run, 1, run, f);
}

size_t html_prefix_chars(const char *s, size_t n, size_t max)
{
	size_t i = 0, chars = 0;
	while (i < n) {
		if (chars == max)
			return i;
		i++;
		while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		chars++;
	}
	return n;
}

/* Heckbert's nicenum: a 1, 2, 5 or 10 × 10^k near x > 0, rounded to the
 * nearest (round) or the next above. */
static double nicenum(double x, bool round)
{
	double e = floor(log10(x)), p = pow(10, e), f = x / p, nf;
	if (round)
		nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
	else
		nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
	return nf * p;
}

void html_axis_make(double lo, double hi, int want, html_axis *a)
{
	if (want < 1)
		want = 1;
	if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
		lo = hi = 0;
	if (lo == hi) {
		/* one step around the value, 0 included */
		double m = fabs(lo);
		double step = m > 0 ? nicenum(m, false) : 1;
		lo = lo < 0 ? -step : 0;
		hi = hi > 0 ? step : 0;
		if (lo == hi)
			hi = 1;
	}
	double step = nicenum(nicenum(hi - lo, false) / want, true);
	/* a range below DBL_MIN-ish would make step 0: not for report data */
	if (!(step > 0))
		step = 1;
	a->step = step;
	a->min = floor(lo / step) * step;
	a->max = ceil(hi / step) * step;
	if (a->min == 0)
		a->min = 0; /* not -0 */
	a->ticks = (int)llround((a->max - a->min) / step) + 1;
	int d = -(int)floor(log10(step) + 1e-9);
	a->decimals = d > 0 ? d : 0;
}

const char *html_tick_format(const html_axis *a, double v, char out[48])
{
	static const struct { double from, div; const char *suffix; } units[] = {
		{1e9, 1e9, "G"}, {1e6, 1e6, "M"}, {1e4, 1e3, "k"}, {0, 1, ""},
	};
	/* snap to the tick grid so 0.30000000000000004 prints 0.3 */
	v = (double)llround(v / a->step) * a->step;
	if (v == 0)
		v = 0; /* not -0 */
	double big = fmax(fabs(a->min), fabs(a->max));
	size_t u = 0;
	while (units[u].from > 0 && big < units[u].from)
		u++;
	/* enough digits for the step in the unit, then no trailing zeros */
	double su = a->step / units[u].div;
	int d = -(int)floor(log10(su) + 1e-9);
	d = d > 0 ? d : 0;
	int n = snprintf(out, 48, "%.*f", d, v / units[u].div);
	if (n > 0 && n < 48 && strchr(out, '.')) {
		while (n > 0 && out[n - 1] == '0')
			out[--n] = 0;
		if (n > 0 && out[n - 1] == '.')
			out[--n] = 0;
	}
	if (strcmp(out, "-0") == 0)
		strcpy(out, "0");
	snprintf(out + strlen(out), 48 - strlen(out), "%s", units[u].suffix);
	return out;
}

const char *html_colour(double t, bool diverging, char out[8])
{
	/* end points: white-ish #f7fbff to #08306b (ColorBrewer Blues 9),
	 * and for the negative half #b2182b (ColorBrewer RdBu) */
	static const double lo[3] = {247, 251, 255}, hi[3] = {8, 48, 107},
			    neg[3] = {178, 24, 43}, mid[3] = {247, 247, 247};
	double c[3];
	if (isnan(t)) {
		snprintf(out, 8, "#%02x%02x%02x", 0xdd, 0xdd, 0xdd);
		return out;
	}
	t = t < 0 ? 0 : t > 1 ? 1 : t;
	for (int i = 0; i < 3; i++) {
		if (!diverging)
			c[i] = lo[i] + (hi[i] - lo[i]) * t;
		else if (t < 0.5)
			c[i] = neg[i] + (mid[i] - neg[i]) * (t * 2);
		else
			c[i] = mid[i] + (hi[i] - mid[i]) * ((t - 0.5) * 2);
	}
	snprintf(out, 8, "#%02x%02x%02x", (unsigned)lround(c[0]), (unsigned)lround(c[1]),
		 (unsigned)lround(c[2]));
	return out;
}

jv html_text(jv v)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_STRING:
		return v;
	case JV_KIND_INVALID:
		jv_free(v);
		return jv_string("");
	default:
		return jv_dump_string(v, 0);
	}
}

/* ---- drawing -------------------------------------------------------------- */

/* Writes a label cut to HTML_LABEL_CHARS characters ("…" when cut) as SVG
 * text content, with the whole label in a <title> when cut. Consumes s. */
static void put_label(FILE *f, jv s)
{
	const char *p = jv_string_value(s);
	size_t n = (size_t)jv_string_length_bytes(jv_copy(s));
	size_t k = html_prefix_chars(p, n, HTML_LABEL_CHARS);
	if (k < n) {
		fputs("<title>", f);
		html_escape(f, p, n);
		fputs("</title>", f);
		html_escape(f, p, k);
		fputs("\xe2\x80\xa6", f);
	} else
		html_escape(f, p, n);
	jv_free(s);
}

/* Writes the string s (consumed) escaped. */
static void put_text(FILE *f, jv s)
{
	html_escape(f, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
	jv_free(s);
}

/* The columns that name row's category (a jv array of names; row
 * borrowed): its columns before its first drawn series (the group
 * columns come first: jrn-report(1)) that are chart->x, a --by field, or
 * hold a string or null: metrics' "spring / email", attribution's "last /
 * spring / email", funnel's "1 / product.viewed", journeys' "step / cart /
 * idle"; [] when none (then "row N"). */
static jv label_keys(const report_chart *chart, char *const *by, size_t nby, jv row, jv series)
{
	jv out = jv_array();
	if (jv_get_kind(row) != JV_KIND_OBJECT)
		return out;
	bool done = false;
	jv_object_foreach(row, key, v) {
		jv_array_foreach(series, k, name) {
			(void)k;
			done = jv_equal(name, jv_copy(key)) || done; /* name consumed */
		}
		const char *ks = jv_string_value(key);
		jv_kind kind = jv_get_kind(v);
		bool take = kind == JV_KIND_STRING || kind == JV_KIND_NULL ||
			    (chart->x && strcmp(ks, chart->x) == 0);
		for (size_t b = 0; b < nby && !take; b++)
			take = strcmp(ks, by[b]) == 0;
		if (!done && take)
			out = jv_array_append(out, jv_copy(key));
		jv_free(key);
		jv_free(v);
	}
	return out;
}

/* The values of row (borrowed) at keys (borrowed) joined with " / "; "row
 * N" (i + 1) when keys is empty. */
static jv row_label(jv keys, jv row, size_t i)
{
	if (jv_array_length(jv_copy(keys)) == 0)
		return jv_string_fmt("row %zu", i + 1);
	jv out = jv_string("");
	jv_array_foreach(keys, k, key) {
		if (k)
			out = jv_string_append_str(out, " / ");
		out = jv_string_concat(out, html_text(jv_object_get(jv_copy(row), key)));
	}
	return out;
}

/* The series drawn (a jv array of names): the hint's columns that hold a
 * number in some row, else the first numeric columns (at most
 * HTML_MAX_SERIES) other than the category columns. */
static jv pick_series(const report_chart *chart, char *const *by, size_t nby, jv rows)
{
	jv out = jv_array();
	for (int s = 0; chart->series[s] && s < HTML_MAX_SERIES; s++) {
		bool has = false;
		jv_array_foreach(rows, i, row) {
			(void)i;
			if (jv_get_kind(row) != JV_KIND_OBJECT) {
				jv_free(row);
				continue;
			}
			jv v = jv_object_get(row, jv_string(chart->series[s]));
			has = has || jv_get_kind(v) == JV_KIND_NUMBER;
			jv_free(v);
		}
		if (has)
			out = jv_array_append(out, jv_string(chart->series[s]));
	}
	if (jv_array_length(jv_copy(out)) > 0 || chart->type == CHART_HEATMAP)
		return out;
	jv_array_foreach(rows, i, row) {
		(void)i;
		if (jv_get_kind(row) != JV_KIND_OBJECT) {
			jv_free(row);
			continue;
		}
		jv_object_foreach(row, key, v) {
			const char *k = jv_string_value(key);
			bool skip = jv_get_kind(v) != JV_KIND_NUMBER ||
				    (chart->x && strcmp(k, chart->x) == 0) ||
				    (chart->y && strcmp(k, chart->y) == 0);
			for (size_t b = 0; b < nby && !skip; b++)
				skip = strcmp(k, by[b]) == 0;
			jv_array_foreach(out, j, have) {
				(void)j;
				skip = skip || strcmp(jv_string_value(have), k) == 0;
				jv_free(have);
			}
			if (!skip && jv_array_length(jv_copy(out)) < HTML_MAX_SERIES)
				out = jv_array_append(out, jv_copy(key));
			jv_free(key);
			jv_free(v);
		}
		jv_free(row);
	}
	return out;
}

static double num_or_nan(jv row, const char *key)
{
	jv v = jv_object_get(jv_copy(row), jv_string(key));
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : NAN;
	jv_free(v);
	return isfinite(d) ? d : NAN;
}

static double yscale(const html_axis *a, double v)
{
	return PLOT_BOTTOM - (v - a->min) / (a->max - a->min) * (PLOT_BOTTOM - PLOT_TOP);
}

/* The legend: a swatch and a name per series, on the top line. */
static void put_legend(FILE *f, jv series, int left)
{
	double x = left;
	fputs("<g class=\"legend\">", f);
	jv_array_foreach(series, s, name) {
		fprintf(f, "<rect class=\"key\" x=\"%.1f\" y=\"14\" width=\"12\" height=\"12\" fill=\"%s\"/>",
			x, html_palette[s]);
		fprintf(f, "<text x=\"%.1f\" y=\"25\">", x + 16);
		put_text(f, jv_copy(name));
		fputs("</text>", f);
		x += 16 + 8.0 * jv_string_length_codepoints(jv_copy(name)) + 24;
		jv_free(name);
	}
	fputs("</g>\n", f);
}

/* The y axis: grid lines, tick labels, the axis title (rotated; consumed). */
static void put_yaxis(FILE *f, const html_axis *a, int left, jv title)
{
	char t[48];
	fputs("<g class=\"axis y\">", f);
	for (int i = 0; i < a->ticks; i++) {
		double v = a->min + i * a->step, y = yscale(a, v);
		fprintf(f, "<line class=\"grid%s\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>",
			fabs(v) < a->step / 2 ? " zero" : "", left, PLOT_RIGHT, y, y);
		fprintf(f, "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
			left - 6, y + 4, html_tick_format(a, v, t));
	}
	fprintf(f, "<text class=\"title\" transform=\"translate(16 %d) rotate(-90)\" text-anchor=\"middle\">",
		(PLOT_TOP + PLOT_BOTTOM) / 2);
	put_text(f, title);
	fputs("</text></g>\n", f);
}

/* The x axis: a label per category (labels borrowed) under its slot,
 * rotated when crowded; the axis title (consumed); "and K more". */
static void put_xaxis(FILE *f, jv labels, int left, double gw, jv title, size_t more)
{
	bool rotate = gw < ROTATE_BELOW;
	fputs("<g class=\"axis x\">", f);
	jv_array_foreach(labels, g, label) {
		double x = left + (g + 0.5) * gw;
		if (rotate)
			fprintf(f, "<text class=\"label\" x=\"%.1f\" y=\"%d\" text-anchor=\"end\" "
				"transform=\"rotate(-40 %.1f %d)\">", x, PLOT_BOTTOM + 16, x, PLOT_BOTTOM + 16);
		else
			fprintf(f, "<text class=\"label\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">",
				x, PLOT_BOTTOM + 18);
		put_label(f, label);
		fputs("</text>", f);
	}
	fprintf(f, "<text class=\"title\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">",
		(left + PLOT_RIGHT) / 2, rotate ? H - 8 : PLOT_BOTTOM + 44);
	put_text(f, title);
	fputs("</text>", f);
	if (more)
		fprintf(f, "<text class=\"more\" x=\"%d\" y=\"%d\" text-anchor=\"end\">and %zu more "
			"(every row is in the table)</text>", PLOT_RIGHT, H - 8, more);
	fputs("</g>\n", f);
}

/* v in at most 3 significant digits for a label over its bar: "0.167",
 * "160", "12.3k", "1.23M". Returns out. */
static const char *short_num(double v, char out[32])
{
	double m = fabs(v);
	if (m >= 1e9)
		snprintf(out, 32, "%.3gG", v / 1e9);
	else if (m >= 1e6)
		snprintf(out, 32, "%.3gM", v / 1e6);
	else if (m >= 1e4)
		snprintf(out, 32, "%.3gk", v / 1e3);
	else
		snprintf(out, 32, "%.3g", v);
	return out;
}

/* Bars or lines: one slot per row (at most HTML_MAX_GROUPS), a bar or a
 * point per series in it. vals[g * ns + s]: NaN for null. */
static void put_bars_lines(FILE *f, const report_chart *chart, jv labels, jv series,
			   const double *vals, size_t ng, size_t more, jv xtitle /* consumed */)
{
	size_t ns = (size_t)jv_array_length(jv_copy(series));
	double lo = 0, hi = 0;
	for (size_t i = 0; i < ng * ns; i++)
		if (!isnan(vals[i])) {
			lo = vals[i] < lo ? vals[i] : lo;
			hi = vals[i] > hi ? vals[i] : hi;
		}
	html_axis a;
	html_axis_make(lo, hi, 5, &a);
	const int left = BARS_LEFT;
	double gw = (double)(PLOT_RIGHT - left) / (double)(ng ? ng : 1);
	put_legend(f, series, left);
	put_yaxis(f, &a, left, ns == 1 ? jv_array_get(jv_copy(series), 0) : jv_string(chart->title));
	double y0 = yscale(&a, 0);
	if (chart->type == CHART_BAR) {
		double bw = gw * 0.8 / (double)ns;
		fputs("<g class=\"bars\">", f);
		for (size_t g = 0; g < ng; g++) {
			jv label = jv_array_get(jv_copy(labels), (int)g);
			for (size_t s = 0; s < ns; s++) {
				double v = vals[g * ns + s], x = left + g * gw + gw * 0.1 + s * bw;
				jv name = jv_array_get(jv_copy(series), (int)s);
				if (isnan(v)) {
					/* a null: no bar, a mark on the baseline */
					fprintf(f, "<text class=\"null\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">"
						"\xe2\x80\x93<title>", x + bw / 2, y0 - 3);
				} else {
					double y = yscale(&a, v);
					fprintf(f, "<rect class=\"bar\" data-series=\"%zu\" x=\"%.2f\" y=\"%.2f\" "
						"width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>",
						s, x, v >= 0 ? y : y0, bw, fabs(y - y0), html_palette[s]);
				}
				put_text(f, jv_copy(label));
				fputs(" \xe2\x80\x94 ", f);
				put_text(f, jv_copy(name));
				fputs(": ", f);
				if (isnan(v))
					fputs("null</title></text>", f);
				else {
					jv num = jv_dump_string(jv_number(v), 0);
					fprintf(f, "%s</title></rect>", jv_string_value(num));
					jv_free(num);
					if (bw >= 22) { /* the value over the bar (under, below 0) */
						char t[32];
						double y = yscale(&a, v);
						fprintf(f, "<text class=\"value\" x=\"%.1f\" y=\"%.1f\" "
							"text-anchor=\"middle\">%s</text>", x + bw / 2,
							v >= 0 ? y - 3 : y + 11, short_num(v, t));
					}
				}
				jv_free(name);
			}
			jv_free(label);
		}
		fputs("</g>\n", f);
	} else {
		fputs("<g class=\"lines\">", f);
		for (size_t s = 0; s < ns; s++) {
			/* a polyline per run of non-null points */
			bool open = false;
			for (size_t g = 0; g <= ng; g++) {
				double v = g < ng ? vals[g * ns + s] : NAN;
				if (isnan(v)) {
					if (open)
						fputs("\"/>", f);
					open = false;
					continue;
				}
				if (!open)
					fprintf(f, "<polyline class=\"line\" data-series=\"%zu\" fill=\"none\" "
						"stroke=\"%s\" stroke-width=\"2.5\" points=\"", s, html_palette[s]);
				fprintf(f, "%s%.2f,%.2f", open ? " " : "", left + (g + 0.5) * gw, yscale(&a, v));
				open = true;
			}
			for (size_t g = 0; g < ng; g++) {
				double v = vals[g * ns + s];
				if (isnan(v))
					continue;
				jv label = jv_array_get(jv_copy(labels), (int)g);
				jv num = jv_dump_string(jv_number(v), 0);
				fprintf(f, "<circle class=\"point\" data-series=\"%zu\" cx=\"%.2f\" cy=\"%.2f\" "
					"r=\"4\" fill=\"%s\"><title>", s, left + (g + 0.5) * gw, yscale(&a, v),
					html_palette[s]);
				put_text(f, label);
				fprintf(f, ": %s</title></circle>", jv_string_value(num));
				jv_free(num);
			}
		}
		fputs("</g>\n", f);
	}
	put_xaxis(f, labels, left, gw, xtitle, more);
}

/* The index of label in the set (a jv object label → index), added when
 * new; *n counts the labels. */
static size_t set_index(jv *set, jv label, size_t *n)
{
	jv have = jv_object_get(jv_copy(*set), jv_copy(label));
	if (jv_get_kind(have) == JV_KIND_NUMBER) {
		size_t i = (size_t)jv_number_value(have);
		jv_free(label);
		return i;
	}
	jv_free(have);
	*set = jv_object_set(*set, label, jv_number((double)*n));
	return (*n)++;
}

/* Whether row (borrowed) is a cell of the heatmap: an object with both
 * category columns (rfm's distribution rows have neither: table only). */
static bool in_heatmap(const report_chart *chart, jv row)
{
	return jv_get_kind(row) == JV_KIND_OBJECT &&
	       jv_object_has(jv_copy(row), jv_string(chart->x)) &&
	       jv_object_has(jv_copy(row), jv_string(chart->y));
}

/* long: one pass for the two category sets, one for the cells, then the
 * grid, the colour scale's legend and the axes' labels: one drawing */
static void put_heatmap(FILE *f, const report_chart *chart, jv rows)
{
	const char *vkey = chart->series[0];
	jv xset = jv_object(), yset = jv_object();
	size_t nx = 0, ny = 0;
	jv_array_foreach(rows, i, row) {
		(void)i;
		if (!in_heatmap(chart, row)) {
			jv_free(row);
			continue;
		}
		set_index(&xset, html_text(jv_object_get(jv_copy(row), jv_string(chart->x))), &nx);
		set_index(&yset, html_text(jv_object_get(jv_copy(row), jv_string(chart->y))), &ny);
		jv_free(row);
	}
	size_t cx = nx < HTML_MAX_CELLS_X ? nx : HTML_MAX_CELLS_X;
	size_t cy = ny < HTML_MAX_CELLS_Y ? ny : HTML_MAX_CELLS_Y;
	double *cell = malloc(sizeof *cell * (cx * cy + 1));
	unsigned char *has = calloc(cx * cy + 1, 1);
	if (!cell || !has) {
		free(cell);
		free(has);
		jv_free(xset);
		jv_free(yset);
		return;
	}
	double lo = INFINITY, hi = -INFINITY;
	jv_array_foreach(rows, i, row) {
		(void)i;
		if (!in_heatmap(chart, row)) {
			jv_free(row);
			continue;
		}
		size_t xi = set_index(&xset, html_text(jv_object_get(jv_copy(row), jv_string(chart->x))), &nx);
		size_t yi = set_index(&yset, html_text(jv_object_get(jv_copy(row), jv_string(chart->y))), &ny);
		if (xi < cx && yi < cy) {
			double v = num_or_nan(row, vkey);
			cell[yi * cx + xi] = v;
			has[yi * cx + xi] = 1;
			if (!isnan(v)) {
				lo = v < lo ? v : lo;
				hi = v > hi ? v : hi;
			}
		}
		jv_free(row);
	}
	if (!(lo <= hi))
		lo = hi = 0;
	/* the colour scale runs over a nice axis that includes 0, symmetric
	 * around 0 (white) when values have both signs */
	bool diverging = lo < 0 && hi > 0;
	if (diverging) {
		double m = fmax(-lo, hi);
		lo = -m;
		hi = m;
	}
	html_axis a;
	html_axis_make(fmin(lo, 0), fmax(hi, 0), 4, &a);
	lo = a.min;
	hi = a.max;
	/* labels in index order */
	jv xl = jv_array(), yl = jv_array();
	for (size_t i = 0; i < cx; i++)
		xl = jv_array_append(xl, jv_null());
	for (size_t i = 0; i < cy; i++)
		yl = jv_array_append(yl, jv_null());
	jv_object_foreach(xset, k, v) {
		size_t i = (size_t)jv_number_value(v);
		if (i < cx)
			xl = jv_array_set(xl, (int)i, jv_copy(k));
		jv_free(k);
		jv_free(v);
	}
	jv_object_foreach(yset, k, v) {
		size_t i = (size_t)jv_number_value(v);
		if (i < cy)
			yl = jv_array_set(yl, (int)i, jv_copy(k));
		jv_free(k);
		jv_free(v);
	}
	const int left = 150;
	double cw = (double)(PLOT_RIGHT - left) / (double)(cx ? cx : 1);
	double ch = (double)(PLOT_BOTTOM - PLOT_TOP) / (double)(cy ? cy : 1);
	char col[8], t[48];
	/* the colour scale: a gradient from lo to hi with 3 ticks */
	fputs("<defs><linearGradient id=\"scale\">", f);
	for (int i = 0; i <= 10; i++)
		fprintf(f, "<stop offset=\"%d%%\" stop-color=\"%s\"/>", i * 10, html_colour(i / 10.0, diverging, col));
	fputs("</linearGradient></defs>\n<g class=\"legend\">", f);
	fprintf(f, "<text x=\"%d\" y=\"25\" text-anchor=\"end\">", left + 430);
	put_text(f, jv_string(vkey));
	fprintf(f, "</text><rect class=\"key\" x=\"%d\" y=\"12\" width=\"300\" height=\"14\" "
		"fill=\"url(#scale)\" stroke=\"#999\"/>", left + 440);
	for (int i = 0; i < a.ticks; i++) {
		double v = a.min + i * a.step;
		fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"40\" text-anchor=\"middle\">%s</text>",
			left + 440 + 300.0 * (v - lo) / (hi - lo), html_tick_format(&a, v, t));
	}
	fputs("</g>\n<g class=\"cells\">", f);
	for (size_t yi = 0; yi < cy; yi++)
		for (size_t xi = 0; xi < cx; xi++) {
			if (!has[yi * cx + xi])
				continue;
			double v = cell[yi * cx + xi];
			double tt = isnan(v) ? NAN : hi > lo ? (v - lo) / (hi - lo) : 1;
			html_colour(tt, diverging, col);
			double x = left + xi * cw, y = PLOT_TOP + yi * ch;
			fprintf(f, "<rect class=\"cell\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
				"fill=\"%s\"><title>", x, y, cw, ch, col);
			jv yv = jv_array_get(jv_copy(yl), (int)yi), xv = jv_array_get(jv_copy(xl), (int)xi);
			put_text(f, jv_string(chart->y));
			fputs(" ", f);
			put_text(f, yv);
			fputs(", ", f);
			put_text(f, jv_string(chart->x));
			fputs(" ", f);
			put_text(f, xv);
			jv num = isnan(v) ? jv_string("null") : jv_dump_string(jv_number(v), 0);
			fprintf(f, ": %s</title></rect>", jv_string_value(num));
			if (cw >= 40 && ch >= 16) {
				bool dark = !isnan(tt) && (diverging ? fabs(tt - 0.5) > 0.3 : tt > 0.55);
				double show = v;
				fprintf(f, "<text class=\"value\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
					"fill=\"%s\">", x + cw / 2, y + ch / 2 + 4, dark ? "#fff" : "#222");
				if (isnan(v))
					fputs("\xe2\x80\x93", f);
				else if (fabs(show) < 10 && show != floor(show))
					fprintf(f, "%.2f", show);
				else
					fprintf(f, "%.0f", show);
				fputs("</text>", f);
			}
			jv_free(num);
		}
	fputs("</g>\n<g class=\"axis y\">", f);
	jv_array_foreach(yl, i, label) {
		fprintf(f, "<text class=\"label\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", left - 6,
			PLOT_TOP + (i + 0.5) * ch + 4);
		put_label(f, label);
		fputs("</text>", f);
	}
	fprintf(f, "<text class=\"title\" transform=\"translate(16 %d) rotate(-90)\" text-anchor=\"middle\">",
		(PLOT_TOP + PLOT_BOTTOM) / 2);
	put_text(f, jv_string(chart->y));
	fputs("</text></g>\n", f);
	size_t more = (nx - cx) + (ny - cy);
	if (more)
		fprintf(f, "<text class=\"more\" x=\"%d\" y=\"%d\" text-anchor=\"end\">and %zu more "
			"(%zu columns, %zu rows not drawn; every row is in the table)</text>",
			PLOT_RIGHT, H - 26, more, nx - cx, ny - cy);
	put_xaxis(f, xl, left, cw, jv_string(chart->x), 0);
	free(cell);
	free(has);
	jv_free(xset);
	jv_free(yset);
	jv_free(xl);
	jv_free(yl);
}

/* The rows of rows (borrowed) that have a column of series (journeys'
 * step rows have none of the journey rows' columns: table only). */
static jv drawn_rows(jv rows, jv series)
{
	jv drawn = jv_array();
	jv_array_foreach(rows, i, row) {
		(void)i;
		bool any = false;
		jv_array_foreach(series, k, name) {
			(void)k;
			any = any || (jv_get_kind(row) == JV_KIND_OBJECT &&
				      jv_object_has(jv_copy(row), jv_copy(name)));
			jv_free(name);
		}
		if (any)
			drawn = jv_array_append(drawn, row);
		else
			jv_free(row);
	}
	return drawn;
}

/* Bars or lines of drawn (the rows to draw, borrowed): their labels, the
 * x axis' title (the first row's label columns) and values. */
static void put_bar_line_chart(FILE *f, const report_chart *chart, char *const *by, size_t nby,
			       jv drawn, jv series)
{
	size_t ns = (size_t)jv_array_length(jv_copy(series));
	size_t nrows = (size_t)jv_array_length(jv_copy(drawn));
	size_t ng = nrows < HTML_MAX_GROUPS ? nrows : HTML_MAX_GROUPS;
	double *vals = malloc(sizeof *vals * (ng * ns + 1));
	if (!vals)
		return;
	jv labels = jv_array();
	jv first = jv_array_get(jv_copy(drawn), 0);
	jv keys = label_keys(chart, by, nby, first, series);
	jv_free(first);
	jv xtitle = jv_string("");
	jv_array_foreach(keys, k, key) {
		if (k)
			xtitle = jv_string_append_str(xtitle, " / ");
		xtitle = jv_string_concat(xtitle, key);
	}
	for (size_t g = 0; g < ng; g++) {
		jv row = jv_array_get(jv_copy(drawn), (int)g);
		jv rk = label_keys(chart, by, nby, row, series);
		labels = jv_array_append(labels, row_label(rk, row, g));
		jv_free(rk);
		for (size_t s = 0; s < ns; s++) {
			jv name = jv_array_get(jv_copy(series), (int)s);
			vals[g * ns + s] = num_or_nan(row, jv_string_value(name));
			jv_free(name);
		}
		jv_free(row);
	}
	put_bars_lines(f, chart, labels, series, vals, ng, nrows - ng, xtitle);
	free(vals);
	jv_free(labels);
	jv_free(keys);
}

void html_chart(FILE *f, const report_chart *chart, char *const *by, size_t nby, jv rows)
{
	if (chart->type == CHART_NONE)
		return;
	if (chart->type == CHART_HEATMAP) {
		bool any = chart->x && chart->y && chart->series[0];
		size_t cells = 0;
		jv_array_foreach(rows, i, row) {
			(void)i;
			cells += any && in_heatmap(chart, row);
			jv_free(row);
		}
		if (!cells)
			return;
	}
	jv series = pick_series(chart, by, nby, rows);
	size_t ns = (size_t)jv_array_length(jv_copy(series));
	if (chart->type != CHART_HEATMAP && ns == 0) {
		jv_free(series);
		return;
	}
	/* bars and lines with labels upright need less height */
	jv drawn = chart->type == CHART_HEATMAP ? jv_array() : drawn_rows(rows, series);
	int nd = jv_array_length(jv_copy(drawn)), h = H;
	int ng = nd < HTML_MAX_GROUPS ? nd : HTML_MAX_GROUPS;
	if (chart->type != CHART_HEATMAP && (double)(PLOT_RIGHT - BARS_LEFT) / (ng ? ng : 1) >= ROTATE_BELOW)
		h = PLOT_BOTTOM + 56;
	fputs("<figure class=\"chart\">\n", f);
	fprintf(f, "<svg class=\"chart %s\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"role=\"img\">\n<title>",
		chart->type == CHART_BAR ? "bar" : chart->type == CHART_LINE ? "line" : "heatmap",
		W, h, W, h);
	html_escape(f, chart->title, strlen(chart->title));
	fputs("</title>\n", f);
	if (chart->type == CHART_HEATMAP)
		put_heatmap(f, chart, rows);
	else
		put_bar_line_chart(f, chart, by, nby, drawn, series);
	fputs("</svg>\n</figure>\n", f);
	jv_free(drawn);
	jv_free(series);
}
