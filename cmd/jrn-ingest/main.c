/*
 * jrn-ingest: take customer events in, check and normalise them, store each
 * once in the state file, and write the new ones to stdout.
 *
 * Two threads: this one reads lines and has record.c check and serialise
 * them into batches; the store thread inserts a batch in one transaction,
 * then writes the records it stored to stdout (stored before shown, so a
 * consumer never sees an event the state file lacks).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrn-ingest.h"
#include "listen.h"
#include "nats.h"

static const char usage[] =
	"usage: jrn-ingest [OPTIONS] [FILE...]\n"
	"Read events (NDJSON) from FILEs or stdin, check and normalise them, store\n"
	"each once in the state file and write the newly stored ones to stdout.\n"
	"\n"
	"  --db PATH             state file (JRN_DB; default ./jrn.db)\n"
	"  --config PATH         configuration (JRN_CONFIG; default ./jrn.yaml if any)\n"
	"  --now TIME            the clock, RFC 3339 (JRN_NOW)\n"
	"  --rejects FILE        append rejected lines to FILE as JSON\n"
	"  --store-only          store, write nothing to stdout\n"
	"  --all                 also write duplicates (already stored) to stdout\n"
	"  --dry-run             check and normalise only; no state file\n"
	JRN_CHECK_CONFIG_USAGE
	"                        (--listen's set-up too, nothing bound; no server\n"
	"                        contacted)\n"
	"  --country CC          region for phone numbers without +country (US)\n"
	"  --batch-size N        records per transaction (100000)\n"
	"  --listen ADDR:PORT    serve HTTP instead: events by POST, stored before the\n"
	"                        reply (jrn-ingest(1) LISTEN); no FILEs\n"
	"  --publish [URL[,URL]] publish to NATS JetStream instead of storing: an event\n"
	"                        is written once the stream acknowledged it (NATS);\n"
	"                        without a URL, nats.url of the config\n"
	"  --from [URL[,URL]]    store the events of the stream's --partitions instead\n"
	"                        of reading FILEs; follows until SIGTERM\n"
	"  --partitions LIST     with --from: 0,3,5 or 0-3 or P/N\n"
	"  --drain               with --from: exit once caught up with the stream\n"
	"  -q, --quiet           no summary, no per-line diagnostics\n"
	"  -v, --verbose         more diagnostics\n"
	"  -h, --help            this help\n"
	"      --version         print the version\n"
	"\n"
	"Exit status: 0 all stored, 1 failure, 2 usage, 3 some lines rejected.\n";

enum {
	OPT_STORE_ONLY = JRN_OPT_TOOL_BASE,
	OPT_ALL,
	OPT_COUNTRY,
	OPT_BATCH,
	OPT_LISTEN,
	OPT_PUBLISH,
	OPT_FROM,
	OPT_PARTITIONS,
	OPT_DRAIN,
};

static const struct option longopts[] = {
	JRN_COMMON_LONG,
	{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
	{"store-only", no_argument, NULL, OPT_STORE_ONLY},
	{"all", no_argument, NULL, OPT_ALL},
	{"country", required_argument, NULL, OPT_COUNTRY},
	{"batch-size", required_argument, NULL, OPT_BATCH},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"publish", optional_argument, NULL, OPT_PUBLISH},
	{"from", optional_argument, NULL, OPT_FROM},
	{"partitions", required_argument, NULL, OPT_PARTITIONS},
	{"drain", no_argument, NULL, OPT_DRAIN},
	JRN_CHECK_CONFIG_LONG,
	{NULL, 0, NULL, 0},
};

/* ---- settings and shared state ------------------------------------------ */

static jrn_opts opts;
static bool store_only, emit_all;
static long batch_size = 100000;
/* At the default size, a run's first batch holds 1,000 records and each
 * next one twice the last, up to batch_size: the store thread starts
 * while this one reads on. With 100,000 at once it waited 0.4 s of a
 * 5.5 s load for the first (libphonenumber's set-up, and every phone
 * number new to the memo). */
static long first_batch = 1000;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static batch *free_list, *full_head, *full_tail;
static bool input_done;     /* reader: no more batches will come */
static bool store_waits;    /* store thread: waiting for a batch */
static bool stop;           /* store thread: stop reading (failure or EPIPE) */
static jrn_err store_err;   /* what stopped it, when it failed */
static int store_failed;
static uint64_t n_stored, n_dup;
static uint64_t n_commits, most_events; /* -v: transactions, the largest's events */

