/* clv.c: jrn-score clv: customer lifetime value from the orders up to the
 * calibration end, by BG/NBD and Gamma-Gamma (clv-math.h), as separate
 * steps: the data (the orders, per customer x, t_x, T and the mean repeat
 * value), the fit, the forecast, the saved scores (table scores, kind
 * 'clv') and the records, or the fitted parameters (--params). */
#include <stdlib.h>
#include <string.h>

#include "clv-math.h"
#include "jrn-score.h"

/* One order: its UTC day, amount and customer (index in the idmap). */
typedef struct {
	int64_t day;
	double amount;
	size_t c;
} order_row;

/* What a run of clv holds. */
typedef struct {
	jrn_idmap *ids;     /* customerId -> index into cc */
	order_row *ord;
	size_t nord, capord;
	clv_cust *cc;       /* per customer */
	size_t n;
	int maxx;           /* the most repeat purchase days of anyone */
	clv_model model;
} clv_state;

static int cmp_order(const void *a, const void *b)
{
	const order_row *x = a, *y = b;
	if (x->c != y->c)
		return (x->c > y->c) - (x->c < y->c);
	return (x->day > y->day) - (x->day < y->day);
}

/* The data, first half: the orders at or before cal_end into S->ord, by
 * customer and day, their customers into S->ids. An order without a
 * numeric amount is skipped, counted in run->bad_amounts; one beyond
 * SCORE_MAX_AMOUNT is said and left out (exit 3). 0 or -1 (said). */
static int clv_read(score_run *run, clv_state *S, int64_t cal_end)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(run->db, "SELECT customer_id, ts, amount, id FROM events"
			       " WHERE type = 'order.completed' AND ts <= ?", -1, &st, NULL) != SQLITE_OK)
		return score_db_fail(run, "reading orders");
	sqlite3_bind_int64(st, 1, cal_end);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		double amount;
		if (!score_amount(st, 2, &amount)) {
			run->bad_amounts++;
			continue;
		}
		if (score_amount_too_big(run, st, 3, 0, amount))
			continue;
		const char *id = (const char *)sqlite3_column_text(st, 0);
		int64_t c = id ? jrn_idmap_put(S->ids, id, (size_t)sqlite3_column_bytes(st, 0), NULL)
			       : -1;
		if (S->nord == S->capord) {
			size_t cap = S->capord ? S->capord * 2 : 4096;
			order_row *o = cap < SIZE_MAX / sizeof *o ? realloc(S->ord, cap * sizeof *o) : NULL;
			if (!o)
				c = -1;
			else
				S->ord = o, S->capord = cap;
		}
		if (c < 0) {
			jrn_say(-1, "%s", id ? "out of memory" : "an event without a customer");
			goto fail;
		}
		int64_t ts = sqlite3_column_int64(st, 1);
		order_row *o = &S->ord[S->nord++];
		/* UTC days, rounding down for times before 1970 too */
		o->day = ts >= 0 ? ts / DAY_MS : -((-ts + DAY_MS - 1) / DAY_MS);
		o->amount = amount;
		o->c = (size_t)c;
	}
	if (rc != SQLITE_DONE) {
		score_db_fail(run, "reading orders");
		goto fail;
	}
	sqlite3_finalize(st);
	if (S->nord > 0)
		qsort(S->ord, S->nord, sizeof *S->ord, cmp_order);
	return 0;
fail:
	sqlite3_finalize(st);
	return -1;
}

/* The data, second half: per customer x (repeat purchase days), t_x and T
 * in units of unit ms before cal_end, and the mean value of the repeat
 * days; the mean value of a purchase day over everyone into
 * S->model.pop_mean. 0, or -1 (out of memory: said). */
