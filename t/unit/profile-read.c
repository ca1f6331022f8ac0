/* Unit tests of profile-read.c: one customer and every customer read the
 * same members; linked ids fold in (consent revoked anywhere wins, the
 * customer's own score first, memberships joined, events counted); the
 * cart and promotions rules; flat scores; jrn_profile_contact through id
 * links; jrn_profile_consent through links either way and of an unlinked
 * id, as the profile's "consent" member. Over a fresh state file written with SQL (reading only). */
#include <stdlib.h>
#include <unistd.h>

#include "profile-read.h"
#include "unit.h"
#include "unit-db.h"

static sqlite3 *db;

static void exec(const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		printf("# %s\n", msg ? msg : "?");
	sqlite3_free(msg);
}

/* One customer's members as {...} (static buffer). */
static const char *one(jrn_profile_reader *R, const char *cust)
{
	static char out[4096];
	jrn_buf b = {0};
	jrn_err e;
	if (jrn_profile_read(R, cust, jv_invalid(), &b, &e) < 0)
		snprintf(out, sizeof out, "error: %s", e.msg);
	else
		snprintf(out, sizeof out, "{%s}", b.p + 1);
	jrn_buf_free(&b);
	return out;
}

/* jrn_profile_consent of cust (static buffer). */
static const char *consent_of(jrn_profile_reader *R, const char *cust)
{
	static char out[2048];
	jrn_buf b = {0};
	jrn_err e;
	if (jrn_profile_consent(R, cust, strlen(cust), &b, &e) < 0)
		snprintf(out, sizeof out, "error: %s", e.msg);
	else
		snprintf(out, sizeof out, "%.*s", (int)b.len, b.p);
	jrn_buf_free(&b);
	return out;
}

typedef struct {
	jrn_buf all;
	int n, stop_at;
} collect;

static int each(void *ctx, const char *cust, jrn_buf *members)
{
	collect *c = ctx;
	(void)cust;
	if (++c->n == c->stop_at)
		return -1;
	jrn_buf_adds(&c->all, "{");
	jrn_buf_add(&c->all, members->p + 1, members->len - 1);
	jrn_buf_adds(&c->all, "}\n");
	return 0;
}

#define EV(id, type, cust, ts, amount, body) \
	"INSERT INTO events (id, type, customer_id, ts, received_at, amount, body) VALUES ('" id \
	"', '" type "', '" cust "', " ts ", 0, " amount ", '" body "');"

static void setup(void)
{
	exec(EV("e1", "page.viewed", "anon", "1000", "NULL", "{}")
	     EV("e2", "cart.added", "anon", "2000", "NULL", "{}")
	     EV("e3", "order.completed", "u1", "3000", "10", "{\"properties\":{\"coupon\":\"X\"}}")
	     EV("e4", "cart.viewed", "u1", "4000", "NULL",
		"{\"properties\":{\"products\":[{},{},{}]}}")
	     EV("e5", "cart.removed", "u1", "5000", "NULL", "{}")
	     EV("e6", "order.completed", "u2", "3000", "5", "{\"properties\":{\"discount\":\"1\"}}")
	     EV("e7", "consent.granted", "u1", "1", "NULL", "{}")
	     "INSERT INTO profiles (customer_id, email, first_name, created_at, traits, updated_at)"
	     " VALUES ('u1', 'a@x.test', 'Ann', 0, '{\"plan\":\"pro\"}', 1);"
	     "INSERT INTO identities VALUES ('id', 'anon', 'u1', 'identify', 1);"
	     "INSERT INTO consent VALUES ('u1', 'email', 'granted', 5, NULL, 'e7'),"
	     " ('anon', 'email', 'revoked', 1, NULL, 'e7'), ('anon', 'sms', 'granted', 1, NULL, 'e7');"
	     "INSERT INTO scores VALUES ('u1', 'clv', 1, '{\"v\":1}', 1), ('anon', 'clv', 2, '{\"v\":2}', 2),"
	     " ('anon', 'lead', 3, '{\"v\":3}', 3), ('u2', 'email', 1, '{}', 1);"
	     "INSERT INTO segment_members VALUES ('vip', 'u1', 1), ('active', 'anon', 1);");
}

