/* html.c: --format html (jrn-report.h, report_html): one self-contained
 * page: the title (config report.html.title, default "jrn-report KIND"),
 * the window and the --now time, the chart (html-chart.c), the rows as a
 * table, and a print stylesheet. No script, no URL: it opens offline. */
#include <stdlib.h>
#include <string.h>

#include "html-int.h"

/* The page's styles: the system's fonts, numbers right-aligned, and for
 * print (@media print) black on white, the chart kept whole on its page,
 * the table's header repeated on each page. */
static const char css[] =
	":root{color-scheme:light}\n"
	"body{font:14px/1.4 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
	"margin:24px;color:#222;background:#fff}\n"
	"h1{font-size:22px;margin:0 0 4px}\n"
	"p.meta{color:#555;margin:0 0 16px}\n"
	"figure.chart{margin:0 0 24px}\n"
	"svg.chart{max-width:100%;height:auto;font-size:12px;font-family:inherit}\n"
	"svg .grid{stroke:#e3e3e3;stroke-width:1}\n"
	"svg .grid.zero{stroke:#777}\n"
	"svg .title{font-weight:600;fill:#333}\n"
	"svg .tick,svg .label{fill:#444}\n"
	"svg .null,svg .more{fill:#888}\n"
	"svg text.value{font-size:10px;fill:#444}\n"
	"svg rect.bar,svg rect.cell{shape-rendering:crispEdges}\n"
	"div.rows{overflow-x:auto}\n"
	"table{border-collapse:collapse;font-variant-numeric:tabular-nums}\n"
	"caption{text-align:left;font-weight:600;padding:4px 0}\n"
	"th,td{border-bottom:1px solid #ddd;padding:3px 10px;text-align:left;vertical-align:top}\n"
	"th{background:#f4f4f4}\n"
	"td.num{text-align:right}\n"
	"td.null{color:#999;text-align:center}\n"
	"p.empty{font-style:italic;color:#555}\n"
	"@media print{\n"
	"body{margin:0;font-size:10pt;color:#000}\n"
	"figure.chart{break-inside:avoid;page-break-inside:avoid}\n"
	"svg.chart{width:100%}\n"
	"div.rows{overflow:visible}\n"
	"thead{display:table-header-group}\n"
	"tr{break-inside:avoid;page-break-inside:avoid}\n"
	"th{background:none;border-bottom:2px solid #000}\n"
	"table{font-size:7.5pt}\n"
	"th,td{padding:1px 4px}\n"
	"th{overflow-wrap:anywhere}\n"
	"svg,rect,td{print-color-adjust:exact;-webkit-print-color-adjust:exact}\n"
	"}\n";

/* The page's title (the caller's to free): config report.html.title, else
 * "jrn-report KIND". A title from ${NAME} is the value itself: it is the
 * page's heading, chosen by whoever set it, not a message. */
static char *page_title(report_run *run)
{
	char *s = NULL;
	jrn_err e;
	if (jv_is_valid(run->opts.config) &&
	    jrn_config_string(run->opts.config, "report.html.title", &s, &e) == 1 && s)
		return s;
	jv t = jv_string_fmt("jrn-report %s", run->kind ? run->kind->name : "");
	s = strdup(jv_string_value(t));
	jv_free(t);
	return s;
}

static void put_time(FILE *f, int64_t ms)
{
	char t[32];
	jrn_time_format(ms, t);
	fprintf(f, "<time datetime=\"%s\">%s</time>", t, t);
}

/* The table's columns: every key of every row, in order of first sight
 * (a row's keys in its order). Borrows rows. */
static jv columns(jv rows)
{
	jv seen = jv_object(), out = jv_array();
	jv_array_foreach(rows, i, row) {
		(void)i;
		if (jv_get_kind(row) == JV_KIND_OBJECT)
			jv_object_foreach(row, key, v) {
				jv_free(v);
				if (jv_object_has(jv_copy(seen), jv_copy(key)))
					jv_free(key);
				else {
					seen = jv_object_set(seen, jv_copy(key), jv_true());
					out = jv_array_append(out, key);
				}
			}
		jv_free(row);
	}
	jv_free(seen);
	return out;
}

/* The rows as a table: a header cell per column, a cell per value (escaped;
 * numbers right-aligned as jq prints them; null as a dash; a missing key
 * as an empty cell). Borrows rows and cols. */
static void put_table(FILE *f, jv rows, jv cols)
{
	int n = jv_array_length(jv_copy(rows));
	fprintf(f, "<div class=\"rows\">\n<table>\n<caption>%d row%s</caption>\n<thead><tr>", n, n == 1 ? "" : "s");
	jv_array_foreach(cols, c, key) {
		(void)c;
		fputs("<th scope=\"col\">", f);
		html_escape(f, jv_string_value(key), (size_t)jv_string_length_bytes(jv_copy(key)));
		fputs("</th>", f);
		jv_free(key);
	}
	fputs("</tr></thead>\n<tbody>\n", f);
	jv_array_foreach(rows, r, row) {
		(void)r;
		fputs("<tr>", f);
		jv_array_foreach(cols, c, key) {
			(void)c;
			jv v = jv_get_kind(row) == JV_KIND_OBJECT ? jv_object_get(jv_copy(row), key)
								   : (jv_free(key), jv_invalid());
			jv_kind k = jv_get_kind(v);
			if (k == JV_KIND_INVALID) {
				jv_free(v);
				fputs("<td></td>", f);
				continue;
			}
			if (k == JV_KIND_NULL) {
				jv_free(v);
				fputs("<td class=\"null\">\xe2\x80\x93</td>", f);
				continue;
			}
			fputs(k == JV_KIND_NUMBER ? "<td class=\"num\">" : "<td>", f);
			jv t = html_text(v);
			html_escape(f, jv_string_value(t), (size_t)jv_string_length_bytes(jv_copy(t)));
			jv_free(t);
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
		jv_free(row);
	}
	fputs("</tbody>\n</table>\n</div>\n", f);
}

int report_html(report_run *run, jv rows, FILE *f)
{
	if (jv_get_kind(rows) != JV_KIND_ARRAY) {
		jv_free(rows);
		return jrn_say(JRN_EXIT_FAIL, "--format html: no rows to write (not an array)"), -1;
	}
	char *title = page_title(run);
	if (!title) {
		jv_free(rows);
		return jrn_say(JRN_EXIT_FAIL, "--format html: out of memory"), -1;
	}
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<meta name=\"generator\" content=\"jrn-report " JRN_VERSION "\">\n<title>", f);
	html_escape(f, title, strlen(title));
	fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<header>\n<h1>", css);
	html_escape(f, title, strlen(title));
	fputs("</h1>\n<p class=\"meta\">Window: ", f);
	if (run->since_given)
		put_time(f, run->since_ms);
	else
		fputs("from the beginning", f);
	fputs(" to ", f);
	put_time(f, run->until_ms);
	fputs(" (until excluded). Computed at ", f);
	put_time(f, run->now_ms);
	fputs(".</p>\n</header>\n<main>\n", f);
	free(title);

	if (jv_array_length(jv_copy(rows)) == 0)
		fputs("<p class=\"empty\">no data</p>\n", f);
	else {
		if (run->kind)
			html_chart(f, &run->kind->chart, run->by, run->nby, rows);
		jv cols = columns(rows);
		put_table(f, rows, cols);
		jv_free(cols);
	}
	fputs("</main>\n</body>\n</html>\n", f);
	jv_free(rows);
	/* a write error stays on f for the caller (output.c flushes and
	 * checks it, EPIPE included) */
	return 0;
}
