/* eval.c: jrn-ai eval, the offline evaluation (eval.h; jrn-ai(1), EVAL).
 *
 * The steps: the flags (the cut-off --since, the end --until, the
 * horizon, the format, the models); the customers (an order.completed
 * with a finite numeric amount of at most 10^15 before the cut-off:
 * jrn-score's orders) with their BG/NBD summary; the outcome window
 * [since, until) (orders, revenue); what the state file knew at the
 * cut-off (RFM recomputed by `jrn-score rfm --now` the last millisecond
 * before it, the scores rows computed before it); then each model's
 * state at the cut-off through core.c's loop, as `jrn-ai state` builds
 * it (the clock set to the last millisecond before the cut-off, the
 * records in a memory file, the output read back), the rules mapping's
 * stage at --until the same way, jrn-score clv's BG/NBD (clv-math.c,
 * linked) fitted at the cut-off, and the table. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jrn-ai.h"
#include "eval.h"
#include "../jrn-score/clv-math.h"

ai_eval_flags ai_eval_opts;

extern char **environ;

/* ---- the statistics ------------------------------------------------------- */

static const double *sort_key;

static int cmp_ix(const void *a, const void *b)
{
	double x = sort_key[*(const size_t *)a], y = sort_key[*(const size_t *)b];
	return (x > y) - (x < y);
}

int ai_eval_midranks(const double *x, size_t n, double *rank)
{
	size_t *ix = malloc((n ? n : 1) * sizeof *ix);
	if (!ix)
		return -1;
	for (size_t i = 0; i < n; i++)
		ix[i] = i;
	sort_key = x;
	qsort(ix, n, sizeof *ix, cmp_ix);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && x[ix[j + 1]] == x[ix[i]])
			j++;
		double r = (double)(i + j) / 2 + 1; /* ranks i+1..j+1 share their mean */
		for (size_t k = i; k <= j; k++)
			rank[ix[k]] = r;
		i = j + 1;
	}
	free(ix);
	return 0;
}

double ai_eval_auc(const double *score, const bool *pos, size_t n)
{
	double npos = 0, sum = 0;
	double *rank = malloc((n ? n : 1) * sizeof *rank);
	if (!rank || ai_eval_midranks(score, n, rank) < 0) {
		free(rank);
		return NAN;
	}
	for (size_t i = 0; i < n; i++)
		if (pos[i]) {
			npos++;
			sum += rank[i];
		}
	free(rank);
	double nneg = (double)n - npos;
	if (npos == 0 || nneg == 0)
		return NAN;
	return (sum - npos * (npos + 1) / 2) / (npos * nneg); /* U / (npos nneg) */
}

double ai_eval_brier(const double *p, const bool *y, size_t n)
{
	if (!n)
		return NAN;
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (p[i] - (y[i] ? 1 : 0)) * (p[i] - (y[i] ? 1 : 0));
	return s / (double)n;
}

void ai_eval_errors(const double *pred, const double *actual, size_t n, double *mae, double *rmse)
{
	double a = 0, s = 0;
	for (size_t i = 0; i < n; i++) {
		double d = pred[i] - actual[i];
		a += fabs(d);
		s += d * d;
	}
	*mae = n ? a / (double)n : NAN;
	*rmse = n ? sqrt(s / (double)n) : NAN;
}

double ai_eval_spearman(const double *x, const double *y, size_t n)
{
	if (n < 2)
		return NAN;
	double *rx = malloc(n * sizeof *rx), *ry = malloc(n * sizeof *ry);
	double r = NAN;
	if (rx && ry && ai_eval_midranks(x, n, rx) == 0 && ai_eval_midranks(y, n, ry) == 0) {
		double mean = ((double)n + 1) / 2, sxy = 0, sxx = 0, syy = 0;
		for (size_t i = 0; i < n; i++) {
			sxy += (rx[i] - mean) * (ry[i] - mean);
			sxx += (rx[i] - mean) * (rx[i] - mean);
			syy += (ry[i] - mean) * (ry[i] - mean);
		}
		if (sxx > 0 && syy > 0)
			r = sxy / sqrt(sxx * syy);
	}
	free(rx);
	free(ry);
	return r;
}

double ai_eval_kappa(const int *a, const int *b, size_t n, int k, double *agree)
{
	double ca[16] = {0}, cb[16] = {0}, same = 0;
	if (k > 16)
		k = 16;
	for (size_t i = 0; i < n; i++) {
		bool ina = a[i] >= 0 && a[i] < k, inb = b[i] >= 0 && b[i] < k;
		if (ina)
			ca[a[i]]++;
		if (inb)
			cb[b[i]]++;
		same += ina && inb && a[i] == b[i];
	}
	*agree = n ? same / (double)n : NAN;
	if (!n)
		return NAN;
	double pe = 0;
	for (int c = 0; c < k; c++)
		pe += ca[c] / (double)n * (cb[c] / (double)n);
	return 1 - pe < 1e-12 ? NAN : (*agree - pe) / (1 - pe);
}

/* ---- the run's data ------------------------------------------------------- */

static const char *const stages[] = {"awareness", "consideration", "purchase", "retention",
				     "advocacy"};
#define NSTAGES 5

/* One row of the table. */
typedef struct {
	char *name;          /* the model's name, or "bg/nbd" */
	const char *kind;    /* rules, openai, bgnbd */
	size_t n;            /* customers with an answer */
	double *churn, *value; /* per customer; NAN: no answer */
	int *stage;          /* per customer; -1: no answer (or no stage) */
	double tokens, cost;
	uint64_t fallbacks, cached;
} ev_model;