int main(void)
{
	char path[] = "/tmp/jrn-profile-read-XXXXXX";
	jrn_err e;
	if (unit_db_temp(path, &db) < 0)
		return 1;
	setup();
	jrn_profile_reader *R = jrn_profile_reader_open(db, JRN_PROFILE_CART | JRN_PROFILE_PROMOTIONS | JRN_PROFILE_SUMMARY,
							&e);
	CHECK(R != NULL, "open");
	if (!R) {
		printf("# %s\n", e.msg);
		return unit_done();
	}
	const char *want_u1 =
		"{\"customerId\":\"u1\",\"email\":\"a@x.test\",\"firstName\":\"Ann\","
		"\"createdAt\":\"1970-01-01T00:00:00.000Z\",\"traits\":{\"plan\":\"pro\"},"
		"\"consent\":{\"email\":\"revoked\",\"sms\":\"granted\"},"
		"\"scores\":{\"clv\":{\"v\":1},\"lead\":{\"v\":3}},\"segments\":[\"active\",\"vip\"],"
		"\"summary\":{\"events\":6,\"firstSeen\":\"1970-01-01T00:00:00.001Z\","
		"\"lastSeen\":\"1970-01-01T00:00:05.000Z\",\"orders\":1,\"orderTotal\":10,"
		"\"lastOrder\":{\"id\":\"e3\",\"at\":\"1970-01-01T00:00:03.000Z\",\"amount\":10}},"
		"\"cart\":{\"updatedAt\":\"1970-01-01T00:00:05.000Z\",\"event\":\"cart.removed\",\"items\":2},"
		"\"promotions\":{\"orders\":1,\"redeemed\":1,\"redeemedRatio\":1}}";
	CHECK_STR(one(R, "u1"), want_u1,
		  "one customer: linked ids folded (revoked wins, own score first, union, events)");
	CHECK_STR(one(R, "u2"),
		  "{\"customerId\":\"u2\",\"traits\":{},\"consent\":{},\"scores\":{\"email\":{}},"
		  "\"segments\":[],\"summary\":{\"events\":1,\"firstSeen\":\"1970-01-01T00:00:03.000Z\","
		  "\"lastSeen\":\"1970-01-01T00:00:03.000Z\",\"orders\":1,\"orderTotal\":5,"
		  "\"lastOrder\":{\"id\":\"e6\",\"at\":\"1970-01-01T00:00:03.000Z\",\"amount\":5}},"
		  "\"promotions\":{\"orders\":1,\"redeemed\":0,\"redeemedRatio\":0}}",
		  "a discount that is a string is no promotion; no cart events, no cart");
	collect c = {{0}, 0, 0};
	CHECK(jrn_profile_read_all(R, each, &c, &e) == 0, "every customer");
	CHECK(c.n == 2, "two customers: anon is linked, not one of its own (%d)", c.n);
	jrn_buf want = {0};
	jrn_buf_addf(&want, "%s\n", want_u1);
	const char *u2 = one(R, "u2");
	jrn_buf_addf(&want, "%s\n", u2);
	CHECK_STR(c.all.p ? c.all.p : "", want.p, "every customer reads as one customer does");
	jrn_buf_free(&c.all);
	c = (collect){{0}, 0, 1};
	CHECK(jrn_profile_read_all(R, each, &c, &e) < 0, "each stops the pass");
	jrn_buf_free(&c.all);
	jrn_buf_free(&want);
	jrn_profile_reader_close(R);

	R = jrn_profile_reader_open(db, JRN_PROFILE_FLAT_SCORES, &e);
	const char *flat = one(R, "u2");
	CHECK(strstr(flat, "\"segments\":[]}") && !strstr(flat, "\"email\":{}") &&
	      !strstr(flat, "scores") && !strstr(flat, "promotions") && !strstr(flat, "summary"),
	      "flat scores: a kind named like a member is left out; no parts not asked for (%s)", flat);
	CHECK(strstr(one(R, "u1"), "\"clv\":{\"v\":1},\"lead\":{\"v\":3},\"segments\"") != NULL,
	      "flat scores are members of their own");
	jv got = jrn_profile_contact(R, "anon", 4, &e);
	jrn_buf b = {0};
	jrn_json_append(&b, got, JRN_JSON_SORTED, &e);
	CHECK_STR(b.p, "{\"email\":\"a@x.test\",\"firstName\":\"Ann\"}", "contact through an id link");
	jrn_buf_free(&b);
	got = jrn_profile_contact(R, "u1", 2, &e);
	jrn_json_append(&b, got, JRN_JSON_SORTED, &e);
	CHECK_STR(b.p, "{\"email\":\"a@x.test\",\"firstName\":\"Ann\"}", "contact of an id no link leaves");
	jrn_buf_free(&b);
	got = jrn_profile_contact(R, "nobody", 6, &e);
	jrn_json_append(&b, got, 0, &e);
	CHECK_STR(b.p, "{}", "no profile: {}");
	jrn_buf_free(&b);
	CHECK_STR(consent_of(R, "u1"), "{\"email\":\"revoked\",\"sms\":\"granted\"}",
		  "consent of a customer an id is linked to: the linked id's revocation wins");
	CHECK_STR(consent_of(R, "anon"), "{\"email\":\"revoked\",\"sms\":\"granted\"}",
		  "consent of a linked id: its customer's, folded the same");
	CHECK_STR(consent_of(R, "u2"), "{}", "an unlinked id without consent rows: {}");
	exec("INSERT INTO consent VALUES ('u2', 'sms', 'revoked', 7, NULL, 'e6'),"
	     " ('u2', 'email', 'granted', 8, NULL, 'e6'), ('u3', 'email', 'revoked', 9, NULL, 'e6');"
	     "INSERT INTO identities VALUES ('email', 'b@x.test', 'u2', 'identify', 1);");
	CHECK_STR(consent_of(R, "u2"), "{\"email\":\"granted\",\"sms\":\"revoked\"}",
		  "an unlinked id (other kinds of identity only): its own rows, by channel");
	CHECK_STR(consent_of(R, "u3"), "{\"email\":\"revoked\"}", "an id with rows and no profile");
	char whole[4096];
	snprintf(whole, sizeof whole, "%s", one(R, "u2"));
	CHECK(strstr(whole, "\"consent\":{\"email\":\"granted\",\"sms\":\"revoked\"}") != NULL,
	      "the unlinked id's consent is the profile's consent member (%s)", whole);
	exec("INSERT INTO identities VALUES ('id', 'u3', 'u2', 'identify', 3)");
	CHECK_STR(consent_of(R, "u2"), "{\"email\":\"revoked\",\"sms\":\"revoked\"}",
		  "once u3 is linked to u2, u3's revocation wins for u2");
	CHECK_STR(consent_of(R, "u3"), "{\"email\":\"revoked\",\"sms\":\"revoked\"}",
		  "and u3 names u2 now");
	exec("INSERT INTO identities VALUES ('id', 'u1', 'anon', 'x', 2)");
	got = jrn_profile_contact(R, "u1", 2, &e);
	CHECK(jv_is_valid(got), "a cycle of links ends (64 links at most)");
	jv_free(got);
	jrn_profile_reader_close(R);
	jrn_profile_reader_close(NULL);
	sqlite3_close(db);
	unlink(path);
	return unit_done();
}