static jrn_out out;

/* ---- the store thread ----------------------------------------------------- */

static batch *take_full(void)
{
	pthread_mutex_lock(&mu);
	store_waits = true;
	while (!full_head && !input_done)
		pthread_cond_wait(&cond, &mu);
	store_waits = false;
	batch *b = full_head;
	if (b) {
		full_head = b->next;
		if (!full_head)
			full_tail = NULL;
	}
	pthread_mutex_unlock(&mu);
	return b;
}

static void give_free(batch *b)
{
	jrn_buf_reset(&b->text);
	b->n = 0;
	pthread_mutex_lock(&mu);
	b->next = free_list;
	free_list = b;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
}

static void halt(void)
{
	pthread_mutex_lock(&mu);
	stop = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
}

typedef struct {
	sqlite3 *db;
	sqlite3_stmt *insert;
	jrn_reach *reach;     /* consent events set the consent table */
	jrn_privacy *privacy; /* erased values: their lines are rejected */
	jrn_profile *profile; /* identify and alias events set the profile */
	unsigned char *fresh; /* per record of the batch: newly stored */
	size_t fresh_cap;
	ingest_nats *nats;    /* --publish: publishes instead of db */
	ingest_nats *from;    /* --from: the offsets go with each batch */
	sqlite3_stmt *file_size;  /* cache_grow's: the state file's bytes */
	sqlite3_int64 cache_kib;  /* the cache size it set (0: jrn_db_open's) */
} store;

static int bind_span(sqlite3_stmt *st, int i, const batch *b, span s)
{
	if (s.len == 0 && s.off == 0)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text64(st, i, b->text.p + s.off, s.len, SQLITE_STATIC, SQLITE_UTF8);
}

static jrn_reach_text span_text(const batch *b, span s)
{
	return s.len == 0 && s.off == 0 ? (jrn_reach_text){NULL, 0}
					 : (jrn_reach_text){b->text.p + s.off, s.len};
}

/* Inserts b's records in the open transaction, fresh[i] set when record i
 * is new (with its consent and profile changes). 0, or -1 with e (the
 * caller rolls back). */
static int store_rows(store *s, batch *b, unsigned char *fresh, jrn_err *e)
{
	for (size_t i = 0; i < b->n; i++) {
		const record *r = &b->recs[i];
		sqlite3_stmt *st = s->insert;
		int rc = bind_span(st, 1, b, r->id);
		rc |= bind_span(st, 2, b, r->type);
		rc |= bind_span(st, 3, b, r->customer);
		rc |= sqlite3_bind_int64(st, 4, r->ts);
		rc |= sqlite3_bind_int64(st, 5, r->received);
		rc |= r->has_amount ? sqlite3_bind_double(st, 6, r->amount) : sqlite3_bind_null(st, 6);
		rc |= bind_span(st, 7, b, r->body);
		if (rc != SQLITE_OK) {
			sqlite3_reset(st);
			return jrn_fail(e, "%s", sqlite3_errmsg(s->db));
		}
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return jrn_fail(e, "%s", sqlite3_errmsg(s->db));
		fresh[i] = sqlite3_changes(s->db) > 0;
		if (fresh[i] && r->consent != JRN_REACH_NONE) {
			jrn_reach_consent c = {span_text(b, r->customer), span_text(b, r->channel),
					       r->consent, r->ts, span_text(b, r->source),
					       span_text(b, r->id)};
			if (jrn_reach_consent_set(s->reach, &c, e) < 0)
				return -1;
		}
		if (fresh[i] && jrn_profile_event(s->profile, b->text.p + r->type.off, r->type.len,
						  b->text.p + r->body.off, r->body.len, r->ts, e) < 0)
			return -1;
	}
	return 0;
}

static int fresh_room(store *s, size_t n, jrn_err *e)
{
	if (n > s->fresh_cap) {
		unsigned char *p = realloc(s->fresh, n);
		if (!p)
			return jrn_fail(e, "out of memory");
		s->fresh = p;
		s->fresh_cap = n;
	}
	return 0;
}

/* The page cache grows with the state file: a quarter of it, in steps of
 * 64 MiB from jrn_db_open's 64 MiB up to 512 MiB, set before each batch
 * (--listen: before each group commit's rows, in listen_store). A batch's
 * inserts into events_customer land all over it, and once that index
 * outgrew the cache each one read a page back from the file: a fresh
 * load of 10M events took 176 s with 64 MiB (79 s of it in the kernel,
 * copying pages in) and 105 s with 512 MiB; 1 GiB gained nothing more. */
