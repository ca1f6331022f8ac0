/* Unit tests of tool.c: jrn_idmap, jrn_hash64, jrn_opts_parse, jrn_finish,
 * the statement and transaction helpers, jrn_nearest. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <unistd.h>

#include "jrn.h"
#include "unit.h"

static int seen_x;
static int take(void *ctx, int c, const char *arg)
{
	(void)arg;
	if (c == 'x') {
		++*(int *)ctx;
		return 0;
	}
	if (c == 'y')
		return JRN_EXIT_USAGE;
	return -2;
}

static int parse(const char *a1, const char *a2)
{
	static const struct option longopts[] = {JRN_COMMON_LONG, {NULL, 0, NULL, 0}};
	char *argv[] = {"t", (char *)a1, (char *)a2, NULL};
	int argc = a2 ? 3 : a1 ? 2 : 1;
	jrn_opts o;
	jrn_opts_init(&o, "t-tool");
	optind = 0; /* getopt: start again */
	opterr = 0;
	int rc = jrn_opts_parse(&o, argc, argv, JRN_COMMON_SHORT "xy", longopts, "", take, &seen_x);
	jrn_opts_free(&o);
	return rc;
}

static void idmap(void)
{
	jrn_idmap *m = jrn_idmap_new();
	bool added;
	CHECK(m && jrn_idmap_count(m) == 0, "a new map is empty");
	CHECK(jrn_idmap_get(m, "a", 1) == -1, "get on an empty map: -1");
	CHECK(jrn_idmap_put(m, "a", 1, &added) == 0 && added, "first key: index 0, added");
	CHECK(jrn_idmap_put(m, "a", 1, &added) == 0 && !added, "same key: index 0, not added");
	CHECK(jrn_idmap_put(m, "ab", 2, NULL) == 1, "a longer key with the same prefix is another");
	CHECK(jrn_idmap_put(m, "a\0b", 3, NULL) == 2, "keys may hold NUL bytes");
	CHECK(jrn_idmap_put(m, "", 0, NULL) == 3, "the empty key is a key");
	/* 300,000 keys: the table grows many times and keeps every index */
	char k[32];
	int ok = 1;
	for (int i = 0; i < 300000 && ok; i++) {
		int n = snprintf(k, sizeof k, "customer-%d", i);
		ok = jrn_idmap_put(m, k, (size_t)n, NULL) == 4 + i;
	}
	CHECK(ok, "300,000 keys get 4..300003 in insertion order");
	for (int i = 0; i < 300000 && ok; i += 7) {
		int n = snprintf(k, sizeof k, "customer-%d", i);
		size_t len;
		ok = jrn_idmap_get(m, k, (size_t)n) == 4 + i &&
		     !strcmp(jrn_idmap_key(m, (size_t)(4 + i), &len), k) && len == (size_t)n;
	}
	CHECK(ok, "after growth every key finds its index and the index its key");
	CHECK(jrn_idmap_get(m, "customer-300000", 15) == -1, "an absent key: -1");
	CHECK(jrn_idmap_count(m) == 300004, "count %zu", jrn_idmap_count(m));
	size_t len;
	CHECK(jrn_idmap_key(m, 2, &len)[1] == 0 && len == 3, "a key with NUL keeps its length");
	jrn_idmap_free(m);
	jrn_idmap_free(NULL);
	CHECK(1, "freeing NULL is a no-op");
}

static void hash(void)
{
	/* FNV-1a 64 of "" is its offset basis; with the final mix applied */
	uint64_t h = 0xcbf29ce484222325ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	CHECK(jrn_hash64("", 0) == h, "hash of the empty string: the mixed FNV basis");
	CHECK(jrn_hash64("a", 1) != jrn_hash64("b", 1), "one byte apart, different hashes");
	CHECK(jrn_hash64("ab", 2) == jrn_hash64("abc", 2), "only n bytes are read");
}