static int clv_summarise(clv_state *S, int64_t cal_end, int64_t unit)
{
	S->n = jrn_idmap_count(S->ids);
	if (!(S->cc = calloc(S->n ? S->n : 1, sizeof *S->cc)))
		return jrn_say(-1, "out of memory");
	const order_row *ord = S->ord;
	size_t nord = S->nord;
	double all_sum = 0;
	size_t all_days = 0;
	for (size_t i = 0; i < nord;) {
		size_t c = ord[i].c;
		int64_t first = ord[i].day, last = first;
		double day_sum = 0, rep_sum = 0;
		int days = 0;
		for (; i < nord && ord[i].c == c; i++) {
			if (ord[i].day != last || days == 0) {
				if (days > 0) {
					if (days > 1)
						rep_sum += day_sum;
					all_sum += day_sum;
					all_days++;
				}
				days++;
				last = ord[i].day;
				day_sum = 0;
			}
			day_sum += ord[i].amount;
		}
		if (days > 1)
			rep_sum += day_sum;
		all_sum += day_sum;
		all_days++;
		clv_cust *k = &S->cc[c];
		k->x = days - 1;
		k->tx = (double)((last - first) * DAY_MS) / (double)unit;
		k->T = (double)(cal_end - first * DAY_MS) / (double)unit;
		k->m = k->x > 0 ? rep_sum / k->x : 0;
		if (k->x > S->maxx)
			S->maxx = k->x;
	}
	S->model.pop_mean = all_days ? all_sum / (double)all_days : 0;
	return 0;
}

/* Appends the record {"customerId","clv":{...}} of customer k, id
 * id[0..len); *body is where its clv object starts. 0 or -1 (memory). */
static int clv_record(jrn_buf *b, const char *id, size_t len, const clv_cust *k, size_t *body)
{
	int err = jrn_buf_adds(b, "{\"customerId\":");
	err |= jrn_json_append_str(b, id, len);
	*body = b->len + 7; /* the clv object: {"pAlive":...} */
	err |= jrn_buf_adds(b, ",\"clv\":{\"pAlive\":");
	err |= score_num(b, score_round(k->palive, 1e6));
	err |= jrn_buf_adds(b, ",\"expectedPurchases\":");
	err |= score_num(b, score_round(k->expected, 1e6));
	err |= jrn_buf_adds(b, ",\"predictedValue\":");
	err |= score_num(b, score_round(k->value, 1e4));
	err |= jrn_buf_adds(b, ",\"churnRisk\":");
	err |= score_num(b, score_round(1 - k->palive, 1e6));
	err |= jrn_buf_adds(b, "}}");
	return err;
}

/* Saves the scores of the customers ix[0..n) with ins (INSERT OR REPLACE
 * INTO scores) at `now`, inside the caller's transaction. 0 or -1 (said). */
static int clv_save(score_run *run, const clv_state *S, sqlite3_stmt *ins, const size_t *ix,
		    int64_t now)
{
	jrn_buf line = {0};
	int rc = 0;
	for (size_t j = 0; j < S->n && rc == 0; j++) {
		const clv_cust *k = &S->cc[ix[j]];
		size_t len, body;
		const char *id = jrn_idmap_key(S->ids, ix[j], &len);
		jrn_buf_reset(&line);
		if (clv_record(&line, id, len, k, &body)) {
			rc = score_build_fail();
			break;
		}
		sqlite3_bind_text(ins, 1, id, (int)len, SQLITE_STATIC);
		sqlite3_bind_double(ins, 2, score_round(k->value, 1e4));
		sqlite3_bind_text(ins, 3, line.p + body, (int)(line.len - body - 1), SQLITE_STATIC);
		sqlite3_bind_int64(ins, 4, now);
		int s = sqlite3_step(ins);
		sqlite3_reset(ins);
		if (s != SQLITE_DONE)
			rc = score_db_fail(run, "saving the scores");
	}
	jrn_buf_free(&line);
	return rc;
}

/* Writes the records of the customers ix[0..n). 0, or -1 (memory: said). */
static int clv_write(score_run *run, const clv_state *S, const size_t *ix)
{
	jrn_buf line = {0};
	int rc = 0;
	for (size_t j = 0; j < S->n; j++) {
		size_t len, body;
		const char *id = jrn_idmap_key(S->ids, ix[j], &len);
		jrn_buf_reset(&line);
		if (clv_record(&line, id, len, &S->cc[ix[j]], &body)) {
			rc = score_build_fail();
			break;
		}
		jrn_out_line(&run->out, line.p, line.len);
	}
	jrn_buf_free(&line);
	return rc;
}

