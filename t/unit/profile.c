/* Unit tests of profile.c: the field rule (precedence, then newest), traits,
 * provenance, claims and merges (shared values, the limit), aliases,
 * unmerge, identify events, over a fresh state file. */
#include <stdlib.h>
#include <unistd.h>

#include "profile.h"
#include "unit.h"
#include "unit-db.h"

static sqlite3 *db;
static jrn_profile *P;

static char *row(const char *sql)
{
	return unit_row(db, sql);
}

static int apply(const char *cust, const char *json, const char *source, int64_t ts)
{
	jrn_err e;
	int rc = jrn_profile_apply(P, cust, jv_parse(json), source, ts, &e);
	if (rc < 0)
		printf("# %s\n", e.msg);
	return rc;
}

/* The profile member path of cust as compact JSON (static buffer). */
static const char *field(const char *cust, const char *member)
{
	static char out[512];
	jrn_err e;
	jv p = jrn_profile_get(P, cust, &e);
	jv v = jv_get_kind(p) == JV_KIND_OBJECT ? jv_object_get(p, jv_string(member)) : (jv_free(p), jv_null());
	jrn_buf b = {0};
	if (!jv_is_valid(v)) {
		jv_free(v);
		v = jv_null();
	}
	jrn_json_append(&b, v, JRN_JSON_SORTED, &e);
	snprintf(out, sizeof out, "%s", b.p ? b.p : "");
	jrn_buf_free(&b);
	return out;
}

/* Addresses are kept, and compared, in one spelling. */
static void check_spelling(void)
{
	CHECK(apply("s1", "{\"email\":\" Kim@Example.ORG \",\"phone\":\"(415) 555-0101\"}", "crm", 100) == 2,
	      "a new profile takes both addresses");
	CHECK_STR(field("s1", "email"), "\"kim@example.org\"", "e-mail trimmed and lower-cased");
	CHECK_STR(field("s1", "phone"), "\"+14155550101\"", "phone in E.164, read in ingest.defaultCountry");
	CHECK(apply("s2", "{\"phone\":\"+1 415 555 0101\"}", "crm", 200) >= 1, "another spelling of the number");
	CHECK_STR(jrn_profile_resolve(P, "s1", &(jrn_err){0}), "s2",
		  "it is the same number: s1 is merged into the new claimant");
	CHECK(apply("s3", "{\"email\":\"not an address\",\"phone\":\"12\"}", "crm", 300) == 2,
	      "values that are not addresses are kept");
	CHECK_STR(field("s3", "email"), "\"not an address\"", "as written");
	CHECK_STR(field("s3", "phone"), "\"12\"", "as written");
}

