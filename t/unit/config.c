/* Unit tests of config.c: YAML to jv, ${NAME} expansion, the schema check,
 * error positions, jrn_config_get. Works in a fresh temporary directory, so
 * error messages name "jrn.yaml" as a user would see them. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jrn.h"
#include "unit.h"

static const char *FILE_NAME = "jrn.yaml";

static void put(const char *name, const char *text, size_t len)
{
	FILE *f = fopen(name, "wb");
	if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		perror(name);
		exit(99);
	}
}

/* Loads text from jrn.yaml: the compact JSON (without the member
 * JRN_CONFIG_FROM_ENV, which test_secrets reads), or "ERR " and the
 * message. */
static const char *load_n(const char *text, size_t len)
{
	static jrn_buf out;
	jrn_err e;
	put(FILE_NAME, text, len);
	jrn_buf_reset(&out);
	jv cfg = jrn_config_load(FILE_NAME, &e);
	if (!jv_is_valid(cfg)) {
		jv_free(cfg);
		jrn_buf_adds(&out, "ERR ");
		jrn_buf_adds(&out, e.msg);
		return out.p;
	}
	cfg = jv_object_delete(cfg, jv_string(JRN_CONFIG_POS));
	jv s = jv_dump_string(jv_object_delete(cfg, jv_string(JRN_CONFIG_FROM_ENV)), 0);
	jrn_buf_adds(&out, jv_string_value(s));
	jv_free(s);
	return out.p;
}

static const char *load(const char *text)
{
	return load_n(text, strlen(text));
}

/* The value at dotted in cfg, dumped, or "(invalid)"; borrows cfg. */
static const char *get(jv cfg, const char *dotted)
{
	static char out[256];
	jv v = jrn_config_get(cfg, dotted);
	if (!jv_is_valid(v)) {
		jv_free(v);
		return "(invalid)";
	}
	jv s = jv_dump_string(v, 0);
	snprintf(out, sizeof out, "%s", jv_string_value(s));
	jv_free(s);
	return out;
}

