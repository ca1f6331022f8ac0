/* facts.c: what the state file knows of a batch's customers, for the
 * input of every question (jrn-ai.h, ai_req.input.facts). One query per
 * table per batch: the customerIds go in as one JSON array bound to
 * json_each, so a batch of 1,024 profiles costs four statements (five
 * when some records carry their orders and others not), not four
 * thousand. What a record carries itself wins over the state file, and
 * the state file is not asked for it: rfm, clv, lead (top level, under
 * "scores", or under "profile" or "profile.scores", as jrn-score and
 * jrn-merge write them), segments (top level or under "profile") and
 * jrn-merge's summary (orders, orderTotal, lastOrder.at, firstSeen).
 *
 * Windows: 7 and 30 days before now (--now), events after now ignored.
 * Event types counted: opens email.opened; clicks email.clicked; visits
 * page.viewed and product.viewed; carts cart.added and cart.updated;
 * orders order.completed (its amount column summed). Categories: the
 * properties.category of product.viewed, cart.added and order.completed
 * events of the last 30 days, the three most frequent (ties by name).
 *
 * Threads: the queries run on the facts thread (one for the run, on the
 * facts' own read-only connection), and so does what follows them:
 * the rows taken, the facts merged (facts_merge) and, on a model whose
 * answers are cached, the keys of the questions read lightly and a
 * share of their look-ups (facts_peek). What it makes of jv is its own:
 * its member names are its own strings (facts_state.rfmk, dkeys), never
 * the main thread's interned ones, and it reads no input jv but the
 * batch's records, which the main thread leaves alone until
 * ai_facts_finish (jv's reference counts are not atomic). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-ai.h"

enum { Q_EVENTS, Q_ACTIVITY, Q_RFM, Q_SCORES, Q_SEGMENTS, NQ };

/* The counts of the last 7 and 30 days (?2 and ?3 their starts) and the
 * categories of the last 30, columns 1-8 of Q_EVENTS and Q_ACTIVITY. */
#define EVENT_COLUMNS \
	" sum(type = 'email.opened' AND ts > ?2), sum(type = 'email.opened' AND ts > ?3)," \
	" sum(type = 'email.clicked' AND ts > ?2), sum(type = 'email.clicked' AND ts > ?3)," \
	" sum(type IN ('page.viewed', 'product.viewed') AND ts > ?2)," \
	" sum(type IN ('page.viewed', 'product.viewed') AND ts > ?3)," \
	" sum(type IN ('cart.added', 'cart.updated') AND ts > ?3)," \
	" group_concat(CASE WHEN ts > ?3 AND type IN ('product.viewed', 'cart.added'," \
	" 'order.completed') THEN json_extract(body, '$.properties.category') END, char(30))"

static const char *const sql[NQ] = {
	/* the customers whose record carried its orders: the last 30 days */
	"SELECT customer_id," EVENT_COLUMNS
	" FROM events WHERE customer_id IN (SELECT value FROM json_each(?1))"
	" AND ts > ?3 AND ts <= ?4 GROUP BY customer_id",

	/* the others (most): the same and their orders, in one pass over
	 * their events (two queries were two probes and two scans) */
	"SELECT customer_id," EVENT_COLUMNS ", sum(type = 'order.completed'),"
	" total(CASE WHEN type = 'order.completed' THEN amount END),"
	" max(CASE WHEN type = 'order.completed' THEN ts END), min(ts) FROM events"
	" WHERE customer_id IN (SELECT value FROM json_each(?1)) AND ts <= ?4"
	" GROUP BY customer_id",

	"SELECT customer_id, recency, frequency, monetary, r, f, m, score, segment"
	" FROM rfm_snapshots WHERE taken = (SELECT max(taken) FROM rfm_snapshots WHERE taken <= ?4)"
	" AND customer_id IN (SELECT value FROM json_each(?1))",

	"SELECT customer_id, kind, body FROM scores"
	" WHERE customer_id IN (SELECT value FROM json_each(?1)) AND kind IN ('clv', 'lead')",

	"SELECT customer_id, segment FROM segment_members"
	" WHERE customer_id IN (SELECT value FROM json_each(?1)) ORDER BY customer_id, segment",

};

/* Which parts a record carried (bits), so that the state file is not
 * asked for them and they win over it. */
enum { C_RFM = 1, C_CLV = 2, C_LEAD = 4, C_SEGMENTS = 8, C_ORDERS = 16 };

/* A column of a row read by run_query: its type (SQLITE_*) and value;
 * text (NUL-terminated) in its rows' arena at off, len bytes. */
typedef struct {
	int type;
	int64_t i;
	double d;
	size_t off, len;
} fcol;

/* The rows of one query for a batch: ncol columns a row, n columns. */
typedef struct {
	fcol *c;
	size_t n, cap;
	jrn_buf text;
} frows;

/* facts_peek's share of a batch's look-ups in the cache: of SHARE_ALL,
 * moved by SHARE_STEP a batch, from half */
#define SHARE_ALL 64u
#define SHARE_STEP 2u

