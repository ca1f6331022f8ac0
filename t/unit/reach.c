/* Unit tests of reach.c: consent (newest wins, per channel), suppressions
 * (each reason), and the question, over a fresh state file. */
#include <stdlib.h>
#include <unistd.h>

#include "reach.h"
#include "unit.h"
#include "unit-db.h"

static sqlite3 *db;
static jrn_reach *R;

/* Stores an event (consent rows refer to their event). */
static void event(const char *id)
{
	char sql[256];
	snprintf(sql, sizeof sql, "INSERT INTO events (id, type, customer_id, ts, received_at, body)"
		 " VALUES ('%s', 'consent.granted', 'c', 0, 0, '{}')", id);
	jrn_err e;
	if (jrn_db_exec(db, sql, &e) < 0)
		printf("# %s\n", e.msg);
}

static int set(const char *cust, const char *ch, jrn_reach_status st, int64_t ts, const char *id)
{
	jrn_err e;
	event(id);
	jrn_reach_consent c = {jrn_reach_str(cust), jrn_reach_str(ch), st, ts,
			       jrn_reach_str(NULL), jrn_reach_str(id)};
	int rc = jrn_reach_consent_set(R, &c, &e);
	if (rc < 0)
		printf("# %s\n", e.msg);
	return rc;
}

static int get(const char *cust, const char *ch)
{
	jrn_err e;
	return jrn_reach_consent_get(R, jrn_reach_str(cust), ch, &e);
}

static char *row(const char *sql)
{
	return unit_row(db, sql);
}

#define CHECK_ROW(sql, want, ...)                     \
	do {                                          \
		char *got_ = row(sql);                \
		CHECK_STR(got_, want, __VA_ARGS__);   \
		free(got_);                           \
	} while (0)

/* May customer cust (with address addr) be contacted on ch for purpose?
 * 1/0/-1; *v filled. */
static int may(const char *cust, const char *addr, const char *ch, jrn_reach_purpose p,
	       jrn_reach_verdict *v)
{
	jrn_err e;
	jrn_reach_text a = jrn_reach_str(addr);
	jrn_reach_ask q = {jrn_reach_str(cust), &a, addr ? 1 : 0, ch, p};
	return jrn_reach_may(R, &q, v, &e);
}

static void newest_wins(void)
{
	CHECK(get("c1", "email") == JRN_REACH_NONE, "no row: none");
	CHECK(set("c1", "email", JRN_REACH_GRANTED, 2000, "e2") == 1, "first event written");
	CHECK(set("c1", "email", JRN_REACH_REVOKED, 1000, "e1") == 0,
	      "an older event arriving later is not written");
	CHECK(get("c1", "email") == JRN_REACH_GRANTED, "the newer grant stands");
	CHECK_ROW("SELECT event_id FROM consent WHERE customer_id = 'c1'", "e2",
		  "the row's proof is still the newer event");
	CHECK(set("c1", "email", JRN_REACH_REVOKED, 3000, "e3") == 1, "a newer event is written");
	CHECK(get("c1", "email") == JRN_REACH_REVOKED, "the newer revocation stands");
	CHECK(set("c1", "email", JRN_REACH_GRANTED, 2500, "e25") == 0, "out of order again: kept");
	CHECK(get("c1", "email") == JRN_REACH_REVOKED, "still revoked");

	/* equal times: the one written last wins */
	CHECK(set("c1", "email", JRN_REACH_GRANTED, 3000, "e3b") == 1, "same time: written");
	CHECK(get("c1", "email") == JRN_REACH_GRANTED, "same time: the last written wins");
	CHECK(set("c1", "email", JRN_REACH_REVOKED, 3000, "e3c") == 1, "same time again: written");
	CHECK(get("c1", "email") == JRN_REACH_REVOKED, "and wins again");
	CHECK_ROW("SELECT event_id || '|' || ts || '|' || coalesce(source, 'NULL') FROM consent"
		  " WHERE customer_id = 'c1'", "e3c|3000|NULL", "event, time and source of the winner");

	jrn_err e;
	event("s1");
	jrn_reach_consent c = {jrn_reach_str("c1"), {"smsXX", 3}, JRN_REACH_GRANTED, 1,
			       {"formYY", 4}, {"s1zz", 2}};
	CHECK(jrn_reach_consent_set(R, &c, &e) == 1, "spans bind by length");
	CHECK_ROW("SELECT channel || '|' || source || '|' || event_id FROM consent"
		  " WHERE customer_id = 'c1' AND channel = 'sms'", "sms|form|s1", "spans stored");
	c.status = JRN_REACH_NONE;
	CHECK(jrn_reach_consent_set(R, &c, &e) == -1 && strstr(e.msg, "status"),
	      "a status that is neither granted nor revoked is refused");
}