typedef struct {
	ai_run *run;
	int64_t since, until, horizon; /* ms */
	bool ndjson;
	const char *names[AI_EVAL_MAX_MODELS + 1]; /* the rows asked, rules first when asked */
	int nnames;
	jrn_idmap *ids;      /* customerId -> index */
	size_t n;
	clv_cust *cc;        /* BG/NBD summary and forecast per customer */
	int maxx;
	clv_model bg;
	bool *churned;       /* no order in the window */
	double *revenue;     /* the window's order value */
	uint64_t nchurned;
	jv *rfm, *clv, *lead; /* carried into the records (owned; jv_null(): none) */
	int *stage_until;    /* the rules mapping's stage at --until */
	int *stage_rules;    /* the rules model's stage at the cut-off */
	ev_model *rows;
	int nrows;
	uint64_t skipped_ids;
} ev_run;

/* ---- the flags ------------------------------------------------------------ */

/* A time flag into *ms. 0 or JRN_EXIT_USAGE (said). */
static int time_flag(const char *name, const char *s, int64_t *ms)
{
	jrn_err e;
	if (!s) { /* (the Try line on its own, as every usage error has it) */
		jrn_say(0, "eval: --since and --until are needed (the cut-off and the end of the"
			" outcome window)");
		fputs("Try 'jrn-ai --help'.\n", stderr);
		return JRN_EXIT_USAGE;
	}
	/* or a duration back from now, as jrn-report's windows take it */
	int rc = jrn_time_or_ago(s, jrn_now(), ms, &e);
	if (rc == 0 || (rc == 1 && *ms >= 0))
		return 0;
	if (rc == -1)
		return jrn_say(JRN_EXIT_USAGE, "eval: --%s '%s': %s", name, s, e.msg);
	return jrn_say(JRN_EXIT_USAGE, "eval: --%s '%s': neither an RFC 3339 time nor a duration"
		       " back from now (90d)", name, s);
}

/* Whether name is a model of the config: rules or a key of ai.models. */
static bool model_known(const ai_run *run, const char *name, char *choices, size_t n)
{
	jv models = jrn_config_get(run->opts.config, "ai.models");
	bool found = !strcmp(name, "rules");
	size_t len = (size_t)snprintf(choices, n, "rules");
	if (jv_get_kind(models) == JV_KIND_OBJECT)
		jv_object_foreach(models, k, v) {
			found = found || !strcmp(jv_string_value(k), name);
			if (len < n)
				len += (size_t)snprintf(choices + len, n - len, ", %s", jv_string_value(k));
			jv_free(k);
			jv_free(v);
		}
	jv_free(models);
	return found;
}

/* Adds name to the rows unless there. */
static void add_name(ev_run *E, const char *name)
{
	for (int i = 0; i < E->nnames; i++)
		if (!strcmp(E->names[i], name))
			return;
	E->names[E->nnames++] = name;
}

/* The flags into E. 0 or JRN_EXIT_USAGE (said). */
static int flags(ev_run *E, const char **default_model)
{
	const ai_eval_flags *f = &ai_eval_opts;
	int status;
	if ((status = time_flag("since", f->since, &E->since)) ||
	    (status = time_flag("until", f->until, &E->until)))
		return status;
	if (E->since >= E->until)
		return jrn_say(JRN_EXIT_USAGE, "eval: --since %s is not before --until %s: the outcome"
			       " window [since, until) is empty", f->since, f->until);
	E->horizon = E->until - E->since;
	jrn_err e;
	if (f->horizon && (jrn_duration_parse(f->horizon, &E->horizon, &e) < 0 || E->horizon <= 0))
		return jrn_say(JRN_EXIT_USAGE, "eval: --horizon '%s': %s", f->horizon,
			       E->horizon <= 0 ? "expected a duration above 0 (90d)" : e.msg);
	if (f->format && strcmp(f->format, "table") && strcmp(f->format, "ndjson"))
		return jrn_say(JRN_EXIT_USAGE, "eval: --format '%s': expected table or ndjson", f->format);
	E->ndjson = f->format && !strcmp(f->format, "ndjson");
	if (f->too_many)
		return jrn_say(JRN_EXIT_USAGE, "eval: --model: at most %d models (AI_EVAL_MAX_MODELS)",
			       AI_EVAL_MAX_MODELS);
	char choices[512];
	for (int i = 0; i < f->nmodels; i++) {
		if (!model_known(E->run, f->models[i], choices, sizeof choices))
			return jrn_say(JRN_EXIT_USAGE, "--model '%s': no such model (choices: %s)",
				       f->models[i], choices);
		add_name(E, f->models[i]);
	}
	if (!f->nmodels) {
		add_name(E, "rules");
		if (*default_model && strcmp(*default_model, "rules")) {
			char w[JRN_PATH_SHOWN + 32];
			jrn_config_where(E->run->opts.config, "ai.model", false, w, sizeof w);
			if (!model_known(E->run, *default_model, choices, sizeof choices))
				return jrn_say(JRN_EXIT_FAIL, "%s%sai.model: no such model '%s' (choices:"
					       " %s)", w, *w ? ": " : "",
					       jrn_config_shown(E->run->opts.config, "ai.model", *default_model),
					       choices);
			add_name(E, *default_model);
		}
	}
	return 0;
}

/* ---- what happened -------------------------------------------------------- */

/* The orders jrn-score counts: order.completed with a finite numeric
 * amount of at most 10^15 in magnitude (score_amount, SCORE_MAX_AMOUNT). */
