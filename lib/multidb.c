/* multidb.c: several state files read as one (issue 17, "Combining").
 *
 * Each machine of a partitioned deployment owns some partitions of the
 * customers (lib/partition.c) and keeps its own state file, so every row
 * about a customer is in exactly one file. A reader over several files
 * (jrn-report, jrn-segment --count, jrn log) opens the first read-only as
 * `main` and copies the tables it reads from every file, one ATTACHed at a
 * time (read-only, detached after its copy: SQLite's limit of 10 attached
 * files does not apply), into TEMP tables of the same names, schema and
 * indexes. TEMP shadows main for unqualified names, so every query of the
 * tool runs unchanged, with the same plans and indexes as over one file.
 *
 * Why copies and not TEMP VIEWs of UNION ALL (measured, see jrn-report(1)
 * MULTIPLE STATE FILES): SQLite 3.40 pushes a WHERE into each arm of a
 * UNION ALL view, but not a join's or a correlated subquery's constraint:
 * metrics' conversions (the last send before each order) scanned the
 * whole deliveries view once per order; `INDEXED BY` (attribution) is an
 * error on a view; and the row ids would collide (below).
 *
 * Row ids: events.seq, deliveries.seq, enrollments.id, runs.id and every
 * other INTEGER PRIMARY KEY restart at 1 in each file. The rows of the
 * k-th file (k from 0) get k * 2^40 added to their INTEGER PRIMARY KEY
 * and to the columns that name one (enrollment_log.enrollment,
 * route_decisions.enrollment, run_stages.run_id): the first file's ids are unchanged, ids stay unique
 * across files, and their order within a file (hence within a customer)
 * is kept, which is all that ORDER BY customer, ts, seq needs.
 *
 * A row in two files: tables with a UNIQUE or PRIMARY KEY (events.id,
 * deliveries.key, profiles.customer_id, ...) refuse it, and the open fails
 * naming the file and the constraint, except journey_versions, which every
 * machine holds alike (the journeys are configuration), and suppressions,
 * keyed by address, not customer (an address two machines suppressed is
 * suppressed): the first file's row of a key is kept.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "jrn.h"

#define ID_STEP "1099511627776" /* 2^40: the id offset of one file */

/* The columns that hold another table's INTEGER PRIMARY KEY. */
static const struct {
	const char *table, *column;
} id_refs[] = {
	{"enrollment_log", "enrollment"},
	{"run_stages", "run_id"},
	{"route_decisions", "enrollment"},
};

/* Tables every file holds alike: the first file's row wins. */
static const char *const shared_tables[] = {"journey_versions", "suppressions", NULL};

