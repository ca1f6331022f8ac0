/* rfm.c: jrn-score rfm: recency, frequency and monetary value of each
 * customer with an order up to now; rank-based (or threshold) 1..5 scores,
 * a weighted composite and a segment; dated snapshots in rfm_snapshots and
 * rfm.segment.changed events against the previous snapshot (jrn-score(1)),
 * stored in the events table with the snapshot and replayed by --run.
 *
 * The steps: the configuration (rfm_config), the aggregates
 * (score_read_orders, customers.c), the scores (rfm_score_all), the
 * previous snapshot (rfm_previous), the saved snapshot (rfm_save) and its
 * changes (rfm_store_changes), then, committed, the records (rfm_write).
 * One transaction spans the reads and the save; nothing is printed before
 * it commits. rfm_replay writes a past run's stored changes. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-score.h"

/* What a run of rfm holds besides the customers. */
typedef struct {
	double weights[3];      /* R, F, M: scoring.rfm.weights, or 4, 3, 3 */
	bool use_thresholds;    /* scoring.rfm.method: thresholds */
	double thresholds[3][4];
	rfm_segment *segs;      /* highest min first; the last takes the rest */
	int nsegs;
	char **prev_names;      /* segment names of the previous snapshot */
	int nprev_names;
} rfm_state;

static void rfm_state_free(rfm_state *R)
{
	for (int i = 0; i < R->nsegs; i++)
		free(R->segs[i].name);
	free(R->segs);
	for (int i = 0; i < R->nprev_names; i++)
		free(R->prev_names[i]);
	free(R->prev_names);
}

static int cmp_seg(const void *a, const void *b)
{
	const rfm_segment *x = a, *y = b;
	return (x->min < y->min) - (x->min > y->min); /* highest min first */
}

/* scoring.rfm.weights, .method and .thresholds into R. 0 or -1 (said). */
static int rfm_weights(jv config, const char *cfg, rfm_state *R)
{
	int rc = 0;
	jv w = jrn_config_get(config, "scoring.rfm.weights");
	if (jv_is_valid(w)) {
		bool ok = jv_get_kind(w) == JV_KIND_ARRAY && jv_array_length(jv_copy(w)) == 3;
		for (int i = 0; ok && i < 3; i++) {
			jv x = jv_array_get(jv_copy(w), i);
			ok = jv_get_kind(x) == JV_KIND_NUMBER && isfinite(jv_number_value(x));
			if (ok)
				R->weights[i] = jv_number_value(x);
			jv_free(x);
		}
		if (!ok)
			rc = score_cfg_say(config, cfg, "scoring.rfm.weights: expected three numbers [R, F, M]");
	}
	jv_free(w);

	jv meth = jrn_config_get(config, "scoring.rfm.method");
	if (jv_is_valid(meth)) {
		const char *m = jv_get_kind(meth) == JV_KIND_STRING ? jv_string_value(meth) : "";
		if (!strcmp(m, "thresholds"))
			R->use_thresholds = true;
		else if (strcmp(m, "rank") != 0)
			rc = score_cfg_say(config, cfg, "scoring.rfm.method: expected rank or thresholds");
	}
	jv_free(meth);
	static const char *const dims[3] = {"recency", "frequency", "monetary"};
	for (int d = 0; R->use_thresholds && d < 3; d++) {
		char path[64];
		snprintf(path, sizeof path, "scoring.rfm.thresholds.%s", dims[d]);
		jv l = jrn_config_get(config, path);
		bool ok = jv_get_kind(l) == JV_KIND_ARRAY && jv_array_length(jv_copy(l)) == 4;
		for (int i = 0; ok && i < 4; i++) {
			jv x = jv_array_get(jv_copy(l), i);
			ok = jv_get_kind(x) == JV_KIND_NUMBER && isfinite(jv_number_value(x)) &&
			     (i == 0 || jv_number_value(x) >= R->thresholds[d][i - 1]);
			if (ok)
				R->thresholds[d][i] = jv_number_value(x);
			jv_free(x);
		}
		jv_free(l);
		if (!ok) {
			rc = score_cfg_say(config, cfg, "%s: expected four ascending numbers", path);
			break;
		}
	}
	return rc;
}

/* scoring.rfm.segments (or VIP, Loyal, At Risk, Hibernating) into R,
 * highest min first, after the other keys returned rc (-1: an error said,
 * and the segments' entries are not looked at). 0 or -1 (said). */
