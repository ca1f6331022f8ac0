/* writers.c: how a connection waits for the state file's write lock, and
 * how writers take turns at it.
 *
 * SQLite gives its write lock to whichever connection asks first once it
 * is free, and a waiting connection asks again only after a sleep. A
 * writer that commits and begins again at once (jrn-route over a steady
 * stream, jrn-ingest --listen under steady traffic) takes the lock back
 * every time, and the other writer waits out its busy time-out and fails
 * "database is locked". So a connection that waits in jrn_db_begin says
 * so with a shared flock(2) on the file <state file>-writers, and
 * jrn_db_begin, before it asks for the lock, lets any such waiter go
 * first: it waits until no shared lock is held, for at most
 * WRITERS_FIRST_MS (a live waiter asks again every 10 ms at most; one
 * that is stopped, ^Z or a debugger, must not hold every other writer up
 * by a busy time-out a transaction), all within the one busy time-out.
 * The file is made by the first writer that has to wait; an empty file,
 * only ever locked (never the state file itself: closing a descriptor of
 * a file drops every fcntl lock the process holds on it, SQLite's own).
 *
 * Every connection jrn opens gets the busy handler here (open_conn), with
 * its state tied to the connection's life by a function's destructor
 * (sqlite3_create_function_v2(3)). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "jrn.h"

struct jrn_read_ahead {
	struct conn *c;
	bool own; /* c is ours, not in the registry (a connection not opened by jrn) */
	jrn_reader *rd;
	pthread_t owner;
};

/* What one connection keeps for its waits. */
typedef struct conn {
	sqlite3 *db;
	int busy_ms;
	int64_t since;  /* this wait's start (ms, monotonic) */
	int64_t until;  /* in jrn_db_begin: when its wait ends (its busy time-out) */
	int fd;         /* the -writers file: -1 not open yet, -2 none to be had */
	bool wanting;   /* in jrn_db_begin: a wait says so */
	bool announced; /* holds the shared lock */
	jrn_read_ahead *ra;
} conn;

/* How long jrn_db_begin lets waiting writers go first (ms). */
#define WRITERS_FIRST_MS 50

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static conn **reg;
static size_t nreg, capreg;

static conn *conn_of(sqlite3 *db)
{
	conn *c = NULL;
	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < nreg && !c; i++)
		if (reg[i]->db == db)
			c = reg[i];
	pthread_mutex_unlock(&reg_mu);
	return c;
}

/* The destructor of the connection's function: the connection closes. */
static void conn_free(void *p)
{
	conn *c = p;
	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < nreg; i++)
		if (reg[i] == c) {
			reg[i] = reg[--nreg];
			break;
		}
	if (!nreg) {
		free(reg);
		reg = NULL;
		capreg = 0;
	}
	pthread_mutex_unlock(&reg_mu);
	if (c->ra)
		c->ra->c = NULL; /* (closed before jrn_db_read_ahead_end) */
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static void conn_fn(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	(void)argc, (void)argv;
	sqlite3_result_null(cx);
}

/* The -writers file: opened (and made, when make) once; -1 when there is
 * none (yet). A connection with no file name (in memory) has none. Under
 * the connection's mutex (a serialized connection is used by two threads:
 * one file, never two). */
static int writers_fd(conn *c, bool make)
{
	sqlite3_mutex *mu = sqlite3_db_mutex(c->db); /* (NULL, a no-op, unless serialized) */
	sqlite3_mutex_enter(mu);
	int fd = c->fd;
	const char *path = fd == -1 ? sqlite3_db_filename(c->db, "main") : NULL;
	if (fd == -1 && (!path || !*path))
		fd = c->fd = -2;
	if (fd == -1) {
		size_t n = strlen(path);
		char *p = malloc(n + sizeof "-writers");
		if (p) {
			memcpy(p, path, n);
			memcpy(p + n, "-writers", sizeof "-writers");
			fd = open(p, O_RDWR | O_CLOEXEC | (make ? O_CREAT : 0), 0666);
			if (fd < 0 && make) /* (flock needs no write access) */
				fd = open(p, O_RDONLY | O_CLOEXEC);
			free(p);
			if (fd >= 0)
				c->fd = fd;
			else if (make)
				c->fd = -2; /* a directory we may not write: no turns, as before */
		}
	}
	sqlite3_mutex_leave(mu);
	return fd < 0 ? -1 : fd;
}

/* One step of a wait: step_ms of reading ahead when this thread set that
 * up, else of sleep. */
static void wait_step(conn *c, int step_ms)
{
	jrn_read_ahead *ra = c->ra;
	if (ra && pthread_equal(pthread_self(), ra->owner))
		jrn_reader_pump(ra->rd, step_ms, JRN_READ_AHEAD_MAX);
	else
		sqlite3_sleep(step_ms);
}

