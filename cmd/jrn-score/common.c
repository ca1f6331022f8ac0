/* common.c: what every subcommand of jrn-score uses: state-file errors,
 * the -v notes and the summary line, the end of the transaction (--dry-run),
 * durations from flags and the config. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "jrn-score.h"

int score_db_fail(score_run *run, const char *what)
{
	jrn_say(JRN_EXIT_FAIL, "%s: %s: %s", run->opts.db_path, what, sqlite3_errmsg(run->db));
	return -1;
}

void score_say_setup(const score_run *run, const char *input)
{
	if (run->opts.verbosity <= 0)
		return;
	jrn_say(0, "state %s, config %s", run->opts.db_path,
		run->opts.config_path ? run->opts.config_path : "(none: defaults)");
	jrn_say(0, "input: %s", input);
}

int score_cfg_say(jv config, const char *cfg, const char *fmt, ...)
{
	char text[512], w[JRN_PATH_SHOWN + 32];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	return jrn_say(-1, "%s: %s", *jrn_config_where_msg(config, text, w, sizeof w) ? w : cfg, text);
}

void score_summary(score_run *run, const char *fmt, ...)
{
	/* a reader that went away is a normal end, nothing said (jrn(7)),
	 * unless the run saved: then what it saved is said. The output is
	 * written out first, so that a reader gone is known whatever the
	 * size of the output (jrn_finish would find it only after this) */
	if (run->opts.verbosity < 0)
		return;
	if (!run->save && run->out.err == 0)
		jrn_out_flush(&run->out);
	if (run->out.err == EPIPE && !run->save)
		return;
	char text[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	char bad[160] = "", big[160] = "";
	if (run->bad_amounts)
		snprintf(bad, sizeof bad, "; %" PRIu64 " stored event%s with a non-numeric amount"
			 " skipped; see jrn events --bad-amount", run->bad_amounts,
			 run->bad_amounts == 1 ? "" : "s");
	if (run->big_amounts)
		snprintf(big, sizeof big, "; %" PRIu64 " stored event%s with an amount beyond 10^15"
			 " left out", run->big_amounts, run->big_amounts == 1 ? "" : "s");
	jrn_say(0, "%s%s%s%s", text, bad, big, run->opts.dry_run ? " (dry run, nothing saved)" : "");
}

int score_db_end(score_run *run)
{
	if (run->opts.dry_run) {
		jrn_db_rollback(run->db);
		return 0;
	}
	return jrn_db_commit(run->db, NULL) < 0 ? score_db_fail(run, "committing") : 0;
}

int score_config_duration(score_run *run, const char *path, int64_t *ms)
{
	jrn_err e;
	int64_t v = 0;
	jv x = jrn_config_get(run->opts.config, path);
	jv_kind kind = jv_get_kind(x);
	jv_free(x);
	if (kind == JV_KIND_INVALID)
		return 0;
	/* what the schema lets through: a duration text or whole milliseconds;
	 * jrn-score refuses a negative number, or one of 9e15 ms or more */
	int rc = jrn_config_duration(run->opts.config, path, &v, &e);
	if (rc > 0 && (kind == JV_KIND_STRING || v < 9e15)) {
		*ms = v;
		return 1;
	}
	if (rc < 0 && kind == JV_KIND_STRING)
		jrn_say(JRN_EXIT_FAIL, "%s: %s: %s", run->opts.config_path, path, e.msg);
	else
		jrn_say(JRN_EXIT_FAIL, "%s: %s: expected a duration such as 180d",
			run->opts.config_path, path);
	return -1;
}

int score_duration(score_run *run, const char *flag, const char *name, const char *cfg_path,
		   int64_t dflt, int64_t *ms)
{
	jrn_err e;
	if (flag) {
		if (jrn_duration_parse(flag, ms, &e) < 0) {
			jrn_say(JRN_EXIT_FAIL, "--%s: %s", name, e.msg);
			return -1;
		}
	} else {
		int rc = score_config_duration(run, cfg_path, ms);
		if (rc < 0)
			return -1;
		if (rc == 0)
			*ms = dflt;
	}
	if (*ms <= 0) {
		jrn_say(JRN_EXIT_FAIL, "%s%s: must be longer than zero", flag ? "--" : "",
			flag ? name : cfg_path);
		return -1;
	}
	return 0;
}

int score_num(jrn_buf *b, double x)
{
	jrn_err e;
	if (!isfinite(x)) {
		errno = EDOM;
		return -1;
	}
	if (jrn_json_append(b, jv_number(x), 0, &e) < 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int score_build_fail(void)
{
	return jrn_say(-1, "%s", errno == EDOM ? "a score is not a finite number" : "out of memory");
}

int score_amount_too_big(score_run *run, sqlite3_stmt *st, int id_col, int cust_col,
			 double amount)
{
	if (fabs(amount) <= SCORE_MAX_AMOUNT)
		return 0;
	run->big_amounts++;
	if (run->opts.verbosity >= 0) {
		/* ids may hold anything: shown as JSON strings */
		jrn_buf id = {0}, cust = {0};
		jrn_json_append_str(&id, (const char *)sqlite3_column_text(st, id_col),
				    (size_t)sqlite3_column_bytes(st, id_col));
		jrn_json_append_str(&cust, (const char *)sqlite3_column_text(st, cust_col),
				    (size_t)sqlite3_column_bytes(st, cust_col));
		jrn_say(0, "event %s (customer %s): amount %.17g is beyond 10^15 in magnitude "
			"(the limit of an amount jrn-score sums); left out",
			id.p ? id.p : "?", cust.p ? cust.p : "?", amount);
		jrn_buf_free(&id);
		jrn_buf_free(&cust);
	}
	return 1;
}

int score_done_status(const score_run *run)
{
	return run->big_amounts ? JRN_EXIT_REJECTS : JRN_EXIT_OK;
}