/* Fault 5 of issue 9: an unset ${NAME} fails only where it is read. */
static void test_unresolved(void)
{
	jrn_err e;
	unsetenv("UNSUB_SECRET");
	unsetenv("JRN_UT_PASS");
	unsetenv("JRN_UT_BUSY");
	setenv("JRN_UT_HOST", "smtp.example.com", 1);
	const char *text =
		"db:\n  path: x.db\n  busyTimeout: ${JRN_UT_BUSY}\n"        /* 1-3 */
		"send:\n  unsubscribe:\n    secret: ${UNSUB_SECRET}\n"      /* 4-6 */
		"    url: https://${JRN_UT_HOST}/u\n"                         /* 7 */
		"providers:\n  email:\n    type: smtp\n"                    /* 8-10 */
		"    password: \"a${JRN_UT_PASS}b${UNSUB_SECRET}\"\n"         /* 11 */
		"  sms:\n    - &tw {type: twilio, authToken: '${JRN_UT_PASS}'}\n" /* 12-13 */
		"    - *tw\n"                                                 /* 14 */
		"scoring:\n  rfm:\n    window: 90d\n";
	put(FILE_NAME, text, strlen(text));
	jv cfg = jrn_config_load(FILE_NAME, &e);
	CHECK(jv_get_kind(cfg) == JV_KIND_OBJECT, "a config with unset variables loads (the duration unchecked)");
	if (jv_get_kind(cfg) != JV_KIND_OBJECT) {
		printf("#   %s\n", e.msg);
		jv_free(cfg);
		return;
	}
	jv refs;
	int n = jrn_config_unresolved(cfg, &refs, &e);
	jv d = jv_dump_string(refs, 0);
	CHECK_STR(jv_string_value(d),
		  "[{\"key\":\"db.busyTimeout\",\"name\":\"JRN_UT_BUSY\",\"line\":3,\"column\":16},"
		  "{\"key\":\"send.unsubscribe.secret\",\"name\":\"UNSUB_SECRET\",\"line\":6,\"column\":13},"
		  "{\"key\":\"providers.email[0].password\",\"name\":\"JRN_UT_PASS\",\"line\":11,\"column\":17},"
		  "{\"key\":\"providers.email[0].password\",\"name\":\"UNSUB_SECRET\",\"line\":11,\"column\":32},"
		  "{\"key\":\"providers.sms[0].authToken\",\"name\":\"JRN_UT_PASS\",\"line\":13,\"column\":38},"
		  "{\"key\":\"providers.sms[1].authToken\",\"name\":\"JRN_UT_PASS\",\"line\":13,\"column\":38}]",
		  "jrn_config_unresolved: every one, a list of one mapping as [0], an alias repeats its references");
	jv_free(d);
	CHECK(n == 6, "jrn_config_unresolved: the count");

	CHECK_STR(get(cfg, "send.unsubscribe.url"), "\"https://smtp.example.com/u\"", "a set variable still expands");
	CHECK_STR(get(cfg, "scoring.rfm.window"), "\"90d\"", "other keys read as usual");
	jv v = jrn_config_get(cfg, "send.unsubscribe.secret");
	jv msg = jv_invalid_get_msg(jv_copy(v));
	CHECK(!jv_is_valid(v) && jv_get_kind(msg) == JV_KIND_STRING &&
	      !strcmp(jv_string_value(msg), "jrn.yaml:6:13: send.unsubscribe.secret: ${UNSUB_SECRET} is not set"),
	      "jrn_config_get: invalid, with the message");
	jv_free(msg);
	jv_free(v);
	char *str = NULL;
	CHECK(jrn_config_string(cfg, "send.unsubscribe.secret", &str, &e) == -1 && !str &&
	      !strcmp(e.msg, "jrn.yaml:6:13: send.unsubscribe.secret: ${UNSUB_SECRET} is not set"),
	      "jrn_config_string: -1, FILE:LINE:COL: KEY: ${NAME} is not set");
	int64_t ms = 7;
	CHECK(jrn_config_duration(cfg, "db.busyTimeout", &ms, &e) == -1 && ms == 7 &&
	      !strcmp(e.msg, "jrn.yaml:3:16: db.busyTimeout: ${JRN_UT_BUSY} is not set"),
	      "jrn_config_duration: -1 too");
	CHECK(jrn_config_duration(cfg, "scoring.rfm.window", &ms, &e) == 1 && ms == 90LL * 86400000,
	      "jrn_config_duration: a resolved key");

	/* who reads what */
	CHECK(jrn_config_require(cfg, "jrn-send", &e) == -1 &&
	      !strcmp(e.msg, "jrn.yaml:3:16: db.busyTimeout: ${JRN_UT_BUSY} is not set"),
	      "jrn_config_require: db is everyone's");
	jv_free(cfg);

	text = "send:\n  unsubscribe:\n    secret: ${UNSUB_SECRET}\n"
	       "sources:\n  crm: {token: '${JRN_UT_PASS}'}\n";
	put(FILE_NAME, text, strlen(text));
	cfg = jrn_config_load(FILE_NAME, &e);
	CHECK(jrn_config_require(cfg, "jrn-segment", &e) == 0, "jrn_config_require: jrn-segment does not read send");
	CHECK(jrn_config_require(cfg, "jrn-score", &e) == 0, "jrn_config_require: jrn-score neither");
	CHECK(jrn_config_require(cfg, "jrn init", &e) == 0, "jrn_config_require: jrn SUBCOMMAND neither");
	CHECK(jrn_config_require(cfg, "jrn-send", &e) == -1 &&
	      !strcmp(e.msg, "jrn.yaml:3:13: send.unsubscribe.secret: ${UNSUB_SECRET} is not set"),
	      "jrn_config_require: jrn-send does");
	CHECK(jrn_config_require(cfg, "jrn-ingest", &e) == -1 &&
	      !strcmp(e.msg, "jrn.yaml:5:17: sources.crm.token: ${JRN_UT_PASS} is not set"),
	      "jrn_config_require: jrn-ingest reads sources");
	CHECK(jrn_config_require(cfg, "jrn-future", &e) == -1 && strstr(e.msg, "send.unsubscribe.secret"),
	      "jrn_config_require: a program not in the table reads every key");
	CHECK(jrn_config_require(cfg, "jrn-report", &e) == 0,
	      "jrn_config_require: jrn-report reads db and report, not send");
	CHECK(jrn_config_require(cfg, "jrn-route", &e) == 0,
	      "jrn_config_require: jrn-route reads db, policy and ingest.defaultCountry, not send");
	CHECK(jrn_config_require(cfg, "jrn-sendx", &e) == -1, "jrn_config_require: names match whole");
	jv_free(cfg);

	CHECK_STR(load("report:\n  metrics:\n    lookback: 0d\n"),
		  "ERR jrn.yaml:3:15: report.metrics.lookback: expected a duration from 1 ms to "
		  "316224000000 ms, got '0d' (0 ms)",
		  "a written duration is held to the key's range, as a number is");
	CHECK_STR(load("report:\n  metrics:\n    lookback: 1ms\n"), "{\"report\":{\"metrics\":{\"lookback\":\"1ms\"}}}",
		  "the range's lower end is in it");
	CHECK_STR(load("db:\n  busyTimeout: ${JRN_UT_HOST}\n"),
		  "ERR jrn.yaml:2:16: db.busyTimeout: expected a duration (like 5s or 1h30m) or an integer of milliseconds, got '${JRN_UT_HOST}' (units: ms s m h d w)",
		  "a set variable is checked as usual, and shown as written (issue 10)");
	CHECK_STR(load("sources:\n  a: $${UNSUB_SECRET}\n"), "{\"sources\":{\"a\":\"${UNSUB_SECRET}\"}}",
		  "$${ is no reference");
	jv none = jv_object();
	CHECK(jrn_config_unresolved(none, &refs, &e) == 0 && jv_array_length(refs) == 0,
	      "jrn_config_unresolved: none");
	jv_free(none);
	CHECK(jrn_config_unresolved(jv_null(), &refs, &e) == -1 && !jv_is_valid(refs),
	      "jrn_config_unresolved: not a config");
	jv hand = jv_parse("{\"$unresolved\":{\"file\":1,\"refs\":[1,{\"key\":5},{\"key\":\"x\"}]},\"y\":2}");
	CHECK_STR(get(hand, "y"), "2", "a hand-built $unresolved of the wrong shape: no crash");
	CHECK(jrn_config_require(hand, "jrn-x", &e) == -1 &&
	      !strcmp(e.msg, "the configuration: a key names an unset environment variable"),
	      "and a plain message: %s", e.msg);
	jv_free(hand);
}