static int rfm_segments(jv config, const char *cfg, rfm_state *R, int rc)
{
	static const rfm_segment dflt[] = {{"VIP", 38}, {"Loyal", 28}, {"At Risk", 18},
					   {"Hibernating", -INFINITY}};
	jv s = jrn_config_get(config, "scoring.rfm.segments");
	if (jv_is_valid(s)) {
		int n = jv_get_kind(s) == JV_KIND_ARRAY ? jv_array_length(jv_copy(s)) : 0;
		if (n == 0)
			rc = score_cfg_say(config, cfg, "scoring.rfm.segments: expected a list of {name, min}");
		R->segs = n > 0 ? calloc((size_t)n, sizeof *R->segs) : NULL;
		if (n > 0 && !R->segs)
			rc = jrn_say(-1, "out of memory");
		for (int i = 0; R->segs && rc == 0 && i < n; i++) {
			jv item = jv_array_get(jv_copy(s), i);
			jv name = jv_get_kind(item) == JV_KIND_OBJECT
					  ? jv_object_get(jv_copy(item), jv_string("name")) : jv_invalid();
			jv min = jv_get_kind(item) == JV_KIND_OBJECT
					 ? jv_object_get(jv_copy(item), jv_string("min")) : jv_invalid();
			if (jv_get_kind(name) != JV_KIND_STRING ||
			    (jv_is_valid(min) && jv_get_kind(min) != JV_KIND_NUMBER)) {
				rc = score_cfg_say(config, cfg, "scoring.rfm.segments[%d]: expected {name: TEXT, min: "
					     "NUMBER}", i);
			} else {
				R->segs[i].name = strdup(jv_string_value(name));
				R->segs[i].min = jv_is_valid(min) ? jv_number_value(min) : -INFINITY;
				R->nsegs++;
				if (!R->segs[i].name)
					rc = jrn_say(-1, "out of memory");
			}
			jv_free(name);
			jv_free(min);
			jv_free(item);
		}
	} else {
		R->segs = calloc(4, sizeof *R->segs);
		for (int i = 0; R->segs && i < 4; i++) {
			R->segs[i].min = dflt[i].min;
			if (!(R->segs[i].name = strdup(dflt[i].name)))
				break;
			R->nsegs++;
		}
		if (R->nsegs != 4)
			rc = jrn_say(-1, "out of memory");
	}
	jv_free(s);
	if (rc == 0) {
		qsort(R->segs, (size_t)R->nsegs, sizeof *R->segs, cmp_seg);
		R->segs[R->nsegs - 1].min = -INFINITY; /* the lowest takes every score below it */
	}
	return rc;
}

/* Weights, method and segments from scoring.rfm, or the defaults. 0 or -1
 * (said). */
static int rfm_config(score_run *run, rfm_state *R)
{
	const char *cfg = run->opts.config_path ? run->opts.config_path : "config";
	R->weights[0] = 4, R->weights[1] = 3, R->weights[2] = 3;
	return rfm_segments(run->opts.config, cfg, R, rfm_weights(run->opts.config, cfg, R));
}

int score_rfm_check(score_run *run)
{
	rfm_state R = {0};
	int rc = rfm_config(run, &R);
	rfm_state_free(&R);
	return rc < 0 ? JRN_EXIT_FAIL : JRN_EXIT_OK;
}

static int cmp_rank(const void *a, const void *b)
{
	const rfm_rank_item *x = a, *y = b;
	return (x->key > y->key) - (x->key < y->key);
}

void rfm_rank_scores(rfm_rank_item *it, size_t n, score_cust *c, int which)
{
	qsort(it, n, sizeof *it, cmp_rank);
	size_t w = 0;
	for (size_t k = 0; k < n; k++) {
		if (k > 0 && it[k].key != it[k - 1].key)
			w = k;
		int s = 1 + (int)((5 * (uint64_t)w) / n);
		score_cust *x = &c[it[k].i];
		if (which == 0)
			x->r = s;
		else if (which == 1)
			x->f = s;
		else
			x->m = s;
	}
}

/* Scores the customers with an order up to now: their indexes into ix
 * (room for t->n), their count into *n; recency in whole days, monetary,
 * r, f, m, the composite and the segment. 0, or -1 (out of memory: said). */