static void cache_grow(store *s)
{
	int rc = sqlite3_step(s->file_size);
	sqlite3_int64 bytes = rc == SQLITE_ROW ? sqlite3_column_int64(s->file_size, 0) : 0;
	sqlite3_reset(s->file_size);
	if (rc != SQLITE_ROW)
		return; /* the size unknown this time: the cache as it is */
	sqlite3_int64 kib = bytes / 1024 / 4;
	kib = kib < 65536 ? 65536 : kib > 524288 ? 524288 : kib / 65536 * 65536;
	if (kib != s->cache_kib) {
		char sql[64];
		snprintf(sql, sizeof sql, "PRAGMA cache_size = -%lld", (long long)kib);
		if (jrn_db_exec(s->db, sql, NULL) == 0)
			s->cache_kib = kib;
	}
}

static int store_batch(store *s, batch *b, jrn_err *e)
{
	if (fresh_room(s, b->n, e) < 0)
		return -1;
	if (s->nats) /* --publish: fresh[i] 1 stored, 2 duplicate (nats.h) */
		return ingest_nats_publish(s->nats, b, s->fresh, e);
	cache_grow(s);
	if (jrn_db_begin(s->db, e) < 0)
		return -1;
	if (store_rows(s, b, s->fresh, e) < 0 ||
	    (s->from && ingest_nats_offsets_save(s->from, s->db, b, e) < 0) ||
	    jrn_db_commit(s->db, e) < 0) {
		jrn_db_rollback(s->db);
		return -1;
	}
	return 0;
}

static bool stopped(void)
{
	pthread_mutex_lock(&mu);
	bool s = stop;
	pthread_mutex_unlock(&mu);
	return s;
}

static void *store_main(void *arg)
{
	store *s = arg;
	batch *b;

	pthread_setname_np(pthread_self(), "jrn-ingest-db");
	while ((b = take_full())) {
		if (stopped()) {
			give_free(b);
			continue;
		}
		bool failed = (s->db || s->nats) && store_batch(s, b, &store_err) < 0;
		if (!failed && s->db && !s->nats) {
			n_commits++;
			most_events = b->n > most_events ? b->n : most_events;
		}
		if (failed) {
			store_failed = 1;
			halt();
			if (!s->nats) { /* --publish: the acked ones of the batch are shown */
				give_free(b);
				continue;
			}
		}
		for (size_t i = 0; i < b->n; i++) {
			if (failed && !s->fresh[i])
				continue;
			bool fresh = s->nats ? s->fresh[i] == 1 : !s->db || s->fresh[i];
			if (fresh)
				n_stored++;
			else
				n_dup++;
			if (!store_only && (fresh || emit_all))
				jrn_out_line(&out, b->text.p + b->recs[i].body.off, b->recs[i].body.len);
		}
		if (!store_only && jrn_out_flush(&out) < 0)
			halt();
		give_free(b);
	}
	return NULL;
}

/* ---- main ----------------------------------------------------------------- */

static batch *take_free(void)
{
	pthread_mutex_lock(&mu);
	while (!free_list && !stop)
		pthread_cond_wait(&cond, &mu);
	batch *b = free_list;
	if (b)
		free_list = b->next;
	pthread_mutex_unlock(&mu);
	return b;
}

/* Whether a batch given now would wait: the store thread is storing one,
 * or one is queued for it (--from fills on meanwhile). */
static bool store_busy(void)
{
	pthread_mutex_lock(&mu);
	bool busy = !store_waits || full_head;
	pthread_mutex_unlock(&mu);
	return busy;
}

static void give_full(batch *b)
{
	b->next = NULL;
	pthread_mutex_lock(&mu);
	if (full_tail)
		full_tail->next = b;
	else
		full_head = b;
	full_tail = b;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
}


/* The run's pieces, for teardown() to free whatever was set. */
static store st;
static jrn_rejects rej;
static batch pool[3];
static const char *country_flag, *batch_flag, *listen_flag;
static const char *publish_flag, *from_flag, *partitions_flag;
static bool drain;
static unsigned char *owned; /* --from: per partition, owned */
static char country_buf[8] = "US";

