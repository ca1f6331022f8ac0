/* main.c: jrn-send's usage, options and its three modes: actions read from
 * FILEs or stdin, --due (the outbox), --stuck (claims nobody recorded). The
 * parts are described in jrn-send.h. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jrn-send.h"

static const char usage[] =
	"usage: jrn-send [OPTIONS] [FILE...]\n"
	"       jrn-send --due [OPTIONS]\n"
	"       jrn-send --stuck [--resend] [OPTIONS]\n"
	"Deliver action records (NDJSON) from FILEs or stdin by email, SMS, WhatsApp,\n"
	"webhook or retargeting audience, and write each with \"delivery\" added.\n"
	"\n"
	"  --spool DIR           deliver nothing: write every message into DIR\n"
	"  --parallel N          transfers in flight (config send.parallel; default 16)\n"
	"  --batch-size N        records per ledger transaction (default 256)\n"
	"  --due                 send what the outbox holds for now (retries, sendAt)\n"
	"  --stuck               list actions a killed run left claimed but unrecorded\n"
	"  --resend              with --stuck: send them again, with idempotency tokens\n"
	"  --db PATH             state file (JRN_DB; default ./jrn.db)\n"
	"  --config PATH         configuration (JRN_CONFIG; default ./jrn.yaml if any)\n"
	"  --now TIME            the clock, RFC 3339 (JRN_NOW)\n"
	"  --rejects FILE        append rejected lines and records to FILE as JSON\n"
	"  --dry-run             render and check each message; send and record nothing\n"
	"  --trace               a line on stderr per retry and per action put off to the outbox\n"
	JRN_CHECK_CONFIG_USAGE
	"  -q, --quiet           nothing on stderr but errors\n"
	"  -v, --verbose         also the state file, config and input in use, and notes\n"
	"  -h, --help            this help\n"
	"      --version         print the version\n"
	"\n"
	"Exit status: 0 done, 1 failure (or some records failed), 2 usage,\n"
	"3 some records rejected.\n";

enum {
	OPT_SPOOL = JRN_OPT_TOOL_BASE,
	OPT_PARALLEL,
	OPT_BATCH,
	OPT_DUE,
	OPT_STUCK,
	OPT_RESEND,
	OPT_TRACE,
};

static const struct option longopts[] = {
	JRN_COMMON_LONG,
	{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
	{"spool", required_argument, NULL, OPT_SPOOL},
	{"parallel", required_argument, NULL, OPT_PARALLEL},
	{"batch-size", required_argument, NULL, OPT_BATCH},
	{"due", no_argument, NULL, OPT_DUE},
	{"stuck", no_argument, NULL, OPT_STUCK},
	{"resend", no_argument, NULL, OPT_RESEND},
	{"trace", no_argument, NULL, OPT_TRACE},
	JRN_CHECK_CONFIG_LONG,
	{NULL, 0, NULL, 0},
};

/* What the command line asks beyond the common options. */
typedef struct {
	const char *spool, *parallel, *batch;
	bool due, stuck, resend, trace;
	char **files;
	int nfiles;
	job **jobs; /* a batch: cf.batch_size of them */
} flags;

static int take(void *ctx, int c, const char *arg)
{
	flags *f = ctx;
	switch (c) {
	case OPT_SPOOL: f->spool = arg; break;
	case OPT_PARALLEL: f->parallel = arg; break;
	case OPT_BATCH: f->batch = arg; break;
	case OPT_DUE: f->due = true; break;
	case OPT_STUCK: f->stuck = true; break;
	case OPT_RESEND: f->resend = true; break;
	case OPT_TRACE: f->trace = true; break;
	default: return -2;
	}
	return 0;
}

static int parse_count(const char *flag, const char *s, int max, int *out_v)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*end || end == s || errno || v < 1 || v > max)
		return jrn_say(-1, "%s: '%s' is not a number from 1 to %d", flag, s, max);
	*out_v = (int)v;
	return 0;
}

static void on_signal(int sig)
{
	send_interrupted = sig;
}

static void batch_free(job **jobs, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		job_free(jobs[i]);
	*n = 0;
}

/* ---- the three modes --------------------------------------------------------- */