typedef struct {
	sqlite3 *db;      /* the facts' connection: their own, read only
			   * (own_db), or the run's (a --dry-run state in memory) */
	bool own_db;
	sqlite3_stmt *st[NQ];
	jrn_idmap *ids;
	ai_facts *base;   /* per customer of the batch: from the state file */
	unsigned *want;   /* per customer: C_CLV, C_LEAD when a record of it did
			   * not carry that score (take_row parses only those) */
	size_t cap;
	/* the batch in flight, from ai_facts_start to ai_facts_finish */
	jrn_buf ids_json[NQ]; /* per query: the customerIds it is run for */
	frows rows[NQ];
	unsigned *need, *have; /* per question: 1 << Q_* to run, C_* carried */
	int64_t now;
	ai_req *reqs;     /* ai_facts_start's, borrowed until ai_facts_finish */
	size_t n;
	ai_facts *facts;
	int64_t *kof;     /* per question: its customer's in ids and base
			   * (batch_start's: facts_merge on the thread reads no
			   * input jv, whose keys the main thread shares) */
	bool merged;      /* facts[] completed (facts_merge), base cleared */
	/* the cache look-ups of the questions read lightly (facts_peek) */
	bool peeking;
	unsigned share;   /* of SHARE_ALL: the questions it looks up */
	ai_cache_scope scope;
	sqlite3_stmt *peek_st;
	jrn_buf keyb;
	/* the keys of take_row's rfm members and derive's, F's own: jv's
	 * reference counts are not atomic, so what the facts thread makes
	 * shares nothing with the main thread's interned keys (ai_key).
	 * rfmk are made anew for each batch and let go at the end of its
	 * facts_merge: the rfm objects holding them go to the main thread,
	 * which frees them while the next batch's are made. dkeys are only
	 * looked up with, never held by a value that leaves the thread. */
	jv rfmk[8], dkeys[4];
	/* the facts thread: started with the first batch and kept until
	 * ai_facts_free (a thread a batch was created on the main thread's
	 * core, and waited there for a scheduler to move it, a run of cache
	 * hits longer by half); it waits for a batch (job), runs facts_sql
	 * and says so (job false again), mu and cv guarding job and quit */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool started;     /* the thread is in facts_loop */
	bool job, quit;
	bool running;     /* a batch given to it, not yet finished */
	int rc;           /* the queries': 0 or -1 with err */
	jrn_err err;
} facts_state;

/* A customer the state file knows nothing of: no orders, no events. */
static void facts_empty(ai_facts *f)
{
	*f = (ai_facts){.orders = 0, .total = 0, .last = NAN, .first_seen = NAN,
			.p_alive = NAN, .predicted = NAN, .monetary = NAN};
	f->rfm = f->clv = f->lead = f->interests = jv_null();
	f->segments = jv_array();
	f->categories = jv_array();
}

void ai_facts_clear(ai_facts *f)
{
	jv_free(f->rfm);
	jv_free(f->clv);
	jv_free(f->lead);
	jv_free(f->segments);
	jv_free(f->categories);
	jv_free(f->interests);
	f->rfm = f->clv = f->lead = f->segments = f->categories = f->interests = jv_null();
	memset(f->text, 0, sizeof f->text);
	f->pending = false;
}

void ai_facts_free(ai_run *run)
{
	facts_state *F = run->facts;
	if (!F)
		return;
	if (F->started) {
		pthread_mutex_lock(&F->mu);
		F->quit = true; /* (after the batch in hand, if any) */
		pthread_cond_broadcast(&F->cv);
		pthread_mutex_unlock(&F->mu);
		pthread_join(F->thread, NULL);
		pthread_mutex_destroy(&F->mu);
		pthread_cond_destroy(&F->cv);
	}
	sqlite3_finalize(F->peek_st);
	jrn_buf_free(&F->keyb);
	for (int i = 0; i < 8; i++)
		jv_free(F->rfmk[i]);
	for (int i = 0; i < 4; i++)
		jv_free(F->dkeys[i]);
	for (int i = 0; i < NQ; i++) {
		sqlite3_finalize(F->st[i]);
		jrn_buf_free(&F->ids_json[i]);
		free(F->rows[i].c);
		jrn_buf_free(&F->rows[i].text);
	}
	if (F->own_db)
		sqlite3_close(F->db);
	jrn_idmap_free(F->ids);
	free(F->base);
	free(F->kof);
	free(F->want);
	free(F->need);
	free(F->have);
	free(F);
	run->facts = NULL;
}

/* A number, or null for NAN. */
static jv num_or_null(double x)
{
	return isnan(x) ? jv_null() : jv_number(x);
}

jv ai_facts_jv(const ai_facts *f)
{
	jv ev = jv_object();
	ev = jv_object_set(ev, KS("opens7d"), jv_number(f->o7));
	ev = jv_object_set(ev, KS("opens30d"), jv_number(f->o30));
	ev = jv_object_set(ev, KS("clicks7d"), jv_number(f->c7));
	ev = jv_object_set(ev, KS("clicks30d"), jv_number(f->c30));
	ev = jv_object_set(ev, KS("visits7d"), jv_number(f->v7));
	ev = jv_object_set(ev, KS("visits30d"), jv_number(f->v30));
	ev = jv_object_set(ev, KS("carts30d"), jv_number(f->carts));
	jv ord = jv_object();
	ord = jv_object_set(ord, KS("count"), jv_number(f->orders));
	ord = jv_object_set(ord, KS("total"), jv_number(f->total));
	ord = jv_object_set(ord, KS("daysSinceLast"), num_or_null(f->last));
	jv o = jv_object();
	o = jv_object_set(o, KS("rfm"), jv_copy(f->rfm));
	o = jv_object_set(o, KS("clv"), jv_copy(f->clv));
	o = jv_object_set(o, KS("lead"), jv_copy(f->lead));
	o = jv_object_set(o, KS("segments"), jv_copy(f->segments));
	o = jv_object_set(o, KS("categories"), jv_copy(f->categories));
	o = jv_object_set(o, KS("events"), ev);
	o = jv_object_set(o, KS("orders"), ord);
	return jv_object_set(o, KS("firstSeenDays"), num_or_null(f->first_seen));
}

/* Whether column c has text (sqlite3_column_text's: TEXT or BLOB). */
static bool is_text(const fcol *c)
{
	return c->type == SQLITE_TEXT || c->type == SQLITE_BLOB;
}

/* Column c of row r (text in the arena t) as a jv: a number, text, or
 * null. */
static jv col(const fcol *r, const char *t, int c)
{
	switch (r[c].type) {
	case SQLITE_INTEGER: return jv_number((double)r[c].i);
	case SQLITE_FLOAT: return jv_number(r[c].d);
	case SQLITE_TEXT: return jv_string_sized(t + r[c].off, (int)r[c].len);
	default: return jv_null();
	}
}

