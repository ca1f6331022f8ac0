/*
 * run.c: `jrn run JOB`: the pipeline jobs.JOB of jrn.yaml, run the way cron
 * should run it.
 *
 * A job is a string, split into stages at each `|` outside quotes, or a
 * list of stage strings. Each stage runs as `/bin/sh -c STAGE` (so words,
 * quotes and ${VAR} read as in a crontab line); jrn makes the pipes itself
 * and relays each stage's standard output to the next stage (the last to
 * its own standard output), counting the lines and bytes as they pass, so
 * it knows every stage's exit status: pipefail without a shell that has it.
 * Standard error of the stages is theirs (inherited). The first stage reads
 * jrn's standard input.
 *
 * The lock: flock(2) on FILE-run-JOB.lock beside the state file FILE, held
 * for the whole run and holding the runner's pid. A second run of the job
 * while one holds it says "jrn: run JOB: already running (pid N)" and exits
 * 75 (EX_TEMPFAIL), or with --wait waits for the lock.
 *
 * The record (migration 4, jrn-state(5)): a row in runs and one per stage in
 * run_stages, written before the first stage starts (status NULL) and
 * completed when the last one ends. The exit status is that of the first
 * failing stage in pipeline order (a signal N is 128+N), a stage ended by
 * SIGPIPE counting only when no other stage failed; 0 when all succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "verbs.h"

#define EXIT_LOCKED 75 /* EX_TEMPFAIL: another run of the job holds the lock */

static const char run_usage[] =
	"usage: jrn run [--wait] [--dry-run] [-q] [-v] [--db PATH] [--config PATH]\n"
	"               [--now TIME] JOB\n"
	"Runs the pipeline jobs.JOB of jrn.yaml: locked, each stage's status\n"
	"and counts recorded in the state file (see `jrn log`).\n";

typedef struct {
	char *cmd;
	pid_t pid;
	int status;        /* exit status, 128+N for signal N; -1 unknown */
	bool sigpipe;
	int64_t t0, t1;    /* jrn_now() */
	int64_t m0, m1;    /* monotonic */
	int64_t lines, bytes;
	int rd, wr;        /* relay: read the stage's stdout, write the next's stdin */
	pthread_t thread;
	bool relaying;
} stage;

typedef struct {
	bool wait, dry_run;
} run_flags;

enum { OPT_WAIT = JRN_OPT_TOOL_BASE };

static int run_take(void *ctx, int c, const char *arg)
{
	(void)arg;
	if (c != OPT_WAIT)
		return -2;
	((run_flags *)ctx)->wait = true;
	return 0;
}

/* ---- the job ------------------------------------------------------------------ */

static bool job_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

