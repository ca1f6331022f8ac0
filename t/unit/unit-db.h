/* unit-db.h: state-file helpers for the C unit tests that use SQLite. */
#ifndef UNIT_DB_H
#define UNIT_DB_H
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <unistd.h>

#include <sqlite3.h>

#include "jrn.h"

/* The first column of the first row sql gives on db, as a string the
 * caller frees; NULL for no row, a NULL value or a bad statement. */
static inline char *unit_row(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	char *s = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		s = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return s;
}

/* A new state file at path (a mkstemp template ending in XXXXXX, made the
 * file's name), opened with jrn_db_open into *db: 0, or -1 after printing
 * "Bail out! ..." (the test stops). The caller unlinks path and its -wal
 * and -shm when done. */
static inline int unit_db_temp(char *path, sqlite3 **db)
{
	jrn_err e;
	int fd = mkstemp(path);
	if (fd < 0) {
		printf("Bail out! mkstemp %s\n", path);
		return -1;
	}
	close(fd);
	unlink(path);
	if (jrn_db_open(path, 1000, db, &e) < 0) {
		printf("Bail out! %s\n", e.msg);
		return -1;
	}
	return 0;
}

#endif