#define ORDER_SQL "type = 'order.completed' AND customer_id IS NOT NULL" \
		  " AND typeof(amount) IN ('integer', 'real') AND abs(amount) <= 1e15"

/* The BG/NBD summary of one customer's orders ord[0..n) (days, amounts;
 * by day), as jrn-score clv's clv_summarise makes it (clv.c: x repeat
 * purchase days, t_x and T in units before cal_end, m the mean value of
 * the repeat days); adds to the day totals for the population mean. */
static void summarise(clv_cust *k, const int64_t *day, const double *amt, size_t n,
		      int64_t cal_end, int64_t unit, double *all_sum, size_t *all_days)
{
	int64_t first = day[0], last = first;
	double day_sum = 0, rep_sum = 0;
	int days = 0;
	for (size_t i = 0; i < n; i++) {
		if (day[i] != last || days == 0) {
			if (days > 0) {
				if (days > 1)
					rep_sum += day_sum;
				*all_sum += day_sum;
				++*all_days;
			}
			days++;
			last = day[i];
			day_sum = 0;
		}
		day_sum += amt[i];
	}
	if (days > 1)
		rep_sum += day_sum;
	*all_sum += day_sum;
	++*all_days;
	k->x = days - 1;
	k->tx = (double)((last - first) * DAY_MS) / (double)unit;
	k->T = (double)(cal_end - first * DAY_MS) / (double)unit;
	k->m = k->x > 0 ? rep_sum / k->x : 0;
}

/* The customers (an order before the cut-off; an id jrn_id_check refuses
 * is left out, said) and their BG/NBD summaries. 0 or -1 (said). */
static int read_customers(ev_run *E)
{
	ai_run *run = E->run;
	sqlite3_stmt *st;
	jrn_err e;
	if (jrn_db_prepare(run->db, "SELECT customer_id, ts, amount FROM events WHERE " ORDER_SQL
			   " AND ts < ?1 ORDER BY customer_id, ts", &st, &e) < 0)
		return jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
	sqlite3_bind_int64(st, 1, E->since);
	int64_t *day = NULL;
	double *amt = NULL, all_sum = 0;
	size_t nd = 0, cap = 0, capc = 0, all_days = 0;
	char *cur = NULL;
	int s, rc = 0;
	const int64_t cal_end = E->since - 1, unit = 7 * DAY_MS;
	do {
		s = sqlite3_step(st);
		const char *id = s == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
		size_t len = id ? (size_t)sqlite3_column_bytes(st, 0) : 0;
		if (cur && nd && (!id || strcmp(id, cur))) { /* cur's orders are all read */
			bool added = false;
			if (jrn_id_check(cur, strlen(cur), "customerId", &e) < 0) {
				E->skipped_ids++;
				if (run->opts.verbosity >= 0)
					jrn_say(0, "eval: a customer left out: %s", e.msg);
			} else if (jrn_idmap_put(E->ids, cur, strlen(cur), &added) < 0 ||
				   (E->n == capc && !(E->cc = realloc(E->cc, (capc = capc ? capc * 2 : 256) * sizeof *E->cc)))) {
				rc = jrn_say(-1, "out of memory");
			} else {
				memset(&E->cc[E->n], 0, sizeof *E->cc);
				summarise(&E->cc[E->n], day, amt, nd, cal_end, unit, &all_sum, &all_days);
				if (E->cc[E->n].x > E->maxx)
					E->maxx = E->cc[E->n].x;
				E->n++;
			}
			nd = 0;
		}
		if (!id || rc)
			continue;
		if (!cur || strcmp(id, cur)) {
			free(cur);
			if (!(cur = strndup(id, len)))
				rc = jrn_say(-1, "out of memory");
		}
		if (nd == cap) {
			cap = cap ? cap * 2 : 64;
			day = realloc(day, cap * sizeof *day);
			amt = realloc(amt, cap * sizeof *amt);
			if (!day || !amt) {
				rc = jrn_say(-1, "out of memory");
				continue;
			}
		}
		int64_t ts = sqlite3_column_int64(st, 1);
		day[nd] = ts >= 0 ? ts / DAY_MS : -((-ts + DAY_MS - 1) / DAY_MS);
		amt[nd++] = sqlite3_column_double(st, 2);
	} while (s == SQLITE_ROW && rc == 0);
	if (rc == 0 && s != SQLITE_DONE && s != SQLITE_ROW)
		rc = jrn_say(-1, "%s: reading the orders: %s", run->opts.db_path, sqlite3_errmsg(run->db));
	sqlite3_finalize(st);
	free(cur);
	free(day);
	free(amt);
	E->bg.pop_mean = all_days ? all_sum / (double)all_days : 0;
	return rc;
}

/* The outcome window: each customer's orders and their value in
 * [since, until); whether anything at all happened in it into *any.
 * 0 or -1 (said). */