/* Whole days from ms to now, at least 0. */
static double days(int64_t now, int64_t ms)
{
	return ms >= now ? 0 : floor((double)(now - ms) / DAY_MS);
}

/* The three most frequent of the categories in s[0..n) (separated by
 * U+001E; the first AI_MAX_CATEGORIES distinct ones counted), ties by
 * name: an array of strings. */
#define AI_MAX_CATEGORIES 64
static jv top_categories(const char *s, size_t n)
{
	struct {
		const char *p;
		size_t len;
		int count;
	} c[AI_MAX_CATEGORIES];
	int nc = 0;
	for (const char *p = s, *end = s + n; p < end;) {
		const char *q = memchr(p, 0x1e, (size_t)(end - p));
		size_t len = (size_t)((q ? q : end) - p);
		int i = 0;
		while (i < nc && (c[i].len != len || memcmp(c[i].p, p, len)))
			i++;
		if (i < nc)
			c[i].count++;
		else if (nc < AI_MAX_CATEGORIES && len)
			c[nc++] = (typeof(c[0])){p, len, 1};
		p = q ? q + 1 : end;
	}
	jv out = jv_array();
	for (int k = 0; k < 3 && nc; k++) {
		int b = 0;
		for (int i = 1; i < nc; i++) {
			size_t m = c[i].len < c[b].len ? c[i].len : c[b].len;
			int cmp = memcmp(c[i].p, c[b].p, m);
			if (c[i].count > c[b].count ||
			    (c[i].count == c[b].count && (cmp < 0 || (cmp == 0 && c[i].len < c[b].len))))
				b = i;
		}
		out = jv_array_append(out, jv_string_sized(c[b].p, (int)c[b].len));
		c[b] = c[--nc];
	}
	return out;
}

/* The key name in *slot, a string of the facts' own (made when *slot is
 * not one yet; facts_state.rfmk, dkeys): for what the facts thread makes. */
static jv own_key(jv *slot, const char *name)
{
	if (jv_get_kind(*slot) != JV_KIND_STRING)
		*slot = jv_string(name);
	return jv_copy(*slot);
}

/* Adds one row r of query q (text in the arena t) to its customer's
 * facts: the columns of sql[q], read as sqlite3_column_double and
 * sqlite3_column_int64 would (NULL as 0). */
static void take_row(facts_state *F, int q, const fcol *r, const char *t, int64_t now)
{
	if (!is_text(&r[0]))
		return;
	int64_t k = jrn_idmap_get(F->ids, t + r[0].off, r[0].len);
	if (k < 0)
		return;
	ai_facts *f = &F->base[k];
	static const char *const rfm[] = {"recency", "frequency", "monetary", "r", "f", "m",
					   "score", "segment"};
	switch (q) {
	case Q_EVENTS:
	case Q_ACTIVITY: {
		double *ev[7] = {&f->o7, &f->o30, &f->c7, &f->c30, &f->v7, &f->v30, &f->carts};
		for (int i = 0; i < 7; i++)
			*ev[i] = r[i + 1].d;
		if (r[8].type == SQLITE_TEXT) {
			jv_free(f->categories);
			f->categories = top_categories(t + r[8].off, r[8].len);
		}
		if (q == Q_EVENTS)
			return;
		f->orders = r[9].d;
		f->total = round(r[10].d * 100) / 100;
		f->last = r[11].type == SQLITE_NULL ? NAN : days(now, r[11].i);
		f->first_seen = days(now, r[12].i);
		return;
	}
	case Q_RFM: {
		jv o = jv_object();
		for (int i = 0; i < 8; i++)
			o = jv_object_set(o, own_key(&F->rfmk[i], rfm[i]), col(r, t, i + 1));
		jv_free(f->rfm);
		f->rfm = o;
		return;
	}
	case Q_SCORES: {
		bool clv = is_text(&r[1]) && !strcmp(t + r[1].off, "clv");
		/* a score every record of the customer carried is not read
		 * (merge_facts takes the record's): not parsed either (measured:
		 * jq's parse of the bodies was a twenty-fifth of a state run) */
		if (!(F->want[k] & (clv ? C_CLV : C_LEAD)) || !is_text(&r[2]))
			return;
		jv *slot = clv ? &f->clv : &f->lead;
		jv body = jv_parse_sized(t + r[2].off, (int)r[2].len);
		if (jv_get_kind(body) == JV_KIND_OBJECT) {
			jv_free(*slot);
			*slot = body;
		} else {
			jv_free(body);
		}
		return;
	}
	case Q_SEGMENTS:
		f->segments = jv_array_append(f->segments, col(r, t, 1));
		return;
	}
}

/* The members of an object that carried() reads. */
enum { P_RFM, P_CLV, P_LEAD, P_SCORES, P_SEGMENTS, P_SUMMARY, P_PROFILE, NP };
static const char *const part_names[NP] = {"rfm", "clv", "lead", "scores", "segments",
					   "summary", "profile"};

/* o's (borrowed) members named in part_names into out (new references;
 * jv_invalid() when absent), in one pass. Returns how many were there
 * (none: parts_free has nothing to do). */
static int parts_of(jv o, jv out[NP])
{
	for (int i = 0; i < NP; i++)
		out[i] = jv_invalid();
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return 0;
	int found = 0;
	/* (the iterator borrows o; a value is copied only when it is one of
	 * the parts: jv_object_foreach copies every member's) */
	for (int it = jv_object_iter(o); jv_object_iter_valid(o, it); it = jv_object_iter_next(o, it)) {
		jv k = jv_object_iter_key(o, it);
		const char *ks = jv_string_value(k);
		int i = 0;
		while (i < NP && strcmp(ks, part_names[i]))
			i++;
		if (i < NP) {
			jv_free(out[i]);
			out[i] = jv_object_iter_value(o, it);
			found++;
		}
		jv_free(k);
	}
	return found;
}