static int rfm_score_all(const rfm_state *R, score_custs *t, int64_t now, size_t *ix,
			 size_t *np)
{
	size_t n = 0;
	rfm_rank_item *it = malloc((t->n ? t->n : 1) * sizeof *it);
	if (!it)
		return jrn_say(-1, "out of memory");
	for (size_t i = 0; i < t->n; i++) {
		score_cust *c = &t->c[i];
		if (c->last == INT64_MIN)
			continue;
		c->recency = (int)((now - c->last) / DAY_MS);
		c->monetary = rfm_round4(c->sum + c->comp);
		ix[n++] = i;
	}
	for (int d = 0; d < 3 && R->use_thresholds; d++) {
		for (size_t k = 0; k < n; k++) {
			score_cust *c = &t->c[ix[k]];
			double v = d == 0 ? c->recency : d == 1 ? (double)c->freq : c->monetary;
			int sc = rfm_threshold_score(d, v, R->thresholds[d]);
			if (d == 0)
				c->r = sc;
			else if (d == 1)
				c->f = sc;
			else
				c->m = sc;
		}
	}
	for (int d = 0; d < 3 && !R->use_thresholds; d++) {
		for (size_t k = 0; k < n; k++) {
			const score_cust *c = &t->c[ix[k]];
			it[k].i = ix[k];
			it[k].key = d == 0 ? -(double)c->recency : d == 1 ? (double)c->freq : c->monetary;
		}
		rfm_rank_scores(it, n, t->c, d);
	}
	for (size_t k = 0; k < n; k++) {
		score_cust *c = &t->c[ix[k]];
		c->score = R->weights[0] * c->r + R->weights[1] * c->f + R->weights[2] * c->m;
		c->seg = rfm_segment_of(c->score, R->segs, R->nsegs);
	}
	free(it);
	*np = n;
	return 0;
}

/* The 1-based number of segment name s among the previous snapshot's
 * names, added when new; -1 when out of memory. */
static int intern_prev(rfm_state *R, const char *s)
{
	for (int i = 0; i < R->nprev_names; i++)
		if (!strcmp(R->prev_names[i], s))
			return i + 1;
	char **p = realloc(R->prev_names, (size_t)(R->nprev_names + 1) * sizeof *p);
	if (!p)
		return -1;
	R->prev_names = p;
	if (!(p[R->nprev_names] = strdup(s)))
		return -1;
	return ++R->nprev_names;
}

/* --changes: the previous snapshot (the newest taken before now) into the
 * customers' prev; customers in it but not scored now are added to
 * *ix[0..*n) (*ix grows). 0 or -1 (said). */
static int rfm_previous(score_run *run, rfm_state *R, score_custs *t, int64_t now, size_t **ix,
			size_t *n)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(run->db, "SELECT customer_id, segment FROM rfm_snapshots WHERE taken ="
			       " (SELECT max(taken) FROM rfm_snapshots WHERE taken < ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return score_db_fail(run, "reading the previous snapshot");
	sqlite3_bind_int64(st, 1, now);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *sg = (const char *)sqlite3_column_text(st, 1);
		size_t before = t->n;
		score_cust *c = id && sg ? score_custs_get(t, id, (size_t)sqlite3_column_bytes(st, 0))
					 : NULL;
		int p = c ? intern_prev(R, sg) : -1;
		if (!c || p < 0)
			goto oom;
		c->prev = p;
		if (t->n > before) { /* scored before, not now */
			size_t *nix = realloc(*ix, t->n * sizeof *nix);
			if (!nix)
				goto oom;
			*ix = nix;
			(*ix)[(*n)++] = t->n - 1;
		}
	}
	if (rc != SQLITE_DONE)
		score_db_fail(run, "reading the previous snapshot");
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
oom:
	sqlite3_finalize(st);
	return jrn_say(-1, "out of memory");
}

/* Saves the snapshot and checks it: rows saved for `now` must equal the
 * customers with a scorable order up to now, counted independently from
 * the events. 0, or -1 (said) and nothing saved. Inside the caller's
 * transaction. */
