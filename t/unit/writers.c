/* Unit tests for lib/writers.c: writers take turns at the state file's
 * write lock. A greedy writer commits and begins again at once; another
 * must still get the lock, well within its busy time-out. */
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "unit-db.h"

static char dir[] = "/tmp/jrn-writers-XXXXXX";
static char path[300], side[320];

typedef struct {
	sqlite3 *db;
	volatile int stop;
	int batches, failed;
	int saw_waiter; /* jrn_db_writers_waiting said so while it held the lock */
} greedy;

/* Batch after batch of 20 ms under the lock, with no pause between. */
static void *greedy_main(void *p)
{
	greedy *g = p;
	jrn_err e;
	while (!g->stop) {
		if (jrn_db_begin(g->db, &e) < 0) {
			g->failed++;
			continue;
		}
		sqlite3_exec(g->db, "INSERT INTO t VALUES ('greedy')", NULL, NULL, NULL);
		usleep(20000);
		if (jrn_db_writers_waiting(g->db))
			g->saw_waiter++;
		if (jrn_db_commit(g->db, &e) < 0)
			g->failed++;
		g->batches++;
	}
	return NULL;
}

static bool exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

static void test_turns(void)
{
	sqlite3 *a = NULL, *b = NULL;
	jrn_err e;
	if (jrn_db_open(path, 400, &a, &e) < 0 || jrn_db_open(path, 400, &b, &e) < 0) {
		CHECK(0, "two connections: %s", e.msg);
		return;
	}
	CHECK(jrn_db_exec(a, "CREATE TABLE t (who TEXT)", &e) == 0, "a table");
	CHECK(!exists(side), "no -writers file before anyone waited");
	CHECK(!jrn_db_writers_waiting(a), "nobody waits");

	greedy g = {.db = a};
	pthread_t th;
	pthread_create(&th, NULL, greedy_main, &g);
	usleep(50000);
	/* five turns in a row, each well within the 400 ms time-out (without
	 * turns the lock is free only for the moment between a commit and
	 * the next begin, and each fails "database is locked") */
	int got = 0;
	int64_t worst = 0;
	for (int i = 0; i < 5; i++) {
		int64_t t0 = jrn_mono_ms();
		if (jrn_db_begin(b, &e) == 0) {
			got++;
			sqlite3_exec(b, "INSERT INTO t VALUES ('b')", NULL, NULL, NULL);
			jrn_db_commit(b, &e);
		}
		int64_t w = jrn_mono_ms() - t0;
		if (w > worst)
			worst = w;
		usleep(5000);
	}
	g.stop = 1;
	pthread_join(th, NULL);
	CHECK(got == 5, "the other writer got the lock 5 times of 5 (%d; longest wait %lld ms)", got,
	      (long long)worst);
	CHECK(worst < 200, "each wait about one greedy batch (longest %lld ms)", (long long)worst);
	CHECK(g.failed == 0 && g.batches > 5, "the greedy writer went on (%d batches, %d failed)", g.batches,
	      g.failed);
	CHECK(g.saw_waiter > 0, "and saw the other waiting while it held the lock (%d)", g.saw_waiter);
	CHECK(exists(side), "the -writers file made by the first wait");
	CHECK(!jrn_db_writers_waiting(a), "nobody waits after");
	char *n = unit_row(a, "SELECT count(*) FROM t WHERE who = 'b'");
	CHECK_STR(n, "5", "the other writer's five rows");
	free(n);

	/* a lock never given back: SQLITE_BUSY after the time-out, and the
	 * waiter's turn given up with it */
	CHECK(jrn_db_begin(a, &e) == 0, "a holds the lock");
	int64_t t0 = jrn_mono_ms();
	int rc = jrn_db_begin(b, &e);
	int64_t waited = jrn_mono_ms() - t0;
	CHECK(rc < 0 && strstr(e.msg, "locked") && waited >= 380 && waited < 2000,
	      "busy after the time-out (%lld ms: %s)", (long long)waited, rc < 0 ? e.msg : "");
	CHECK(!jrn_db_writers_waiting(a), "no turn left held after giving up");
	jrn_db_commit(a, &e);
	sqlite3_close(a);
	sqlite3_close(b);
}

