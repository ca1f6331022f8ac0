/*
 * html-int.h: what html.c (the page: head, styles, the rows' table) and
 * html-chart.c (the chart as inline SVG: bars, lines, a heatmap) share;
 * private to them and their unit test (t/unit/jrn-report-html.c).
 *
 * The page is self-contained: no script, no URL (not even SVG's xmlns,
 * which HTML5 does not need), fonts from the system, styles inline; the
 * chart is SVG drawn here, readable without JavaScript and printable.
 *
 * Limits (jrn-report(1), "HTML"): a bar or line chart draws at most
 * HTML_MAX_GROUPS categories, a heatmap at most HTML_MAX_CELLS_X columns
 * and HTML_MAX_CELLS_Y rows; the rest are named "and K more" under the
 * chart, and every row is still in the table. Labels in the chart are cut
 * at HTML_LABEL_CHARS characters with "…", the whole label in a <title>
 * (the browser's tooltip).
 */
#ifndef JRN_REPORT_HTML_INT_H
#define JRN_REPORT_HTML_INT_H

#include <stdio.h>

#include "jrn-report.h"

#define HTML_MAX_GROUPS 40
#define HTML_MAX_CELLS_X 40
#define HTML_MAX_CELLS_Y 40
#define HTML_LABEL_CHARS 18
#define HTML_MAX_SERIES 6

/* The colours of the series, in order (fill of the bars and lines); the
 * first is what t/jrn-report-html.bats counts in the screenshot. */
extern const char *const html_palette[HTML_MAX_SERIES];

/* Writes s[0..n) to f as HTML text or a quoted attribute's value: & < > "
 * and ' as character references, and the characters HTML5 calls parse
 * errors (controls other than tab, newline and return, and NUL; s may hold
 * NUL when it comes from a jv string) as U+FFFD. s is valid UTF-8 (a jv
 * string always is). */
void html_escape(FILE *f, const char *s, size_t n);

/* How many bytes of s[0..n) (valid UTF-8) make its first max characters
 * (code points): n when s has max or fewer. */
size_t html_prefix_chars(const char *s, size_t n, size_t max);

/* An axis from lo to hi (lo <= hi, finite): ticks every step, step being 1,
 * 2 or 5 × 10^k, chosen so that about `want` intervals cover [lo, hi]; the
 * axis runs from min (a multiple of step <= lo) to max (a multiple >= hi)
 * and always includes 0 when lo <= 0 <= hi. lo == hi gives an axis of
 * one step around them ([0, 1] for 0). The rule is Heckbert's "nice
 * numbers for graph labels" (Graphics Gems, 1990) with the 1-2-5 series.
 * ticks = (max - min) / step + 1, at most want * 2 + 2. */
typedef struct {
	double min, max, step;
	int ticks;
	int decimals; /* digits after the point that print every tick exactly */
} html_axis;
void html_axis_make(double lo, double hi, int want, html_axis *a);

/* Writes tick value v of axis a into out: snapped to a's grid, in G, M
 * or k (thousands) when the axis reaches 10^9, 10^6 or 10^4 ("1.5M",
 * "20k"), with the digits the step needs and no trailing zeros ("0.2",
 * "1"); never "-0". Returns out. */
const char *html_tick_format(const html_axis *a, double v, char out[48]);

/* The heatmap's colour of t in [0, 1] (clamped; NaN: the grey of a null)
 * as "#rrggbb" in out: the sequential scale (white-blue), or with
 * diverging true, t < 0.5 red through white (0.5) to blue. Returns out. */
const char *html_colour(double t, bool diverging, char out[8]);

/* A row's value as text for the chart and the table: a string as itself,
 * a number as jq prints it, null as "null", true/false, an array or object
 * as compact JSON. Consumes v; the result is the caller's (jv_free). */
jv html_text(jv v);

/* Writes the chart of rows (a jv array of objects, borrowed) for the run's
 * kind to f as an inline <svg> with its legend and caption, inside a
 * <figure>; nothing for CHART_NONE or when no series column holds a
 * number. A row's category: its columns before the first drawn series
 * that are chart->x, a --by field (by/nby: the run's), or hold a string
 * or null, joined with " / ". */
void html_chart(FILE *f, const report_chart *chart, char *const *by, size_t nby, jv rows);

#endif
