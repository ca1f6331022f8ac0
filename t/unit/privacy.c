/* Unit tests of privacy.c and privacy-erase.c: the keyed hash (RFC 4231's
 * vectors, and equal to OpenSSL's HMAC), the key made once, the question
 * (empty table, erased and not), the scope (links both ways, an undone
 * merge not followed, a shared address kept), jrn_names and jrn_scrub,
 * and the erase functions of the modules over a fresh state file. */
#include <stdlib.h>
#include <unistd.h>

#include "ledger.h"
#include "privacy.h"
#include "profile.h"
#include "reach.h"
#include "unit-db.h"
#include "unit.h"

static sqlite3 *db;

static void exec(const char *sql)
{
	jrn_err e;
	if (jrn_db_exec(db, sql, &e) < 0)
		printf("# %s\n", e.msg);
}

#define CHECK_ROW(sql, want, ...)                       \
	do {                                            \
		char *got_ = unit_row(db, sql);         \
		CHECK_STR(got_, want, __VA_ARGS__);     \
		free(got_);                             \
	} while (0)

/* RFC 4231 test case 2 has a 4-byte key; ours is always 32 bytes, so the
 * vectors are checked against OpenSSL's one-shot HMAC with the same key. */
static void hashes(void)
{
	unsigned char key[32];
	for (int i = 0; i < 32; i++)
		key[i] = (unsigned char)i;
	char mine[65], theirs[65];
	const char *inputs[] = {"", "u1", "ann@example.com", "+14155550101",
				"a longer value than one SHA-256 block of sixty-four bytes, to be sure"};
	for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
		CHECK(jrn_privacy_hash(key, inputs[i], strlen(inputs[i]), mine) == 0, "hash '%s'",
		      inputs[i]);
		jrn_hmac_sha256_hex(key, 32, inputs[i], strlen(inputs[i]), theirs);
		CHECK_STR(mine, theirs, "equal to OpenSSL's HMAC-SHA-256 of '%s'", inputs[i]);
	}
	/* RFC 4231 4.3 (test case 2) with the key padded: HMAC pads a short key
	 * with zeros to the block size, so "Jefe" and "Jefe" + 28 zeros agree */
	unsigned char jefe[32] = {'J', 'e', 'f', 'e'};
	const char *msg = "what do ya want for nothing?";
	jrn_privacy_hash(jefe, msg, strlen(msg), mine);
	CHECK_STR(mine, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		  "RFC 4231 test case 2");
}

static void key_and_question(void)
{
	jrn_err e;
	unsigned char k1[32], k2[32];
	CHECK(jrn_privacy_key(db, false, k1, &e) == 0, "no key before the first erase");
	jrn_privacy *P = jrn_privacy_open(db, &e);
	CHECK(P && jrn_privacy_count(P) == 0, "an empty erasures: nothing held");
	CHECK(jrn_privacy_erased(P, "u1", 2) == 0, "an empty erasures: not erased");
	jrn_privacy_close(P);
	CHECK(jrn_privacy_erased(NULL, "u1", 2) == 0, "no handle: not erased");

	CHECK(jrn_privacy_key(db, true, k1, &e) == 1, "the key made");
	CHECK(jrn_privacy_key(db, true, k2, &e) == 1 && !memcmp(k1, k2, 32), "made once");
	CHECK_ROW("SELECT length(value) FROM state_keys WHERE name = 'privacy'", "32",
		  "32 bytes in state_keys");

	char hex[65], sql[256];
	jrn_privacy_hash(k1, "gone@example.com", 16, hex);
	snprintf(sql, sizeof sql, "INSERT INTO erasures VALUES ('%s', 1)", hex);
	exec(sql);
	P = jrn_privacy_open(db, &e);
	CHECK(P && jrn_privacy_count(P) == 1, "one hash held");
	CHECK(jrn_privacy_erased(P, "gone@example.com", 16) == 1, "an erased value");
	CHECK(jrn_privacy_erased(P, "Gone@example.com", 16) == 0, "bytes, not case-folded");
	CHECK(jrn_privacy_erased(P, "u1", 2) == 0, "another value");
	jrn_privacy_close(P);

	exec("DELETE FROM state_keys");
	P = jrn_privacy_open(db, &e);
	CHECK(!P, "hashes without a key: no handle");
	CHECK_STR(e.msg, "erasures has rows but state_keys has no privacy key", "said so");
	exec("INSERT INTO state_keys VALUES ('privacy', x'00', 1)");
	CHECK(jrn_privacy_key(db, false, k1, &e) < 0, "a key of 1 byte is refused");
	CHECK_STR(e.msg, "state_keys: the privacy key has 1 bytes, not 32", "said so");
	exec("DELETE FROM state_keys; DELETE FROM erasures");
}