/* The busy handler: count is how often it was called before for this
 * wait (sqlite3_busy_handler(3)); 1 try again, 0 give up (the statement
 * then fails SQLITE_BUSY, as after a busy time-out). The steps are
 * SQLite's own (sqliteDefaultBusyCallback: 1, 2, 5, 10 ms ...) but stop
 * at 10 ms, not 100: a writer that lets this one go first waits for it
 * to take the lock, and a free lock should not stay free long. */
static int busy(void *ctx, int count)
{
	static const int steps[] = {1, 2, 5, 10};
	enum { NSTEPS = sizeof steps / sizeof steps[0] };
	conn *c = ctx;
	int64_t now = jrn_mono_ms();
	if (count == 0)
		c->since = now;
	if (c->wanting && !c->announced) {
		int fd = writers_fd(c, true);
		if (fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) == 0)
			c->announced = true;
	}
	/* in jrn_db_begin the time-out began with it (its waiters-first
	 * wait counts): one busy time-out, not two */
	int64_t left = (c->wanting ? c->until : c->since + c->busy_ms) - now;
	if (left <= 0)
		return 0;
	int step = steps[count < NSTEPS ? count : NSTEPS - 1];
	wait_step(c, step > left ? (int)left : step);
	return 1;
}

int jrn_db_attach_waits(sqlite3 *db, int busy_ms)
{
	conn *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	c->db = db;
	c->busy_ms = busy_ms;
	c->fd = -1;
	pthread_mutex_lock(&reg_mu);
	if (nreg == capreg) {
		size_t cap = capreg ? capreg * 2 : 8;
		conn **r = realloc(reg, cap * sizeof *r);
		if (!r) {
			pthread_mutex_unlock(&reg_mu);
			free(c);
			return -1;
		}
		reg = r;
		capreg = cap;
	}
	reg[nreg++] = c;
	pthread_mutex_unlock(&reg_mu);
	/* (on failure SQLite calls the destructor, which unregisters c) */
	if (sqlite3_create_function_v2(db, "jrn_connection", 0, SQLITE_UTF8, c, conn_fn,
				       NULL, NULL, conn_free) != SQLITE_OK)
		return -1;
	sqlite3_busy_handler(db, busy, c);
	return 0;
}

/* Whether another connection waits in jrn_db_begin (holds the shared
 * lock): a probe for the exclusive one. */
static bool waiting(conn *c)
{
	int fd = writers_fd(c, false);
	/* (never while c holds its own shared lock: on the same descriptor
	 * the probe would convert it, and its LOCK_UN drop it) */
	if (fd < 0 || c->announced)
		return false;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		return false;
	}
	return errno == EWOULDBLOCK;
}

bool jrn_db_writers_waiting(sqlite3 *db)
{
	conn *c = conn_of(db);
	return c && waiting(c);
}

int jrn_db_begin(sqlite3 *db, jrn_err *e)
{
	conn *c = conn_of(db);
	if (c) {
		/* the waiters first: until each has the lock, or for
		 * WRITERS_FIRST_MS (of the busy time-out) */
		int64_t now = jrn_mono_ms();
		c->until = now + c->busy_ms;
		int64_t first = now + (c->busy_ms < WRITERS_FIRST_MS ? c->busy_ms : WRITERS_FIRST_MS);
		while (waiting(c) && jrn_mono_ms() < first)
			wait_step(c, 1);
		c->wanting = true;
	}
	int rc = jrn_db_exec(db, "BEGIN IMMEDIATE", e);
	if (c) {
		c->wanting = false;
		if (c->announced)
			flock(c->fd, LOCK_UN);
		c->announced = false;
	}
	return rc;
}

jrn_read_ahead *jrn_db_read_ahead(sqlite3 *db, jrn_reader *rd, int busy_ms)
{
	jrn_read_ahead *ra = calloc(1, sizeof *ra);
	if (!ra)
		return NULL;
	ra->rd = rd;
	ra->owner = pthread_self();
	if ((ra->c = conn_of(db)) && ra->c->ra) { /* one a connection */
		free(ra);
		return NULL;
	}
	if (!ra->c) {
		/* a connection jrn did not open: a handler of its own */
		if (!(ra->c = calloc(1, sizeof *ra->c))) {
			free(ra);
			return NULL;
		}
		ra->own = true;
		ra->c->db = db;
		ra->c->busy_ms = busy_ms;
		ra->c->fd = -2;
		sqlite3_busy_handler(db, busy, ra->c);
	}
	ra->c->ra = ra;
	return ra;
}

void jrn_db_read_ahead_end(sqlite3 *db, jrn_read_ahead *ra, int busy_ms)
{
	if (!ra)
		return;
	if (ra->c)
		ra->c->ra = NULL;
	if (ra->own) {
		if (db)
			sqlite3_busy_timeout(db, busy_ms);
		free(ra->c);
	}
	free(ra);
}
