/* common.c: what every subcommand of jrn-score uses: state-file errors,
 * events that cannot be scored, durations from flags and the config. */
#include <string.h>

#include "jrn-score.h"

int score_db_fail(score_run *run, const char *what)
{
	jrn_say(JRN_EXIT_FAIL, "%s: %s: %s", run->opts.db_path, what, sqlite3_errmsg(run->db));
	return -1;
}

int score_reject_event(score_run *run, int64_t seq, const char *reason)
{
	jrn_err e;
	if (!run->get_rejected &&
	    sqlite3_prepare_v2(run->db, "SELECT id, body FROM events WHERE seq = ?", -1,
			       &run->get_rejected, NULL) != SQLITE_OK)
		return score_db_fail(run, "reading a rejected event");
	sqlite3_stmt *get = run->get_rejected;
	sqlite3_bind_int64(get, 1, seq);
	int rc = sqlite3_step(get);
	const char *id = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(get, 0) : NULL;
	const char *body = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(get, 1) : NULL;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite3_reset(get);
		return score_db_fail(run, "reading a rejected event");
	}
	if (run->opts.verbosity >= 0)
		jrn_say(0, "events id %s: %s", id ? id : "?", reason);
	rc = jrn_reject(&run->rej, "events", (uint64_t)seq, body ? body : "",
			body ? (size_t)sqlite3_column_bytes(get, 1) : 0, reason, &e);
	sqlite3_reset(get);
	if (rc < 0) {
		jrn_say(JRN_EXIT_FAIL, "--rejects: %s", e.msg);
		return -1;
	}
	return 0;
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
	return jrn_json_append(b, jv_number(x), 0, &e);
}
