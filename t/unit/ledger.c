/* Unit tests of ledger.c: the deliveries ledger and the outbox over a fresh
 * state file (jrn_db_open in a temporary directory). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "unit.h"

static sqlite3 *db;
static jrn_ledger *L;

static jrn_delivery row(const char *key, const char *customer, const char *channel,
			const char *status, int64_t now)
{
	static const char rec[] = "{\"actionType\":\"email\"}";
	return (jrn_delivery){
		.key = key,
		.customer = customer,
		.channel = channel,
		.campaign = "winback",
		.status = status,
		.record = rec,
		.record_len = sizeof rec - 1,
		.now = now,
	};
}

static int claim(const char *key, const char *customer, const char *channel, const char *status,
		 int64_t now, bool over_simulated)
{
	jrn_err e;
	jrn_delivery d = row(key, customer, channel, status, now);
	int rc = jrn_ledger_claim(L, &d, over_simulated, &e);
	if (rc < 0)
		printf("# claim: %s\n", e.msg);
	return rc;
}

static int record(const char *key, const char *status, const char *error, int64_t now)
{
	jrn_err e;
	jrn_delivery d = {.key = key, .status = status, .provider = "smtp1", .attempts = 1,
			  .error = error, .error_len = error ? strlen(error) : 0, .now = now};
	if (!error)
		d.message_id = "<m1@x>";
	int rc = jrn_ledger_record(L, &d, &e);
	if (rc < 0)
		printf("# record: %s\n", e.msg);
	return rc;
}

/* The status of key, or "" when absent (a static copy). */
static const char *status_of(const char *key)
{
	static char s[32];
	jrn_ledger_entry x;
	jrn_err e;
	int rc = jrn_ledger_get(L, key, &x, &e);
	snprintf(s, sizeof s, "%s", rc == 1 && x.status ? x.status : rc == 0 ? "" : "error");
	if (rc == 1)
		jrn_ledger_entry_free(&x);
	return s;
}