/* --params: writes the fitted parameters as one JSON line. 0, or -1
 * (memory: said). */
static int clv_write_params(score_run *run, const clv_state *S, int64_t cal_end, int64_t unit)
{
	const clv_model *m = &S->model;
	char when[32];
	jrn_time_format(cal_end, when);
	jrn_buf line = {0};
	int err = jrn_buf_addf(&line, "{\"calibrationEnd\":\"%s\",\"unitDays\":", when);
	err |= score_num(&line, (double)unit / DAY_MS);
	err |= jrn_buf_addf(&line, ",\"customers\":%zu,\"bgnbd\":", S->n);
	if (S->n > 0) {
		err |= jrn_buf_adds(&line, "{\"r\":");
		err |= score_num(&line, m->r);
		err |= jrn_buf_adds(&line, ",\"alpha\":");
		err |= score_num(&line, m->alpha);
		err |= jrn_buf_adds(&line, ",\"a\":");
		err |= score_num(&line, m->a);
		err |= jrn_buf_adds(&line, ",\"b\":");
		err |= score_num(&line, m->b);
		err |= jrn_buf_adds(&line, ",\"logLikelihood\":");
		err |= score_num(&line, m->bg_ll);
		err |= jrn_buf_adds(&line, "}");
	} else {
		err |= jrn_buf_adds(&line, "null");
	}
	err |= jrn_buf_addf(&line, ",\"gammaGamma\":");
	if (m->gg_ok) {
		err |= jrn_buf_adds(&line, "{\"p\":");
		err |= score_num(&line, m->p);
		err |= jrn_buf_adds(&line, ",\"q\":");
		err |= score_num(&line, m->q);
		err |= jrn_buf_adds(&line, ",\"v\":");
		err |= score_num(&line, m->v);
		err |= jrn_buf_adds(&line, ",\"logLikelihood\":");
		err |= score_num(&line, m->gg_ll);
		err |= jrn_buf_addf(&line, ",\"customers\":%zu}", m->nrep);
	} else {
		err |= jrn_buf_adds(&line, "null");
	}
	err |= jrn_buf_adds(&line, ",\"meanOrderValue\":");
	err |= score_num(&line, isfinite(m->pop_mean) ? m->pop_mean : 0);
	err |= jrn_buf_adds(&line, "}");
	if (!err)
		jrn_out_line(&run->out, line.p, line.len);
	jrn_buf_free(&line);
	return err ? score_build_fail() : 0;
}

/* The fit and the forecast over the horizon in units of unit ms. 0, or -1
 * (memory: said). */
static int clv_model_all(score_run *run, clv_state *S, int64_t unit)
{
	clv_model *m = &S->model;
	if (clv_fit_bgnbd(S->cc, S->n, m) < 0 || clv_fit_gg(S->cc, S->n, S->maxx, m) < 0)
		return jrn_say(-1, "out of memory");
	clv_predict(m, S->cc, S->n, (double)run->horizon_ms / (double)unit);
	return 0;
}

/* The summary line: the fitted parameters and the customers (or that there
 * was nothing to fit), and whether the scores were saved. */
static void clv_summary(score_run *run, const clv_state *S, int64_t unit)
{
	const clv_model *m = &S->model;
	const char *saved = run->save && !run->params_only && !run->opts.dry_run ? "; scores saved"
										    : "";
	if (S->n == 0) {
		score_summary(run, "clv: 0 customers with an order: nothing to fit%s", saved);
		return;
	}
	score_summary(run, "clv: BG/NBD r=%.6g alpha=%.6g a=%.6g b=%.6g (log-likelihood %.6f); "
		      "Gamma-Gamma p=%.6g q=%.6g v=%.6g (log-likelihood %.6f, %zu customers); %zu "
		      "customers, unit %gd%s", m->r, m->alpha, m->a, m->b, m->bg_ll, m->p, m->q,
		      m->v, m->gg_ll, m->nrep, S->n, (double)unit / DAY_MS, saved);
}