static int read_outcome(ev_run *E, bool *any)
{
	ai_run *run = E->run;
	sqlite3_stmt *st, *ex;
	jrn_err e;
	if (jrn_db_prepare(run->db, "SELECT customer_id, total(amount) FROM events WHERE " ORDER_SQL
			   " AND ts >= ?1 AND ts < ?2 GROUP BY customer_id", &st, &e) < 0 ||
	    jrn_db_prepare(run->db, "SELECT EXISTS (SELECT 1 FROM events WHERE ts >= ?1 AND ts < ?2)",
			   &ex, &e) < 0)
		return jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
	for (size_t i = 0; i < E->n; i++)
		E->churned[i] = true;
	sqlite3_stmt *both[2] = {st, ex};
	int s, rc = 0;
	for (int q = 0; q < 2; q++) {
		sqlite3_bind_int64(both[q], 1, E->since);
		sqlite3_bind_int64(both[q], 2, E->until);
		while ((s = sqlite3_step(both[q])) == SQLITE_ROW) {
			if (q == 1) {
				*any = sqlite3_column_int(ex, 0) != 0;
				continue;
			}
			int64_t k = jrn_idmap_get(E->ids, (const char *)sqlite3_column_text(st, 0),
						  (size_t)sqlite3_column_bytes(st, 0));
			if (k >= 0) {
				E->churned[k] = false;
				E->revenue[k] = sqlite3_column_double(st, 1);
			}
		}
		if (s != SQLITE_DONE && rc == 0)
			rc = jrn_say(-1, "%s: reading the window: %s", run->opts.db_path,
				     sqlite3_errmsg(run->db));
		sqlite3_finalize(both[q]);
	}
	for (size_t i = 0; i < E->n; i++)
		E->nchurned += E->churned[i];
	return rc;
}

/* The scores rows (clv, lead) computed before the cut-off, into E->clv
 * and E->lead; a customer without one carries {} so that a row computed
 * after the cut-off (scores keeps one row per kind) stays unseen. 0 or -1
 * (said). */
static int read_scores(ev_run *E)
{
	ai_run *run = E->run;
	sqlite3_stmt *st;
	jrn_err e;
	for (size_t i = 0; i < E->n; i++) {
		E->clv[i] = jv_object();
		E->lead[i] = jv_object();
	}
	if (jrn_db_prepare(run->db, "SELECT customer_id, kind, body FROM scores WHERE kind IN"
			   " ('clv', 'lead') AND computed_at < ?1", &st, &e) < 0)
		return jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
	sqlite3_bind_int64(st, 1, E->since);
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t k = jrn_idmap_get(E->ids, (const char *)sqlite3_column_text(st, 0),
					  (size_t)sqlite3_column_bytes(st, 0));
		jv body = jv_parse_sized((const char *)sqlite3_column_text(st, 2), sqlite3_column_bytes(st, 2));
		const char *kind = (const char *)sqlite3_column_text(st, 1);
		if (k < 0 || jv_get_kind(body) != JV_KIND_OBJECT) {
			jv_free(body);
			continue;
		}
		jv *slot = !strcmp(kind, "clv") ? &E->clv[k] : &E->lead[k];
		jv_free(*slot);
		*slot = body;
	}
	int rc = s == SQLITE_DONE ? 0 : jrn_say(-1, "%s: reading the scores: %s", run->opts.db_path,
					       sqlite3_errmsg(run->db));
	sqlite3_finalize(st);
	return rc;
}

/* ---- RFM at the cut-off: jrn-score rfm ------------------------------------ */

/* The path of jrn-score: beside this program, else on PATH. malloc'd. */
static char *score_path(void)
{
	char *self = realpath("/proc/self/exe", NULL);
	char *slash = self ? strrchr(self, '/') : NULL;
	jrn_buf b = {0};
	if (slash) {
		jrn_buf_add(&b, self, (size_t)(slash - self));
		jrn_buf_adds(&b, "/jrn-score");
		if (b.p && access(b.p, X_OK) != 0)
			jrn_buf_reset(&b);
	}
	free(self);
	if (!b.len)
		jrn_buf_adds(&b, "jrn-score");
	return b.p;
}

/* Reads all of fd into b. 0 or -1. */
static int slurp(int fd, jrn_buf *b)
{
	char chunk[65536];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		if (jrn_buf_add(b, chunk, (size_t)r) < 0)
			return -1;
	}
}

/* Each customer's RFM as of the last millisecond before the cut-off, by
 * `jrn-score rfm -q --now T` (nothing saved) on the same state file and
 * config, into E->rfm (jv_null() when it scored no such customer). 0 or
 * -1 (said). */