/* Frees parts_of's out, n its count (jv_free of an absent part is a call
 * into libjq for nothing: 28 of them a record were a twentieth of a run
 * of cache hits). */
static void parts_free(jv p[NP], int n)
{
	for (int i = 0; n && i < NP; i++)
		jv_free(p[i]);
}

/* The time at member a (and b within it) of sum (borrowed) as ms into *ms:
 * 1, or 0 when absent or not one. */
static int carried_time(jv sum, const char *a, const char *b, int64_t *ms)
{
	static jv ka[2], kb;
	jv t = jv_get_kind(sum) == JV_KIND_OBJECT
		       ? jv_object_get(jv_copy(sum), ai_key(&ka[b != NULL], a)) : jv_invalid();
	if (b)
		t = jv_get_kind(t) == JV_KIND_OBJECT ? jv_object_get(t, ai_key(&kb, b))
						      : (jv_free(t), jv_invalid());
	int ok = jv_get_kind(t) == JV_KIND_STRING &&
		 jrn_time_parse(jv_string_value(t), (size_t)jv_string_length_bytes(jv_copy(t)), 0, ms,
				NULL) == 0;
	jv_free(t);
	return ok;
}

/* The member of sum (borrowed) named by slot/name, a number, or invalid. */
static jv sum_num(jv sum, jv *slot, const char *name)
{
	jv v = jv_get_kind(sum) == JV_KIND_OBJECT ? jv_object_get(jv_copy(sum), ai_key(slot, name))
						   : jv_invalid();
	return jv_get_kind(v) == JV_KIND_NUMBER ? v : (jv_free(v), jv_invalid());
}

/* The profile's traits.interests, for the rules model: those of rec's
 * traits, else of its profile's (prof, rec's "profile" member or
 * invalid), an array, else jv_null(). rec and prof are borrowed. */
static jv interests_of(jv rec, jv prof)
{
	jv tr = jv_get_kind(rec) == JV_KIND_OBJECT ? jv_object_get(jv_copy(rec), KS("traits")) : jv_invalid();
	if (jv_get_kind(tr) != JV_KIND_OBJECT) {
		jv_free(tr);
		tr = jv_get_kind(prof) == JV_KIND_OBJECT ? jv_object_get(jv_copy(prof), KS("traits"))
							 : jv_invalid();
	}
	jv in = jv_get_kind(tr) == JV_KIND_OBJECT ? jv_object_get(tr, KS("interests")) : (jv_free(tr), jv_invalid());
	return jv_get_kind(in) == JV_KIND_ARRAY ? in : (jv_free(in), jv_null());
}

/* What the record rec (borrowed) carries into f (whose parts are
 * jv_null()), the parts it carried as C_* bits into *have, and the
 * queries still to run for it as bits 1 << Q_* into *need. */
static void carried(jv rec, int64_t now, ai_facts *f, unsigned *have, unsigned *need)
{
	static jv kcount, ktotal;
	jv top[NP], prof[NP], st[NP], sp[NP];
	int ntop = parts_of(rec, top), nprof = parts_of(top[P_PROFILE], prof),
	    nst = parts_of(top[P_SCORES], st), nsp = parts_of(prof[P_SCORES], sp);
	unsigned h = 0, n = 1u << Q_EVENTS;
	jv *dst[3] = {&f->rfm, &f->clv, &f->lead};
	static const unsigned bit[3] = {C_RFM, C_CLV, C_LEAD};
	for (int i = 0; i < 3; i++) {
		jv *c[4] = {&top[i], &st[i], &prof[i], &sp[i]};
		int j = 0;
		while (j < 4 && jv_get_kind(*c[j]) != JV_KIND_OBJECT)
			j++;
		if (j < 4) {
			*dst[i] = jv_copy(*c[j]);
			h |= bit[i];
		}
	}
	n |= (h & C_RFM ? 0 : 1u << Q_RFM) | ((h & (C_CLV | C_LEAD)) == (C_CLV | C_LEAD) ? 0 : 1u << Q_SCORES);
	jv seg = jv_get_kind(top[P_SEGMENTS]) == JV_KIND_ARRAY ? top[P_SEGMENTS] : prof[P_SEGMENTS];
	if (jv_get_kind(seg) == JV_KIND_ARRAY) {
		f->segments = jv_copy(seg);
		h |= C_SEGMENTS;
	} else {
		n |= 1u << Q_SEGMENTS;
	}
	jv sum = jv_get_kind(top[P_SUMMARY]) == JV_KIND_OBJECT ? top[P_SUMMARY] : prof[P_SUMMARY];
	jv cnt = sum_num(sum, &kcount, "orders"), tot = sum_num(sum, &ktotal, "orderTotal");
	int64_t last, first;
	if (jv_is_valid(cnt) && jv_is_valid(tot) && carried_time(sum, "firstSeen", NULL, &first)) {
		f->orders = jv_number_value(cnt);
		f->total = round(jv_number_value(tot) * 100) / 100;
		f->last = carried_time(sum, "lastOrder", "at", &last) ? days(now, last) : NAN;
		f->first_seen = days(now, first);
		h |= C_ORDERS;
	} else {
		n = (n & ~(1u << Q_EVENTS)) | 1u << Q_ACTIVITY;
	}
	jv_free(cnt);
	jv_free(tot);
	f->interests = interests_of(rec, top[P_PROFILE]);
	parts_free(top, ntop);
	parts_free(prof, nprof);
	parts_free(st, nst);
	parts_free(sp, nsp);
	*have = h;
	*need = n;
}

/* The member of object member `parent` of ix (-1: the top level) named
 * name, of kind ('{', '[', ...; 0: any), or NULL. */