/* Actions from the files (or stdin), batch by batch. JRN_EXIT_OK or _FAIL. */
static int run_input(send_ctx *S, flags *f)
{
	jrn_err e;
	int status = JRN_EXIT_OK;
	bool failed = false;
	job **jobs = f->jobs;
	size_t n = 0;
	jrn_reader *rd = jrn_reader_new(f->files, f->nfiles);
	if (!rd)
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	jrn_reader_idle_notice(rd, true);
	jrn_reader_stop_on(rd, &send_interrupted);
	/* reading on while the state file is locked: jrn-route upstream
	 * holds the lock until the batch it is writing to us is read */
	jrn_read_ahead *ra = S->db ? jrn_db_read_ahead(S->db, rd, S->opts.busy_ms) : NULL;
	jrn_line ln;
	int rc;
	while (!failed && !S->out.err && !send_interrupted && (rc = jrn_reader_next(rd, &ln, &e)) != 0) {
		if (rc < 0) {
			status = jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
			continue;
		}
		if (rc == 1) {
			jrn_err why;
			jv rec = jrn_parse_object(&S->parser, ln.p, ln.len, &why);
			job *j = job_new(ln.file, ln.lineno, ln.p, ln.len);
			if (!j) {
				jv_free(rec);
				failed = jrn_say(JRN_EXIT_FAIL, "out of memory");
				break;
			}
			if (jv_is_valid(rec)) {
				j->rec = rec;
			} else {
				/* rejected in its turn, so --rejects keeps input order */
				jv_free(rec);
				j->rec = jv_object();
				j->bad_line = true;
				j->status = ST_REJECTED;
				job_error(j, "%s", why.msg);
			}
			jobs[n++] = j;
		}
		if (n && (n == (size_t)S->cf.batch_size || rc == 2)) {
			if (process_batch(S, jobs, n, &e) < 0)
				failed = jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
			batch_free(jobs, &n);
		}
	}
	if (n && !failed && process_batch(S, jobs, n, &e) < 0)
		failed = jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	batch_free(jobs, &n);
	jrn_db_read_ahead_end(S->db, ra, S->opts.busy_ms);
	jrn_reader_free(rd);
	return failed ? JRN_EXIT_FAIL : status;
}

typedef struct {
	send_ctx *S;
	job **jobs;
	size_t n, cap;
	uint64_t rowno;
	jrn_err *e;
} walk;

/* A due outbox row into a job (jrn_ledger_due_fn); -2 out of memory. */
static int due_row(void *ctx, const char *key, int prov, int attempt, const char *rec, size_t len)
{
	walk *w = ctx;
	job *j = job_from_row(w->S, rec, len, ++w->rowno, w->e);
	if (!j)
		return -2;
	j->from_outbox = true;
	j->prov = prov;
	j->attempt = attempt;
	w->jobs[w->n++] = j;
	if (j->status == ST_NONE) {
		prepare(w->S, j);
		if (j->prov >= w->S->cf.chains[j->channel].n)
			j->prov = 0, j->attempt = 0;
	}
	/* the key it was queued under, whatever the record says now */
	free(j->key);
	j->key = strdup(key);
	if (!j->key || jrn_sha256_hex(j->key, strlen(j->key), j->keyhash) < 0) {
		jrn_fail(w->e, "out of memory");
		return -2;
	}
	return 0;
}

/* --due: everything in the outbox whose time has come, batch by batch. */
static int run_due(send_ctx *S, flags *f)
{
	jrn_err e;
	walk w = {.S = S, .jobs = f->jobs, .e = &e};
	for (;;) {
		w.n = 0;
		/* a real run takes the rows it sends out of the outbox; a dry
		 * run leaves them, so it pages past them */
		int64_t rc = jrn_ledger_due(S->ledger, jrn_now(), S->cf.batch_size,
					    S->opts.dry_run ? (int64_t)w.rowno : 0, due_row, &w, &e);
		if (rc < 0) {
			batch_free(w.jobs, &w.n);
			if (rc == -1)
				db_fail(S, &e);
			return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
		}
		if (w.n == 0)
			return JRN_EXIT_OK;
		rc = process_batch(S, w.jobs, w.n, &e);
		batch_free(w.jobs, &w.n);
		if (rc < 0)
			return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
		if (S->out.err || send_interrupted)
			return JRN_EXIT_OK;
	}
}