static int rfm_save(score_run *run, const rfm_state *R, const score_custs *t, const size_t *ix,
		    size_t n, int64_t now)
{
	sqlite3 *db = run->db;
	sqlite3_stmt *del = NULL, *ins = NULL, *cnt = NULL, *want = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(db, "DELETE FROM rfm_snapshots WHERE taken = ?", -1, &del, NULL) ||
	    sqlite3_prepare_v2(db, "INSERT INTO rfm_snapshots (taken, customer_id, recency, frequency,"
			       " monetary, r, f, m, score, segment) VALUES (?,?,?,?,?,?,?,?,?,?)",
			       -1, &ins, NULL) ||
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM rfm_snapshots WHERE taken = ?", -1, &cnt,
			       NULL) ||
	    sqlite3_prepare_v2(db, "SELECT count(DISTINCT customer_id) FROM events"
			       " WHERE type = 'order.completed' AND ts <= ?"
			       " AND typeof(amount) IN ('integer', 'real')"
			       " AND abs(amount) <= ?2", -1, &want, NULL)) {
		score_db_fail(run, "saving the snapshot");
		goto done;
	}
	sqlite3_bind_int64(del, 1, now);
	if (sqlite3_step(del) != SQLITE_DONE) {
		score_db_fail(run, "saving the snapshot");
		goto done;
	}
	for (size_t k = 0; k < n; k++) {
		const score_cust *c = &t->c[ix[k]];
		if (c->last == INT64_MIN)
			continue;
		size_t idlen;
		const char *id = jrn_idmap_key(t->ids, ix[k], &idlen);
		sqlite3_bind_int64(ins, 1, now);
		sqlite3_bind_text(ins, 2, id, (int)idlen, SQLITE_STATIC);
		sqlite3_bind_int(ins, 3, c->recency);
		sqlite3_bind_int64(ins, 4, c->freq);
		sqlite3_bind_double(ins, 5, c->monetary);
		sqlite3_bind_int(ins, 6, c->r);
		sqlite3_bind_int(ins, 7, c->f);
		sqlite3_bind_int(ins, 8, c->m);
		if (c->score == floor(c->score))
			sqlite3_bind_int64(ins, 9, (int64_t)c->score);
		else
			sqlite3_bind_double(ins, 9, c->score);
		sqlite3_bind_text(ins, 10, R->segs[c->seg].name, -1, SQLITE_STATIC);
		int s = sqlite3_step(ins);
		sqlite3_reset(ins);
		if (s != SQLITE_DONE) {
			score_db_fail(run, "saving the snapshot");
			goto done;
		}
	}
	sqlite3_bind_int64(cnt, 1, now);
	sqlite3_bind_int64(want, 1, now);
	sqlite3_bind_double(want, 2, SCORE_MAX_AMOUNT); /* the orders score_read_orders sums */
	if (sqlite3_step(cnt) != SQLITE_ROW || sqlite3_step(want) != SQLITE_ROW) {
		score_db_fail(run, "checking the snapshot");
		goto done;
	}
	int64_t saved = sqlite3_column_int64(cnt, 0), buyers = sqlite3_column_int64(want, 0);
	if (saved != buyers) {
		char when[32];
		jrn_time_format(now, when);
		jrn_say(-1, "snapshot completeness check FAILED: %" PRId64 " rows saved for %s, but %"
			PRId64 " customers have orders up to then; snapshot not saved", saved, when,
			buyers);
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	sqlite3_finalize(cnt);
	sqlite3_finalize(want);
	return rc;
}

/* Appends the rfm.segment.changed event of customer id[0..len) from
 * segment `from` to `to` (NULL: none) in run `when` (the snapshot's time,
 * RFC 3339: its timestamp and properties.run), with its id: "evt_" and 32
 * hex digits of the SHA-256 of [type, customer, from, to, run] as JSON, so
 * the same change of the same run always has the same id (a replay or a
 * rerun never duplicates it). The same bytes are stored and printed. 0 or
 * -1 (memory, or SHA-256 failed). */