static const jrn_json_member *ix_part(const jrn_json_index *ix, int parent, const char *name, char kind)
{
	if (parent < -1)
		return NULL;
	const jrn_json_member *m = jrn_json_find(ix, parent, name);
	return m && (!kind || m->kind == kind) ? m : NULL;
}

/* The index of m in ix if it is an object, else -2 (no members). */
static int ix_obj(const jrn_json_index *ix, const jrn_json_member *m)
{
	return m && m->kind == '{' ? (int)(m - ix->m) : -2;
}

/* The time at string member m as ms into *ms: 1, 0 when m is not one
 * (carried_time's), -1 when it has an escape (to be parsed to tell). */
static int ix_time(const jrn_json_member *m, int64_t *ms)
{
	if (!m || m->kind != '"')
		return 0;
	if (m->escaped)
		return -1;
	return jrn_time_parse(m->val, m->vlen, 0, ms, NULL) == 0;
}

int ai_carry_scan(const jrn_json_index *ix, ai_carry *c)
{
	*c = (ai_carry){0};
	static const char *const names[3] = {"rfm", "clv", "lead"};
	int prof = ix_obj(ix, ix_part(ix, -1, "profile", '{'));
	int st = ix_obj(ix, ix_part(ix, -1, "scores", '{'));
	int sp = ix_obj(ix, ix_part(ix, prof, "scores", '{'));
	/* carried()'s order: the record, its scores, its profile, the
	 * profile's scores; the first object */
	for (int i = 0; i < 3; i++) {
		const int at[4] = {-1, st, prof, sp};
		const jrn_json_member *m = NULL;
		for (int j = 0; j < 4 && !m; j++)
			m = ix_part(ix, at[j], names[i], '{');
		if (m)
			c->text[i] = m->val, c->tlen[i] = m->vlen;
	}
	const jrn_json_member *seg = ix_part(ix, -1, "segments", '[');
	if (!seg)
		seg = ix_part(ix, prof, "segments", '[');
	if (seg)
		c->text[3] = seg->val, c->tlen[3] = seg->vlen;
	const jrn_json_member *sum = ix_part(ix, -1, "summary", '{');
	if (!sum)
		sum = ix_part(ix, prof, "summary", 0);
	int so = ix_obj(ix, sum);
	const jrn_json_member *cnt = ix_part(ix, so, "orders", '0'), *tot = ix_part(ix, so, "orderTotal", '0');
	int first = ix_time(ix_part(ix, so, "firstSeen", 0), &c->first);
	int last = ix_time(ix_part(ix, ix_obj(ix, ix_part(ix, so, "lastOrder", '{')), "at", 0), &c->last);
	if (first < 0 || last < 0)
		return -1;
	c->has_last = last;
	/* interests_of()'s: the record's traits if an object, else its
	 * profile's */
	const jrn_json_member *tr = ix_part(ix, -1, "traits", '{');
	if (!tr)
		tr = ix_part(ix, prof, "traits", '{');
	const jrn_json_member *in = ix_part(ix, ix_obj(ix, tr), "interests", '[');
	if (in)
		c->text[4] = in->val, c->tlen[4] = in->vlen;
	if (cnt && tot && first) {
		c->orders = true;
		c->count = strtod(cnt->val, NULL);
		c->total = strtod(tot->val, NULL);
	}
	return 0;
}

/* carried() of a record read lightly: from its carry c, the parts as
 * their texts (f pending: the jv members are parsed by ai_facts_parse). */
static void carried_from(const ai_carry *c, int64_t now, ai_facts *f, unsigned *have, unsigned *need)
{
	static const unsigned bit[4] = {C_RFM, C_CLV, C_LEAD, C_SEGMENTS};
	unsigned h = 0, n = 1u << Q_EVENTS;
	for (int i = 0; i < 4; i++) {
		if (!c->text[i])
			continue;
		f->text[i] = c->text[i];
		f->tlen[i] = c->tlen[i];
		h |= bit[i];
	}
	f->text[4] = c->text[4];
	f->tlen[4] = c->tlen[4];
	f->pending = true;
	n |= (h & C_RFM ? 0 : 1u << Q_RFM) | ((h & (C_CLV | C_LEAD)) == (C_CLV | C_LEAD) ? 0 : 1u << Q_SCORES);
	n |= h & C_SEGMENTS ? 0 : 1u << Q_SEGMENTS;
	if (c->orders) {
		f->orders = c->count;
		f->total = round(c->total * 100) / 100;
		f->last = c->has_last ? days(now, c->last) : NAN;
		f->first_seen = days(now, c->first);
		h |= C_ORDERS;
	} else {
		n = (n & ~(1u << Q_EVENTS)) | 1u << Q_ACTIVITY;
	}
	*have = h;
	*need = n;
}

/* The numbers the rules read from the rfm and clv objects of f, with the
 * member names' keys in k[4] made by key (ai_key on the main thread,
 * own_key on the facts thread). */
static void derive(ai_facts *f, jv k[4], jv (*key)(jv *, const char *))
{
	f->p_alive = f->predicted = f->monetary = NAN;
	f->rfm_segment[0] = '\0';
	if (jv_get_kind(f->clv) == JV_KIND_OBJECT) {
		jv p = jv_object_get(jv_copy(f->clv), key(&k[0], "pAlive"));
		jv v = jv_object_get(jv_copy(f->clv), key(&k[1], "predictedValue"));
		if (jv_get_kind(p) == JV_KIND_NUMBER && isfinite(jv_number_value(p)))
			f->p_alive = jv_number_value(p);
		if (jv_get_kind(v) == JV_KIND_NUMBER && isfinite(jv_number_value(v)))
			f->predicted = jv_number_value(v);
		jv_free(p);
		jv_free(v);
	}
	if (jv_get_kind(f->rfm) == JV_KIND_OBJECT) {
		jv m = jv_object_get(jv_copy(f->rfm), key(&k[2], "monetary"));
		jv s = jv_object_get(jv_copy(f->rfm), key(&k[3], "segment"));
		if (jv_get_kind(m) == JV_KIND_NUMBER && isfinite(jv_number_value(m)))
			f->monetary = jv_number_value(m);
		if (jv_get_kind(s) == JV_KIND_STRING)
			snprintf(f->rfm_segment, sizeof f->rfm_segment, "%s", jv_string_value(s));
		jv_free(m);
		jv_free(s);
	}
}