/* --publish and --from: their URL, after '=' or the next word when it has
 * a scheme ("://", so that a wrong one is named as such), else "" for nats.url
 * of the config (the URL is optional; a FILE after --publish stays a FILE). getopt_long leaves optind
 * at the next word, which is taken by moving optind past it. */
/* take_opt's ctx: the command line */
struct args {
	int argc;
	char **argv;
};

static const char *nats_arg(char **argv, int argc, const char *arg)
{
	if (arg)
		return arg;
	if (optind < argc && strstr(argv[optind], "://"))
		return argv[optind++];
	return "";
}

static int take_opt(void *ctx, int c, const char *arg)
{
	const struct args *a = ctx;
	char **argv = a->argv;
	int argc = a->argc;
	switch (c) {
	case OPT_STORE_ONLY: store_only = true; return 0;
	case OPT_ALL: emit_all = true; return 0;
	case OPT_COUNTRY: country_flag = arg; return 0;
	case OPT_BATCH: batch_flag = arg; return 0;
	case OPT_LISTEN: listen_flag = arg; return 0;
	case OPT_PUBLISH: publish_flag = nats_arg(argv, argc, arg); return 0;
	case OPT_FROM: from_flag = nats_arg(argv, argc, arg); return 0;
	case OPT_PARTITIONS: partitions_flag = arg; return 0;
	case OPT_DRAIN: drain = true; return 0;
	}
	return -2;
}

/* --publish, --from, --partitions, --drain: -1 to go on, else the status
 * to exit with. */
static int parse_nats(int argc, char **argv)
{
	jrn_err e;
	const char *url = publish_flag ? publish_flag : from_flag;
	const char *name = publish_flag ? "--publish" : "--from";
	if (publish_flag && from_flag)
		return jrn_say(JRN_EXIT_USAGE, "--publish and --from exclude each other");
	if (from_flag && listen_flag)
		return jrn_say(JRN_EXIT_USAGE, "--listen and --from exclude each other");
	if (url && opts.dry_run)
		return jrn_say(JRN_EXIT_USAGE, "%s and --dry-run exclude each other", name);
	if (url && *url && ingest_nats_url_check(url, &e) < 0)
		return jrn_say(JRN_EXIT_USAGE, "%s: %s", name, e.msg);
	if (from_flag && !partitions_flag)
		return jrn_say(JRN_EXIT_USAGE, "--from needs --partitions (0,3,5 or 0-3 or P/N)");
	if (!from_flag && (partitions_flag || drain))
		return jrn_say(JRN_EXIT_USAGE, "%s goes with --from only",
			       partitions_flag ? "--partitions" : "--drain");
	if (partitions_flag && ingest_nats_partitions(partitions_flag, 0, NULL, &e) < 0)
		return jrn_say(JRN_EXIT_USAGE, "--partitions: %s", e.msg);
	if (from_flag && optind < argc)
		return jrn_say(JRN_EXIT_USAGE, "--from takes no FILE ('%s')", argv[optind]);
	return -1;
}

/* --partitions against nats.partitions (before the state file is made):
 * -1 to go on, else the status to exit with (said). */