/* Two customers, u1 (alias a1, merged m1; an undone merge with u3) and u2,
 * who share a household phone with u1. */
static void fixture(void)
{
	exec("INSERT INTO events (id, type, customer_id, ts, received_at, body) VALUES"
	     " ('e1', 'identify', 'u1', 1, 1, '{\"customerId\":\"u1\",\"traits\":{\"email\":\"ann@example.com\"}}'),"
	     " ('e2', 'page', 'a1', 1, 1, '{\"customerId\":\"a1\",\"context\":{\"workEmail\":\"ann@work.example\"}}'),"
	     " ('e3', 'page', 'u2', 1, 1, '{\"customerId\":\"u2\",\"properties\":{\"friend\":\"u1\",\"note\":\"ask ann@example.com\",\"u10\":\"u10\"}}'),"
	     " ('e4', 'page', 'u3', 1, 1, '{\"customerId\":\"u3\"}');"
	     "INSERT INTO profiles (customer_id, email, phone, traits, updated_at) VALUES"
	     " ('u1', 'ann@example.com', '+14155550101', '{}', 1),"
	     " ('u2', 'bob@example.com', '+14155550101', '{\"ref\":\"ann@example.com\"}', 1),"
	     " ('u3', NULL, NULL, '{}', 1);"
	     "INSERT INTO identities VALUES ('id', 'a1', 'u1', 'alias', 1),"
	     " ('email', 'ann@example.com', 'u1', 'identify', 1),"
	     " ('phone', '+14155550101', 'u1', 'identify', 1),"
	     " ('phone', '+14155550101', 'u2', 'identify', 1),"
	     " ('email', 'bob@example.com', 'u2', 'identify', 1);"
	     "INSERT INTO merges (from_id, into_id, reason, ts, undone_at, moved) VALUES"
	     " ('m1', 'u1', 'alias', 1, NULL, '{}'), ('u3', 'u1', 'alias', 1, 2, '{\"from\":{\"customerId\":\"u3\"}}');"
	     "INSERT INTO suppressions VALUES ('ann@example.com', 'email', 'bounced', 1, NULL),"
	     " ('bob@example.com', 'email', 'bounced', 1, NULL);"
	     "INSERT INTO deliveries (key, customer_id, channel, status, claimed_at, updated_at, record)"
	     " VALUES ('k1', 'u1', 'email', 'queued', 1, 1, '{\"recipientEmail\":\"ann@example.com\"}'),"
	     " ('k2', 'u9', 'email', 'sent', 1, 1, '{\"recipientEmail\":\"ann@example.com\"}'),"
	     " ('k3', 'u2', 'email', 'sent', 1, 1, '{\"recipientEmail\":\"bob@example.com\",\"about\":\"u1\"}');"
	     "INSERT INTO outbox (key, send_at, record) VALUES ('k1', 5, '{}');"
	     "INSERT INTO audit (ts, who, verb, args, counts) VALUES"
	     " (1, 'op', 'suppressions remove', '[\"ann@example.com\"]', '{}');");
}