static void per_channel(void)
{
	set("c2", "email", JRN_REACH_REVOKED, 10, "p1");
	set("c2", "sms", JRN_REACH_GRANTED, 10, "p2");
	CHECK(get("c2", "email") == JRN_REACH_REVOKED, "email revoked");
	CHECK(get("c2", "sms") == JRN_REACH_GRANTED, "sms granted: channels are apart");
	CHECK(get("c2", "whatsapp") == JRN_REACH_NONE, "whatsapp: no row");
	CHECK(get("c2", NULL) == JRN_REACH_REVOKED, "any channel: revoked somewhere is revoked");
	CHECK(get("c3", NULL) == JRN_REACH_NONE, "any channel of a stranger: none");
	set("c3", "sms", JRN_REACH_GRANTED, 10, "p3");
	CHECK(get("c3", NULL) == JRN_REACH_GRANTED, "any channel: granted somewhere, none revoked");

	set("c4", "all", JRN_REACH_REVOKED, 10, "p4");
	set("c4", "sms", JRN_REACH_GRANTED, 20, "p5");
	CHECK(get("c4", "sms") == JRN_REACH_REVOKED, "'all' revoked outweighs a newer sms grant");
	CHECK(get("c4", "webhook") == JRN_REACH_REVOKED, "'all' speaks for every channel");
	set("c5", "all", JRN_REACH_GRANTED, 10, "p6");
	set("c5", "email", JRN_REACH_REVOKED, 5, "p7");
	CHECK(get("c5", "email") == JRN_REACH_REVOKED, "a channel's revocation outweighs 'all' granted");
	CHECK(get("c5", "sms") == JRN_REACH_GRANTED, "'all' granted reads as granted");
}

static void purposes(void)
{
	jrn_reach_verdict v;
	CHECK(may("n1", "n1@example.com", "email", JRN_REACH_MARKETING, &v) == 1 &&
		      v.answer == JRN_REACH_MAY,
	      "no consent row: marketing may go (opt-out)");
	CHECK(may("n1", "n1@example.com", "email", JRN_REACH_TRANSACTIONAL, &v) == 1,
	      "no consent row: transactional may go");
	set("n2", "email", JRN_REACH_GRANTED, 1, "q1");
	CHECK(may("n2", NULL, "email", JRN_REACH_MARKETING, &v) == 1, "granted: marketing may go");
	CHECK(may("n2", NULL, "email", JRN_REACH_TRANSACTIONAL, &v) == 1,
	      "granted: transactional may go");
	set("n3", "email", JRN_REACH_REVOKED, 1, "q2");
	CHECK(may("n3", NULL, "email", JRN_REACH_MARKETING, &v) == 0 && v.answer == JRN_REACH_REFUSED,
	      "revoked: marketing may not");
	CHECK(may("n3", NULL, "email", JRN_REACH_TRANSACTIONAL, &v) == 0 &&
		      v.answer == JRN_REACH_REFUSED,
	      "revoked: transactional may not either (as jrn-send does)");
	CHECK(may("n3", NULL, "sms", JRN_REACH_MARKETING, &v) == 1, "revoked email: sms may go");
	CHECK(may("n3", NULL, NULL, JRN_REACH_MARKETING, &v) == 0,
	      "every channel (NULL): a revocation anywhere blocks");
	CHECK(may(NULL, NULL, "email", JRN_REACH_MARKETING, &v) == 1,
	      "no customer, no address: nothing to look up");
}