/* Appends the trimmed s[0..n) to the stages; "" is an error. */
static int add_stage(stage **v, size_t *n, const char *s, size_t len, jrn_err *e)
{
	while (len && (*s == ' ' || *s == '\t' || *s == '\n'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n'))
		len--;
	if (!len)
		return jrn_fail(e, "an empty stage");
	stage *p = realloc(*v, (*n + 1) * sizeof *p);
	if (!p)
		return jrn_fail(e, "out of memory");
	*v = p;
	memset(&p[*n], 0, sizeof p[*n]);
	p[*n].status = -1;
	p[*n].rd = p[*n].wr = -1;
	if (!(p[*n].cmd = strndup(s, len)))
		return jrn_fail(e, "out of memory");
	(*n)++;
	return 0;
}

/* Splits a pipeline string at the `|`s outside quotes and backslashes. */
static int split_pipeline(const char *s, stage **v, size_t *n, jrn_err *e)
{
	const char *start = s;
	char q = 0;
	for (const char *p = s; *p; p++) {
		if (q == '\'') {
			if (*p == '\'')
				q = 0;
		} else if (*p == '\\' && p[1]) {
			p++;
		} else if (q == '"') {
			if (*p == '"')
				q = 0;
		} else if (*p == '\'' || *p == '"') {
			q = *p;
		} else if (*p == '|') {
			if (p[1] == '|')
				return jrn_fail(e, "'||' is not a pipe; write the stages as a list");
			if (add_stage(v, n, start, (size_t)(p - start), e) < 0)
				return -1;
			start = p + 1;
		}
	}
	if (q)
		return jrn_fail(e, "an unterminated %c quote", q);
	return add_stage(v, n, start, strlen(start), e);
}

/* Says that jobs: (borrowed, an object) of the configuration file path
 * has no job named job, with the nearest name it has or the list of
 * them. Returns -1 (the message in e). */
static int no_such_job(jv jobs, const char *job, const char *path, jrn_err *e)
{
	jv keys = jv_keys(jv_copy(jobs));
	int nk = jv_array_length(jv_copy(keys));
	const char **names = calloc((size_t)nk + 1, sizeof *names);
	jrn_buf list = {0};
	for (int i = 0; names && i < nk; i++) {
		jv k = jv_array_get(jv_copy(keys), i);
		names[i] = jv_string_value(k); /* lives on in keys */
		jv_free(k);
		jrn_buf_addf(&list, "%s%s", i ? ", " : "", names[i]);
	}
	const char *near = names ? jrn_nearest(job, names) : NULL;
	if (near)
		jrn_fail(e, "no job '%s' in jobs: of %s (did you mean %s?)", job, path, near);
	else
		jrn_fail(e, "no job '%s' in jobs: of %s (jobs: %s)", job, path,
			 list.p ? list.p : "none");
	jrn_buf_free(&list);
	free(names);
	jv_free(keys);
	return -1;
}

/* The stages of jobs.JOB in cfg (borrowed; read from the file path, NULL
 * when none was), and the pipeline's text. 0, or -1 with e. */
static int load_job(jv cfg, const char *path, const char *job, stage **v, size_t *n,
		    jrn_buf *text, jrn_err *e)
{
	if (!path)
		return jrn_fail(e, "no configuration file to read jobs: from (no ./jrn.yaml; "
			       "give --config FILE or JRN_CONFIG)");
	jv jobs = jrn_config_get(cfg, "jobs");
	if (jv_get_kind(jobs) != JV_KIND_OBJECT) {
		jv_free(jobs);
		return jrn_fail(e, "no jobs: section in %s", path);
	}
	jv j = jv_object_get(jv_copy(jobs), jv_string(job));
	int rc = 0;
	if (jv_get_kind(j) == JV_KIND_STRING) {
		jrn_buf_adds(text, jv_string_value(j));
		rc = split_pipeline(jv_string_value(j), v, n, e);
	} else if (jv_get_kind(j) == JV_KIND_ARRAY && jv_array_length(jv_copy(j)) > 0) {
		jv_array_foreach(j, i, x) {
			if (rc == 0 && jv_get_kind(x) != JV_KIND_STRING)
				rc = jrn_fail(e, "stage %d is not a string", i + 1);
			else if (rc == 0)
				rc = add_stage(v, n, jv_string_value(x), jv_string_length_bytes(jv_copy(x)), e);
			if (rc == 0)
				jrn_buf_addf(text, "%s%s", i ? " | " : "", (*v)[*n - 1].cmd);
			jv_free(x);
		}
	} else if (jv_is_valid(j)) {
		rc = jrn_fail(e, "jobs.%s is neither a pipeline string nor a list of stages", job);
	} else {
		rc = no_such_job(jobs, job, path, e);
	}
	if (rc < 0 && jv_is_valid(j)) { /* at the job's place in the file */
		char where[JRN_PATH_SHOWN + 32], dotted[320];
		jrn_err why = *e;
		snprintf(dotted, sizeof dotted, "jobs.%s", job);
		if (*jrn_config_where(cfg, dotted, false, where, sizeof where))
			jrn_fail(e, "%s: %s%s%s", where, strncmp(why.msg, "jobs.", 5) ? dotted : "",
				 strncmp(why.msg, "jobs.", 5) ? ": " : "", why.msg);
	}
	jv_free(jobs);
	jv_free(j);
	if (rc == 0 && !text->p)
		rc = jrn_fail(e, "out of memory");
	return rc;
}

/* ---- the lock ------------------------------------------------------------------ */

/* Takes the job's lock: the fd, or -EXIT_LOCKED (said) or -1 (said). */
static int take_lock(const char *db_path, const char *job, bool wait)
{
	jrn_buf path = {0};
	jrn_buf_addf(&path, "%s-run-%s.lock", db_path, job);
	if (!path.p)
		return jrn_say(-1, "out of memory");
	int fd = open(path.p, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0) {
		jrn_say(0, "run %s: %s: %s", job, path.p, strerror(errno));
		jrn_buf_free(&path);
		return -1;
	}
	jrn_buf_free(&path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "";
		if (errno != EWOULDBLOCK) {
			jrn_say(0, "run %s: lock: %s", job, strerror(errno));
			close(fd);
			return -1;
		}
		ssize_t r = pread(fd, pid, sizeof pid - 1, 0);
		pid[r > 0 ? r : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (!wait) {
			jrn_say(0, "run %s: already running (pid %s)", job, *pid ? pid : "?");
			close(fd);
			return -EXIT_LOCKED;
		}
		while (flock(fd, LOCK_EX) < 0)
			if (errno != EINTR) {
				jrn_say(0, "run %s: lock: %s", job, strerror(errno));
				close(fd);
				return -1;
			}
	}
	char pid[32];
	int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		jrn_say(0, "run %s: writing the pid into the lock file: %s", job, strerror(errno));
	return fd;
}

/* ---- the record ---------------------------------------------------------------- */

static int record_start(sqlite3 *db, const char *job, const char *text, stage *v, size_t n,
			int64_t *run_id, jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	if (jrn_db_begin(db, e) < 0)
		return -1;
	if (sqlite3_prepare_v2(db, "INSERT INTO runs (job, pid, started_at, pipeline)"
			       " VALUES (?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, getpid());
	sqlite3_bind_int64(st, 3, jrn_now());
	sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	*run_id = sqlite3_last_insert_rowid(db);
	if (sqlite3_prepare_v2(db, "INSERT INTO run_stages (run_id, stage, command, started_at)"
			       " VALUES (?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, *run_id);
		sqlite3_bind_int64(st, 2, (int64_t)i + 1);
		sqlite3_bind_text(st, 3, v[i].cmd, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, jrn_now());
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(st);
	return jrn_db_commit(db, e) < 0 ? (jrn_db_rollback(db), -1) : 0;
fail:
	jrn_fail(e, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	jrn_db_rollback(db);
	return -1;
}

static int record_end(sqlite3 *db, int64_t run_id, int status, int64_t elapsed, stage *v,
		      size_t n, jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	if (jrn_db_begin(db, e) < 0)
		return -1;
	if (sqlite3_prepare_v2(db, "UPDATE run_stages SET pid = ?, ended_at = ?, elapsed_ms = ?,"
			       " status = ?, lines_out = ?, bytes_out = ?, started_at = ?"
			       " WHERE run_id = ? AND stage = ?", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, v[i].pid);
		sqlite3_bind_int64(st, 2, v[i].t1);
		sqlite3_bind_int64(st, 3, v[i].m1 - v[i].m0);
		if (v[i].status >= 0)
			sqlite3_bind_int(st, 4, v[i].status);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_int64(st, 5, v[i].lines);
		sqlite3_bind_int64(st, 6, v[i].bytes);
		sqlite3_bind_int64(st, 7, v[i].t0);
		sqlite3_bind_int64(st, 8, run_id);
		sqlite3_bind_int64(st, 9, (int64_t)i + 1);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "UPDATE runs SET ended_at = ?, elapsed_ms = ?, status = ?"
			       " WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, jrn_now());
	sqlite3_bind_int64(st, 2, elapsed);
	sqlite3_bind_int(st, 3, status);
	sqlite3_bind_int64(st, 4, run_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	return jrn_db_commit(db, e) < 0 ? (jrn_db_rollback(db), -1) : 0;
fail:
	jrn_fail(e, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	jrn_db_rollback(db);
	return -1;
}

/* ---- running ---------------------------------------------------------------------- */

/* A relay thread: the stage's stdout to the next stage's stdin (or jrn's
 * stdout), counting. When the reader goes away, it stops reading, so the
 * writer gets SIGPIPE as in a shell's pipeline. */
static void *relay(void *arg)
{
	stage *s = arg;
	char buf[65536];
	for (;;) {
		ssize_t r = read(s->rd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		s->bytes += r;
		for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + r - p))); p++)
			s->lines++;
		for (ssize_t off = 0; off < r;) {
			ssize_t w = write(s->wr, buf + off, (size_t)(r - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				goto out;
			off += w;
		}
	}
out:
	close(s->rd);
	s->rd = -1;
	if (s->wr != STDOUT_FILENO)
		close(s->wr);
	s->wr = -1;
	return NULL;
}

/* The environment the stages see: PATH with jrn's own directory first, and
 * the state file, config, clock, voice and run of this run. */
static void stage_env(const jrn_opts *o, const char *job, int64_t run_id)
{
	char *dir = jrn_self_dir();
	const char *path = getenv("PATH");
	if (dir) {
		jrn_buf p = {0};
		jrn_buf_addf(&p, "%s:%s", dir, path && *path ? path : "/usr/bin:/bin");
		if (p.p)
			setenv("PATH", p.p, 1);
		jrn_buf_free(&p);
		free(dir);
	}
	setenv("JRN_DB", o->db_path, 1);
	if (o->config_path)
		setenv("JRN_CONFIG", o->config_path, 1);
	if (o->now)
		setenv("JRN_NOW", o->now, 1);
	if (o->verbosity_set)
		setenv("JRN_LOG", o->verbosity < 0 ? "quiet" : o->verbosity > 0 ? "verbose" : "info", 1);
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)run_id);
	setenv("JRN_RUN", id, 1);
	setenv("JRN_JOB", job, 1);
}

/* Starts every stage and its relay: 0, or -1 (said) after ending those
 * started. */
static int start_stages(stage *v, size_t n)
{
	int in = STDIN_FILENO; /* what the next stage reads */
	for (size_t i = 0; i < n; i++) {
		int out[2], next[2] = {-1, -1};
		if (pipe2(out, O_CLOEXEC) < 0 || (i + 1 < n && pipe2(next, O_CLOEXEC) < 0))
			return jrn_say(-1, "run: pipe: %s", strerror(errno));
		v[i].t0 = jrn_now();
		v[i].m0 = jrn_mono_ms();
		pid_t pid = fork();
		if (pid < 0)
			return jrn_say(-1, "run: fork: %s", strerror(errno));
		if (pid == 0) {
			signal(SIGPIPE, SIG_DFL);
			if ((in != STDIN_FILENO && dup2(in, STDIN_FILENO) < 0) ||
			    dup2(out[1], STDOUT_FILENO) < 0)
				_exit(126);
			execl("/bin/sh", "sh", "-c", v[i].cmd, (char *)NULL);
			_exit(127);
		}
		v[i].pid = pid;
		close(out[1]);
		if (in != STDIN_FILENO)
			close(in);
		v[i].rd = out[0];
		v[i].wr = i + 1 < n ? next[1] : STDOUT_FILENO;
		in = next[0];
		if (pthread_create(&v[i].thread, NULL, relay, &v[i]) != 0)
			return jrn_say(-1, "run: cannot start a relay thread");
		v[i].relaying = true;
	}
	return 0;
}

/* Waits for every stage started and its relay. */
static void wait_stages(stage *v, size_t n)
{
	size_t left = 0;
	for (size_t i = 0; i < n; i++)
		left += v[i].pid > 0;
	while (left > 0) {
		int ws;
		pid_t pid = waitpid(-1, &ws, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (v[i].pid == pid) {
				v[i].t1 = jrn_now();
				v[i].m1 = jrn_mono_ms();
				if (WIFEXITED(ws))
					v[i].status = WEXITSTATUS(ws);
				else if (WIFSIGNALED(ws))
					v[i].status = 128 + WTERMSIG(ws);
				v[i].sigpipe = WIFSIGNALED(ws) && WTERMSIG(ws) == SIGPIPE;
				left--;
			}
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].relaying)
			pthread_join(v[i].thread, NULL);
}

/* The run's status: the first failing stage's (see the top comment), or
 * 0; *which its index. */
static int run_status(const stage *v, size_t n, size_t *which)
{
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++)
			if (v[i].status != 0 && (pass == 1 || !v[i].sigpipe)) {
				*which = i;
				return v[i].status < 0 ? JRN_EXIT_FAIL : v[i].status;
			}
	return 0;
}

static void free_stages(stage *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].cmd);
	free(v);
}

/* Runs the stages, locked and recorded: the exit status. */
static int run_job(const jrn_opts *o, const char *job, stage *v, size_t n, const char *text,
		   bool wait)
{
	int lock = take_lock(o->db_path, job, wait);
	if (lock < 0)
		return lock == -EXIT_LOCKED ? EXIT_LOCKED : JRN_EXIT_FAIL;
	sqlite3 *db;
	int status = admin_open(o, &db);
	if (status != 0) {
		close(lock);
		return status;
	}
	jrn_err e;
	int64_t run_id, m0 = jrn_mono_ms();
	if (record_start(db, job, text, v, n, &run_id, &e) < 0) {
		sqlite3_close(db);
		close(lock);
		return jrn_say(JRN_EXIT_FAIL, "run %s: %s", job, e.msg);
	}
	stage_env(o, job, run_id);
	signal(SIGPIPE, SIG_IGN);
	bool started = start_stages(v, n) == 0;
	wait_stages(v, n);
	size_t bad = 0;
	status = started ? run_status(v, n, &bad) : JRN_EXIT_FAIL;
	if (record_end(db, run_id, status, jrn_mono_ms() - m0, v, n, &e) < 0) {
		jrn_say(0, "run %s: recording run %lld: %s", job, (long long)run_id, e.msg);
		if (status == 0)
			status = JRN_EXIT_FAIL;
	}
	sqlite3_close(db);
	close(lock);
	if (started && status != 0)
		jrn_say(0, "run %s: stage %zu of %zu failed (exit %d): %s", job, bad + 1, n,
			v[bad].status, v[bad].cmd);
	else if (status == 0 && o->verbosity >= 0)
		jrn_say(0, "run %s: %zu stage%s, %lld line%s out, exit 0 (run %lld)", job, n,
			n == 1 ? "" : "s", (long long)v[n - 1].lines, v[n - 1].lines == 1 ? "" : "s",
			(long long)run_id);
	return status;
}

int jobs_check(jv cfg, const char *path)
{
	jv jobs = jrn_config_get(cfg, "jobs");
	int bad = 0;
	if (jv_get_kind(jobs) == JV_KIND_OBJECT)
		jv_object_foreach(jobs, k, x) {
			const char *job = jv_string_value(k);
			stage *v = NULL;
			size_t n = 0;
			jrn_buf text = {0};
			jrn_err e;
			if (!job_name_ok(job)) /* as verb_run says them */
				bad += jrn_say(1, "run: '%s' is not a job name (letters, digits, . _ -)", job);
			else if (load_job(cfg, path, job, &v, &n, &text, &e) < 0)
				bad += jrn_say(1, "run %s: %s", job, e.msg);
			free_stages(v, n);
			jrn_buf_free(&text);
			jv_free(k);
			jv_free(x);
		}
	jv_free(jobs);
	return bad;
}

int verb_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"wait", no_argument, NULL, OPT_WAIT},
		{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
		JRN_COMMON_LONG,
		{NULL, 0, NULL, 0},
	};
	run_flags f = {0};
	jrn_opts o;
	int rc = admin_parse(&o, argc, argv, JRN_COMMON_SHORT, longopts, run_usage, run_take, &f);
	if (rc < 0 && argc - optind != 1)
		rc = (fputs(run_usage, stderr), JRN_EXIT_USAGE);
	const char *job = rc < 0 ? argv[optind] : NULL;
	if (rc < 0 && !job_name_ok(job))
		rc = jrn_say(JRN_EXIT_USAGE, "run: '%s' is not a job name (letters, digits, . _ -)", job);
	stage *v = NULL;
	size_t n = 0;
	jrn_buf text = {0};
	jrn_err e;
	if (rc < 0 && load_job(o.config, o.config_path, job, &v, &n, &text, &e) < 0)
		rc = jrn_say(JRN_EXIT_USAGE, "run %s: %s", job, e.msg);
	if (rc < 0 && o.dry_run) {
		for (size_t i = 0; i < n; i++)
			jrn_say(0, "run %s: stage %zu: %s", job, i + 1, v[i].cmd);
		rc = jrn_say(JRN_EXIT_OK, "run %s: %zu stages (dry run, nothing run)", job, n);
	}
	if (rc < 0)
		rc = run_job(&o, job, v, n, text.p, f.wait);
	free_stages(v, n);
	jrn_buf_free(&text);
	jrn_opts_free(&o);
	return rc;
}