static void scope_and_erase(void)
{
	jrn_err e;
	jrn_privacy_scope_info info;
	fixture();
	int rc = jrn_privacy_scope(db, "a1", "US", NULL, &info, &e);
	if (rc < 0)
		printf("# %s\n", e.msg);
	CHECK(rc == 0 && info.known, "the scope of an alias");
	CHECK_ROW("SELECT group_concat(v, ' ') FROM (SELECT v FROM temp.jrn_erase_ids ORDER BY v)",
		  "a1 m1 u1", "ids: the alias's customer, its merge; not the undone merge's u3");
	CHECK_ROW("SELECT group_concat(v, ' ') FROM (SELECT v FROM temp.jrn_erase_addrs ORDER BY v)",
		  "ann@example.com ann@work.example", "addresses: the profile's, an event's workEmail");
	CHECK(info.shared == 1, "the household phone is shared: kept");
	CHECK_ROW("SELECT jrn_names('{\"x\":\"u1\"}')", "1", "jrn_names: an id as a whole string");
	CHECK_ROW("SELECT jrn_names('{\"x\":\"u10\"}')", "0", "jrn_names: not inside another id");
	CHECK_ROW("SELECT jrn_names('{\"x\":\"\\u0075\\u0031\"}')", "1", "jrn_names: escapes read");
	CHECK_ROW("SELECT jrn_scrub('{\"u1\":[\"u1\",\"mail ann@example.com now\",\"u10\",7]}')",
		  "{\"<erased>\":[\"<erased>\",\"mail <erased> now\",\"u10\",7]}",
		  "jrn_scrub: keys, values, an address inside a string");
	CHECK_ROW("SELECT jrn_scrub('not json: ann@example.com, u1')", "not json: <erased>, u1",
		  "jrn_scrub: text that is not JSON: its addresses");
	CHECK_ROW("SELECT jrn_scrub('[\"joann@example.com\",\"ann@example.com.au\",\"(ann@example.com).\"]')",
		  "[\"joann@example.com\",\"ann@example.com.au\",\"(<erased>).\"]",
		  "jrn_scrub: an address only as a whole, not inside a longer one");
	CHECK_ROW("SELECT jrn_names('{\"x\":\"joann@example.com\"}')", "0",
		  "jrn_names: not inside a longer address");

	jv counts = jv_object(), keys = jv_array();
	exec("BEGIN");
	rc = jrn_reach_erase(db, &counts, &e);
	rc |= jrn_ledger_erase(db, &counts, &keys, &e);
	rc |= jrn_profile_erase(db, &counts, &e);
	rc |= jrn_privacy_erase_rest(db, &counts, &e);
	if (rc < 0)
		printf("# %s\n", e.msg);
	CHECK(rc == 0, "the erase functions");
	jrn_buf b = {0};
	jrn_json_append(&b, counts, JRN_JSON_SORTED, &e);
	CHECK_STR(b.p,
		  "{\"audit.scrubbed\":1,\"deliveries\":2,\"deliveries.scrubbed\":1,\"events\":2,"
		  "\"events.scrubbed\":1,\"identities\":3,\"merges\":2,\"outbox\":1,\"profiles\":1,"
		  "\"profiles.scrubbed\":1,\"suppressions\":1}",
		  "counts per table");
	jrn_buf_reset(&b);
	jrn_json_append(&b, keys, 0, &e);
	CHECK_STR(b.p, "[\"k1\",\"k2\"]", "the deleted deliveries' keys (k2: sent to her address)");
	jrn_buf_free(&b);
	CHECK_ROW("SELECT group_concat(customer_id) FROM profiles", "u2,u3", "other profiles kept");
	CHECK_ROW("SELECT traits FROM profiles WHERE customer_id = 'u2'", "{\"ref\":\"<erased>\"}",
		  "their traits scrubbed");
	CHECK_ROW("SELECT body FROM events WHERE id = 'e3'",
		  "{\"customerId\":\"u2\",\"properties\":{\"friend\":\"<erased>\",\"note\":\"ask "
		  "<erased>\",\"u10\":\"u10\"}}",
		  "another's event scrubbed, u10 untouched");
	CHECK_ROW("SELECT group_concat(value) FROM (SELECT value FROM identities ORDER BY 1)",
		  "+14155550101,bob@example.com", "u2's identities kept, the shared phone with them");
	CHECK_ROW("SELECT count(*) FROM merges", "0", "both merges rows gone");
	CHECK_ROW("SELECT group_concat(address) FROM suppressions", "bob@example.com",
		  "her suppression gone");
	CHECK_ROW("SELECT record FROM deliveries WHERE key = 'k3'",
		  "{\"recipientEmail\":\"bob@example.com\",\"about\":\"<erased>\"}", "k3 scrubbed");
	CHECK_ROW("SELECT args FROM audit", "[\"<erased>\"]", "audit args scrubbed");

	unsigned char key[32];
	jrn_privacy_key(db, true, key, &e);
	CHECK(jrn_privacy_record(db, key, 9, &e) == 5, "five hashes: three ids, two addresses");
	CHECK(jrn_privacy_record(db, key, 9, &e) == 0, "recorded once");
	exec("COMMIT");
	jrn_privacy *P = jrn_privacy_open(db, &e);
	CHECK(P && jrn_privacy_erased(P, "m1", 2) == 1, "m1 erased");
	CHECK(jrn_privacy_erased(P, "+14155550101", 12) == 0, "the shared phone is not");
	CHECK(jrn_privacy_erased(P, "u3", 2) == 0, "u3 is not");
	jrn_privacy_close(P);

	jrn_reach *R = jrn_reach_open(db, &e);
	jrn_reach_text a[2] = {jrn_reach_str("x@example.com"), jrn_reach_str("ann@work.example")};
	jrn_reach_ask q = {jrn_reach_str("u7"), a, 2, "email", JRN_REACH_MARKETING};
	jrn_reach_verdict v;
	CHECK(jrn_reach_may(R, &q, &v, &e) == 0 && v.answer == JRN_REACH_SUPPRESSED &&
		      !strcmp(v.reason, "erased") && v.address == 1,
	      "reach: an erased address is suppressed, \"erased\"");
	q.customer = jrn_reach_str("u1"), q.naddresses = 1;
	CHECK(jrn_reach_may(R, &q, &v, &e) == 0 && !strcmp(v.reason, "erased"),
	      "reach: an erased customer id too");
	q.customer = jrn_reach_str("u2");
	CHECK(jrn_reach_may(R, &q, &v, &e) == 1, "reach: others may be contacted");
	jrn_reach_close(R);

	rc = jrn_privacy_scope(db, "u1", "US", NULL, &info, &e);
	CHECK(rc == 0 && !info.known, "after the erase, u1 is unknown");
}

static void bounds(void)
{
	jrn_err e;
	jrn_privacy_scope_info info;
	exec("BEGIN");
	exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001)"
	     " INSERT INTO identities SELECT 'id', 'c' || i, 'big', 'alias', 1 FROM n");
	CHECK(jrn_privacy_scope(db, "big", "US", NULL, &info, &e) < 0, "10,002 linked ids: refused");
	CHECK_STR(e.msg, "more than 10000 linked ids (JRN_PRIVACY_MAX_IDS)", "said so");
	exec("ROLLBACK");
}

int main(void)
{
	char dir[] = "/tmp/jrn-privacy-XXXXXX", path[64];
	jrn_err e;
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/jrn.db", dir);
	CHECK(jrn_db_open(path, 1000, &db, &e) == 0, "a fresh state file");
	hashes();
	key_and_question();
	scope_and_erase();
	bounds();
	sqlite3_close(db);
	unit_rmtree(dir);
	return unit_done();
}