static void suppressions(void)
{
	static const char *const reasons[] = {"bounced", "invalid", "unsubscribed", "complained",
					      "operator said so"};
	jrn_err e;
	jrn_reach_verdict v;
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
		char addr[64];
		snprintf(addr, sizeof addr, "r%zu@example.com", i);
		CHECK(jrn_reach_suppress(R, jrn_reach_str(addr), "email", reasons[i], 100, "t", &e) == 1,
		      "%s: added", reasons[i]);
		for (int p = JRN_REACH_MARKETING; p <= JRN_REACH_TRANSACTIONAL; p++) {
			int rc = may("x", addr, "email", (jrn_reach_purpose)p, &v);
			CHECK(rc == 0 && v.answer == JRN_REACH_SUPPRESSED && v.reason &&
				      !strcmp(v.reason, reasons[i]),
			      "%s blocks %s on its channel", reasons[i],
			      p == JRN_REACH_MARKETING ? "marketing" : "transactional");
		}
		CHECK(may("x", addr, "sms", JRN_REACH_MARKETING, &v) == 1,
		      "%s: another channel may go", reasons[i]);
		CHECK(may("x", addr, NULL, JRN_REACH_MARKETING, &v) == 0,
		      "%s: every channel (NULL) is blocked", reasons[i]);
	}

	const char *reason = NULL;
	CHECK(jrn_reach_suppress(R, jrn_reach_str("r0@example.com"), "email", "complained", 200, NULL,
				 &e) == 0,
	      "a second suppression of the same address and channel is not added");
	CHECK(jrn_reach_suppressed(R, jrn_reach_str("r0@example.com"), "email", &reason, &e) == 1 &&
		      reason && !strcmp(reason, "bounced"),
	      "the first one stays");
	CHECK_ROW("SELECT ts || '|' || source FROM suppressions WHERE address = 'r0@example.com'",
		  "100|t", "time and source of the first");

	CHECK(jrn_reach_suppress(R, jrn_reach_str("+14155550100"), "all", "invalid", 1, NULL, &e) == 1,
	      "suppressed on 'all'");
	CHECK(jrn_reach_suppressed(R, jrn_reach_str("+14155550100"), "whatsapp", &reason, &e) == 1 &&
		      !strcmp(reason, "invalid"),
	      "'all' suppresses every channel");
	CHECK(jrn_reach_suppressed(R, jrn_reach_str("R0@example.com"), "email", &reason, &e) == 0 &&
		      reason == NULL,
	      "addresses match byte for byte (the caller normalises)");
	CHECK(jrn_reach_suppressed(R, jrn_reach_str(NULL), "email", &reason, &e) == 0,
	      "no address: not suppressed");

	/* several addresses: the profile's customerId, email and phone, and more */
	jrn_reach_text a[5] = {jrn_reach_str("c77"), jrn_reach_str(NULL), jrn_reach_str("nobody@x.org"),
			       jrn_reach_str("n@x.org"), jrn_reach_str("+14155550100")};
	jrn_reach_ask q = {jrn_reach_str("c77"), a, 5, "sms", JRN_REACH_MARKETING};
	CHECK(jrn_reach_may(R, &q, &v, &e) == 0 && v.address == 4 && !strcmp(v.reason, "invalid"),
	      "the fifth address is found (past the first lookup of three), index %zu", v.address);
	q.naddresses = 4;
	CHECK(jrn_reach_may(R, &q, &v, &e) == 1, "without it: may");
	jrn_reach_suppress(R, jrn_reach_str("c77"), "email", "bounce", 1, NULL, &e);
	q.channel = NULL;
	CHECK(jrn_reach_may(R, &q, &v, &e) == 0 && v.address == 0 && !strcmp(v.reason, "bounce"),
	      "a customer id suppressed as an address (jrn-segment --count)");
	/* suppression comes first */
	set("c77", "sms", JRN_REACH_REVOKED, 1, "q9");
	q.channel = "email";
	CHECK(jrn_reach_may(R, &q, &v, &e) == 0 && v.answer == JRN_REACH_SUPPRESSED,
	      "suppressed and revoked: reported as suppressed");
	q.channel = "sms";
	CHECK(jrn_reach_may(R, &q, &v, &e) == 0 && v.answer == JRN_REACH_REFUSED,
	      "revoked only: reported as refused");
}

/* jrn_reach_memo: a reader's answers (R2 on a second connection, memo on)
 * stay those of the statements while another connection writes (with
 * plain SQL, so that this process has not written through reach.c), past
 * the row limit, and after the reader's own write. Runs first: a write
 * through reach.c ends the memo for the process. */