/* A writer that waits for nobody does not wait: a thousand begins. */
static void test_alone(void)
{
	sqlite3 *a = NULL;
	jrn_err e;
	if (jrn_db_open(path, 400, &a, &e) < 0) {
		CHECK(0, "a connection: %s", e.msg);
		return;
	}
	int64_t t0 = jrn_mono_ms();
	int ok = 0;
	for (int i = 0; i < 1000; i++)
		if (jrn_db_begin(a, &e) == 0 && jrn_db_commit(a, &e) == 0)
			ok++;
	CHECK(ok == 1000, "1000 begins and commits (%d)", ok);
	CHECK(jrn_mono_ms() - t0 < 1000, "with no waits between");
	sqlite3_close(a);
}

/* A state file in memory has no -writers file, and turns nothing. */
static void test_memory(void)
{
	sqlite3 *m = NULL;
	jrn_err e;
	CHECK(jrn_db_open(":memory:", 100, &m, &e) == 0, "a state file in memory");
	if (!m)
		return;
	CHECK(jrn_db_begin(m, &e) == 0 && jrn_db_commit(m, &e) == 0, "begins and commits");
	CHECK(!jrn_db_writers_waiting(m), "nobody waits");
	sqlite3_close(m);
}

/* Two connections of 400 ms, *h holding the lock: false when not (said). */
static bool holding(sqlite3 **h, sqlite3 **p)
{
	jrn_err e;
	if (jrn_db_open(path, 400, h, &e) < 0 || jrn_db_open(path, 400, p, &e) < 0) {
		CHECK(0, "two connections: %s", e.msg);
		sqlite3_close(*h);
		sqlite3_close(*p);
		return false;
	}
	CHECK(jrn_db_begin(*h, &e) == 0, "the lock held");
	return true;
}

/* A waiter with a long time-out while the lock is held. */
static void *patient(void *p)
{
	(void)p;
	sqlite3 *w = NULL;
	jrn_err e;
	if (jrn_db_open(path, 5000, &w, &e) == 0 && jrn_db_begin(w, &e) == 0)
		jrn_db_commit(w, &e);
	sqlite3_close(w);
	return NULL;
}

/* One busy time-out, not two: a writer that lets another waiter go first
 * and then waits for the lock itself fails after its own time-out in all
 * (a review measured 801 ms for 400 when the two waits were counted
 * apart). */
static void test_one_timeout(void)
{
	sqlite3 *h = NULL, *p = NULL;
	jrn_err e;
	if (!holding(&h, &p))
		return;
	pthread_t th;
	pthread_create(&th, NULL, patient, NULL);
	usleep(100000); /* (the waiter waits, and says so) */
	CHECK(jrn_db_writers_waiting(p), "a waiter announced");
	int64_t t0 = jrn_mono_ms();
	int rc = jrn_db_begin(p, &e);
	int64_t waited = jrn_mono_ms() - t0;
	CHECK(rc < 0 && waited >= 380 && waited < 650, "busy after about 400 ms, not 800 (%lld ms)",
	      (long long)waited);
	if (rc == 0)
		jrn_db_commit(p, &e);
	jrn_db_commit(h, &e);
	pthread_join(th, NULL);
	sqlite3_close(h);
	sqlite3_close(p);
}

/* A waiter that is stopped (^Z, a debugger) while it holds its turn: the
 * others let it go first for a moment, not for their busy time-out, on
 * every transaction. */
static void test_stopped_waiter(void)
{
	sqlite3 *h = NULL, *p = NULL;
	jrn_err e;
	if (!holding(&h, &p))
		return;
	pid_t c = fork();
	if (c == 0) {
		sqlite3 *w = NULL;
		if (jrn_db_open(path, 60000, &w, &e) == 0)
			jrn_db_begin(w, &e);
		_exit(0);
	}
	usleep(300000);
	kill(c, SIGSTOP);
	jrn_db_commit(h, &e);
	CHECK(jrn_db_writers_waiting(p), "the stopped waiter still holds its turn");
	int64_t worst = 0;
	int ok = 0;
	for (int i = 0; i < 3; i++) {
		int64_t t0 = jrn_mono_ms();
		if (jrn_db_begin(p, &e) == 0 && jrn_db_commit(p, &e) == 0)
			ok++;
		int64_t w = jrn_mono_ms() - t0;
		if (w > worst)
			worst = w;
	}
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	CHECK(ok == 3 && worst < 200, "3 transactions of 3, each past it within 200 ms (%d; longest %lld ms)",
	      ok, (long long)worst);
	sqlite3_close(h);
	sqlite3_close(p);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/w.db", dir);
	snprintf(side, sizeof side, "%s-writers", path);
	test_turns();
	test_alone();
	test_memory();
	test_one_timeout();
	test_stopped_waiter();
	if (unit_rmtree(dir) != 0)
		return 1;
	return unit_done();
}