static int read_rfm(ev_run *E)
{
	ai_run *run = E->run;
	char now[32];
	jrn_time_format(E->since - 1, now);
	char *path = score_path();
	char *argv[10] = {"jrn-score", "rfm", "-q", "--now", now, "--db", (char *)run->opts.db_path};
	int argc = 7;
	if (run->opts.config_path) {
		argv[argc++] = "--config";
		argv[argc++] = (char *)run->opts.config_path;
	}
	argv[argc] = NULL;
	int p[2];
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;
	int rc = pipe(p);
	if (rc == 0) {
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
		posix_spawn_file_actions_addclose(&fa, p[0]);
		rc = posix_spawnp(&pid, path, &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		close(p[1]);
		if (rc)
			close(p[0]);
	}
	if (rc) {
		jrn_say(0, "eval: cannot run %s: %s", path, strerror(rc > 0 ? rc : errno));
		free(path);
		return -1;
	}
	jrn_buf out = {0};
	int rd = slurp(p[0], &out);
	close(p[0]);
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	bool ok = rd == 0 && WIFEXITED(ws) && (WEXITSTATUS(ws) == 0 || WEXITSTATUS(ws) == 3);
	if (!ok) {
		jrn_buf_free(&out);
		jrn_say(0, "eval: %s rfm --now %s failed (%s %d): RFM as of the cut-off is needed", path,
			now, WIFEXITED(ws) ? "exit status" : "signal",
			WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
		free(path);
		return -1;
	}
	free(path);
	for (char *s = out.p, *nl; s && s < out.p + out.len; s = nl + 1) {
		if (!(nl = memchr(s, '\n', (size_t)(out.p + out.len - s))))
			nl = out.p + out.len;
		jv rec = jv_parse_sized(s, (int)(nl - s));
		jv id = jv_get_kind(rec) == JV_KIND_OBJECT ? jv_object_get(jv_copy(rec), jv_string("customerId"))
							    : jv_invalid();
		int64_t k = jv_get_kind(id) == JV_KIND_STRING
				    ? jrn_idmap_get(E->ids, jv_string_value(id), (size_t)jv_string_length_bytes(jv_copy(id)))
				    : -1;
		if (k >= 0) {
			jv_free(E->rfm[k]);
			E->rfm[k] = jv_object_get(jv_copy(rec), jv_string("rfm"));
		}
		jv_free(id);
		jv_free(rec);
	}
	jrn_buf_free(&out);
	return 0;
}

/* ---- the models' states --------------------------------------------------- */

/* A memory file with each customer's record: {"customerId", and, with
 * full, the rfm, clv, lead of the cut-off and "segments": [] (today's
 * memberships are not the cut-off's)}. Its fd, or -1 (said). */
static int write_records(const ev_run *E, bool full)
{
	int fd = memfd_create("jrn-ai-eval", MFD_CLOEXEC);
	if (fd < 0)
		return jrn_say(-1, "eval: a memory file: %s", strerror(errno));
	jrn_out o;
	jrn_out_init(&o, fd);
	jrn_buf b = {0};
	jrn_err e;
	int rc = 0;
	for (size_t i = 0; i < E->n && rc == 0; i++) {
		size_t len;
		const char *id = jrn_idmap_key(E->ids, i, &len);
		jrn_buf_reset(&b);
		rc |= jrn_buf_adds(&b, "{\"customerId\":") | jrn_json_append_str(&b, id, len);
		if (full) {
			if (jv_get_kind(E->rfm[i]) == JV_KIND_OBJECT) {
				rc |= jrn_buf_adds(&b, ",\"rfm\":");
				rc |= jrn_json_append(&b, jv_copy(E->rfm[i]), 0, &e);
			}
			rc |= jrn_buf_adds(&b, ",\"clv\":");
			rc |= jrn_json_append(&b, jv_copy(E->clv[i]), 0, &e);
			rc |= jrn_buf_adds(&b, ",\"lead\":");
			rc |= jrn_json_append(&b, jv_copy(E->lead[i]), 0, &e);
			rc |= jrn_buf_adds(&b, ",\"segments\":[]");
		}
		rc |= jrn_buf_addc(&b, '}');
		if (rc == 0)
			rc = jrn_out_line(&o, b.p, b.len);
	}
	if (jrn_out_close(&o) < 0)
		rc = -1;
	jrn_buf_free(&b);
	if (rc) {
		close(fd);
		return jrn_say(-1, "eval: writing the records: %s", o.err ? strerror(o.err) : "out of memory");
	}
	return fd;
}

/* The stage index of name, or -1. */
static int stage_index(const char *s)
{
	for (int i = 0; i < NSTAGES; i++)
		if (!strcmp(s, stages[i]))
			return i;
	return -1;
}

/* The number at o.key, or NAN. Borrows o. */
static double num_at(jv o, const char *key)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : NAN;
	jv_free(v);
	return d;
}

/* Reads the state records of `jrn-ai state` (out[0..len)) into row. */
static void read_states(ev_run *E, ev_model *row, const char *p, size_t len)
{
	for (const char *s = p, *nl; s < p + len; s = nl + 1) {
		if (!(nl = memchr(s, '\n', (size_t)(p + len - s))))
			nl = p + len;
		jv rec = jv_parse_sized(s, (int)(nl - s));
		jv id = jv_get_kind(rec) == JV_KIND_OBJECT ? jv_object_get(jv_copy(rec), jv_string("customerId"))
							    : jv_invalid();
		jv st = jv_get_kind(rec) == JV_KIND_OBJECT ? jv_object_get(jv_copy(rec), jv_string("state"))
							    : jv_invalid();
		int64_t k = jv_get_kind(id) == JV_KIND_STRING && jv_get_kind(st) == JV_KIND_OBJECT
				    ? jrn_idmap_get(E->ids, jv_string_value(id), (size_t)jv_string_length_bytes(jv_copy(id)))
				    : -1;
		if (k >= 0 && row->stage[k] == -2) {
			jv stage = jv_object_get(jv_copy(st), jv_string("journeyStage"));
			jv src = jv_object_get(jv_copy(st), jv_string("source"));
			row->churn[k] = num_at(st, "churnRiskScore");
			row->value[k] = num_at(st, "predictedLifetimeValue");
			row->stage[k] = jv_get_kind(stage) == JV_KIND_STRING ? stage_index(jv_string_value(stage)) : -1;
			double t = num_at(st, "tokens"), c = num_at(st, "cost");
			row->tokens += isfinite(t) ? t : 0;
			row->cost += isfinite(c) ? c : 0;
			if (jv_get_kind(src) == JV_KIND_STRING) {
				row->fallbacks += !strcmp(jv_string_value(src), "fallback");
				row->cached += !strcmp(jv_string_value(src), "cache");
			}
			row->n++;
			jv_free(stage);
			jv_free(src);
		}
		jv_free(id);
		jv_free(st);
		jv_free(rec);
	}
}

/* Allocates row's per-customer arrays (no answer yet). 0 or -1 (said). */
static int row_init(ev_run *E, ev_model *row, const char *name, const char *kind)
{
	row->name = strdup(name);
	row->kind = kind;
	row->churn = malloc((E->n ? E->n : 1) * sizeof *row->churn);
	row->value = malloc((E->n ? E->n : 1) * sizeof *row->value);
	row->stage = malloc((E->n ? E->n : 1) * sizeof *row->stage);
	if (!row->name || !row->churn || !row->value || !row->stage)
		return jrn_say(-1, "out of memory");
	for (size_t i = 0; i < E->n; i++) {
		row->churn[i] = row->value[i] = NAN;
		row->stage[i] = -2; /* not read yet */
	}
	return 0;
}

/* Model name's states of the records in fd, the clock at clock, as
 * `jrn-ai state --model NAME --now CLOCK` builds them (core.c's loop,
 * the cache included), into row (row_init'ed). quiet: the reference
 * run at --until, which says nothing and stores nothing in the cache
 * (a store there would purge the cut-off's answers: they expire before
 * --until). An exit status (said). */
static int run_model(ev_run *E, ev_model *row, const char *name, int fd, int64_t clock, bool quiet)
{
	ai_run *run = E->run;
	int parallel = run->parallel, verbosity = run->opts.verbosity;
	run->model_flag = name;
	run->task = AI_STATE;
	int status = ai_setup(run);
	if (status) {
		ai_teardown(run);
		return status;
	}
	row->kind = run->model->ops->kind;
	if (quiet)
		run->cache_rules = false;
	int out = memfd_create("jrn-ai-eval-out", MFD_CLOEXEC);
	if (out < 0) {
		ai_teardown(run);
		return jrn_say(JRN_EXIT_FAIL, "eval: a memory file: %s", strerror(errno));
	}
	char in[64];
	snprintf(in, sizeof in, "/proc/self/fd/%d", fd);
	char *files[1] = {in};
	jrn_out saved = run->out;
	jrn_out_init(&run->out, out);
	run->files = files;
	run->nfiles = 1;
	run->records = run->events = run->actions = run->answered = run->cache_hits = run->asked = 0;
	run->fallbacks = run->dropped = run->rejected = 0;
	run->spent_tokens = run->spent_cost = 0;
	run->budget_said = false;
	/* the loop's own lines (its summary, the budget) only with -v */
	run->opts.verbosity = quiet || verbosity <= 0 ? -1 : verbosity;
	jrn_clock_set(clock);
	status = ai_run_task(run);
	run->opts.verbosity = verbosity;
	int werr = jrn_out_close(&run->out) < 0 ? run->out.err : 0;
	run->out = saved;
	run->parallel = parallel;
	run->files = NULL;
	run->nfiles = 0;
	ai_teardown(run);
	jrn_buf b = {0};
	if (status == 0 && werr)
		status = jrn_say(JRN_EXIT_FAIL, "eval: writing the states: %s", strerror(werr));
	if (status == 0 && (lseek(out, 0, SEEK_SET) < 0 || slurp(out, &b) < 0))
		status = jrn_say(JRN_EXIT_FAIL, "eval: reading the states back: %s", strerror(errno));
	close(out);
	if (status == 0)
		read_states(E, row, b.p ? b.p : "", b.len);
	jrn_buf_free(&b);
	return status;
}

/* ---- BG/NBD --------------------------------------------------------------- */

/* jrn-score clv's BG/NBD and Gamma-Gamma fitted on the customers at the
 * cut-off (weeks), the forecast over the window's length: churn risk
 * 1 - P(alive), value the predicted value. 0 or -1 (said). */
static int bgnbd_row(ev_run *E, ev_model *row)
{
	if (row_init(E, row, "bg/nbd", "bgnbd") < 0)
		return -1;
	if (clv_fit_bgnbd(E->cc, E->n, &E->bg) < 0 || clv_fit_gg(E->cc, E->n, E->maxx, &E->bg) < 0)
		return jrn_say(-1, "out of memory");
	clv_predict(&E->bg, E->cc, E->n, (double)(E->until - E->since) / (double)(7 * DAY_MS));
	for (size_t i = 0; i < E->n; i++) {
		row->churn[i] = fmin(1, fmax(0, 1 - E->cc[i].palive));
		row->value[i] = fmax(0, E->cc[i].value);
		row->stage[i] = -1;
	}
	row->n = E->n;
	return 0;
}

/* ---- the table ------------------------------------------------------------ */

typedef struct {
	size_t n;
	double auc, brier, mae, rmse, spearman, agree, kappa, agree_until, kappa_until;
} ev_score;

/* The scores of row over the customers it answered. */
static ev_score score_row(const ev_run *E, const ev_model *row, double scale)
{
	ev_score s = {0};
	size_t n = E->n ? E->n : 1;
	double *p = malloc(n * sizeof *p), *v = malloc(n * sizeof *v), *r = malloc(n * sizeof *r);
	bool *y = malloc(n * sizeof *y);
	int *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *u = malloc(n * sizeof *u);
	s.auc = s.brier = s.mae = s.rmse = s.spearman = s.agree = s.kappa = NAN;
	s.agree_until = s.kappa_until = NAN;
	if (p && v && r && y && a && b && u) {
		size_t m = 0, ms = 0;
		for (size_t i = 0; i < E->n; i++) {
			if (!isfinite(row->churn[i]) || !isfinite(row->value[i]))
				continue;
			p[m] = row->churn[i];
			y[m] = E->churned[i];
			v[m] = row->value[i] * scale;
			r[m++] = E->revenue[i];
			if (row->stage[i] >= 0) {
				a[ms] = row->stage[i];
				b[ms] = E->stage_rules[i];
				u[ms++] = E->stage_until[i];
			}
		}
		s.n = m;
		s.auc = ai_eval_auc(p, y, m);
		s.brier = ai_eval_brier(p, y, m);
		ai_eval_errors(v, r, m, &s.mae, &s.rmse);
		s.spearman = ai_eval_spearman(v, r, m);
		if (ms) {
			s.kappa = ai_eval_kappa(a, b, ms, NSTAGES, &s.agree);
			s.kappa_until = ai_eval_kappa(a, u, ms, NSTAGES, &s.agree_until);
		}
	}
	free(p), free(v), free(r), free(y), free(a), free(b), free(u);
	return s;
}

/* A cell: x with prec decimals, or "-" when undefined. */
static void cell(jrn_buf *b, int width, int prec, double x)
{
	if (isfinite(x))
		jrn_buf_addf(b, " %*.*f", width, prec, x == 0 ? 0 : x);
	else
		jrn_buf_addf(b, " %*s", width, "-");
}

/* An NDJSON member: x rounded to 1e-6, or null. */
static void member(jrn_buf *b, const char *key, double x)
{
	if (isfinite(x))
		jrn_buf_addf(b, ",\"%s\":%.10g", key, round(x * 1e6) / 1e6 == 0 ? 0 : round(x * 1e6) / 1e6);
	else
		jrn_buf_addf(b, ",\"%s\":null", key);
}

/* Writes the table (or the NDJSON lines) of E->rows. 0 or -1 (memory). */
static int write_table(ev_run *E)
{
	jrn_buf b = {0};
	int err = 0;
	double scale = (double)(E->until - E->since) / (double)E->horizon;
	char since[32], until[32];
	jrn_time_format(E->since, since);
	jrn_time_format(E->until, until);
	if (!E->ndjson)
		err |= jrn_buf_addf(&b, "%-16s %9s %6s %6s %10s %10s %8s %6s %6s %6s %6s %10s %10s", "model",
			     "customers", "AUC", "Brier", "MAE", "RMSE", "Spearman", "stage", "kappa",
			     "until", "kappa", "tokens", "cost");
	for (int i = 0; i < E->nrows && !err; i++) {
		const ev_model *row = &E->rows[i];
		ev_score s = score_row(E, row, !strcmp(row->kind, "bgnbd") ? 1 : scale);
		if (E->ndjson) {
			jrn_buf_reset(&b);
			jrn_buf_adds(&b, "{\"model\":");
			jrn_json_append_str(&b, row->name, strlen(row->name));
			jrn_buf_addf(&b, ",\"kind\":\"%s\",\"since\":\"%s\",\"until\":\"%s\",\"customers\":%zu,"
				     "\"churned\":%" PRIu64, row->kind, since, until, s.n, E->nchurned);
			member(&b, "auc", s.auc);
			member(&b, "brier", s.brier);
			member(&b, "mae", s.mae);
			member(&b, "rmse", s.rmse);
			member(&b, "spearman", s.spearman);
			member(&b, "stageAgreement", s.agree);
			member(&b, "stageKappa", s.kappa);
			member(&b, "stageAgreementUntil", s.agree_until);
			member(&b, "stageKappaUntil", s.kappa_until);
			member(&b, "tokens", row->tokens);
			member(&b, "cost", row->cost);
			err |= jrn_buf_addf(&b, ",\"fallbacks\":%" PRIu64 ",\"cached\":%" PRIu64 "}",
					    row->fallbacks, row->cached);
		} else {
			jrn_buf_addf(&b, "\n%-16s %9zu", row->name, s.n);
			cell(&b, 6, 3, s.auc);
			cell(&b, 6, 3, s.brier);
			cell(&b, 10, 2, s.mae);
			cell(&b, 10, 2, s.rmse);
			cell(&b, 8, 3, s.spearman);
			cell(&b, 6, 3, s.agree);
			cell(&b, 6, 3, s.kappa);
			cell(&b, 6, 3, s.agree_until);
			cell(&b, 6, 3, s.kappa_until);
			err |= jrn_buf_addf(&b, " %10.0f %10.4f", row->tokens, row->cost);
		}
		if (E->ndjson && !err)
			jrn_out_line(&E->run->out, b.p, b.len);
	}
	if (!E->ndjson && !err)
		jrn_out_line(&E->run->out, b.p, b.len);
	int rc = err ? jrn_say(-1, "out of memory") : 0;
	jrn_buf_free(&b);
	return rc;
}

/* ---- the run -------------------------------------------------------------- */

static void ev_free(ev_run *E)
{
	for (size_t i = 0; i < E->n; i++) {
		if (E->rfm)
			jv_free(E->rfm[i]);
		if (E->clv)
			jv_free(E->clv[i]);
		if (E->lead)
			jv_free(E->lead[i]);
	}
	free(E->rfm), free(E->clv), free(E->lead);
	for (int i = 0; i < E->nrows; i++) {
		free(E->rows[i].name);
		free(E->rows[i].churn), free(E->rows[i].value), free(E->rows[i].stage);
	}
	free(E->rows);
	free(E->cc), free(E->churned), free(E->revenue);
	free(E->stage_until), free(E->stage_rules);
	jrn_idmap_free(E->ids);
}

/* The state file, the customers, the window, what was known at the
 * cut-off. 0 or an exit status (said). */
static int gather(ev_run *E)
{
	ai_run *run = E->run;
	jrn_err e;
	if (jrn_db_exists(run->opts.db_path, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "eval: %s", e.msg);
	if (jrn_db_open(run->opts.db_path, run->opts.busy_ms, &run->db, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	if (!(E->ids = jrn_idmap_new()))
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	if (read_customers(E) < 0)
		return JRN_EXIT_FAIL;
	char since[32], until[32];
	jrn_time_format(E->since, since);
	jrn_time_format(E->until, until);
	if (!E->n)
		return jrn_say(JRN_EXIT_FAIL, "eval: no customer has an order before the cut-off %s:"
			       " nothing to evaluate", since);
	size_t n = E->n;
	E->churned = calloc(n, sizeof *E->churned);
	E->revenue = calloc(n, sizeof *E->revenue);
	E->rfm = calloc(n, sizeof *E->rfm);
	E->clv = calloc(n, sizeof *E->clv);
	E->lead = calloc(n, sizeof *E->lead);
	E->stage_until = calloc(n, sizeof *E->stage_until);
	E->stage_rules = calloc(n, sizeof *E->stage_rules);
	E->rows = calloc(AI_EVAL_MAX_MODELS + 2, sizeof *E->rows);
	if (!E->churned || !E->revenue || !E->rfm || !E->clv || !E->lead || !E->stage_until ||
	    !E->stage_rules || !E->rows)
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	for (size_t i = 0; i < n; i++)
		E->rfm[i] = E->clv[i] = E->lead[i] = jv_null();
	bool any = false;
	if (read_outcome(E, &any) < 0 || read_scores(E) < 0)
		return JRN_EXIT_FAIL;
	if (!any)
		return jrn_say(JRN_EXIT_FAIL, "eval: no event at all in the window [%s, %s): the state"
			       " file does not reach it; nothing to score against", since, until);
	if (E->until > jrn_now() && run->opts.verbosity >= 0) {
		char now[32];
		jrn_time_format(jrn_now(), now);
		jrn_say(0, "eval: warning: --until %s is after now (%s): the window is not over", until, now);
	}
	return read_rfm(E) < 0 ? JRN_EXIT_FAIL : 0;
}

/* Every model's row, the reference stages, the BG/NBD row. An exit
 * status (said). */
static int run_models(ev_run *E)
{
	int fd = write_records(E, true), fd_until = fd < 0 ? -1 : write_records(E, false);
	int status = fd_until < 0 ? JRN_EXIT_FAIL : 0;
	ev_model ref = {0}, until = {0};
	/* the rules model at the cut-off (the reference), then at --until */
	if (status == 0 && (row_init(E, &ref, "rules", "rules") < 0 || row_init(E, &until, "rules", "rules") < 0))
		status = JRN_EXIT_FAIL;
	if (status == 0)
		status = run_model(E, &ref, "rules", fd, E->since - 1, false);
	if (status == 0)
		status = run_model(E, &until, "rules", fd_until, E->until - 1, true);
	for (size_t i = 0; status == 0 && i < E->n; i++) {
		E->stage_rules[i] = ref.stage[i];
		E->stage_until[i] = until.stage[i];
	}
	for (int i = 0; status == 0 && i < E->nnames; i++) {
		ev_model *row = &E->rows[E->nrows++];
		if (!strcmp(E->names[i], "rules")) {
			*row = ref;
			memset(&ref, 0, sizeof ref);
		} else if (row_init(E, row, E->names[i], "") < 0) {
			status = JRN_EXIT_FAIL;
		} else {
			status = run_model(E, row, E->names[i], fd, E->since - 1, false);
		}
		if (status == 0 && row->fallbacks && E->run->opts.verbosity >= 0)
			jrn_say(0, "eval: %s: %" PRIu64 " of %zu answers are the rules model's fallback"
				" (-v says why: the budget, invalid output, no answer)", row->name,
				row->fallbacks, row->n);
	}
	if (status == 0 && bgnbd_row(E, &E->rows[E->nrows++]) < 0)
		status = JRN_EXIT_FAIL;
	ev_model *tmp[2] = {&ref, &until};
	for (int i = 0; i < 2; i++) {
		free(tmp[i]->name);
		free(tmp[i]->churn), free(tmp[i]->value), free(tmp[i]->stage);
	}
	if (fd >= 0)
		close(fd);
	if (fd_until >= 0)
		close(fd_until);
	return status;
}

int ai_eval(ai_run *run)
{
	ev_run E = {.run = run};
	jrn_err e;
	jv want = jrn_config_get(run->opts.config, "ai.model");
	const char *def = jv_get_kind(want) == JV_KIND_STRING ? jv_string_value(want) : NULL;
	int64_t now = jrn_now();
	int status = flags(&E, &def);
	if (status == 0 && jrn_rejects_open(&run->rej, "jrn-ai", run->opts.rejects_path,
					    run->opts.verbosity < 0, &e) < 0)
		status = jrn_say(JRN_EXIT_FAIL, "--rejects %s", e.msg);
	if (status == 0)
		status = gather(&E);
	if (status == 0)
		status = run_models(&E);
	jrn_clock_set(now);
	if (status == 0 && write_table(&E) < 0)
		status = JRN_EXIT_FAIL;
	if (status == 0 && run->opts.verbosity >= 0) {
		char since[32], until[32];
		jrn_time_format(E.since, since);
		jrn_time_format(E.until, until);
		jrn_say(0, "eval: %zu customers with an order before %s; window [%s, %s): %" PRIu64
			" churned (no order), %zu bought%s", E.n, since, since, until, E.nchurned,
			E.n - (size_t)E.nchurned, E.skipped_ids ? "; some ids left out" : "");
	}
	jv_free(want);
	ev_free(&E);
	return status;
}