/* A stuck claim into a job (jrn_ledger_stuck_fn); -2 out of memory. */
static int stuck_row(void *ctx, const char *key, const char *rec, size_t len, const char *prov,
		     int attempts, int64_t claimed_at)
{
	walk *w = ctx;
	if (w->n == w->cap) {
		size_t ncap = w->cap ? 2 * w->cap : 64;
		job **grown = realloc(w->jobs, ncap * sizeof *grown);
		if (!grown)
			return -2;
		w->jobs = grown, w->cap = ncap;
	}
	job *j = job_from_row(w->S, rec, len, ++w->rowno, w->e);
	if (!j)
		return -2;
	w->jobs[w->n++] = j;
	if (j->status == ST_NONE)
		prepare(w->S, j);
	free(j->key);
	j->key = strdup(key);
	j->stuck_provider = prov ? strdup(prov) : NULL;
	j->attempts = attempts;
	j->claimed_at = claimed_at;
	if (!j->key || jrn_sha256_hex(j->key, strlen(j->key), j->keyhash) < 0)
		return -2;
	return 0;
}

/* --stuck: the claims nobody recorded; with --resend, sent again. The rows
 * are read whole first: sending changes the rows the query walks. */
static int run_stuck(send_ctx *S, flags *f)
{
	jrn_err e;
	walk w = {.S = S, .e = &e};
	if (!f->resend)
		S->warned_unsub = true; /* nothing goes out: no note about what would */
	int64_t rc = jrn_ledger_stuck(S->ledger, stuck_row, &w, &e);
	if (rc < 0) {
		batch_free(w.jobs, &w.n);
		free(w.jobs);
		if (rc == -1)
			db_fail(S, &e);
		else
			jrn_fail(&e, "%s: out of memory", S->opts.db_path);
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	}
	jrn_buf line = {0};
	job **jobs = f->jobs;
	size_t n = 0;
	int status = JRN_EXIT_OK;
	for (size_t i = 0; i < w.n; i++) {
		job *j = w.jobs[i];
		w.jobs[i] = NULL;
		if (!f->resend) {
			write_stuck(S, j, &line, &e);
			job_free(j);
			continue;
		}
		/* one that cannot go out now (no longer renders, suppressed
		 * since) is recorded failed, which frees its key, rather than
		 * listed as stuck for ever */
		j->attempts = 0;
		j->resend = true;
		jobs[n++] = j;
		if (n == (size_t)S->cf.batch_size) {
			if (process_batch(S, jobs, n, &e) < 0)
				status = jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
			batch_free(jobs, &n);
			if (status || S->out.err || send_interrupted) {
				for (size_t k = i + 1; k < w.n; k++)
					job_free(w.jobs[k]);
				break;
			}
		}
	}
	free(w.jobs);
	jrn_buf_free(&line);
	if (n && process_batch(S, jobs, n, &e) < 0)
		status = jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	batch_free(jobs, &n);
	return status;
}

/* ---- parse, set up, finish ------------------------------------------------------ */

/* The command line into S->opts and f: -1 to go on, else the exit status. */
static int parse(send_ctx *S, flags *f, int argc, char **argv)
{
	int rc = jrn_opts_parse(&S->opts, argc, argv, JRN_COMMON_SHORT, longopts, usage, take, f);
	if (rc >= 0)
		return rc;
	const char *conflict = f->due && f->stuck ? "--due and --stuck go separately"
			       : f->resend && !f->stuck ? "--resend goes with --stuck"
			       : (f->due || f->stuck) && optind < argc ? "--due and --stuck take no FILEs"
			       : f->spool && !*f->spool ? "--spool: empty directory name"
			       : S->opts.check_config && (f->due || f->stuck || optind < argc)
			       ? "--check-config goes alone: no --due, --stuck or FILE"
			       : NULL;
	if (conflict)
		return jrn_say(JRN_EXIT_USAGE, "%s", conflict);
	f->files = argv + optind;
	f->nfiles = argc - optind;
	S->trace = f->trace;
	return -1;
}

/* Configuration, libcurl, the state file, the rejects, signals: 0 when
 * all is set, else the exit status (said). --check-config ends after the
 * configuration (and --parallel, --batch-size): 0 when it would do. */