/* The warning of a degenerate BG/NBD fit (clv_bg_degenerate, jrn-score(1)
 * clv) on stderr, after the summary line; nothing under -q or when there
 * was nothing to fit. */
static void clv_warn_degenerate(const score_run *run, const clv_state *S)
{
	const clv_model *m = &S->model;
	if (run->opts.verbosity < 0 || S->n == 0 || !clv_bg_degenerate(m, S->cc, S->n))
		return;
	double low = 1;
	bool repeat = false;
	for (size_t i = 0; i < S->n; i++) {
		low = fmin(low, S->cc[i].palive);
		repeat |= S->cc[i].x > 0;
	}
	if (!repeat) {
		jrn_say(0, "clv: degenerate BG/NBD fit (a=%.6g b=%.6g): no customer has a repeat "
			"purchase, so dropout cannot be estimated; pAlive is 1 and churnRisk 0 for all "
			"%zu customers", m->a, m->b, S->n);
		return;
	}
	jrn_say(0, "clv: degenerate BG/NBD fit: a=%.6g b=%.6g, mean dropout a/(a+b)=%.3g per "
		"repeat purchase (below %g): too little repeat-purchase history to estimate "
		"dropout; pAlive is near 1 for all (the lowest %.6f, of %zu customers)", m->a, m->b,
		m->a / (m->a + m->b), CLV_DROPOUT_MIN, low, S->n);
}

int score_clv(score_run *run)
{
	int status = JRN_EXIT_FAIL;
	int64_t now = jrn_now(), cal_end = run->cal_end_flag ? run->cal_end_ms : now;
	int64_t unit = run->unit_ms;
	clv_state S = {0};
	size_t *ix = NULL;
	sqlite3_stmt *ins = NULL;
	bool in_tx = false;

	if ((run->save ? jrn_db_begin(run->db, NULL) : jrn_db_exec(run->db, "BEGIN", NULL)) < 0) {
		score_db_fail(run, "starting a transaction");
		goto done;
	}
	in_tx = true;
	if (!(S.ids = jrn_idmap_new())) {
		jrn_say(-1, "out of memory");
		goto done;
	}
	if (clv_read(run, &S, cal_end) < 0 || clv_summarise(&S, cal_end, unit) < 0)
		goto done;
	if (!(ix = malloc((S.n ? S.n : 1) * sizeof *ix))) {
		jrn_say(-1, "out of memory");
		goto done;
	}
	if (clv_model_all(run, &S, unit) < 0)
		goto done;
	for (size_t i = 0; i < S.n; i++)
		ix[i] = i;
	if (score_sort_by_id(S.ids, ix, S.n) < 0) {
		jrn_say(-1, "out of memory");
		goto done;
	}

	if (run->save && sqlite3_prepare_v2(run->db, "INSERT OR REPLACE INTO scores (customer_id,"
					    " kind, value, body, computed_at) VALUES (?, 'clv', ?,"
					    " ?, ?)", -1, &ins, NULL) != SQLITE_OK) {
		score_db_fail(run, "saving the scores");
		goto done;
	}
	if (!run->params_only) {
		/* Saved before shown: the scores, then the records. */
		if (ins) {
			if (clv_save(run, &S, ins, ix, now) < 0)
				goto done;
			in_tx = false;
			if (score_db_end(run) < 0)
				goto done;
		}
		if (clv_write(run, &S, ix) < 0)
			goto done;
	} else if (clv_write_params(run, &S, cal_end, unit) < 0) {
		goto done;
	}
	if (in_tx && jrn_db_commit(run->db, NULL) < 0) {
		score_db_fail(run, "committing");
		goto done;
	}
	in_tx = false;
	clv_summary(run, &S, unit);
	clv_warn_degenerate(run, &S);
	status = score_done_status(run);
done:
	if (in_tx)
		jrn_db_rollback(run->db);
	sqlite3_finalize(ins);
	jrn_idmap_free(S.ids);
	free(S.ord);
	free(S.cc);
	free(ix);
	return status;
}