static int64_t query_int(const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

typedef struct {
	int n;
	char keys[8][32];
	int prov[8], attempt[8];
	int64_t claimed_at[8];
} seen;

static int on_due(void *ctx, const char *key, int provider, int attempt, const char *rec,
		  size_t len)
{
	seen *s = ctx;
	(void)rec, (void)len;
	if (s->n < 8) {
		snprintf(s->keys[s->n], sizeof s->keys[0], "%s", key);
		s->prov[s->n] = provider;
		s->attempt[s->n] = attempt;
		s->n++;
	}
	return 0;
}

static int on_stuck(void *ctx, const char *key, const char *rec, size_t len, const char *provider,
		    int attempts, int64_t claimed_at)
{
	seen *s = ctx;
	(void)rec, (void)len, (void)provider;
	if (s->n < 8) {
		snprintf(s->keys[s->n], sizeof s->keys[0], "%s", key);
		s->attempt[s->n] = attempts;
		s->claimed_at[s->n] = claimed_at;
		s->n++;
	}
	return 0;
}

static int stop_at_first(void *ctx, const char *key, int provider, int attempt, const char *rec,
			 size_t len)
{
	(void)ctx, (void)key, (void)provider, (void)attempt, (void)rec, (void)len;
	return 7;
}

static void test_claim_and_record(void)
{
	CHECK(claim("k1", "c1", "email", "sending", 1000, false) == 1, "a new key is claimed");
	CHECK_STR(status_of("k1"), "sending", "its row says sending");
	CHECK(claim("k1", "c1", "email", "sending", 1001, false) == 0,
	      "a key in flight is a duplicate");
	CHECK(record("k1", "sent", NULL, 1100) == 0, "the outcome is recorded");
	CHECK_STR(status_of("k1"), "sent", "sent");
	CHECK(claim("k1", "c1", "email", "sending", 1200, true) == 0,
	      "a sent key is a duplicate, even for a real provider");
	jrn_ledger_entry x;
	jrn_err e;
	CHECK(jrn_ledger_get(L, "k1", &x, &e) == 1 && x.provider && !strcmp(x.provider, "smtp1") &&
		      x.message_id && !strcmp(x.message_id, "<m1@x>"),
	      "get: provider and message id as recorded");
	jrn_ledger_entry_free(&x);
	CHECK(jrn_ledger_get(L, "nope", &x, &e) == 0 && !x.status, "get: an unknown key is 0");

	/* failed: claimed again, the error cleared */
	CHECK(claim("k2", "c1", "sms", "sending", 2000, false) == 1, "k2 claimed");
	CHECK(record("k2", "failed", "HTTP 500", 2100) == 0, "k2 failed");
	CHECK(query_int("SELECT error IS NOT NULL FROM deliveries WHERE key = 'k2'") == 1,
	      "the error is kept");
	CHECK(claim("k2", "c1", "sms", "sending", 2200, false) == 1, "a failed key is claimed again");
	CHECK(query_int("SELECT error IS NULL AND claimed_at = 2200 FROM deliveries WHERE key = 'k2'")
		      == 1, "the claim again clears the error, restamps the row");
	CHECK(record("k2", "suppressed", "suppressed: bounced", 2300) == 0 &&
		      claim("k2", "c1", "sms", "sending", 2400, false) == 1,
	      "a suppressed key is claimed again");
	CHECK(record("k2", "rejected", "no longer renders", 2500) == 0 &&
		      claim("k2", "c1", "sms", "sending", 2600, false) == 1,
	      "a rejected key is claimed again");

	/* simulated: held, except for a real provider */
	jrn_delivery d = row("k3", "c2", "email", "simulated", 3000);
	d.provider = "spool", d.message_id = "abc", d.attempts = 1;
	d.has_cost = d.has_segments = true, d.cost = 0.5, d.segments = 2;
	CHECK(jrn_ledger_claim(L, &d, false, &e) == 1, "claimed and recorded simulated at once");
	CHECK(query_int("SELECT attempts = 1 AND segments = 2 AND provider = 'spool' FROM deliveries"
			" WHERE key = 'k3'") == 1, "with its provider, attempts, segments");
	CHECK(claim("k3", "c2", "email", "sending", 3100, false) == 0,
	      "a simulated key blocks another simulation");
	CHECK(claim("k3", "c2", "email", "sending", 3200, true) == 1,
	      "a simulated key is claimed by a real provider");
	CHECK(query_int("SELECT provider IS NULL AND segments IS NULL FROM deliveries"
			" WHERE key = 'k3'") == 1, "the real claim clears the simulation's columns");
}

static void test_outbox(void)
{
	jrn_err e;
	static const char rec[] = "{\"later\":true}";
	CHECK(claim("q1", "c3", "email", "queued", 4000, false) == 1 &&
		      jrn_ledger_queue(L, "q1", 10000, 1, 2, rec, sizeof rec - 1, &e) == 0,
	      "claimed queued, into the outbox");
	CHECK(claim("q2", "c3", "email", "queued", 4000, false) == 1 &&
		      jrn_ledger_queue(L, "q2", 9000, 0, 0, rec, sizeof rec - 1, &e) == 0,
	      "a second, due earlier");
	CHECK(claim("q1", "c3", "email", "sending", 4100, false) == 0,
	      "a queued key is a duplicate");
	seen s = {0};
	CHECK(jrn_ledger_due(L, 8999, 10, 0, on_due, &s, &e) == 0 && s.n == 0, "nothing due yet");
	s = (seen){0};
	CHECK(jrn_ledger_due(L, 10000, 10, 0, on_due, &s, &e) == 2 && s.n == 2 &&
		      !strcmp(s.keys[0], "q2") && !strcmp(s.keys[1], "q1"),
	      "both due, the earlier first");
	CHECK(s.prov[1] == 1 && s.attempt[1] == 2, "with the provider index and attempts");
	s = (seen){0};
	CHECK(jrn_ledger_due(L, 10000, 1, 1, on_due, &s, &e) == 1 && s.n == 1 &&
		      !strcmp(s.keys[0], "q1"), "limit and offset page");
	CHECK(jrn_ledger_due(L, 10000, 10, 0, stop_at_first, NULL, &e) == 7,
	      "a callback's nonzero stops the walk and is returned");
	CHECK(jrn_ledger_claim_due(L, "q2", 10500, &e) == 1, "a due key is taken");
	CHECK_STR(status_of("q2"), "sending", "it is sending");
	CHECK(query_int("SELECT count(*) FROM outbox WHERE key = 'q2'") == 0, "its outbox row is gone");
	CHECK(jrn_ledger_claim_due(L, "q2", 10600, &e) == 0, "taken once only");
	CHECK(record("q1", "sending", NULL, 10700) == 0 && jrn_ledger_claim_due(L, "q1", 10800, &e) == 0,
	      "a row no longer queued is not taken...");
	CHECK(query_int("SELECT count(*) FROM outbox WHERE key = 'q1'") == 0,
	      "...but its outbox row goes all the same");
	CHECK(record("q2", "queued", "HTTP 503", 11000) == 0 &&
		      jrn_ledger_queue(L, "q2", 20000, 1, 1, rec, sizeof rec - 1, &e) == 0,
	      "a sending key recorded queued goes back to the outbox");
	s = (seen){0};
	CHECK(jrn_ledger_due(L, 20000, 10, 0, on_due, &s, &e) == 1 && !strcmp(s.keys[0], "q2") &&
		      s.prov[0] == 1 && s.attempt[0] == 1, "and is due again later");
}

static void test_stuck(void)
{
	jrn_err e;
	seen s = {0};
	int64_t n = jrn_ledger_stuck(L, on_stuck, &s, &e);
	/* sending now: k2 (claimed at 2600), k3 (3200), q1 (4000) */
	CHECK(n == s.n && n >= 2, "the claims nobody recorded are listed (%lld)", (long long)n);
	bool sorted = true;
	for (int i = 1; i < s.n; i++)
		sorted = sorted && s.claimed_at[i - 1] <= s.claimed_at[i];
	CHECK(sorted, "oldest claim first");
	int k = -1;
	for (int i = 0; i < s.n; i++)
		if (!strcmp(s.keys[i], "k2"))
			k = i;
	CHECK(k >= 0 && s.claimed_at[k] == 2600, "k2 listed with its claim time");
	CHECK(jrn_ledger_take_over(L, "k2", 2599, 5000, &e) == 0,
	      "not taken over when the claim is not the one read");
	CHECK(jrn_ledger_take_over(L, "k2", 2600, 5000, &e) == 1, "taken over as read");
	CHECK(query_int("SELECT claimed_at FROM deliveries WHERE key = 'k2'") == 5000, "restamped");
	CHECK(jrn_ledger_take_over(L, "k2", 2600, 5000, &e) == 0,
	      "a second run with the same reading cannot take it too");
	CHECK(jrn_ledger_take_over(L, "k2", 5000, 5000, &e) == 1 &&
		      query_int("SELECT claimed_at FROM deliveries WHERE key = 'k2'") == 5001,
	      "a take-over at the same millisecond still moves the claim on");
	CHECK(record("k2", "sent", NULL, 5100) == 0 && jrn_ledger_take_over(L, "k2", 5001, 6000, &e) == 0,
	      "a recorded key is not taken over");
}

static void test_count(void)
{
	jrn_err e;
	int64_t n = -1;
	CHECK(claim("w1", "cc", "email", "sending", 100000, false) == 1 &&
		      record("w1", "sent", NULL, 100001) == 0, "w1 sent at 100000");
	CHECK(claim("w2", "cc", "email", "sending", 200000, false) == 1, "w2 sending at 200000");
	CHECK(claim("w3", "cc", "sms", "queued", 300000, false) == 1, "w3 queued at 300000");
	CHECK(claim("w4", "cc", "email", "sending", 400000, false) == 1 &&
		      record("w4", "failed", "refused", 400001) == 0, "w4 failed at 400000");
	CHECK(claim("w5", "other", "email", "sending", 200000, false) == 1, "another customer");
	CHECK(jrn_ledger_count(L, "cc", "email", 0, 1000000, &n, &e) == 0 && n == 2,
	      "email: sent and sending count, failed not (%lld)", (long long)n);
	CHECK(jrn_ledger_count(L, "cc", NULL, 0, 1000000, &n, &e) == 0 && n == 3,
	      "every channel: queued counts too (%lld)", (long long)n);
	CHECK(jrn_ledger_count(L, "cc", "email", 100001, 1000000, &n, &e) == 0 && n == 1,
	      "the window starts at since (%lld)", (long long)n);
	CHECK(jrn_ledger_count(L, "cc", "email", 0, 200000, &n, &e) == 0 && n == 1,
	      "and ends before until (%lld)", (long long)n);
	CHECK(jrn_ledger_count(L, "nobody", NULL, 0, 1000000, &n, &e) == 0 && n == 0,
	      "an unknown customer has none");
}

/* jrn_ledger_recent_walk over test_count's rows: what the caps of
 * jrn-route read. */
typedef struct {
	int n;
	char seen[256];
} recent_seen;

static int recent_row(void *ctx, const char *channel, int64_t at)
{
	recent_seen *r = ctx;
	size_t len = strlen(r->seen);
	snprintf(r->seen + len, sizeof r->seen - len, "%s%s@%lld", len ? " " : "", channel,
		 (long long)at);
	return ++r->n == 99 ? 7 : 0;
}

static void test_recent(void)
{
	jrn_err e;
	jrn_ledger_recent *R = jrn_ledger_recent_open(db, &e);
	CHECK(R != NULL, "the recent-deliveries reader opens");
	if (!R)
		return;
	recent_seen r = {0};
	CHECK(jrn_ledger_recent_walk(R, "cc", 150000, recent_row, &r, &e) == 2 && r.n == 2,
	      "since 150000: sending and queued, not the failed one (%d)", r.n);
	/* in no promised order: both rows, whichever first */
	CHECK(strstr(r.seen, "email@200000") && strstr(r.seen, "sms@300000"), "channel and claim time (%s)",
	      r.seen);
	r = (recent_seen){0};
	CHECK(jrn_ledger_recent_walk(R, "cc", 0, recent_row, &r, &e) == 3, "since 0: the sent one too");
	r = (recent_seen){.n = 98};
	CHECK(jrn_ledger_recent_walk(R, "cc", 0, recent_row, &r, &e) == 7 && r.n == 99,
	      "a callback's non-zero stops the walk and is returned");
	r = (recent_seen){0};
	CHECK(jrn_ledger_recent_walk(R, "nobody", 0, recent_row, &r, &e) == 0 && r.n == 0,
	      "an unknown customer has none");
	jrn_ledger_recent_close(R);
	jrn_ledger_recent_close(NULL);
}

int main(void)
{
	char dir[] = "/tmp/jrn-ledger-XXXXXX", path[64];
	jrn_err e;
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof path, "%s/jrn.db", dir);
	CHECK(jrn_db_open(path, 1000, &db, &e) == 0, "a fresh state file");
	L = jrn_ledger_open(db, &e);
	CHECK(L != NULL, "the ledger opens over it");
	if (!L)
		return unit_done();

	CHECK(jrn_db_begin(db, &e) == 0, "calls run inside the caller's transaction");
	CHECK(claim("t1", "c0", "email", "sending", 1, false) == 1, "claimed in a transaction");
	jrn_db_rollback(db);
	CHECK_STR(status_of("t1"), "", "and gone with its rollback: the caller commits");

	test_claim_and_record();
	test_outbox();
	test_stuck();
	test_count();
	test_recent();

	jrn_ledger_close(L);
	sqlite3_close(db);
	unit_rmtree(dir);
	return unit_done();
}