static void opts(void)
{
	seen_x = 0;
	CHECK(parse(NULL, NULL) == -1, "no options: go on");
	CHECK(parse("-x", "-x") == -1 && seen_x == 2, "the tool's own options reach take()");
	CHECK(parse("-q", NULL) == -1, "a common option is taken");
	CHECK(parse("-y", NULL) == JRN_EXIT_USAGE, "take()'s status ends the parse");
	CHECK(parse("--version", NULL) == JRN_EXIT_OK, "--version: exit 0");
	CHECK(parse("-Z", NULL) == JRN_EXIT_USAGE, "an unknown option: exit 2");
	CHECK(parse("--db", NULL) == JRN_EXIT_USAGE, "a missing argument: exit 2");
	CHECK(!strcmp(jrn_prog(), "t-tool"), "jrn_opts_init names the voice");
}

static void finish(void)
{
	int p[2];
	if (pipe(p) < 0)
		return;
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	jrn_out o;
	jrn_out_init(&o, p[1]);
	jrn_out_line(&o, "{}", 2);
	jrn_out_flush(&o);
	CHECK(jrn_finish(&o, NULL, JRN_EXIT_OK) == JRN_EXIT_OK, "a reader gone away (EPIPE) is a normal end");
	close(p[1]);

	int fd = open("/dev/full", O_WRONLY);
	if (fd >= 0) {
		jrn_out_init(&o, fd);
		jrn_out_line(&o, "{}", 2);
		CHECK(jrn_finish(&o, NULL, JRN_EXIT_OK) == JRN_EXIT_FAIL, "a full disk is a failure");
		close(fd);
	}
	jrn_rejects r;
	jrn_err e;
	jrn_rejects_open(&r, "t", NULL, true, &e);
	jrn_reject(&r, "f", 1, "x", 1, "bad", &e);
	CHECK(jrn_finish(NULL, &r, JRN_EXIT_OK) == JRN_EXIT_REJECTS, "rejects turn 0 into 3");
	jrn_rejects_open(&r, "t", NULL, true, &e);
	jrn_reject(&r, "f", 1, "x", 1, "bad", &e);
	CHECK(jrn_finish(NULL, &r, JRN_EXIT_FAIL) == JRN_EXIT_FAIL, "but not a failure into 3");
}

static void db(void)
{
	char dir[] = "/tmp/jrn-unit-tool-XXXXXX";
	if (!mkdtemp(dir))
		return;
	char path[64];
	snprintf(path, sizeof path, "%s/s.db", dir);
	sqlite3 *db;
	jrn_err e;
	CHECK(jrn_db_open(path, 1000, &db, &e) == 0, "open a state file");
	sqlite3_stmt *st;
	CHECK(jrn_db_prepare(db, "SELECT no_such_column FROM events", &st, &e) < 0 && !st &&
		      strstr(e.msg, "no_such_column"),
	      "a bad statement: -1 with SQLite's message (%s)", e.msg);
	CHECK(jrn_db_prepare(db, "SELECT count(*) FROM events", &st, &e) == 0 && st, "a good one");
	CHECK(jrn_db_begin(db, &e) == 0 && !sqlite3_get_autocommit(db), "begin opens a transaction");
	jrn_db_rollback(db);
	CHECK(sqlite3_get_autocommit(db), "rollback ends it");
	jrn_db_rollback(db);
	CHECK(sqlite3_get_autocommit(db), "rollback outside a transaction is a no-op");
	CHECK(jrn_db_begin(db, &e) == 0 && jrn_db_commit(db, &e) == 0, "begin, commit");
	CHECK(jrn_db_commit(db, &e) < 0, "commit without a transaction: -1");
	int64_t a = jrn_mono_ms();
	usleep(20000);
	CHECK(jrn_mono_ms() - a >= 19, "the monotonic clock moves");
	/* a second, read-only connection beside the first */
	sqlite3 *rd;
	CHECK(jrn_db_exec(db, "INSERT INTO runs (job, pid, started_at, pipeline) VALUES ('t', 1, 1, 'x')", &e) == 0,
	      "a row written by the first connection (%s)", e.msg);
	CHECK(jrn_db_open_reader(path, 1000, &rd, &e) == 0, "open a reader (%s)", e.msg);
	sqlite3_stmt *q = NULL;
	CHECK(jrn_db_prepare(rd, "SELECT count(*) FROM runs", &q, &e) == 0 && sqlite3_step(q) == SQLITE_ROW &&
		      sqlite3_column_int(q, 0) == 1,
	      "the reader sees what the first connection committed");
	sqlite3_finalize(q);
	CHECK(jrn_db_exec(rd, "DELETE FROM runs", &e) < 0, "the reader writes nothing (%s)", e.msg);
	sqlite3_close(rd);
	char none[80];
	snprintf(none, sizeof none, "%s/none.db", dir);
	CHECK(jrn_db_open_reader(none, 1000, &rd, &e) < 0 && !rd && strstr(e.msg, "none.db") &&
		      access(none, F_OK) != 0,
	      "no file there: -1, and none made (%s)", e.msg);
	sqlite3_finalize(st);
	sqlite3_close(db);
	unit_rmtree(dir);
}

