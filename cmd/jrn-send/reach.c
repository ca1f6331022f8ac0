/* reach.c: may jrn-send contact a recipient? The suppression and consent
 * lookups, and the suppression a provider's refusal writes. Kept small and
 * plain: lib/reach.{h,c} is to take them over. */
#include <stdio.h>

#include "jrn-send.h"

int reach_open(send_ctx *S, jrn_err *e)
{
	if (jrn_db_prepare(S->db,
		    "SELECT reason FROM suppressions WHERE address = ?1 AND channel IN (?2, 'all')"
		    " LIMIT 1", &S->st_suppressed, e) < 0 ||
	    jrn_db_prepare(S->db,
		    "SELECT 1 FROM consent WHERE customer_id = ?1 AND channel IN (?2, 'all')"
		    " AND status = 'revoked' LIMIT 1", &S->st_consent, e) < 0 ||
	    jrn_db_prepare(S->db,
		    "INSERT INTO suppressions (address, channel, reason, ts, source)"
		    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING", &S->st_suppress_add, e) < 0)
		return -1;
	return 0;
}

void reach_close(send_ctx *S)
{
	sqlite3_finalize(S->st_suppressed);
	sqlite3_finalize(S->st_consent);
	sqlite3_finalize(S->st_suppress_add);
	S->st_suppressed = S->st_consent = S->st_suppress_add = NULL;
}

/* Is the address suppressed, or consent revoked? The reason, or NULL;
 * *broken when the state file could not say (then nothing may be sent). */
const char *reach_blocked(send_ctx *S, const job *j, char why[128], bool *broken)
{
	const char *ch = channel_names[j->channel];
	*broken = false;
	if (!S->db)
		return NULL;
	if (j->to) {
		sqlite3_bind_text(S->st_suppressed, 1, j->to, -1, SQLITE_STATIC);
		sqlite3_bind_text(S->st_suppressed, 2, ch, -1, SQLITE_STATIC);
		int rc = sqlite3_step(S->st_suppressed);
		if (rc == SQLITE_ROW)
			snprintf(why, 128, "suppressed: %s",
				 (const char *)sqlite3_column_text(S->st_suppressed, 0));
		else if (rc != SQLITE_DONE)
			snprintf(why, 128, "cannot read the suppressions: %s", sqlite3_errmsg(S->db));
		sqlite3_reset(S->st_suppressed);
		if (rc != SQLITE_DONE) {
			*broken = rc != SQLITE_ROW;
			return why;
		}
	}
	if (j->customer) {
		sqlite3_bind_text(S->st_consent, 1, j->customer, -1, SQLITE_STATIC);
		sqlite3_bind_text(S->st_consent, 2, ch, -1, SQLITE_STATIC);
		int rc = sqlite3_step(S->st_consent);
		if (rc == SQLITE_ROW)
			snprintf(why, 128, "consent for %s revoked", ch);
		else if (rc != SQLITE_DONE)
			snprintf(why, 128, "cannot read the consent: %s", sqlite3_errmsg(S->db));
		sqlite3_reset(S->st_consent);
		if (rc != SQLITE_DONE) {
			*broken = rc != SQLITE_ROW;
			return why;
		}
	}
	return NULL;
}

int reach_suppress(send_ctx *S, const char *address, const char *channel, const char *reason,
		   const char *source, int64_t now, jrn_err *e)
{
	sqlite3_stmt *st = S->st_suppress_add;
	sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_text(st, 5, source, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return jrn_fail(e, "%s", sqlite3_errmsg(S->db));
	return 0;
}
