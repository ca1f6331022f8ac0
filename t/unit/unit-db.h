/* unit-db.h: state-file helpers for the C unit tests that use SQLite. */
#ifndef UNIT_DB_H
#define UNIT_DB_H
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

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

#endif