static void duration(void)
{
	jv cfg = jv_parse("{\"a\":{\"s\":\"1h30m\",\"n\":250,\"bad\":\"3x\",\"neg\":-1,\"t\":true}}");
	int64_t ms = 7;
	jrn_err e;
	CHECK(jrn_config_duration(cfg, "a.s", &ms, &e) == 1 && ms == 5400000, "a string duration in ms");
	CHECK(jrn_config_duration(cfg, "a.n", &ms, &e) == 1 && ms == 250, "a number is milliseconds");
	ms = 7;
	CHECK(jrn_config_duration(cfg, "a.none", &ms, &e) == 0 && ms == 7, "absent: 0, untouched");
	CHECK(jrn_config_duration(cfg, "a.bad", &ms, &e) == -1, "a bad unit: -1 (%s)", e.msg);
	CHECK(jrn_config_duration(cfg, "a.neg", &ms, &e) == -1, "negative: -1");
	CHECK(jrn_config_duration(cfg, "a.t", &ms, &e) == -1, "a boolean: -1 (%s)", e.msg);
	jv_free(cfg);
}

static void nearest(void)
{
	static const char *const cmds[] = {"state", "optimize", "eval", NULL};
	static const char *const verbs[] = {"init", "run", "log", "queue", "doctor", NULL};
	static const char *const score[] = {"rfm", "clv", "lead", NULL};
	static const char *const leaf[] = {"field", "op", "operator", "value", "description", NULL};
	CHECK_STR(jrn_nearest("stat", cmds), "state", "a letter missing: stat -> state");
	CHECK_STR(jrn_nearest("queu", verbs), "queue", "queu -> queue");
	CHECK_STR(jrn_nearest("rfn", score), "rfm", "one letter wrong in three: rfn -> rfm");
	CHECK_STR(jrn_nearest("rmf", score), "rfm", "a swapped pair is one edit: rmf -> rfm");
	CHECK_STR(jrn_nearest("qeueu", verbs), "queue", "two edits in five letters: qeueu -> queue");
	CHECK_STR(jrn_nearest("Doctor", verbs), "doctor", "case ignored: Doctor -> doctor");
	CHECK_STR(jrn_nearest("opp", leaf), "op", "opp -> op (the nearer, not operator)");
	CHECK_STR(jrn_nearest("valeu", leaf), "value", "valeu -> value");
	CHECK(jrn_nearest("x", leaf) == NULL, "a word replaced whole is no typo: x, not op");
	static const char *const jobs[] = {"ok", "pipe", "nightly", NULL};
	CHECK(jrn_nearest("nope", jobs) == NULL, "two edits in four letters is too far: nope, not pipe");
	CHECK_STR(jrn_nearest("nigthly", jobs), "nightly", "nigthly -> nightly");
	CHECK(jrn_nearest("abc", score) == NULL, "abc is near none of rfm, clv, lead");
	CHECK(jrn_nearest("optim", cmds) == NULL, "three edits is too far: optim");
	CHECK(jrn_nearest("eval", cmds) == NULL, "a known word gets no suggestion");
	CHECK(jrn_nearest(NULL, cmds) == NULL, "NULL gets none");
	CHECK(jrn_nearest("a-word-of-forty-letters-that-is-too-long", cmds) == NULL,
	      "a long word gets none (and no overflow)");
	static const char *const none[] = {NULL};
	CHECK(jrn_nearest("x", none) == NULL, "an empty list gets none");
}

int main(void)
{
	nearest();
	idmap();
	hash();
	opts();
	finish();
	db();
	duration();
	return unit_done();
}