static bool listed(const char *const *names, const char *name)
{
	for (size_t i = 0; names && names[i]; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

/* Appends a copy of path to *paths (grown; *n paths): 0 or -1 with e
 * (out of memory, or past JRN_DB_FILES_MAX). */
static int add_path(char ***paths, size_t *n, const char *path, jrn_err *e)
{
	if (*n >= JRN_DB_FILES_MAX)
		return jrn_fail(e, "--db: more than %d state files (the limit)", JRN_DB_FILES_MAX);
	char **p = realloc(*paths, (*n + 1) * sizeof *p);
	if (!p)
		return jrn_fail(e, "out of memory");
	*paths = p;
	if (!(p[*n] = strdup(path)))
		return jrn_fail(e, "out of memory");
	++*n;
	return 0;
}

/* Adds to paths[*n] (grown, each string owned) the paths of list file
 * `file` (after the '@'): one per line, leading and trailing blanks and
 * a CR cut, blank lines and lines starting with '#' skipped. 0 or -1
 * with e. */
static int read_list(const char *file, char ***paths, size_t *n, jrn_err *e)
{
	char shown[JRN_PATH_SHOWN];
	FILE *f = fopen(file, "r");
	if (!f)
		return jrn_fail(e, "--db @%s: %s", jrn_path_shown(file, shown), strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;
	while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
		while (len > 0 && strchr("\n\r \t", line[len - 1]))
			line[--len] = 0;
		char *p = line + strspn(line, " \t");
		if (!*p || *p == '#')
			continue;
		rc = add_path(paths, n, p, e);
	}
	if (rc == 0 && ferror(f))
		rc = jrn_fail(e, "--db @%s: %s", jrn_path_shown(file, shown), strerror(errno));
	free(line);
	fclose(f);
	if (rc == 0 && *n == 0)
		rc = jrn_fail(e, "--db @%s: no state file listed", jrn_path_shown(file, shown));
	return rc;
}

int jrn_db_paths(const jrn_opts *o, char ***paths, size_t *n, jrn_err *e)
{
	const char *one[1] = {o->db_path};
	const char *const *given = o->ndb > 1 ? o->db_paths : one;
	size_t ngiven = o->ndb > 1 ? o->ndb : 1;
	*paths = NULL;
	*n = 0;
	if (o->ndb > JRN_DB_FILES_MAX)
		return jrn_fail(e, "--db: more than %d state files (the limit)", JRN_DB_FILES_MAX);
	for (size_t i = 0; i < ngiven; i++) {
		int rc = 0;
		if (given[i][0] == '@')
			rc = read_list(given[i] + 1, paths, n, e);
		else
			rc = add_path(paths, n, given[i], e);
		if (rc < 0) {
			jrn_db_paths_free(*paths, *n);
			*paths = NULL;
			*n = 0;
			return -1;
		}
	}
	return 0;
}

void jrn_db_paths_free(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

/* The schema version of schema `name`: 0, or -1 with e naming path. */
static int check_version(sqlite3 *db, const char *name, const char *path, jrn_err *e)
{
	char shown[JRN_PATH_SHOWN], sql[64];
	const char *p = jrn_path_shown(path, shown);
	sqlite3_stmt *st = NULL;
	snprintf(sql, sizeof sql, "PRAGMA %s.user_version", name);
	int version = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version < 0)
		return jrn_fail(e, "%s: not a usable state file: %s", p, sqlite3_errmsg(db));
	if (version == 0)
		return jrn_fail(e, "%s: not a jrn state file (schema version 0)", p);
	if (version != JRN_SCHEMA_VERSION)
		return jrn_fail(e, "%s: state file of schema %d, %s reads %d over several files"
				" (every file must be of this schema: a tool that writes a file,"
				" such as jrn-ingest < /dev/null, migrates it)", p, version,
				jrn_prog(), JRN_SCHEMA_VERSION);
	return 0;
}

/* Creates, in temp, the tables (of tables[], NULL: all) of main's schema,
 * with their indexes after the copy (make_indexes). 0 or -1 with e. */
static int make_tables(sqlite3 *db, const char *const *tables, bool indexes, jrn_err *e)
{
	sqlite3_stmt *st;
	const char *sql = indexes
		? "SELECT tbl_name, sql FROM main.sqlite_schema WHERE type = 'index'"
		  " AND sql IS NOT NULL ORDER BY name"
		: "SELECT name, sql FROM main.sqlite_schema WHERE type = 'table'"
		  " AND name NOT LIKE 'sqlite%' ORDER BY name";
	if (jrn_db_prepare(db, sql, &st, e) < 0)
		return -1;
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *text = (const char *)sqlite3_column_text(st, 1);
		if (tables && !listed(tables, name))
			continue;
		/* "CREATE TABLE x" / "CREATE [UNIQUE] INDEX x ON" into temp */
		const char *rest = strstr(text, indexes ? "INDEX " : "TABLE ");
		if (!rest || strncmp(text, "CREATE ", 7))
			continue;
		jrn_buf b = {0};
		jrn_buf_add(&b, text, (size_t)(rest - text));
		jrn_buf_adds(&b, indexes ? "INDEX temp." : "TEMP TABLE ");
		jrn_buf_adds(&b, rest + 6);
		rc = b.p ? jrn_db_exec(db, b.p, e) : jrn_fail(e, "out of memory");
		jrn_buf_free(&b);
	}
	sqlite3_finalize(st);
	return rc;
}

/* The column list of table t for schema src's k-th file into cols (as
 * selected: an id with k * 2^40 added) and names (as inserted). */
static int columns_of(sqlite3 *db, const char *t, size_t k, jrn_buf *cols, jrn_buf *names,
		      jrn_err *e)
{
	sqlite3_stmt *st;
	if (jrn_db_prepare(db, "SELECT name, type, pk, (SELECT count(*) FROM"
			   " pragma_table_info(?1, 'main') WHERE pk > 0)"
			   " FROM pragma_table_info(?1, 'main') ORDER BY cid", &st, e) < 0)
		return -1;
	sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
	for (int i = 0; sqlite3_step(st) == SQLITE_ROW; i++) {
		const char *c = (const char *)sqlite3_column_text(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		bool id = sqlite3_column_int(st, 2) == 1 && sqlite3_column_int(st, 3) == 1 &&
			  type && !strcasecmp(type, "INTEGER");
		for (size_t r = 0; r < sizeof id_refs / sizeof id_refs[0]; r++)
			id |= !strcmp(id_refs[r].table, t) && !strcmp(id_refs[r].column, c);
		jrn_buf_addf(names, "%s\"%s\"", i ? ", " : "", c);
		if (id && k > 0)
			jrn_buf_addf(cols, "%s\"%s\" + %zu * " ID_STEP, i ? ", " : "", c, k);
		else
			jrn_buf_addf(cols, "%s\"%s\"", i ? ", " : "", c);
	}
	sqlite3_finalize(st);
	return cols->p && names->p ? 0 : jrn_fail(e, "%s: no columns", t);
}

/* Copies the tables of schema src (the k-th file, at path) into temp. */
static int copy_file(sqlite3 *db, const char *src, size_t k, const char *path, jrn_err *e)
{
	char shown[JRN_PATH_SHOWN];
	sqlite3_stmt *st;
	jrn_err why;
	if (jrn_db_prepare(db, "SELECT name FROM temp.sqlite_schema WHERE type = 'table'"
			   " ORDER BY name", &st, e) < 0)
		return -1;
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		jrn_buf cols = {0}, names = {0}, sql = {0};
		if (columns_of(db, t, k, &cols, &names, e) < 0) {
			rc = -1;
		} else {
			jrn_buf_addf(&sql, "INSERT %sINTO temp.\"%s\" (%s) SELECT %s FROM %s.\"%s\"",
				     listed(shared_tables, t) ? "OR IGNORE " : "", t, names.p,
				     cols.p, src, t);
			if (!sql.p)
				rc = jrn_fail(e, "out of memory");
			else if (jrn_db_exec(db, sql.p, &why) < 0)
				rc = jrn_fail(e, "%s: table %s: %s%s", jrn_path_shown(path, shown), t,
					      why.msg, strstr(why.msg, "UNIQUE") ?
					      " (a row already read from an earlier file: is a"
					      " customer, or the file, in two places?)" : "");
		}
		jrn_buf_free(&cols);
		jrn_buf_free(&names);
		jrn_buf_free(&sql);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Whether path names the same file as one of paths[0..i) (dev, inode). */
static int same_file(char *const *paths, size_t i, const struct stat *st, size_t *which)
{
	for (size_t j = 0; j < i; j++) {
		struct stat o;
		if (stat(paths[j], &o) == 0 && o.st_dev == st->st_dev && o.st_ino == st->st_ino) {
			*which = j;
			return 1;
		}
	}
	return 0;
}

/* jrn.h says what it takes, returns and refuses. */
int jrn_db_open_many(char *const *paths, size_t n, const char *const *tables, int busy_ms,
		     sqlite3 **out, jrn_err *e)
{
	char shown[JRN_PATH_SHOWN], shown2[JRN_PATH_SHOWN];
	sqlite3 *db = NULL;
	*out = NULL;
	if (n == 0)
		return jrn_fail(e, "no state file");
	if (n > JRN_DB_FILES_MAX)
		return jrn_fail(e, "more than %d state files (the limit)", JRN_DB_FILES_MAX);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		size_t j;
		if (jrn_db_exists(paths[i], e) < 0)
			return -1;
		if (stat(paths[i], &st) != 0) /* gone since */
			return jrn_fail(e, "%s: cannot open (%s)", jrn_path_shown(paths[i], shown),
					strerror(errno));
		if (same_file(paths, i, &st, &j))
			return jrn_fail(e, "%s: given twice (the same file as %s): each state file"
					" is read once", jrn_path_shown(paths[i], shown),
					jrn_path_shown(paths[j], shown2));
	}
	jrn_sqlite_configure();
	int rc = sqlite3_open_v2(paths[0], &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		jrn_fail(e, "%s: cannot open state file: %s", jrn_path_shown(paths[0], shown),
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, busy_ms);
	/* the copies go to a temporary file (not memory): they are as big as
	 * the tables read; 16 MiB of cache each, as jrn-report's open */
	if (check_version(db, "main", paths[0], e) < 0 ||
	    jrn_db_exec(db, "PRAGMA temp_store = FILE; PRAGMA cache_size = -16384;"
			    " PRAGMA temp.cache_size = -16384;"
			    " PRAGMA temp.journal_mode = OFF; PRAGMA temp.synchronous = OFF", e) < 0 ||
	    make_tables(db, tables, false, e) < 0 ||
	    jrn_db_exec(db, "BEGIN", e) < 0)
		goto fail;
	if (copy_file(db, "main", 0, paths[0], e) < 0)
		goto fail;
	for (size_t i = 1; i < n; i++) {
		sqlite3_stmt *st;
		jrn_err why;
		if (jrn_db_prepare(db, "ATTACH ?1 AS src", &st, e) < 0)
			goto fail;
		sqlite3_bind_text(st, 1, paths[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			jrn_fail(e, "%s: cannot open state file: %s", jrn_path_shown(paths[i], shown),
				 sqlite3_errmsg(db));
			goto fail;
		}
		if (check_version(db, "src", paths[i], e) < 0 ||
		    copy_file(db, "src", i, paths[i], e) < 0)
			goto fail;
		/* DETACH is refused inside a transaction: end it, begin again */
		if (jrn_db_exec(db, "COMMIT; DETACH src; BEGIN", &why) < 0) {
			jrn_fail(e, "%s: %s", jrn_path_shown(paths[i], shown), why.msg);
			goto fail;
		}
	}
	if (make_tables(db, tables, true, e) < 0 ||
	    jrn_db_exec(db, "COMMIT; PRAGMA analysis_limit = 1000; ANALYZE temp;"
			    " PRAGMA query_only = ON", e) < 0)
		goto fail;
	*out = db;
	return 0;
fail:
	sqlite3_close(db);
	return -1;
}