static void check_fields(void)
{
	CHECK(apply("c1", "{\"email\":\"a@x.org\",\"plan\":\"pro\",\"first_name\":\"Ann\"}", "identify", 100) == 3,
	      "a new profile takes every field, first_name as firstName");
	CHECK_STR(field("c1", "email"), "\"a@x.org\"", "email set");
	CHECK_STR(field("c1", "firstName"), "\"Ann\"", "firstName set");
	CHECK_STR(field("c1", "traits"), "{\"plan\":\"pro\"}", "other keys are traits");
	CHECK(apply("c1", "{\"email\":\"old@x.org\"}", "identify", 50) == 0,
	      "an older value of the same source does not replace");
	CHECK(apply("c1", "{\"email\":\"b@x.org\"}", "identify", 200) == 1, "a newer one does");
	CHECK(apply("c1", "{\"email\":\"crm@x.org\"}", "crm", 10) == 1,
	      "a higher-precedence source wins though older");
	CHECK(apply("c1", "{\"email\":\"c@x.org\"}", "identify", 900) == 0,
	      "a lower-precedence source loses though newer");
	CHECK_STR(field("c1", "email"), "\"crm@x.org\"", "the CRM's address stays");
	CHECK_STR(field("c1", "provenance"),
		  "{\"email\":{\"at\":10,\"source\":\"crm\"},\"firstName\":{\"at\":100,\"source\":\"identify\"},"
		  "\"traits.plan\":{\"at\":100,\"source\":\"identify\"}}",
		  "provenance per field: source and time");
	CHECK(apply("c1", "{\"plan\":null}", "identify", 300) == 1, "null clears a trait");
	CHECK_STR(field("c1", "traits"), "{}", "the trait is gone");
	CHECK(apply("c1", "{\"createdAt\":\"2025-01-02\",\"address\":{\"country\":\"FR\"}}", "identify", 300) == 3,
	      "createdAt as a time, address.country as country");
	CHECK_STR(field("c1", "createdAt"), "\"2025-01-02T00:00:00.000Z\"", "createdAt in RFC 3339");
	CHECK_STR(field("c1", "country"), "\"FR\"", "country from the address");
	CHECK(apply("c1", "{\"createdAt\":\"soon\"}", "identify", 300) == 1, "a createdAt not a time is a trait");
	char *col = row("SELECT created_at FROM profiles WHERE customer_id = 'c1'");
	CHECK_STR(col, "1735776000000", "created_at is stored in ms");
	free(col);
	jrn_err e;
	CHECK(jrn_profile_apply(P, "c1", jv_string("x"), "identify", 1, &e) < 0 &&
	      !strcmp(e.msg, "values: expected an object"), "values must be an object");
}

static void check_merges(void)
{
	jrn_err e;
	/* an anonymous visitor, then a sign-up with the same address */
	CHECK(apply("anon1", "{\"email\":\"v@x.org\",\"color\":\"red\"}", "identify", 100) == 2, "anonymous visitor");
	CHECK(apply("u1", "{\"email\":\"v@x.org\",\"name\":\"Vi\"}", "identify", 200) >= 1, "sign-up");
	CHECK_STR(jrn_profile_resolve(P, "anon1", &e), "u1", "the visitor now resolves to the sign-up");
	CHECK_STR(field("u1", "traits"), "{\"color\":\"red\"}", "the visitor's traits moved");
	CHECK_STR(field("anon1", "customerId"), "null", "the visitor's profile is gone");
	char *r = row("SELECT from_id || '>' || into_id || ' ' || reason FROM merges");
	CHECK_STR(r, "anon1>u1 identify: shared email", "the merge is logged with its reason, not the value");
	free(r);

	/* unmerge restores both */
	CHECK(jrn_profile_unmerge(P, 1, 300, &e) == 0, "unmerge");
	CHECK_STR(jrn_profile_resolve(P, "anon1", &e), "anon1", "the visitor is itself again");
	CHECK_STR(field("anon1", "traits"), "{\"color\":\"red\"}", "its profile is back");
	CHECK_STR(field("u1", "traits"), "{}", "the sign-up's is as before");
	CHECK(jrn_profile_unmerge(P, 1, 300, &e) < 0 && !strcmp(e.msg, "merge 1: undone already"), "only once");
	CHECK(jrn_profile_unmerge(P, 99, 300, &e) < 0 && !strcmp(e.msg, "merge 99: no such merge"), "no such");
	CHECK(apply("u1", "{\"email\":\"v@x.org\"}", "identify", 400) == 0, "a claim again");
	CHECK_STR(jrn_profile_resolve(P, "anon1", &e), "anon1", "does not redo an undone merge");

	/* a shared value beyond the limit (2) merges no one */
	apply("h1", "{\"phone\":\"+15550001\"}", "identify", 10);
	apply("h2", "{\"phone\":\"+15550002\"}", "identify", 10);
	apply("h3", "{\"phone\":\"+15550002\"}", "identify", 11);
	CHECK_STR(jrn_profile_resolve(P, "h2", &e), "h3", "two claimants: merged");
	apply("h4", "{\"phone\":\"+15550002\"}", "identify", 12);
	CHECK_STR(jrn_profile_resolve(P, "h3", &e), "h3", "a third: shared, no merge");
	CHECK_STR(jrn_profile_resolve(P, "h4", &e), "h4", "the third stays itself");

	/* an alias of a known customer merges; of an unknown id links */
	CHECK(jrn_profile_link(P, "new1", "id", "h1", "alias", "alias", 20, &e) == 1, "alias of a known one");
	CHECK_STR(jrn_profile_resolve(P, "h1", &e), "new1", "resolves");
	CHECK_STR(field("new1", "phone"), "\"+15550001\"", "its fields moved");
	CHECK(jrn_profile_link(P, "new1", "id", "ghost", "alias", "alias", 20, &e) == 0, "alias of an unknown id");
	CHECK_STR(jrn_profile_resolve(P, "ghost", &e), "new1", "links");
}