/* Issue 10, defect 4: a value from ${NAME} is shown as written, never
 * expanded, in the checker's messages and through jrn_config_shown. */
static void test_secrets(void)
{
	jrn_err e = {0};
	static const char conf[] = "send:\n  from: ${JRN_UT_SECRET}\n  replyTo: a@b\n"
				   "  unsubscribe:\n    secret: ${UNSUB_SECRET}\n";
	setenv("JRN_UT_SECRET", "Pw-S3CRET-4242", 1);
	unsetenv("UNSUB_SECRET");
	CHECK_STR(load("providers:\n  email:\n    type: smtp\n    tls: \"${JRN_UT_SECRET}\"\n"),
		  "ERR jrn.yaml:4:10: providers.email[0].tls: expected required, try or none, got '${JRN_UT_SECRET}'",
		  "a check's message: the list of one's key, the text as written");
	CHECK_STR(load("ingest:\n  defaultCountry: x-${JRN_UT_SECRET}-$${y}\n"),
		  "ERR jrn.yaml:2:19: ingest.defaultCountry: expected a two-letter ISO 3166 country code such as US, got 'x-${JRN_UT_SECRET}-$${y}'",
		  "part of a value: the whole scalar as written");
	CHECK_STR(load("send:\n  spool: &a ${JRN_UT_SECRET}\n  idempotency:\n    window: *a\n"),
		  "ERR jrn.yaml:4:13: send.idempotency.window: expected a duration such as 30d, or campaign, got '${JRN_UT_SECRET}'",
		  "through an alias");
	put(FILE_NAME, conf, sizeof conf - 1);
	jv cfg = jrn_config_load(FILE_NAME, &e);
	CHECK(jv_is_valid(cfg), "loads: %s", e.msg);
	CHECK_STR(get(cfg, "send.from"), "\"Pw-S3CRET-4242\"", "the value is the expanded one");
	CHECK_STR(jrn_config_shown(cfg, "send.from", "v"), "${JRN_UT_SECRET}", "jrn_config_shown: as written");
	CHECK_STR(jrn_config_shown(cfg, "send.replyTo", "a@b"), "a@b", "jrn_config_shown: not from ${NAME}, the value");
	CHECK_STR(jrn_config_shown(cfg, "send.unsubscribe.secret", "v"), "v",
		  "jrn_config_shown: an unset one is not listed (its value is as written)");
	jv refs;
	CHECK(jrn_config_unresolved(cfg, &refs, &e) == 1, "the unset one is listed as before");
	jv_free(refs);
	jv_free(cfg);
	CHECK_STR(jrn_config_shown(jv_null(), "send.from", "v"), "v", "jrn_config_shown: no config");
	unsetenv("JRN_UT_SECRET");
}

/* jrn_opts_resolve: a bad flag value is -2 (usage), a bad environment -1;
 * a tool fails on an unset ${NAME} only in what it reads. */
/* jrn_config_where: the place of a key or value in an open section. */
static void test_where(void)
{
	const char *text = "sources:\n"
			   "  list:\n"
			   "    - {name: crm, type: http, url: \"http://x/\"}\n"
			   "    - name: f\n"
			   "      type: file\n"
			   "  parallel: 4\n"
			   "ai:\n"
			   "  models:\n"
			   "    gpt: {kind: openai, model: m}\n";
	put(FILE_NAME, text, strlen(text));
	jrn_err e = {0};
	jv cfg = jrn_config_load(FILE_NAME, &e);
	CHECK(jv_is_valid(cfg), "where: loads: %s", e.msg);
	char w[256];
	CHECK_STR(jrn_config_where(cfg, "sources.parallel", false, w, sizeof w), "jrn.yaml:6:13",
		  "where: a value");
	CHECK_STR(jrn_config_where(cfg, "sources.parallel", true, w, sizeof w), "jrn.yaml:6:3",
		  "where: its key");
	CHECK_STR(jrn_config_where(cfg, "sources.list[0]", false, w, sizeof w), "jrn.yaml:3:7",
		  "where: an item of a list");
	CHECK_STR(jrn_config_where(cfg, "sources.list[0].url", false, w, sizeof w), "jrn.yaml:3:36",
		  "where: a value in an item (flow style)");
	CHECK_STR(jrn_config_where(cfg, "sources.list[1].type", true, w, sizeof w), "jrn.yaml:5:7",
		  "where: a key in an item (block style)");
	CHECK_STR(jrn_config_where(cfg, "sources.list[1].path", false, w, sizeof w), "jrn.yaml:4:7",
		  "where: a key not written: the mapping that lacks it");
	CHECK_STR(jrn_config_where(cfg, "sources.list[7].path", false, w, sizeof w), "jrn.yaml:3:5",
		  "where: no such item: where the list is");
	CHECK_STR(jrn_config_where(cfg, "ai.models.gpt.model", false, w, sizeof w), "jrn.yaml:9:32",
		  "where: ai.models");
	CHECK_STR(jrn_config_where(cfg, "nope.x", false, w, sizeof w), "jrn.yaml:1:1",
		  "where: a section not written: the top");
	CHECK_STR(jrn_config_where(cfg, "sources.list[x]", false, w, sizeof w), "jrn.yaml:3:5",
		  "where: a malformed index stops at what it read");
	CHECK_STR(jrn_config_where_msg(cfg, "sources.list[0].url: not good", w, sizeof w),
		  "jrn.yaml:3:36", "where of a message: the path it begins with");
	CHECK_STR(jrn_config_where_msg(cfg, "sources.parallel: too many", w, sizeof w), "jrn.yaml:6:13",
		  "where of a message: a value");
	CHECK_STR(jrn_config_where_msg(cfg, "out of memory", w, sizeof w), "",
		  "where of a message: no path, nothing");
	CHECK_STR(jrn_config_where_msg(cfg, "sources.parallel", w, sizeof w), "",
		  "where of a message: a path without ': ' after it, nothing");
	CHECK_STR(jrn_config_where_msg(cfg, ".x: y", w, sizeof w), "",
		  "where of a message: not a path, nothing");
	jv_free(cfg);
	jv hand = JV_OBJECT(jv_string("sources"), jv_object());
	CHECK_STR(jrn_config_where(hand, "sources", false, w, sizeof w), "", "where: a hand-built cfg: nothing");
	CHECK_STR(jrn_config_where(jv_null(), "sources", false, w, sizeof w), "", "where: not an object: nothing");
	jv_free(hand);
	/* a mapping alone where a list of them may be is item 0 */
	text = "sources:\n  list:\n    name: crm\n";
	put(FILE_NAME, text, strlen(text));
	cfg = jrn_config_load(FILE_NAME, &e);
	CHECK_STR(jrn_config_where(cfg, "sources.list[0].name", false, w, sizeof w), "jrn.yaml:3:11",
		  "where: [0] of a lone mapping");
	jv_free(cfg);
}