static int change_line(jrn_buf *b, const char *id, size_t len, const char *from, const char *to,
		       const char *when)
{
	jrn_buf key = {0};
	char hex[65];
	int rc = jrn_buf_adds(&key, "[\"rfm.segment.changed\",");
	rc |= jrn_json_append_str(&key, id, len);
	rc |= jrn_buf_addc(&key, ',');
	rc |= from ? jrn_json_append_str(&key, from, strlen(from)) : jrn_buf_adds(&key, "null");
	rc |= jrn_buf_addc(&key, ',');
	rc |= to ? jrn_json_append_str(&key, to, strlen(to)) : jrn_buf_adds(&key, "null");
	rc |= jrn_buf_addf(&key, ",\"%s\"]", when);
	rc |= rc ? rc : jrn_sha256_hex(key.p, key.len, hex);
	jrn_buf_free(&key);
	if (rc)
		return -1;
	rc |= jrn_buf_addf(b, "{\"id\":\"evt_%.32s\",\"type\":\"rfm.segment.changed\",\"customerId\":",
			   hex);
	rc |= jrn_json_append_str(b, id, len);
	rc |= jrn_buf_addf(b, ",\"timestamp\":\"%s\",\"properties\":{\"from\":", when);
	rc |= from ? jrn_json_append_str(b, from, strlen(from)) : jrn_buf_adds(b, "null");
	rc |= jrn_buf_adds(b, ",\"to\":");
	rc |= to ? jrn_json_append_str(b, to, strlen(to)) : jrn_buf_adds(b, "null");
	rc |= jrn_buf_addf(b, ",\"run\":\"%s\"}}", when);
	return rc;
}

/* The change of customer ix (the record's segment now and in the previous
 * snapshot): 1 with *from and *to set (NULL: none), or 0 when it stays in
 * its segment. With no previous snapshot every customer scored now comes
 * from null (the first-run rule). */
static int change_of(const rfm_state *R, const score_cust *c, const char **from, const char **to)
{
	*to = c->last != INT64_MIN ? R->segs[c->seg].name : NULL;
	*from = c->prev ? R->prev_names[c->prev - 1] : NULL;
	return !*from || !*to || strcmp(*from, *to) != 0;
}

/* Appends customer c's record {"customerId","rfm":{...}}; 0 or -1. */
static int rfm_record(jrn_buf *b, const char *id, size_t len, const score_cust *c,
		      const char *seg)
{
	int e = jrn_buf_adds(b, "{\"customerId\":");
	e |= jrn_json_append_str(b, id, len);
	e |= jrn_buf_addf(b, ",\"rfm\":{\"recency\":%d,\"frequency\":%" PRId64 ",\"monetary\":",
			  c->recency, c->freq);
	e |= score_num(b, c->monetary);
	e |= jrn_buf_addf(b, ",\"r\":%d,\"f\":%d,\"m\":%d,\"score\":", c->r, c->f, c->m);
	e |= score_num(b, c->score);
	e |= jrn_buf_adds(b, ",\"segment\":");
	e |= jrn_json_append_str(b, seg, strlen(seg));
	e |= jrn_buf_adds(b, "}}");
	return e;
}

/* --save --changes: stores the change events of run `when` (now) in the
 * events table, in the caller's transaction (the save's), through the
 * insert jrn-ingest uses; the changes stored before for the same run (a
 * snapshot taken again at the same time replaces them) go first, so a run
 * has at most one change per customer. *stored counts them. 0 or -1
 * (said). */