static int owned_partitions(void)
{
	jrn_err e;
	int64_t n = 8; /* nats.partitions, checked by the schema */
	if (!from_flag)
		return -1;
	if (jrn_config_int(opts.config, "nats.partitions", &n, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "nats.partitions: %s", e.msg);
	if (!(owned = malloc((size_t)n)))
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	if (ingest_nats_partitions(partitions_flag, (int)n, owned, &e) < 0)
		return jrn_say(JRN_EXIT_USAGE, "--partitions: %s", e.msg);
	return -1;
}

/* The server and the stream of --publish or --from: -1 to go on, else the
 * status to exit with (said). */
static int set_up_nats(void)
{
	jrn_err e;
	int status;
	const char *url = publish_flag ? publish_flag : from_flag;
	if (!url)
		return -1;
	/* "": the flag without a URL, nats.url (ingest_nats_open) */
	ingest_nats *N = ingest_nats_open(opts.config, *url ? url : NULL, opts.verbosity, &status, &e);
	if (!N)
		return jrn_say(status, "%s", e.msg);
	/* a consumer that made its stream reads nothing until a publisher
	 * writes there: said, since a misspelled nats.stream looks the same */
	if (!publish_flag && ingest_nats_created(N) && opts.verbosity == 0)
		jrn_say(0, "stream %s did not exist: created, empty (--publish with the same"
			" nats.stream fills it)", ingest_nats_stream(N));
	if (publish_flag)
		st.nats = N;
	else
		st.from = N;
	return -1;
}

/* The command line: -1 to go on, else the status to exit with. */
static int parse(int argc, char **argv)
{
	struct args a = {argc, argv};
	int rc = jrn_opts_parse(&opts, argc, argv, JRN_COMMON_SHORT, longopts, usage, take_opt, &a);
	if (rc >= 0)
		return rc;
	if (batch_flag) {
		char *end;
		batch_size = strtol(batch_flag, &end, 10);
		if (*end || batch_size < 1 || batch_size > 10000000)
			return jrn_say(JRN_EXIT_USAGE, "--batch-size: '%s' is not a number from 1 to 10000000",
				       batch_flag);
	}
	if (country_flag && !(strlen(country_flag) == 2 && isalpha((unsigned char)country_flag[0]) &&
			      isalpha((unsigned char)country_flag[1])))
		return jrn_say(JRN_EXIT_USAGE, "--country: '%s' is not a two-letter region code",
			       country_flag);
	if (store_only && opts.dry_run)
		return jrn_say(JRN_EXIT_USAGE, "--store-only and --dry-run exclude each other");
	if (listen_flag && opts.dry_run)
		return jrn_say(JRN_EXIT_USAGE, "--listen and --dry-run exclude each other");
	if (listen_flag && optind < argc)
		return jrn_say(JRN_EXIT_USAGE, "--listen takes no FILE ('%s')", argv[optind]);
	if (opts.check_config && optind < argc)
		return jrn_say(JRN_EXIT_USAGE, "--check-config takes no FILE ('%s')", argv[optind]);
	return parse_nats(argc, argv);
}

static int check_listen(void);

/* The configuration, the rejects file and the state file: -1 to go on,
 * else the status to exit with (said). --check-config: the same steps
 * with the state file one in memory (the profile's keys of sources are
 * checked where it opens), no rejects file and no server; 0 when all
 * would do. */
static int set_up(void)
{
	jrn_err e;
	int rc = jrn_opts_resolve(&opts, &e);
	if (rc < 0) /* -2: a bad flag value such as --now yesterday */
		return jrn_say(rc == -2 ? JRN_EXIT_USAGE : JRN_EXIT_FAIL, "%s", e.msg);
	jv cfg_country = jrn_config_get(opts.config, "ingest.defaultCountry");
	if (jv_get_kind(cfg_country) == JV_KIND_STRING)
		snprintf(country_buf, sizeof country_buf, "%s", jv_string_value(cfg_country));
	jv_free(cfg_country);
	jv cfg_batch = jrn_config_get(opts.config, "ingest.batchSize");
	if (!batch_flag && jv_get_kind(cfg_batch) == JV_KIND_NUMBER)
		batch_size = (long)jv_number_value(cfg_batch);
	if (batch_flag || jv_get_kind(cfg_batch) == JV_KIND_NUMBER)
		first_batch = batch_size;
	jv_free(cfg_batch);
	if ((rc = owned_partitions()) >= 0)
		return rc;
	/* the Twilio routes read the state file (a number's customers, a
	 * message's delivery) and write suppressions in the writer's
	 * transaction: an edge that publishes has neither */
	jv tw = jrn_config_get(opts.config, "ingest.listen.twilio.authToken");
	bool twilio = jv_get_kind(tw) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(tw)) > 0;
	jv_free(tw);
	if (listen_flag && publish_flag && twilio)
		return jrn_say(JRN_EXIT_USAGE, "--listen with --publish: ingest.listen.twilio is set, and"
			       " its routes need a state file: serve them from a listener that stores");
	const char *jv_env = getenv("JRN_INGEST_JV");
	if (ingest_record_setup(opts.config, country_flag ? country_flag : country_buf,
				jv_env && !strcmp(jv_env, "1"), &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s%s%s", opts.config_path ? opts.config_path : "",
			       opts.config_path ? ": " : "", e.msg);
	bool check = opts.check_config;
	if (!check && jrn_rejects_open(&rej, "jrn-ingest", opts.rejects_path, opts.verbosity < 0,
				       &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "--rejects %s", e.msg);
	if (!opts.dry_run && !publish_flag) {
		if (jrn_db_open(check ? ":memory:" : opts.db_path, opts.busy_ms, &st.db, &e) < 0)
			return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
		if (jrn_db_prepare(st.db, "INSERT OR IGNORE INTO events (id, type, customer_id, ts,"
				   " received_at, amount, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
				   &st.insert, &e) < 0 ||
		    jrn_db_prepare(st.db, "SELECT page_count * page_size"
				   " FROM pragma_page_count(), pragma_page_size()", &st.file_size, &e) < 0 ||
		    !(st.reach = jrn_reach_open(st.db, &e)) ||
		    !(st.profile = jrn_profile_open(st.db, opts.config, &e)) ||
		    !(st.privacy = jrn_privacy_open(st.db, &e)))
			return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
		ingest_record_privacy(st.privacy);
		ingest_record_limit((size_t)sqlite3_limit(st.db, SQLITE_LIMIT_LENGTH, -1));
	}
	return check ? check_listen() : set_up_nats();
}

/* -v: the state file, the config and the inputs in use, one line each. */
static void say_setup(char **files, int nfiles)
{
	if (opts.verbosity <= 0)
		return;
	jrn_say(0, "state file: %s", opts.dry_run ? "(none: dry run)"
				      : publish_flag ? "(none: --publish)"
						     : opts.db_path);
	if (publish_flag || from_flag)
		jrn_say(0, "nats: %s%s%s", publish_flag ? "publish to " : "consume from ",
			*(publish_flag ? publish_flag : from_flag) ? (publish_flag ? publish_flag : from_flag)
								   : "nats.url",
			from_flag && drain ? " (--drain)" : "");
	jrn_say(0, "config: %s", opts.config_path ? opts.config_path : "(none: defaults)");
	jrn_buf in = {0};
	for (int i = 0; i < nfiles; i++)
		jrn_buf_addf(&in, "%s%s", i ? ", " : "", strcmp(files[i], "-") ? files[i] : "stdin");
	jrn_say(0, "inputs: %s", nfiles ? (in.p ? in.p : "(out of memory)") : "stdin");
	jrn_buf_free(&in);
}

/* --publish: the record line ln just added to b (when it was) must fit in
 * one message of the server (its max_payload); else it is rejected
 * naming the limit. 0, or -1 with fatal. */
static int publish_fits(batch *b, size_t before, const jrn_line *ln, jrn_err *fatal)
{
	if (!st.nats || b->n == before)
		return 0;
	/* the server counts the header too: "NATS/1.0\r\nNats-Msg-Id: ID\r\n\r\n" */
	int64_t max = ingest_nats_max_payload(st.nats);
	const record *r = &b->recs[b->n - 1];
	if ((int64_t)(r->body.len + 27 + r->id.len) <= max)
		return 0;
	b->n--;
	char why[200];
	snprintf(why, sizeof why, "event of %zu bytes (%zu with its Nats-Msg-Id header): over the"
		 " server's max_payload (%lld bytes)", r->body.len, r->body.len + 27 + r->id.len,
		 (long long)max);
	return jrn_reject(&rej, ln->file, ln->lineno, ln->p, ln->len, why, fatal);
}

/* Reads every line into batches for the store thread until the input ends
 * or the store thread stops. *io_failed when a file could not be read,
 * *fatal_set (with fatal) when a line could not be taken. */
static void read_input(jrn_reader *rd, bool *io_failed, bool *fatal_set, jrn_err *fatal)
{
	jrn_err e;
	jrn_line ln;
	batch *b = take_free();
	long limit = first_batch;
	jrn_reader_idle_notice(rd, true);
	while (b) {
		int rc = jrn_reader_next(rd, &ln, &e);
		if (rc < 0) {
			jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
			*io_failed = true;
			continue;
		}
		size_t before = b->n;
		if (rc == 1 && (ingest_take_line(b, &ln, &rej, fatal) < 0 ||
				publish_fits(b, before, &ln, fatal) < 0)) {
			*fatal_set = true;
			rc = 0;
		}
		/* A full batch, the end, or input that pauses (rc 2) ships it. */
		if (rc != 1 || b->n >= (size_t)limit || stopped()) {
			if (b->n > 0) {
				give_full(b);
				limit = limit > batch_size / 2 ? batch_size : limit * 2;
				b = rc == 0 ? NULL : take_free();
			} else if (rc == 0) {
				give_free(b);
				b = NULL;
			}
			if (stopped() && b) {
				give_free(b);
				b = NULL;
			}
		}
	}
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

/* --from: the owned partitions' messages into batches for the store thread,
 * from the stored offsets on, until SIGTERM/SIGINT (or, with --drain, the
 * end as of start). Returns the status so far (said when not 0). */
static int read_from(bool *fatal_set, jrn_err *fatal)
{
	jrn_err e;
	int n = ingest_nats_count(st.from);
	uint64_t *start = calloc((size_t)n, sizeof *start);
	if (!start)
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	int rc = ingest_nats_offsets_load(st.from, st.db, start, &e) < 0 ||
			 ingest_nats_follow(st.from, owned, start, drain, &e) < 0
		     ? jrn_say(JRN_EXIT_FAIL, "%s", e.msg)
		     : JRN_EXIT_OK;
	free(start);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	batch *b = rc ? NULL : take_free();
	/* batches from first_batch up, as read_input's: with 100,000 at once
	 * the store thread waited for the first (a third of a --drain of
	 * 200,000 events) */
	long limit = first_batch;
	while (b && !got_signal) {
		bool done;
		int got = ingest_nats_fill(st.from, b, (size_t)limit, store_busy, &rej, &done, fatal);
		if (got < 0) {
			*fatal_set = true;
			break;
		}
		if (got > 0) {
			give_full(b);
			limit = limit > batch_size / 2 ? batch_size : limit * 2;
			b = take_free();
		}
		if (done || stopped())
			break;
	}
	if (b)
		give_free(b);
	return rc;
}

/* --listen: the server stores with store_rows (with --publish publishes
 * with ingest_nats_publish) and writes with emit_rows (listen.c's writer
 * thread calls them). */
static int listen_store(batch *b, unsigned char *fresh, jrn_err *e)
{
	if (st.nats) /* fresh[i] 1 published, 2 duplicate, 0 unacked */
		return ingest_nats_publish(st.nats, b, fresh, e);
	cache_grow(&st); /* (inside the group's transaction: a pragma may be) */
	return store_rows(&st, b, fresh, e);
}

static int listen_take(batch *b, const jrn_line *ln, jrn_rejects *r, jrn_err *fatal)
{
	size_t before = b->n;
	if (ingest_take_line(b, ln, r, fatal) < 0)
		return -1;
	return publish_fits(b, before, ln, fatal);
}

/* --publish: NULL while connected to a server, else why not */
static const char *listen_health(void)
{
	return ingest_nats_connected(st.nats) ? NULL : "not connected";
}

static int emit_rows(batch *b, const unsigned char *fresh)
{
	for (size_t i = 0; i < b->n; i++) {
		/* --publish: 0 is a record not acknowledged, neither */
		bool isnew = st.nats ? fresh[i] == 1 : fresh[i], dup = st.nats ? fresh[i] == 2 : !fresh[i];
		n_stored += isnew;
		n_dup += dup;
		if (!store_only && (isnew || (dup && emit_all)))
			jrn_out_line(&out, b->text.p + b->recs[i].body.off, b->recs[i].body.len);
	}
	static bool said;
	if (store_only || jrn_out_flush(&out) == 0)
		return 0;
	/* listen.c stops the server at the first failure; said once */
	if (!said)
		jrn_say(0, "standard output: %s: the server stops (the events answered so far "
			"are %s)", out.err == EPIPE ? "the reader went away" : strerror(out.err),
			st.nats ? "published" : "stored");
	said = true;
	return -1;
}

static int run_listen(void)
{
	listen_env env = {&opts, {st.db, st.reach, st.profile}, &rej, listen_store, emit_rows,
			  listen_take, st.nats != NULL, st.nats ? listen_health : NULL, false};
	int status = listen_run(listen_flag, &env);
	status = jrn_finish(&out, NULL, status);
	if (opts.verbosity >= 0 && env.served)
		jrn_say(0, "%llu %s, %llu duplicate, %llu rejected", (unsigned long long)n_stored,
			st.nats ? "published" : "stored", (unsigned long long)n_dup,
			(unsigned long long)rej.count);
	/* Rejected lines were answered to their senders (and are in --rejects):
	 * a server stopped by SIGTERM exits 0 all the same (jrn-ingest(1)). */
	rej.count = 0;
	return status;
}

/* --check-config: the listener's set-up too (listen_check), with --listen
 * or when ingest.listen is written, nothing bound. 0 or the exit status
 * (said). */
static int check_listen(void)
{
	jv l = jrn_config_get(opts.config, "ingest.listen");
	bool written = jv_is_valid(l) || jv_invalid_has_msg(jv_copy(l));
	jv_free(l);
	if (!listen_flag && !written)
		return JRN_EXIT_OK;
	listen_env env = {&opts, {st.db, st.reach, st.profile}, &rej, listen_store, emit_rows,
			  listen_take, false, NULL, false};
	return listen_check(listen_flag, &env);
}

/* The run: the store thread, the input, the end of the run (output closed,
 * what went wrong said, the summary). Returns the status. */
static int run(char **files, int nfiles)
{
	int status = JRN_EXIT_OK;
	bool io_failed = false, fatal_set = false;
	jrn_err fatal = {{0}};
	pthread_t th;

	say_setup(files, nfiles);
	jrn_out_init(&out, STDOUT_FILENO);
	for (int i = 0; i < 3; i++) {
		pool[i].next = free_list;
		free_list = &pool[i];
	}
	if (listen_flag)
		return run_listen();
	/* The WAL's checkpoints on a thread of their own: inline, each
	 * commit past 32 MB of WAL waited for the copy into the file. */
	jrn_checkpointer *ckpt = st.db ? jrn_checkpointer_start(st.db, opts.db_path) : NULL;
	if (pthread_create(&th, NULL, store_main, &st) != 0) {
		jrn_checkpointer_stop(ckpt);
		return jrn_say(JRN_EXIT_FAIL, "cannot start the store thread");
	}
	jrn_reader *rd = from_flag ? NULL : jrn_reader_new(files, nfiles);
	if (from_flag) {
		status = read_from(&fatal_set, &fatal);
	} else if (rd) {
		read_input(rd, &io_failed, &fatal_set, &fatal);
	} else {
		status = jrn_say(JRN_EXIT_FAIL, "out of memory");
		halt();
	}
	pthread_mutex_lock(&mu);
	input_done = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
	pthread_join(th, NULL);
	jrn_checkpointer_stop(ckpt);
	jrn_reader_free(rd);

	bool pipe_closed = out.err == EPIPE;
	status = jrn_finish(&out, NULL, status);
	if (fatal_set)
		status = jrn_say(JRN_EXIT_FAIL, "%s", fatal.msg);
	if (store_failed)
		status = jrn_say(JRN_EXIT_FAIL, "%s: %s", st.nats ? "nats" : opts.db_path, store_err.msg);
	if (io_failed)
		status = JRN_EXIT_FAIL;
	if (opts.verbosity >= 0 && !pipe_closed) {
		if (opts.dry_run)
			jrn_say(0, "%llu valid, %llu rejected (dry run, nothing saved)",
				(unsigned long long)n_stored, (unsigned long long)rej.count);
		else
			jrn_say(0, "%llu %s, %llu duplicate, %llu rejected",
				(unsigned long long)n_stored, st.nats ? "published" : "stored",
				(unsigned long long)n_dup,
				(unsigned long long)rej.count);
		if (opts.verbosity > 0 && n_commits)
			jrn_say(0, "%llu transaction%s, the largest of %llu events",
				(unsigned long long)n_commits, n_commits == 1 ? "" : "s",
				(unsigned long long)most_events);
	}
	return status;
}

/* Frees whatever was set; closes the state file and the rejects file
 * (JRN_EXIT_REJECTS when lines were rejected). Returns the status. */
static int teardown(int status)
{
	ingest_record_free();
	for (int i = 0; i < 3; i++) {
		jrn_buf_free(&pool[i].text);
		free(pool[i].recs);
		free(pool[i].seq);
	}
	ingest_nats_close(st.nats);
	ingest_nats_close(st.from);
	free(owned);
	jrn_reach_close(st.reach);
	jrn_profile_close(st.profile);
	jrn_privacy_close(st.privacy);
	sqlite3_finalize(st.insert);
	sqlite3_finalize(st.file_size);
	free(st.fresh);
	if (st.db && sqlite3_close(st.db) != SQLITE_OK)
		status = jrn_say(JRN_EXIT_FAIL, "closing the state file: %s", sqlite3_errmsg(st.db));
	status = jrn_finish(NULL, &rej, status);
	jrn_opts_free(&opts);
	ingest_keys_free();
	return status;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	ingest_keys_init();
	jrn_opts_init(&opts, "jrn-ingest");
	int status = parse(argc, argv);
	if (status < 0)
		status = set_up();
	if (status < 0)
		status = run(argv + optind, argc - optind);
	return teardown(status);
}