static void test_opts(void)
{
	jrn_opts o;
	jrn_err e;
	unsetenv("JRN_NOW");
	unsetenv("JRN_CONFIG");
	unsetenv("JRN_LOG");
	unlink(FILE_NAME);
	jrn_opts_init(&o, "jrn-score");
	o.now = "yesterday";
	CHECK(jrn_opts_resolve(&o, &e) == -2 && strstr(e.msg, "'yesterday'"), "--now yesterday: -2 (usage)");
	jrn_opts_free(&o);
	setenv("JRN_NOW", "yesterday", 1);
	jrn_opts_init(&o, "jrn-score");
	CHECK(jrn_opts_resolve(&o, &e) == -1 && strstr(e.msg, "'yesterday'"), "JRN_NOW=yesterday: -1 (failure)");
	jrn_opts_free(&o);
	jrn_opts_init(&o, "jrn-score");
	o.now = "2026-01-02";
	CHECK(jrn_opts_resolve(&o, &e) == 0 && jrn_now() == 1767312000000LL,
	      "--now wins over a bad JRN_NOW: %s", e.msg);
	jrn_opts_free(&o);
	unsetenv("JRN_NOW");
	setenv("JRN_LOG", "loud", 1);
	jrn_opts_init(&o, "jrn-score");
	CHECK(jrn_opts_resolve(&o, &e) == -1, "a bad JRN_LOG: -1");
	jrn_opts_free(&o);
	unsetenv("JRN_LOG");

	const char *text = "send:\n  unsubscribe:\n    secret: ${UNSUB_SECRET}\n";
	put(FILE_NAME, text, strlen(text));
	unsetenv("UNSUB_SECRET");
	const char *progs[] = {"jrn-ingest", "jrn-score", "jrn-segment", "jrn init"};
	for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
		jrn_opts_init(&o, progs[i]);
		CHECK(jrn_opts_resolve(&o, &e) == 0, "fault 5: %s runs with ${UNSUB_SECRET} unset", progs[i]);
		jrn_opts_free(&o);
	}
	jrn_opts_init(&o, "jrn-send");
	CHECK(jrn_opts_resolve(&o, &e) == -1 &&
	      !strcmp(e.msg, "jrn.yaml:3:13: send.unsubscribe.secret: ${UNSUB_SECRET} is not set"),
	      "fault 5: jrn-send does not: %s", e.msg);
	jrn_opts_free(&o);
	setenv("UNSUB_SECRET", "s", 1);
	jrn_opts_init(&o, "jrn-send");
	CHECK(jrn_opts_resolve(&o, &e) == 0, "fault 5: jrn-send runs once it is set");
	jrn_opts_free(&o);
	unsetenv("UNSUB_SECRET");
}