static void check_events(void)
{
	jrn_err e;
	const char *id = "{\"type\":\"identify\",\"customerId\":\"u9\",\"anonymousId\":\"a9\","
			 "\"traits\":{\"email\":\"n@x.org\",\"timezone\":\"Europe/Paris\"}}";
	jrn_db_exec(db, "INSERT INTO events (id, type, customer_id, ts, received_at, body)"
			" VALUES ('e1', 'page.viewed', 'a9', 0, 0, '{}')", &e);
	CHECK(jrn_profile_event(P, "identify", 8, id, strlen(id), 500, &e) == 3,
	      "identify: two traits and the anonymous id merged");
	CHECK_STR(field("u9", "timeZone"), "\"Europe/Paris\"", "timezone as timeZone");
	CHECK_STR(jrn_profile_resolve(P, "a9", &e), "u9", "the anonymous id resolves");
	CHECK(jrn_profile_event(P, "page.viewed", 11, "x", 1, 500, &e) == 0, "other types: nothing");
	const char *al = "{\"type\":\"alias\",\"customerId\":\"u10\",\"previousId\":\"u9\"}";
	CHECK(jrn_profile_event(P, "alias", 5, al, strlen(al), 600, &e) == 1, "alias merges");
	CHECK_STR(jrn_profile_resolve(P, "a9", &e), "u10", "through the chain");
	CHECK(jrn_profile_event(P, "alias", 5, "[1]", 3, 600, &e) < 0, "a body not an object fails");
	char *m = row("SELECT id FROM merges WHERE from_id = 'a9'");
	int64_t mid = m ? atoll(m) : 0;
	free(m);
	CHECK(jrn_profile_unmerge(P, mid, 700, &e) < 0 && strstr(e.msg, "u9 was merged into u10 since: undo that merge first"),
	      "a merge whose customer was merged since is undone after that one");
}

int main(void)
{
	char path[] = "/tmp/jrn-profile-XXXXXX";
	jrn_err e;
	if (unit_db_temp(path, &db) < 0)
		return 1;
	jv cfg = jv_parse("{\"sources\":{\"precedence\":[\"crm\",\"identify\"]},"
			  "\"ingest\":{\"defaultCountry\":\"US\"}}");
	P = jrn_profile_open(db, cfg, &e);
	CHECK(P != NULL, "open");
	if (!P) {
		printf("# %s\n", e.msg);
		return unit_done();
	}
	CHECK(jrn_profile_rank(P, "crm") > jrn_profile_rank(P, "identify") &&
	      jrn_profile_rank(P, "identify") > jrn_profile_rank(P, "file"), "ranks");
	jv bad = jv_parse("{\"sources\":{\"precedence\":\"crm\"}}");
	CHECK(!jrn_profile_open(db, bad, &e) && strstr(e.msg, "sources.precedence"), "a bad precedence");
	jv_free(bad);
	jv_free(cfg);
	check_fields();
	check_merges();
	check_events();
	check_spelling(); /* last: its merge would shift the merge ids above */
	jrn_profile_close(P);
	sqlite3_close(db);
	unlink(path);
	char side[64];
	snprintf(side, sizeof side, "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", path);
	unlink(side);
	return unit_done();
}