void ai_facts_parse(ai_facts *f)
{
	if (!f->pending)
		return;
	jv *slot[4] = {&f->rfm, &f->clv, &f->lead, &f->segments};
	for (int i = 0; i < 4; i++) {
		if (!f->text[i])
			continue;
		jv v = jrn_parse_value(f->text[i], f->tlen[i], NULL);
		jv_free(*slot[i]);
		*slot[i] = jv_is_valid(v) ? v : jv_null(); /* (checked: out of memory) */
	}
	jv in = f->text[4] ? jrn_parse_value(f->text[4], f->tlen[4], NULL) : jv_null();
	jv_free(f->interests);
	f->interests = jv_is_valid(in) ? in : jv_null(); /* (checked: out of memory) */
	f->pending = false;
	static jv k[4];
	derive(f, k, ai_key);
}

int ai_facts_open(ai_run *run, jrn_err *e)
{
	if (!run->facts && !(run->facts = calloc(1, sizeof(facts_state))))
		return jrn_fail(e, "out of memory");
	facts_state *F = run->facts;
	if (F->db)
		return 0;
	const char *file = sqlite3_db_filename(run->db, "main");
	if (!file || !*file) {
		F->db = run->db;
		return 0;
	}
	if (jrn_db_open_reader(file, run->opts.busy_ms, &F->db, e) < 0)
		return -1;
	F->own_db = true;
	/* random reads over 32 KiB pages, as the run's (main.c) */
	return jrn_db_exec(F->db, "PRAGMA mmap_size = " AI_MMAP_SIZE_SQL, e);
}

/* The customerId of question r: its bytes (len of them) from the line
 * read lightly, with *c jv_invalid() (its question's input is made
 * only when the cache misses), else from its input, with *c the string
 * (the caller's to free). */
static const char *req_customer(const ai_req *r, jv *c, size_t *len)
{
	if (r->lite) {
		*c = jv_invalid();
		*len = r->lite->cidlen;
		return r->lite->cid;
	}
	*c = jv_object_get(jv_copy(r->input), KS("customerId"));
	*len = (size_t)jv_string_length_bytes(jv_copy(*c));
	return jv_string_value(*c);
}

/* Makes F ready for a batch of n questions: the statements, the map of
 * the batch's customers, their empty facts, and per query the JSON array
 * of the customers it is needed for (F->need[i] of reqs[i]) into
 * F->ids_json[q]. 0 or -1 with e. */
static int batch_start(facts_state *F, ai_req *reqs, size_t n, jrn_err *e)
{
	for (int q = 0; q < NQ; q++)
		if (!F->st[q] && jrn_db_prepare(F->db, sql[q], &F->st[q], e) < 0)
			return -1;
	jrn_idmap_free(F->ids);
	if (!(F->ids = jrn_idmap_new()) || (n > F->cap && !(F->base = realloc(F->base, n * sizeof *F->base))) ||
	    (n > F->cap && !(F->want = realloc(F->want, n * sizeof *F->want))) ||
	    (n > F->cap && !(F->kof = realloc(F->kof, n * sizeof *F->kof))))
		return jrn_fail(e, "out of memory");
	F->cap = n > F->cap ? n : F->cap;
	unsigned *sent = calloc(n ? n : 1, sizeof *sent); /* per customer: the queries it is in */
	if (!sent)
		return jrn_fail(e, "out of memory");
	jrn_buf *ids = F->ids_json;
	for (int q = 0; q < NQ; q++)
		jrn_buf_reset(&ids[q]);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t len;
		jv c;
		const char *id = req_customer(&reqs[i], &c, &len);
		bool added = false;
		int64_t k = jrn_idmap_put(F->ids, id, len, &added);
		if (k < 0)
			rc = jrn_fail(e, "out of memory");
		if (k >= 0)
			F->kof[i] = k;
		if (k >= 0 && added) {
			facts_empty(&F->base[k]);
			F->want[k] = 0;
		}
		if (k >= 0)
			F->want[k] |= ~F->have[i] & (C_CLV | C_LEAD);
		for (int q = 0; q < NQ && rc == 0; q++) {
			if (!(F->need[i] & 1u << q) || (sent[k] & 1u << q))
				continue;
			sent[k] |= 1u << q;
			if (jrn_buf_addc(&ids[q], ids[q].len ? ',' : '[') < 0 ||
			    jrn_json_append_str(&ids[q], id, len) < 0)
				rc = jrn_fail(e, "out of memory");
		}
		jv_free(c);
	}
	free(sent);
	for (int q = 0; q < NQ && rc == 0; q++)
		if (jrn_buf_adds(&ids[q], ids[q].len ? "]" : "[]") < 0)
			rc = jrn_fail(e, "out of memory");
	return rc;
}

/* Appends the current row of st (ncol columns) to R. 0 or -1 with e. */
static int keep_row(frows *R, sqlite3_stmt *st, int ncol, jrn_err *e)
{
	if (R->n + (size_t)ncol > R->cap) {
		size_t cap = R->cap ? R->cap : 1024;
		while (cap < R->n + (size_t)ncol)
			cap *= 2;
		fcol *c = realloc(R->c, cap * sizeof *c);
		if (!c)
			return jrn_fail(e, "out of memory");
		R->c = c;
		R->cap = cap;
	}
	for (int k = 0; k < ncol; k++) {
		fcol *c = &R->c[R->n + (size_t)k];
		*c = (fcol){.type = sqlite3_column_type(st, k)};
		if (c->type == SQLITE_INTEGER || c->type == SQLITE_FLOAT) {
			c->i = sqlite3_column_int64(st, k);
			c->d = sqlite3_column_double(st, k);
		} else if (is_text(c)) {
			const unsigned char *t = sqlite3_column_text(st, k);
			c->len = (size_t)sqlite3_column_bytes(st, k);
			c->off = R->text.len;
			if (jrn_buf_add(&R->text, t ? (const char *)t : "", c->len) < 0 ||
			    jrn_buf_addc(&R->text, '\0') < 0)
				return jrn_fail(e, "out of memory");
		}
	}
	R->n += (size_t)ncol;
	return 0;
}