int main(void)
{
	char dir[] = "/tmp/jrn-unit-config.XXXXXX";
	if (!mkdtemp(dir) || chdir(dir) < 0) {
		perror("mkdtemp");
		return 99;
	}

	/* ---- scalars, typed like the YAML 1.2 core schema ---- */
	CHECK_STR(load("sources:\n  n: [1, -3, +7, 0x1F, 0o17, 007, -0]\n"),
		  "{\"sources\":{\"n\":[1,-3,7,31,15,7,0]}}", "integers: decimal, sign, hex, octal");
	CHECK_STR(load("sources:\n  f: [2.5, .5, 1e3, -1.5E-2, 1.]\n"),
		  "{\"sources\":{\"f\":[2.5,0.5,1000,-0.015,1]}}", "floats");
	CHECK_STR(load("sources:\n  z: [null, Null, NULL, ~, ]\n  e:\n"),
		  "{\"sources\":{\"z\":[null,null,null,null],\"e\":null}}", "nulls, empty value");
	CHECK_STR(load("sources:\n  b: [true, True, TRUE, false, False, FALSE]\n"),
		  "{\"sources\":{\"b\":[true,true,true,false,false,false]}}", "booleans");
	CHECK_STR(load("sources:\n  s: [yes, no, on, tRue, 1_000, 1:20, 0x, .5.5, '1', \"true\", '', \"\"]\n"),
		  "{\"sources\":{\"s\":[\"yes\",\"no\",\"on\",\"tRue\",\"1_000\",\"1:20\",\"0x\",\".5.5\",\"1\",\"true\",\"\",\"\"]}}",
		  "other plain scalars and every quoted scalar are strings");
	CHECK_STR(load("sources:\n  lit: |\n    a\n    b\n  fold: >\n    a\n    b\n  esc: \"t\\tn\\u00e9\"\n"),
		  "{\"sources\":{\"lit\":\"a\\nb\\n\",\"fold\":\"a b\\n\",\"esc\":\"t\\tn\xc3\xa9\"}}",
		  "block and escaped scalars");
	CHECK_STR(load("sources:\n  a: !!str 123\n  b: !!int \"42\"\n  c: ! 12\n"),
		  "{\"sources\":{\"a\":\"123\",\"b\":42,\"c\":\"12\"}}", "core tags");
	CHECK_STR(load("sources:\n  a: !!int abc\n"), "ERR jrn.yaml:2:6: 'abc' is not a valid !!int",
		  "a tag that does not fit");
	CHECK_STR(load("sources:\n  a: !secret x\n"), "ERR jrn.yaml:2:6: unsupported tag '!secret'",
		  "unknown tag");
	CHECK_STR(load("sources:\n  a: .nan\n"),
		  "ERR jrn.yaml:2:6: '.nan': JSON has no NaN (quote it to keep it as a string)", ".nan refused");
	CHECK_STR(load("sources:\n  a: -.inf\n"),
		  "ERR jrn.yaml:2:6: '-.inf': JSON has no infinity (quote it to keep it as a string)",
		  ".inf refused");
	CHECK(strstr(load("sources:\n  id: 12345678901234567890\n"), "ERR jrn.yaml:2:7: '12345678901234567890': integer too large") != NULL,
	      "an integer past 2^53 is refused, not rounded");
	CHECK_STR(load("sources:\n  a: 1e999\n"), "ERR jrn.yaml:2:6: '1e999': number out of range", "float overflow");

	/* ---- structure ---- */
	CHECK_STR(load("sources:\n  crm:\n    url: http://x\n    fields:\n      - id\n      - {name: n, keep: true}\n  flow: {a: [1, [2, {}]], b: []}\n"),
		  "{\"sources\":{\"crm\":{\"url\":\"http://x\",\"fields\":[\"id\",{\"name\":\"n\",\"keep\":true}]},\"flow\":{\"a\":[1,[2,{}]],\"b\":[]}}}",
		  "nested mappings and lists, block and flow");
	CHECK_STR(load("sources:\n  base: &b {x: 1, y: [a]}\n  copy: *b\n  s: &s hi\n  t: *s\n"),
		  "{\"sources\":{\"base\":{\"x\":1,\"y\":[\"a\"]},\"copy\":{\"x\":1,\"y\":[\"a\"]},\"s\":\"hi\",\"t\":\"hi\"}}",
		  "anchors and aliases");
	CHECK_STR(load("sources:\n  a: *nope\n"), "ERR jrn.yaml:2:6: undefined alias *nope", "undefined alias");
	CHECK_STR(load("sources:\n  a: &r [1, *r]\n"),
		  "ERR jrn.yaml:2:13: alias *r refers to a node that contains it", "recursive alias");
	CHECK_STR(load("sources:\n  a: &a {x: 1}\n  b:\n    <<: *a\n"),
		  "ERR jrn.yaml:4:5: merge keys ('<<') are not supported; write the keys out", "merge key");
	CHECK_STR(load("sources:\n  ? [a]\n  : 1\n"),
		  "ERR jrn.yaml:2:5: a mapping key must be a scalar, not a list", "non-scalar key");
	CHECK_STR(load("db:\n  path: x\n  path: y\n"),
		  "ERR jrn.yaml:3:3: duplicate key 'path' (first at 2:3)", "duplicate key");
	CHECK_STR(load("sources:\n  a: 1\nsources:\n  b: 2\n"),
		  "ERR jrn.yaml:3:1: duplicate key 'sources' (first at 1:1)", "duplicate section");
	{
		/* Deep nesting: fine up to the guard, a clean error past it. */
		size_t n = 20000;
		char *s = malloc(2 * n + 32);
		if (!s)
			return 99;
		strcpy(s, "sources:\n  a: ");
		size_t at = strlen(s);
		memset(s + at, '[', n);
		memset(s + at + n, ']', n);
		s[at + 2 * n] = '\n';
		CHECK_STR(load_n(s, at + 2 * n + 1), "ERR jrn.yaml:2:10004: nested deeper than 10000 levels",
			  "depth guard");
		memmove(s + at + 5000, s + at + n, 5000);
		s[at + 10000] = '\n';
		CHECK(strncmp(load_n(s, at + 10001), "{\"sources\":{\"a\":[[[[", 20) == 0, "5000 levels deep");
		free(s);
	}
	{
		size_t n = 1 << 20;
		char *s = malloc(n + 32);
		if (!s)
			return 99;
		strcpy(s, "db:\n  path: ");
		size_t at = strlen(s);
		memset(s + at, 'p', n);
		s[at + n] = '\n';
		const char *got = load_n(s, at + n + 1);
		CHECK(strlen(got) == n + 18, "a 1 MiB scalar");
		free(s);
	}

	/* ---- ${NAME} ---- */
	setenv("JRN_UT_HOST", "smtp.example.com", 1);
	setenv("JRN_UT_EMPTY", "", 1);
	unsetenv("SMTP_PASSWORD");
	CHECK_STR(load("sources:\n  smtp:\n    host: ${JRN_UT_HOST}\n    url: \"smtp://${JRN_UT_HOST}:25/x${JRN_UT_EMPTY}y\"\n"),
		  "{\"sources\":{\"smtp\":{\"host\":\"smtp.example.com\",\"url\":\"smtp://smtp.example.com:25/xy\"}}}",
		  "${NAME} expands in plain and quoted strings");
	CHECK_STR(load("sources:\n  smtp:\n    host: localhost\n    pass: ${SMTP_PASSWORD}\n"),
		  "{\"sources\":{\"smtp\":{\"host\":\"localhost\",\"pass\":\"${SMTP_PASSWORD}\"}},"
		  "\"$unresolved\":{\"file\":\"jrn.yaml\",\"refs\":[{\"key\":\"sources.smtp.pass\","
		  "\"name\":\"SMTP_PASSWORD\",\"line\":4,\"column\":11}]}}",
		  "missing variable: not a load error; kept as written, listed with its name and position");
	CHECK_STR(load("sources:\n  a: \"x\xc3\xa9${SMTP_PASSWORD}\"\n"),
		  "{\"sources\":{\"a\":\"x\xc3\xa9${SMTP_PASSWORD}\"},"
		  "\"$unresolved\":{\"file\":\"jrn.yaml\",\"refs\":[{\"key\":\"sources.a\","
		  "\"name\":\"SMTP_PASSWORD\",\"line\":2,\"column\":9}]}}",
		  "position inside a quoted string counts characters");
	CHECK_STR(load("sources:\n  a: $${JRN_UT_HOST} costs $5 $$ x$\n"),
		  "{\"sources\":{\"a\":\"${JRN_UT_HOST} costs $5 $$ x$\"}}", "$${ is a literal ${, a lone $ is kept");
	CHECK_STR(load("sources:\n  a: x ${JRN_UT_HOST\n"),
		  "ERR jrn.yaml:2:8: '${' without a closing '}' (write '$${' for a literal '${')",
		  "unterminated ${");
	CHECK(strncmp(load("sources:\n  a: ${1X}\n"), "ERR jrn.yaml:2:6: bad environment variable name '${1X}'", 55) == 0,
	      "bad variable name");
	CHECK_STR(load("sources:\n  ${JRN_UT_HOST}: 1\n  n: ${JRN_UT_HOST}\n"),
		  "{\"sources\":{\"${JRN_UT_HOST}\":1,\"n\":\"smtp.example.com\"}}",
		  "keys are not expanded");
	setenv("JRN_UT_NUM", "42", 1);
	CHECK_STR(load("sources:\n  n: ${JRN_UT_NUM}\n"), "{\"sources\":{\"n\":\"42\"}}",
		  "an expanded value stays a string");

	/* ---- the schema ---- */
	CHECK_STR(load("db:\n  path: state/jrn.db\n  busyTimeout: 1h30m\ningest:\n  defaultCountry: gb\n  batchSize: 500\n  emailFields: [email, mail]\n  phoneFields: []\n"),
		  "{\"db\":{\"path\":\"state/jrn.db\",\"busyTimeout\":\"1h30m\"},\"ingest\":{\"defaultCountry\":\"GB\",\"batchSize\":500,\"emailFields\":[\"email\",\"mail\"],\"phoneFields\":[]}}",
		  "every db and ingest key; country in capitals");
	CHECK_STR(load("db:\n  busyTimeout: 2500\n"), "{\"db\":{\"busyTimeout\":2500}}", "busyTimeout in ms");
	CHECK_STR(load("db:\ningest:\nsources:\nai: {}\n"), "{\"db\":{},\"ingest\":{},\"sources\":{},\"ai\":{}}",
		  "an empty section is {}");
	CHECK_STR(load("db:\n  path: x\n  bsyTimeout: 5s\n"),
		  "ERR jrn.yaml:3:3: unknown key 'bsyTimeout' in db (did you mean 'busyTimeout'?)",
		  "unknown key with a suggestion");
	CHECK_STR(load("ingest:\n  colour: red\n"), "ERR jrn.yaml:2:3: unknown key 'colour' in ingest",
		  "unknown key, nothing close");
	CHECK_STR(load("sorces:\n  a: 1\n"),
		  "ERR jrn.yaml:1:1: unknown key 'sorces' at the top level (did you mean 'sources'?)",
		  "unknown section");
	CHECK_STR(load("db:\n  path: 5\n"), "ERR jrn.yaml:2:9: db.path: expected a string, got a number",
		  "type error");
	CHECK_STR(load("db: x.db\n"), "ERR jrn.yaml:1:5: db: expected a mapping, got a string",
		  "section that is not a mapping");
	CHECK_STR(load("journeys: [a]\n"), "ERR jrn.yaml:1:11: journeys: expected a mapping, got a list",
		  "reserved section must be a mapping");
	CHECK_STR(load("ingest:\n  batchSize: 0\n"),
		  "ERR jrn.yaml:2:14: ingest.batchSize: expected an integer from 1 to 10000000, got 0",
		  "batchSize range");
	CHECK_STR(load("ingest:\n  batchSize: 2.5\n"),
		  "ERR jrn.yaml:2:14: ingest.batchSize: expected an integer, got a number with a fraction",
		  "batchSize not an integer");
	CHECK_STR(load("ingest:\n  emailFields:\n    - email\n    - 5\n"),
		  "ERR jrn.yaml:4:7: ingest.emailFields[1]: expected a string, got a number",
		  "list item type, with its own position");
	CHECK_STR(load("ai:\n  allow:\n    channels: [sms, email, retargeting]\n"),
		  "{\"ai\":{\"allow\":{\"channels\":[\"sms\",\"email\",\"retargeting\"]}}}",
		  "a list item check passes each good item");
	CHECK_STR(load("ai:\n  allow:\n    channels:\n      - sms\n      - fax\n"),
		  "ERR jrn.yaml:5:9: ai.allow.channels[1]: expected a channel (email, sms or retargeting),"
		  " got 'fax'",
		  "a list item check judges each item, at its own position");
	CHECK_STR(load("ingest:\n  phoneFields: phone\n"),
		  "ERR jrn.yaml:2:16: ingest.phoneFields: expected a list of strings, got a string",
		  "list expected");
	CHECK_STR(load("ingest:\n  defaultCountry: USA\n"),
		  "ERR jrn.yaml:2:19: ingest.defaultCountry: expected a two-letter ISO 3166 country code such as US, got 'USA'",
		  "country code");
	CHECK_STR(load("db:\n  busyTimeout: 5 sec\n"),
		  "ERR jrn.yaml:2:16: db.busyTimeout: expected a duration (like 5s or 1h30m) or an integer of milliseconds, got '5 sec' (units: ms s m h d w)",
		  "bad duration");
	CHECK(strncmp(load("db:\n  busyTimeout: 99999999999999999999s\n"), "ERR jrn.yaml:2:16: db.busyTimeout: expected a duration", 54) == 0,
	      "a duration too large for 64 bits");
	CHECK_STR(load("db:\n  busyTimeout: 2w3d4h5m6s7ms\n"), "{\"db\":{\"busyTimeout\":\"2w3d4h5m6s7ms\"}}",
		  "every duration unit");
	CHECK_STR(load("db:\n  busyTimeout: true\n"),
		  "ERR jrn.yaml:2:16: db.busyTimeout: expected a duration (like 5s or 1h30m) or an integer of milliseconds, got a boolean",
		  "duration of the wrong type");
	CHECK_STR(load("sources:\n  d: &d\n    path: x\n    pth: y\ndb: *d\n"),
		  "ERR jrn.yaml:5:5: unknown key 'pth' in db (did you mean 'path'?)",
		  "an aliased section is checked, at the alias");

	/* ---- the file ---- */
	CHECK_STR(load(""), "{}", "empty file is {}");
	CHECK_STR(load("# nothing yet\n\n"), "{}", "comments only is {}");
	CHECK_STR(load("- a\n- b\n"),
		  "ERR jrn.yaml:1:1: the top level must be a mapping of sections (db:, ingest:, ...), got a list",
		  "top-level list");
	CHECK_STR(load("db:\n  path: a\n---\ndb:\n  path: b\n"),
		  "ERR jrn.yaml:3:1: a second YAML document: the configuration is one document",
		  "two documents");
	CHECK_STR(load("db:\n  path: [x\n"),
		  "ERR jrn.yaml:3:1: did not find expected ',' or ']' (while parsing a flow sequence at 2:9)",
		  "syntax error from libyaml, 1-based");
	CHECK_STR(load("db:\n  path: x\n bad\n"),
		  "ERR jrn.yaml:3:2: did not find expected key (while parsing a block mapping at 1:1)",
		  "syntax error: bad indentation");
	CHECK_STR(load_n("db:\n  path: \"a\xff\"\n", 15),
		  "ERR jrn.yaml:2:11: invalid leading UTF-8 octet (byte 0xFF)", "invalid UTF-8, with its position");
	CHECK_STR(load("\xef\xbb\xbf" "db:\r\n  path: x\r\n"), "{\"db\":{\"path\":\"x\"}}", "BOM and CRLF");
	{
		jrn_err e;
		jv v = jrn_config_load("missing.yaml", &e);
		CHECK(!jv_is_valid(v), "missing file fails");
		CHECK_STR(e.msg, "missing.yaml: No such file or directory", "missing file: name and strerror");
		jv_free(v);
		mkdir("adir", 0700);
		v = jrn_config_load("adir", &e);
		CHECK_STR(e.msg, "adir: Is a directory", "unreadable: a directory");
		jv_free(v);
		rmdir("adir");
	}

	/* ---- jrn_config_get ---- */
	{
		jrn_err e;
		const char *text = "db:\n  path: x.db\ningest:\n  emailFields: [a]\nsources:\n  crm: {url: u, n: {d: 1}}\n";
		put(FILE_NAME, text, strlen(text));
		jv cfg = jrn_config_load(FILE_NAME, &e);
		CHECK(jv_get_kind(cfg) == JV_KIND_OBJECT, "loaded");
		CHECK_STR(get(cfg, "db.path"), "\"x.db\"", "get db.path");
		CHECK_STR(get(cfg, "sources.crm.n.d"), "1", "get four levels down");
		CHECK_STR(get(cfg, "ingest.emailFields"), "[\"a\"]", "get a list");
		CHECK_STR(get(cfg, "db"), "{\"path\":\"x.db\"}", "get a section");
		CHECK_STR(get(cfg, "db.busyTimeout"), "(invalid)", "absent key");
		CHECK_STR(get(cfg, "report.x"), "(invalid)", "absent section");
		CHECK_STR(get(cfg, "db.path.x"), "(invalid)", "through a string");
		CHECK_STR(get(cfg, "ingest.emailFields.0"), "(invalid)", "through a list");
		CHECK_STR(get(jv_invalid(), "db"), "(invalid)", "on an invalid config");
		CHECK(jv_get_kind(cfg) == JV_KIND_OBJECT && jv_get_refcnt(cfg) == 1, "borrowed, not consumed");
		jv_free(cfg);
	}

	/* ---- durations checked at load, typed getters ---- */
	CHECK_STR(load("scoring:\n  rfm:\n    window: -5\n"),
		  "ERR jrn.yaml:3:13: scoring.rfm.window: expected milliseconds from 0 to 9007199254740992, got -5",
		  "a negative duration fails at load, with its position");
	CHECK_STR(load("scoring:\n  clv:\n    unit: 1.5d\n"),
		  "ERR jrn.yaml:3:11: scoring.clv.unit: expected a duration (like 5s or 1h30m) or an integer of milliseconds, got '1.5d' (units: ms s m h d w)",
		  "a bad duration string fails at load");
	{
		jrn_err e;
		const char *text = "db:\n  busyTimeout: 1h30m\nscoring:\n  rfm:\n    window: 2500\n  clv: {}\n"
				   "ingest:\n  batchSize: 0x10\n  defaultCountry: gb\nsegments:\n  drift: 0.5\n"
				   "sources:\n  on: true\n";
		put(FILE_NAME, text, strlen(text));
		jv cfg = jrn_config_load(FILE_NAME, &e);
		int64_t ms = -1, n = -1;
		double d = -1;
		bool b = false;
		char *str = NULL;
		CHECK(jrn_config_duration(cfg, "db.busyTimeout", &ms, &e) == 1 && ms == 5400000,
		      "jrn_config_duration: 1h30m is 5400000 ms");
		CHECK(jrn_config_duration(cfg, "scoring.rfm.window", &ms, &e) == 1 && ms == 2500,
		      "jrn_config_duration: integer milliseconds");
		ms = 7;
		CHECK(jrn_config_duration(cfg, "scoring.clv.horizon", &ms, &e) == 0 && ms == 7,
		      "jrn_config_duration: absent, untouched");
		CHECK(jrn_config_int(cfg, "ingest.batchSize", &n, &e) == 1 && n == 16, "jrn_config_int");
		CHECK(jrn_config_number(cfg, "segments.drift", &d, &e) == 1 && d == 0.5, "jrn_config_number");
		CHECK(jrn_config_bool(cfg, "sources.on", &b, &e) == 1 && b, "jrn_config_bool");
		CHECK(jrn_config_string(cfg, "ingest.defaultCountry", &str, &e) == 1 && str && !strcmp(str, "GB"),
		      "jrn_config_string: the normalised value, a copy");
		free(str);
		CHECK(jrn_config_int(cfg, "segments.drift", &n, &e) == -1 &&
		      !strcmp(e.msg, "expected an integer, not a number with a fraction"), "jrn_config_int: not an integer");
		CHECK(jrn_config_string(cfg, "nope.x", &str, &e) == 0, "jrn_config_string: absent");
		jv_free(cfg);
		jv hand = JV_OBJECT(jv_string("w"), jv_string("3x"));
		CHECK(jrn_config_duration(hand, "w", &ms, &e) == -1 && strstr(e.msg, "unknown unit"),
		      "a hand-built config: the reason");
		jv_free(hand);
	}

	test_unresolved();
	test_secrets();
	test_where();
	test_opts();
	unlink(FILE_NAME);
	if (chdir("/") == 0)
		rmdir(dir);
	return unit_done();
}