static int setup(send_ctx *S, flags *f)
{
	jrn_err e;
	int rc = jrn_opts_resolve(&S->opts, &e);
	if (rc < 0) /* -2: a bad flag value such as --now yesterday */
		return jrn_say(rc == -2 ? JRN_EXIT_USAGE : JRN_EXIT_FAIL, "%s", e.msg);
	char w[JRN_PATH_SHOWN + 32];
	if (config_load(S, f->spool, &e) < 0) { /* at its place, when it names one */
		/* (w filled before it is read: an argument's order is unspecified) */
		jrn_config_where_msg(S->opts.config, e.msg, w, sizeof w);
		return jrn_say(JRN_EXIT_FAIL, "%s%s%s", w, *w ? ": " : "", e.msg);
	}
	if ((f->parallel && parse_count("--parallel", f->parallel, 4096, &S->cf.parallel) < 0) ||
	    (f->batch && parse_count("--batch-size", f->batch, 1000000, &S->cf.batch_size) < 0))
		return JRN_EXIT_USAGE;
	if (S->opts.check_config)
		return JRN_EXIT_OK;
	if (transfer_init(S) < 0)
		return jrn_say(JRN_EXIT_FAIL, "cannot start libcurl");
	srandom((unsigned)(getpid() ^ time(NULL)));
	/* --due and --stuck take from the state file's outbox and claims: a
	 * missing one is refused, never made */
	if (((f->due || f->stuck) && jrn_db_exists(S->opts.db_path, &e) < 0) || ledger_open(S, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	if (jrn_rejects_open(&S->rej, "jrn-send", S->opts.rejects_path, S->opts.verbosity < 0,
			     &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "--rejects %s", e.msg);
	if (!(f->jobs = malloc((size_t)S->cf.batch_size * sizeof *f->jobs)))
		return jrn_finish(NULL, &S->rej, jrn_say(JRN_EXIT_FAIL, "out of memory"));
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	jrn_out_init(&S->out, STDOUT_FILENO);
	return JRN_EXIT_OK;
}

/* -v: the state file, the configuration and the input in use. */
static void say_context(send_ctx *S, const flags *f)
{
	jrn_say(0, "state file %s", S->opts.db_path);
	if (S->opts.config_path)
		jrn_say(0, "config %s", S->opts.config_path);
	else
		jrn_say(0, "config: none (no --config, JRN_CONFIG or ./jrn.yaml): the defaults");
	if (f->due) {
		jrn_say(0, "input: the outbox of %s (--due)", S->opts.db_path);
	} else if (f->stuck) {
		jrn_say(0, "input: the unrecorded claims of %s (--stuck)", S->opts.db_path);
	} else {
		jrn_buf b = {0};
		for (int i = 0; i < f->nfiles; i++)
			jrn_buf_addf(&b, "%s%s", i ? ", " : "",
				     strcmp(f->files[i], "-") ? f->files[i] : "standard input");
		jrn_say(0, "input: %s", b.p ? b.p : "standard input");
		jrn_buf_free(&b);
	}
}

/* The end of a run: output closed, the note on an interruption, the
 * summary, the rejects closed; the exit status. */
static int finish(send_ctx *S, int status)
{
	bool pipe_closed = S->out.err == EPIPE;
	status = jrn_finish(&S->out, NULL, status);
	if (send_interrupted && S->opts.verbosity >= 0)
		jrn_say(0, "interrupted: actions not yet sent are queued for jrn-send --due;"
			   " input not yet read was not claimed");
	if (S->counts[ST_FAILED] > 0)
		status = JRN_EXIT_FAIL;
	if (S->opts.verbosity >= 0 && !pipe_closed)
		summary(S, S->rej.count);
	return jrn_finish(NULL, &S->rej, status);
}

/* Frees whatever was set. */
static void teardown(send_ctx *S, flags *f)
{
	if (S->parser)
		jv_parser_free(S->parser);
	jrn_json_index_free(&S->emit_ix);
	free(f->jobs);
	ledger_close(S);
	transfer_free(S);
	templates_free(S);
	config_free(S);
	jrn_opts_free(&S->opts);
}

int main(int argc, char **argv)
{
	static send_ctx S;
	flags f = {0};

	signal(SIGPIPE, SIG_IGN);
	jrn_opts_init(&S.opts, "jrn-send");
	int status = parse(&S, &f, argc, argv);
	if (status < 0) {
		status = setup(&S, &f);
		if (status == JRN_EXIT_OK && !S.opts.check_config) {
			if (S.opts.verbosity > 0)
				say_context(&S, &f);
			status = f.due ? run_due(&S, &f) : f.stuck ? run_stuck(&S, &f) : run_input(&S, &f);
			status = finish(&S, status);
		}
	}
	teardown(&S, &f);
	if (send_interrupted) {
		/* cleaned up: now die of the signal, so the caller sees it */
		signal((int)send_interrupted, SIG_DFL);
		raise((int)send_interrupted);
	}
	return status;
}