/* Runs query q over the customers in F->ids_json[q] into F->rows[q]
 * (SQLite only: no jv, the facts thread's part). 0 or -1 with e. */
static int run_query(facts_state *F, int q, jrn_err *e)
{
	frows *R = &F->rows[q];
	const jrn_buf *ids = &F->ids_json[q];
	R->n = 0;
	jrn_buf_reset(&R->text);
	if (ids->len <= 2)
		return 0;
	sqlite3_stmt *st = F->st[q];
	int np = sqlite3_bind_parameter_count(st), ncol = sqlite3_column_count(st);
	sqlite3_bind_text(st, 1, ids->p, (int)ids->len, SQLITE_STATIC);
	if (np >= 3) {
		sqlite3_bind_int64(st, 2, F->now - 7 * DAY_MS);
		sqlite3_bind_int64(st, 3, F->now - 30 * DAY_MS);
	}
	sqlite3_bind_int64(st, 4, F->now);
	int s, rc = 0;
	while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW)
		rc = keep_row(R, st, ncol, e);
	if (rc == 0 && s != SQLITE_DONE)
		rc = jrn_fail(e, "reading the state file: %s", sqlite3_errmsg(F->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* facts[i] from the customer's base facts b (borrowed), what the record
 * carried (own, whose parts move into it) winning. */
static void merge_facts(facts_state *F, ai_facts *f, const ai_facts *b, ai_facts *own, unsigned have)
{
	*f = *b;
	f->rfm = have & C_RFM ? own->rfm : jv_copy(b->rfm);
	f->clv = have & C_CLV ? own->clv : jv_copy(b->clv);
	f->lead = have & C_LEAD ? own->lead : jv_copy(b->lead);
	f->segments = have & C_SEGMENTS ? own->segments : jv_copy(b->segments);
	f->categories = jv_copy(b->categories);
	f->interests = own->interests;
	static const unsigned bit[4] = {C_RFM, C_CLV, C_LEAD, C_SEGMENTS};
	for (int i = 0; i < 4; i++) {
		f->text[i] = have & bit[i] ? own->text[i] : NULL;
		f->tlen[i] = have & bit[i] ? own->tlen[i] : 0;
	}
	f->text[4] = own->text[4];
	f->tlen[4] = own->tlen[4];
	f->pending = own->pending;
	if (have & C_ORDERS) {
		f->orders = own->orders;
		f->total = own->total;
		f->last = own->last;
		f->first_seen = own->first_seen;
	}
	jv_free(have & C_RFM ? jv_null() : own->rfm);
	jv_free(have & C_CLV ? jv_null() : own->clv);
	jv_free(have & C_LEAD ? jv_null() : own->lead);
	jv_free(have & C_SEGMENTS ? jv_null() : own->segments);
	if (!f->pending)
		derive(f, F->dkeys, own_key);
}

/* Completes the batch's facts from the queries' rows (F->rows): each
 * row taken into its customer's base facts, then each question's facts
 * merged from its customer's and what its record carried, reqs[i].facts
 * pointing at them; the base facts cleared. */
static void facts_merge(facts_state *F)
{
	for (int q = 0; q < NQ; q++) {
		const frows *R = &F->rows[q];
		size_t ncol = (size_t)sqlite3_column_count(F->st[q]);
		for (size_t j = 0; ncol && j < R->n; j += ncol)
			take_row(F, q, &R->c[j], R->text.p, F->now);
	}
	for (size_t i = 0; i < F->n; i++) {
		ai_facts own = F->facts[i];
		merge_facts(F, &F->facts[i], &F->base[F->kof[i]], &own, F->have[i]);
		F->reqs[i].facts = &F->facts[i];
	}
	for (size_t k = 0, nk = jrn_idmap_count(F->ids); k < nk; k++)
		ai_facts_clear(&F->base[k]);
	for (int i = 0; i < 8; i++) { /* (the batch's rfm objects hold them) */
		jv_free(F->rfmk[i]);
		F->rfmk[i] = jv_invalid();
	}
	F->merged = true;
}

/* The cache keys of the questions read lightly, their facts complete,
 * and the look-ups of the first F->share/SHARE_ALL of them, on the
 * facts' connection (in their read transaction): reqs[i].peek. The
 * core looks up the rest while the thread is busy (ai_facts_finish
 * moves the share to balance the two). A failure (out of memory, the
 * statement) ends it here quietly: the core makes the rest itself, and
 * says a failure then. */
static void facts_peek(facts_state *F)
{
	const ai_cache_scope *S = &F->scope;
	size_t upto = F->n * F->share / SHARE_ALL;
	jrn_err e;
	for (size_t i = 0; i < F->n; i++) {
		ai_req *r = &F->reqs[i];
		if (!r->lite)
			continue;
		/* (expiry at the batch's now, the core's at its look-up's:
		 * a row expiring between them is a hit here) */
		if (ai_cache_key_in(&F->keyb, S->task, S->model, S->version, r, S->insights_at, r->peek.key) < 0)
			return;
		r->peek.keyed = true;
		if (i >= upto)
			continue;
		if (ai_cache_peek(F->db, &F->peek_st, r->peek.key, F->now, S->ttl_ms, &r->peek.text,
				  &r->peek.len, &r->peek.tokens, &r->peek.cost, &e) < 0)
			return;
		r->peek.looked = true;
	}
}

/* The batch's queries, in one read transaction of the facts' own
 * connection, then its facts completed (facts_merge) and, with a scope,
 * its look-ups in the cache (facts_peek): F->rc 0, or -1 with F->err.
 * The facts thread's body (arg F), or called directly. */
static void *facts_sql(void *arg)
{
	facts_state *F = arg;
	F->rc = F->own_db ? jrn_db_exec(F->db, "BEGIN", &F->err) : 0;
	for (int q = 0; q < NQ && F->rc == 0; q++)
		F->rc = run_query(F, q, &F->err);
	if (F->rc == 0)
		facts_merge(F);
	if (F->rc == 0 && F->peeking)
		facts_peek(F);
	jrn_err end;
	if (F->own_db && jrn_db_exec(F->db, F->rc == 0 ? "COMMIT" : "ROLLBACK", &end) < 0 && F->rc == 0) {
		F->err = end;
		F->rc = -1;
	}
	return NULL;
}

/* The facts thread's body (arg F): facts_sql for each batch given, until
 * quit. */
static void *facts_loop(void *arg)
{
	facts_state *F = arg;
	pthread_mutex_lock(&F->mu);
	for (;;) {
		while (!F->job && !F->quit)
			pthread_cond_wait(&F->cv, &F->mu);
		if (!F->job)
			break;
		pthread_mutex_unlock(&F->mu);
		facts_sql(F);
		pthread_mutex_lock(&F->mu);
		F->job = false;
		pthread_cond_broadcast(&F->cv);
	}
	pthread_mutex_unlock(&F->mu);
	return NULL;
}

/* Whether the facts thread is there, started now if not (and the
 * connection is the facts' own). */
static bool facts_thread(facts_state *F)
{
	if (F->started || !F->own_db)
		return F->started;
	F->share = SHARE_ALL / 2;
	if (pthread_mutex_init(&F->mu, NULL) != 0)
		return false;
	if (pthread_cond_init(&F->cv, NULL) != 0) {
		pthread_mutex_destroy(&F->mu);
		return false;
	}
	F->started = pthread_create(&F->thread, NULL, facts_loop, F) == 0;
	if (!F->started) {
		pthread_mutex_destroy(&F->mu);
		pthread_cond_destroy(&F->cv);
	}
	return F->started;
}

int ai_facts_start(ai_run *run, ai_req *reqs, size_t n, const jv *recs, ai_facts *facts,
		   const ai_cache_scope *scope, jrn_err *e)
{
	if (!run->facts && !(run->facts = calloc(1, sizeof(facts_state))))
		return jrn_fail(e, "out of memory");
	facts_state *F = run->facts;
	unsigned *need = realloc(F->need, (n ? n : 1) * sizeof *need);
	if (need)
		F->need = need;
	unsigned *have = need ? realloc(F->have, (n ? n : 1) * sizeof *have) : NULL;
	if (have)
		F->have = have;
	if (!need || !have)
		return jrn_fail(e, "out of memory");
	F->now = jrn_now();
	for (size_t i = 0; i < n; i++) {
		facts[i] = (ai_facts){0};
		facts[i].rfm = facts[i].clv = facts[i].lead = facts[i].segments = jv_null();
		facts[i].categories = facts[i].interests = jv_null();
		if (reqs[i].lite)
			carried_from(&reqs[i].lite->carry, F->now, &facts[i], &F->have[i], &F->need[i]);
		else
			carried(recs[reqs[i].idx], F->now, &facts[i], &F->have[i], &F->need[i]);
	}
	int rc = ai_facts_open(run, e);
	if (rc == 0)
		rc = batch_start(F, reqs, n, e);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			ai_facts_clear(&facts[i]);
		for (size_t k = 0, nk = F->ids ? jrn_idmap_count(F->ids) : 0; k < nk; k++)
			ai_facts_clear(&F->base[k]);
		return -1;
	}
	F->reqs = reqs;
	F->n = n;
	F->facts = facts;
	F->merged = false;
	/* (on the run's own connection, in memory: the core looks up) */
	F->peeking = scope && F->own_db;
	if (F->peeking)
		F->scope = *scope;
	/* on their own connection the queries run on the facts thread while
	 * the caller goes on (a thread that cannot start: run here) */
	F->running = facts_thread(F);
	if (!F->running) {
		facts_sql(F);
		return 0;
	}
	pthread_mutex_lock(&F->mu);
	F->job = true;
	pthread_cond_broadcast(&F->cv);
	pthread_mutex_unlock(&F->mu);
	return 0;
}

int ai_facts_finish(ai_run *run, ai_req *reqs, size_t n, ai_facts *facts, jrn_err *e)
{
	facts_state *F = run->facts;
	if (F->running) {
		pthread_mutex_lock(&F->mu);
		bool busy = F->job;
		while (F->job)
			pthread_cond_wait(&F->cv, &F->mu);
		pthread_mutex_unlock(&F->mu);
		/* the thread still busy: the main thread waited, and looks up
		 * more of the next batch itself; else the thread waited */
		if (F->peeking && busy)
			F->share = F->share > SHARE_STEP ? F->share - SHARE_STEP : 0;
		else if (F->peeking)
			F->share = F->share + SHARE_STEP < SHARE_ALL ? F->share + SHARE_STEP : SHARE_ALL;
		F->running = false;
	}
	int rc = F->rc;
	if (rc == 0)
		return 0;
	*e = F->err;
	for (size_t i = 0; i < n; i++) {
		ai_facts_clear(&facts[i]);
		reqs[i].facts = NULL;
	}
	for (size_t k = 0, nk = F->merged || !F->ids ? 0 : jrn_idmap_count(F->ids); k < nk; k++)
		ai_facts_clear(&F->base[k]);
	return rc;
}