static int rfm_store_changes(score_run *run, const rfm_state *R, const score_custs *t,
			     const size_t *ix, size_t n, int64_t now, const char *when,
			     size_t *stored)
{
	sqlite3_stmt *del = NULL, *ins = NULL;
	jrn_buf line = {0};
	int rc = -1;
	if (sqlite3_prepare_v2(run->db, "DELETE FROM events WHERE type = 'rfm.segment.changed'"
			       " AND ts = ?1 AND json_extract(body, '$.properties.run') = ?2", -1, &del,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(run->db, "INSERT OR IGNORE INTO events (id, type, customer_id, ts,"
			       " received_at, amount, body) VALUES (json_extract(?1, '$.id'),"
			       " 'rfm.segment.changed', ?2, ?3, ?3, NULL, ?1)", -1, &ins,
			       NULL) != SQLITE_OK) {
		score_db_fail(run, "storing the changes");
		goto done;
	}
	sqlite3_bind_int64(del, 1, now);
	sqlite3_bind_text(del, 2, when, -1, SQLITE_STATIC);
	if (sqlite3_step(del) != SQLITE_DONE) {
		score_db_fail(run, "storing the changes");
		goto done;
	}
	for (size_t k = 0; k < n; k++) {
		const char *from, *to;
		if (!change_of(R, &t->c[ix[k]], &from, &to))
			continue;
		size_t idlen;
		const char *id = jrn_idmap_key(t->ids, ix[k], &idlen);
		jrn_buf_reset(&line);
		if (change_line(&line, id, idlen, from, to, when) < 0) {
			jrn_say(-1, "out of memory");
			goto done;
		}
		sqlite3_bind_text(ins, 1, line.p, (int)line.len, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, id, (int)idlen, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 3, now);
		int s = sqlite3_step(ins);
		sqlite3_reset(ins);
		if (s != SQLITE_DONE) {
			score_db_fail(run, "storing the changes");
			goto done;
		}
		(*stored)++;
	}
	rc = 0;
done:
	jrn_buf_free(&line);
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	return rc;
}

/* --changes --run ID: writes the change events stored by the run taken at
 * run->run_ms (INT64_MIN: the newest snapshot), in the order they were
 * stored, as they were printed then. An exit status (said). */
static int rfm_replay(score_run *run)
{
	sqlite3_stmt *st = NULL;
	int64_t taken = run->run_ms;
	int status = JRN_EXIT_FAIL;
	size_t n = 0;
	char when[32];
	if (jrn_db_exec(run->db, "BEGIN", NULL) < 0) {
		score_db_fail(run, "starting a transaction");
		return JRN_EXIT_FAIL;
	}
	if (sqlite3_prepare_v2(run->db, "SELECT max(taken), (SELECT count(*) FROM events WHERE"
			       " type = 'rfm.segment.changed' AND ts = ?1) FROM rfm_snapshots WHERE"
			       " ?1 IS NULL OR taken = ?1", -1, &st, NULL) != SQLITE_OK) {
		score_db_fail(run, "reading the runs");
		goto done;
	}
	if (taken != INT64_MIN)
		sqlite3_bind_int64(st, 1, taken);
	if (sqlite3_step(st) != SQLITE_ROW) {
		score_db_fail(run, "reading the runs");
		goto done;
	}
	bool found = sqlite3_column_type(st, 0) != SQLITE_NULL || sqlite3_column_int64(st, 1) > 0;
	if (taken == INT64_MIN)
		taken = sqlite3_column_int64(st, 0);
	jrn_time_format(taken, when);
	if (!found) {
		if (run->run_ms == INT64_MIN)
			jrn_say(-1, "--run last: no rfm snapshot was ever saved");
		else
			jrn_say(-1, "--run %s: no rfm snapshot was saved at that time", when);
		goto done;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(run->db, "SELECT body FROM events WHERE type = 'rfm.segment.changed'"
			       " AND ts = ?1 AND json_extract(body, '$.properties.run') = ?2 ORDER BY"
			       " seq", -1, &st, NULL) != SQLITE_OK) {
		score_db_fail(run, "reading the changes");
		goto done;
	}
	sqlite3_bind_int64(st, 1, taken);
	sqlite3_bind_text(st, 2, when, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && !run->out.err) {
		jrn_out_line(&run->out, (const char *)sqlite3_column_text(st, 0),
			     (size_t)sqlite3_column_bytes(st, 0));
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		score_db_fail(run, "reading the changes");
		goto done;
	}
	score_summary(run, "rfm: %zu change%s of run %s replayed", n, n == 1 ? "" : "s", when);
	status = JRN_EXIT_OK;
done:
	sqlite3_finalize(st);
	jrn_db_rollback(run->db);
	return status;
}

/* Writes the records of ix[0..n), in that order, each followed by its
 * segment change with --changes; *scored counts the records, *changes the
 * changes. 0, or -1 (out of memory: said). A write error stops the output
 * (run->out.err). */
static int rfm_write(score_run *run, const rfm_state *R, const score_custs *t, const size_t *ix,
		     size_t n, const char *when, size_t *scored, size_t *changes)
{
	jrn_buf line = {0};
	int rc = 0;
	for (size_t k = 0; k < n && !run->out.err; k++) {
		const score_cust *c = &t->c[ix[k]];
		size_t idlen;
		const char *id = jrn_idmap_key(t->ids, ix[k], &idlen);
		const char *from, *to;
		int changed = change_of(R, c, &from, &to);
		jrn_buf_reset(&line);
		int e = 0;
		if (to) {
			(*scored)++;
			e |= rfm_record(&line, id, idlen, c, to);
			if (e == 0)
				jrn_out_line(&run->out, line.p, line.len);
			jrn_buf_reset(&line);
		}
		if (run->changes && changed && !run->out.err) {
			e |= change_line(&line, id, idlen, from, to, when);
			if (e == 0 && jrn_out_line(&run->out, line.p, line.len) == 0)
				(*changes)++;
		}
		if (e) {
			rc = score_build_fail();
			break;
		}
	}
	jrn_buf_free(&line);
	return rc;
}

/* The process's anonymous resident memory in KB (its own data, not the
 * state file's mapped pages), or -1: for -v. */
static long rss_anon_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char ln[256];
	long kb = -1;
	while (f && fgets(ln, sizeof ln, f))
		if (sscanf(ln, "RssAnon: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* The counts of one run of rfm, for its summary line. */
typedef struct {
	uint64_t orders, refunds;
	size_t scored, changes, stored;
} rfm_counts;

/* The summary line of a run at `when`, and with -v its memory. */
static void rfm_summary(score_run *run, const rfm_counts *k, const char *when)
{
	char saved[96] = "", changes[48] = "", cut[160] = "";
	if (run->save)
		snprintf(saved, sizeof saved, "; snapshot %s, run %s",
			 run->opts.dry_run ? "checked" : "saved", when);
	if (run->changes)
		snprintf(changes, sizeof changes, "; %zu change%s%s",
			 run->save ? k->stored : k->changes,
			 (run->save ? k->stored : k->changes) == 1 ? "" : "s",
			 run->save && !run->opts.dry_run ? " stored" : "");
	if (run->out.err == EPIPE && run->save && run->changes && !run->opts.dry_run)
		snprintf(cut, sizeof cut, "; the reader went away: jrn-score rfm --changes --run %s"
			 " writes the changes again", when);
	score_summary(run, "rfm: %zu customer%s scored from %" PRIu64 " order%s and %" PRIu64
		      " refund%s, window %" PRId64 "d, now %s%s%s%s", k->scored,
		      k->scored == 1 ? "" : "s", k->orders, k->orders == 1 ? "" : "s", k->refunds,
		      k->refunds == 1 ? "" : "s", (int64_t)(run->window_ms / DAY_MS), when, saved,
		      changes, cut);
	if (run->opts.verbosity > 0)
		jrn_say(0, "memory: %ld KB anonymous", rss_anon_kb());
}

int score_rfm(score_run *run)
{
	if (run->run_flag)
		return rfm_replay(run);
	int64_t now = jrn_now();
	int status = JRN_EXIT_FAIL;
	rfm_state R = {0};
	score_custs t = {0};
	size_t *ix = NULL, n = 0;
	bool in_tx = false;
	rfm_counts k = {0};
	char when[32];
	jrn_time_format(now, when);

	if (rfm_config(run, &R) < 0)
		goto done;
	/* One transaction: the events read, the previous snapshot and the new
	 * one, and the changes stored, all see the same state (a writer waits
	 * for --save). */
	if ((run->save ? jrn_db_begin(run->db, NULL) : jrn_db_exec(run->db, "BEGIN", NULL)) < 0) {
		score_db_fail(run, "starting a transaction");
		goto done;
	}
	in_tx = true;
	if (score_custs_init(&t) < 0) {
		jrn_say(-1, "out of memory");
		goto done;
	}
	if (score_read_orders(run, &t, now, run->window_ms, &k.orders, &k.refunds) < 0)
		goto done;
	if (!(ix = malloc((t.n ? t.n : 1) * sizeof *ix))) {
		jrn_say(-1, "out of memory");
		goto done;
	}
	if (rfm_score_all(&R, &t, now, ix, &n) < 0)
		goto done;
	if (run->changes && rfm_previous(run, &R, &t, now, &ix, &n) < 0)
		goto done;
	if (score_sort_by_id(t.ids, ix, n) < 0) {
		jrn_say(-1, "out of memory");
		goto done;
	}
	if (run->save && (rfm_save(run, &R, &t, ix, n, now) < 0 ||
			  (run->changes &&
			   rfm_store_changes(run, &R, &t, ix, n, now, when, &k.stored) < 0)))
		goto done;
	if (run->save ? score_db_end(run) < 0 : jrn_db_commit(run->db, NULL) < 0) {
		if (!run->save)
			score_db_fail(run, "committing");
		goto done;
	}
	in_tx = false;

	/* Stored before shown: the records, each followed by its change. */
	if (rfm_write(run, &R, &t, ix, n, when, &k.scored, &k.changes) < 0)
		goto done;
	jrn_out_flush(&run->out);
	rfm_summary(run, &k, when);
	status = score_done_status(run);
done:
	if (in_tx)
		jrn_db_rollback(run->db);
	free(ix);
	score_custs_free(&t);
	rfm_state_free(&R);
	return status;
}
