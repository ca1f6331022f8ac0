/* window.c: the options read into the run (the window, --by, --format)
 * and the helpers every kind uses to read its own: --by checked against
 * the fields a kind takes, durations from a flag or the config. */
#include <stdlib.h>
#include <string.h>

#include "jrn-report.h"

/* A time option: RFC 3339 (a bare date is 00:00 UTC) or a duration back
 * from now ("24h": now - 24 h). 0, or JRN_EXIT_USAGE said. */
static int window_time(const report_run *run, const char *opt, const char *s, int64_t *ms)
{
	jrn_err e;
	int rc = jrn_time_or_ago(s, run->now_ms, ms, &e);
	if (rc == -1)
		return jrn_say(JRN_EXIT_USAGE, "%s '%s': %s", opt, s, e.msg);
	if (rc < 0)
		return jrn_say(JRN_EXIT_USAGE, "%s '%s': neither an RFC 3339 time nor a duration back"
			       " from now (24h, 7d)", opt, s);
	if (rc == 1 && *ms < 0) /* a duration back past the state file's first time */
		return jrn_say(JRN_EXIT_USAGE, "%s '%s': before 1970-01-01T00:00:00Z, the "
			       "earliest time a window may start", opt, s);
	return 0;
}

/* --by's comma list into run->by: each field once, none empty. 0, or the
 * exit status (said). */
static int window_by(report_run *run, const char *by)
{
	size_t n = 1;
	for (const char *p = by; *p; p++)
		n += *p == ',';
	if (!(run->by = calloc(n, sizeof *run->by)))
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	for (const char *p = by;; p++) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0)
			return jrn_say(JRN_EXIT_USAGE, "--by '%s': an empty field", by);
		if (!(run->by[run->nby] = strndup(p, len)))
			return jrn_say(JRN_EXIT_FAIL, "out of memory");
		run->nby++; /* counted before the check, so teardown frees it */
		for (size_t i = 0; i + 1 < run->nby; i++)
			if (!strcmp(run->by[i], run->by[run->nby - 1]))
				return jrn_say(JRN_EXIT_USAGE, "--by '%s': %s twice", by, run->by[i]);
		if (!end)
			return 0;
		p = end;
	}
}

int report_window(report_run *run, const char *since, const char *until, const char *by,
		  const char *format)
{
	static const char *const formats[] = {"ndjson", "table", "csv", "html"};
	int status;
	run->format = REPORT_NDJSON;
	if (format) {
		size_t i = 0;
		while (i < 4 && strcmp(format, formats[i]))
			i++;
		if (i == 4)
			return jrn_say(JRN_EXIT_USAGE, "--format '%s': ndjson, table, csv or html",
				       format);
		run->format = (report_format)i;
	}
	if (run->out_path && !*run->out_path)
		return jrn_say(JRN_EXIT_USAGE, "-o: an empty file name");
	if ((run->given & R_OPT_DRY_RUN) && !run->save)
		return jrn_say(JRN_EXIT_USAGE, "--dry-run goes with --save");
	run->since_ms = INT64_MIN;
	run->until_ms = run->now_ms;
	if ((run->since_given = since != NULL) &&
	    (status = window_time(run, "--since", since, &run->since_ms)) != 0)
		return status;
	if ((run->until_given = until != NULL) &&
	    (status = window_time(run, "--until", until, &run->until_ms)) != 0)
		return status;
	if (run->since_ms > run->until_ms) {
		char a[32], b[32];
		jrn_time_format(run->since_ms, a);
		jrn_time_format(run->until_ms, b);
		return jrn_say(JRN_EXIT_USAGE, "the window ends before it starts (--since %s,"
			       " --until %s)", a, b);
	}
	return by ? window_by(run, by) : 0;
}

void report_window_free(report_run *run)
{
	for (size_t i = 0; i < run->nby; i++)
		free(run->by[i]);
	free(run->by);
	run->by = NULL;
	run->nby = 0;
}

int report_by_check(report_run *run, const char *const *fields, const char *deflt)
{
	if (!run->by && deflt && *deflt) {
		int status = window_by(run, deflt);
		if (status != 0)
			return status;
	}
	for (size_t i = 0; i < run->nby; i++) {
		if (!strcmp(run->by[i], "all") && run->nby > 1) {
			jrn_say(JRN_EXIT_USAGE, "%s: --by all stands alone (one row for the whole "
				"window), not with other fields", run->kind->name);
			return JRN_EXIT_USAGE;
		}
		size_t k = 0;
		while (fields[k] && strcmp(fields[k], run->by[i]))
			k++;
		if (fields[k])
			continue;
		jrn_buf b = {0};
		for (k = 0; fields[k]; k++)
			jrn_buf_addf(&b, "%s%s", k ? ", " : "", fields[k]);
		jrn_say(JRN_EXIT_USAGE, "%s: --by %s: not a field of this kind (%s)",
			run->kind->name, run->by[i], b.p ? b.p : "none");
		jrn_buf_free(&b);
		return JRN_EXIT_USAGE;
	}
	return 0;
}

int report_by_index(const report_run *run, const char *field)
{
	for (size_t i = 0; i < run->nby; i++)
		if (!strcmp(run->by[i], field))
			return (int)i;
	return -1;
}

int report_duration(const report_run *run, const char *flag, const char *opt,
		    const char *key, int64_t dflt, int64_t *ms)
{
	jrn_err e;
	if (flag) {
		if (jrn_duration_parse(flag, ms, &e) < 0)
			return jrn_say(JRN_EXIT_USAGE, "%s '%s': %s", opt, flag, e.msg);
		if (*ms <= 0)
			return jrn_say(JRN_EXIT_USAGE, "%s '%s': more than 0 is needed", opt, flag);
		return 0;
	}
	*ms = dflt;
	if (key && jrn_config_duration(run->opts.config, key, ms, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s: %s", key, e.msg);
	return 0;
}

void report_say_setup(const report_run *run)
{
	if (run->opts.verbosity < 1)
		return;
	char a[32], b[32];
	jrn_time_format(run->since_ms, a);
	jrn_time_format(run->until_ms, b);
	jrn_say(0, "state file %s%s", run->opts.db_path,
		run->save && !run->opts.dry_run ? "" : " (read-only)");
	jrn_say(0, "config %s", run->opts.config_path ? run->opts.config_path : "(none)");
	jrn_say(0, "window [%s, %s)", run->since_given ? a : "the beginning", b);
}