static void memo(const char *path)
{
	jrn_err e;
	jrn_reach_verdict v;
	sqlite3 *db2;
	CHECK(jrn_db_open(path, 1000, &db2, &e) == 0, "memo: a second connection");
	jrn_reach *R2 = jrn_reach_open(db2, &e), *keep = R;
	CHECK(R2 && jrn_reach_memo(R2, true, &e) == 0, "memo: on");
	if (!R2)
		return;
	R = R2; /* may() asks R */
	CHECK(may("m1", "m1@x.org", "email", JRN_REACH_MARKETING, &v) == 1, "memo: empty tables, may");
	jrn_db_exec(db, "INSERT INTO suppressions VALUES ('m1@x.org', 'email', 'bounced', 1, NULL)", &e);
	CHECK(may("m1", "m1@x.org", "email", JRN_REACH_MARKETING, &v) == 0 &&
		      v.answer == JRN_REACH_SUPPRESSED && !strcmp(v.reason, "bounced") && v.address == 0,
	      "memo: another connection's suppression is seen at once");
	CHECK(may("m1", "m1@x.org", "sms", JRN_REACH_MARKETING, &v) == 1,
	      "memo: the address known, another channel may go");
	event("m-ev");
	jrn_db_exec(db, "INSERT INTO consent VALUES ('m2', 'all', 'revoked', 1, NULL, 'm-ev'),"
			" ('m3', 'email', 'granted', 1, NULL, 'm-ev')", &e);
	CHECK(may("m2", "m2@x.org", "sms", JRN_REACH_MARKETING, &v) == 0 &&
		      v.answer == JRN_REACH_REFUSED,
	      "memo: another connection's revoked consent is seen");
	CHECK(may("m2", "m2@x.org", "sms", JRN_REACH_TRANSACTIONAL, &v) == 0,
	      "memo: revoked blocks transactional too");
	CHECK(may("m3", "m3@x.org", "email", JRN_REACH_MARKETING, &v) == 1, "memo: granted, may");
	jrn_db_exec(db, "DELETE FROM suppressions; DELETE FROM consent", &e);
	CHECK(may("m1", "m1@x.org", "email", JRN_REACH_MARKETING, &v) == 1 &&
		      may("m2", "m2@x.org", "sms", JRN_REACH_MARKETING, &v) == 1,
	      "memo: rows deleted elsewhere, may again");
	/* past the limit (65,536 rows): the statements answer */
	jrn_db_exec(db, "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k"
			" WHERE i < 65537) INSERT INTO suppressions"
			" SELECT 'big' || i, 'email', 'bounced', 1, NULL FROM k", &e);
	CHECK(may("m1", "big65537", "email", JRN_REACH_MARKETING, &v) == 0 &&
		      may("m1", "big1", "email", JRN_REACH_MARKETING, &v) == 0 &&
		      may("m1", "big0", "email", JRN_REACH_MARKETING, &v) == 1,
	      "memo: 65,537 suppressions, still answered right");
	jrn_db_exec(db, "DELETE FROM suppressions", &e);
	CHECK(may("m1", "big1", "email", JRN_REACH_MARKETING, &v) == 1, "memo: back under the limit");
	/* the reader writes itself: data_version does not change, the memo
	 * must not answer from then on */
	CHECK(jrn_reach_suppress(R2, jrn_reach_str("own@x.org"), "email", "bounced", 1, NULL, &e) == 1 &&
		      may("m1", "own@x.org", "email", JRN_REACH_MARKETING, &v) == 0 &&
		      v.answer == JRN_REACH_SUPPRESSED,
	      "memo: its own connection's write is seen");
	jrn_db_exec(db, "DELETE FROM suppressions", &e);
	R = keep;
	jrn_reach_close(R2);
	sqlite3_close(db2);
}

static void transactions(void)
{
	jrn_err e;
	CHECK(jrn_db_begin(db, &e) == 0, "the caller begins");
	jrn_reach_suppress(R, jrn_reach_str("t@example.com"), "email", "bounced", 1, NULL, &e);
	set("t1", "email", JRN_REACH_REVOKED, 1, "t1e");
	jrn_db_rollback(db);
	CHECK(jrn_reach_suppressed(R, jrn_reach_str("t@example.com"), "email", NULL, &e) == 0 &&
		      get("t1", "email") == JRN_REACH_NONE,
	      "the caller's rollback undoes both writes");
}

static void profiles(void)
{
	struct {
		const char *json, *channel;
		bool want;
	} cases[] = {
		{"{\"email\":\"revoked\"}", NULL, true},
		{"{\"email\":{\"status\":\"revoked\"}}", NULL, true},
		{"{\"sms\":\"unsubscribed\"}", NULL, true},
		{"{\"sms\":false}", NULL, true},
		{"{\"email\":\"granted\",\"sms\":true}", NULL, false},
		{"{\"email\":{\"status\":\"granted\"}}", NULL, false},
		{"{\"email\":\"revoked\"}", "sms", false},
		{"{\"email\":\"revoked\"}", "email", true},
		{"{\"all\":\"revoked\"}", "sms", true},
		{"\"revoked\"", NULL, false},
		{"null", NULL, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		jv c = jv_parse(cases[i].json);
		CHECK(jrn_reach_profile_refuses(c, cases[i].channel) == cases[i].want,
		      "profile consent %s on %s: %s", cases[i].json,
		      cases[i].channel ? cases[i].channel : "any", cases[i].want ? "refuses" : "does not");
		jv_free(c);
	}
}

int main(void)
{
	char dir[] = "/tmp/jrn-reach-XXXXXX", path[64];
	jrn_err e;
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/jrn.db", dir);
	CHECK(jrn_db_open(path, 1000, &db, &e) == 0, "a fresh state file");
	R = jrn_reach_open(db, &e);
	CHECK(R != NULL, "a handle");
	if (!R)
		return unit_done();

	memo(path);
	newest_wins();
	per_channel();
	purposes();
	suppressions();
	transactions();
	profiles();

	jrn_reach_close(R);
	sqlite3 *bare;
	sqlite3_open(":memory:", &bare);
	CHECK(jrn_reach_open(bare, &e) == NULL && strstr(e.msg, "no such table"),
	      "a database without the schema: no handle (%s)", e.msg);
	sqlite3_close(bare);
	sqlite3_close(db);
	unit_rmtree(dir);
	return unit_done();
}
