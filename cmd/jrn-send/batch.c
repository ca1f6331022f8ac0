/* batch.c: one batch of jobs through the ledger (lib/ledger.h): prepare
 * them (one read transaction for the reach lookups), claim their keys (one
 * write transaction, committed before anything leaves), send, record the
 * outcomes (one more), write the records. What jrn-send's jobs mean to the
 * ledger is decided here; the SQL is lib/ledger.c's. */
#include <stdlib.h>
#include <string.h>

#include "jrn-send.h"
#include "profile-read.h"

int db_fail(send_ctx *S, jrn_err *e)
{
	char was[sizeof e->msg], shown[JRN_PATH_SHOWN];
	memcpy(was, e->msg, sizeof was);
	return jrn_fail(e, "%s: %s", jrn_path_shown(S->opts.db_path, shown), was);
}

int ledger_open(send_ctx *S, jrn_err *e)
{
	if (jrn_db_open(S->opts.db_path, S->opts.busy_ms, &S->db, e) < 0)
		return -1; /* the message names the file */
	if (!(S->ledger = jrn_ledger_open(S->db, e)) || reach_open(S, e) < 0)
		return db_fail(S, e);
	return 0;
}

void ledger_close(send_ctx *S)
{
	reach_close(S);
	jrn_profile_reader_close(S->profiles);
	S->profiles = NULL;
	jrn_ledger_close(S->ledger);
	S->ledger = NULL;
	if (S->db)
		sqlite3_close(S->db);
	S->db = NULL;
}

/* A read transaction (write false) or the write lock (jrn_db_begin, in
 * turn with other writers). */
static int begin(send_ctx *S, bool write, jrn_err *e)
{
	return (write ? jrn_db_begin(S->db, e) : jrn_db_exec(S->db, "BEGIN", e)) < 0
	       ? db_fail(S, e) : 0;
}

static int commit(send_ctx *S, jrn_err *e)
{
	if (jrn_db_commit(S->db, e) < 0) {
		jrn_db_rollback(S->db);
		return db_fail(S, e);
	}
	return 0;
}

/* Why j's key is a duplicate, from the ledger. */
static void duplicate_reason(send_ctx *S, job *j)
{
	jrn_ledger_entry x;
	jrn_err e;
	if (jrn_ledger_get(S->ledger, j->key, &x, &e) != 1)
		return;
	const char *st = x.status, *prov = x.provider, *mid = x.message_id;
	if (st && !strcmp(st, "sending"))
		job_error(j, "claimed by a run that has not recorded an outcome "
			     "(in flight, or stuck: see jrn-send --stuck)");
	else if (st && !strcmp(st, "queued"))
		job_error(j, "queued in the outbox already");
	else
		job_error(j, "%s already%s%s%s%s", st ? st : "?", prov ? " by " : "",
			  prov ? prov : "", mid ? ", " : "", mid ? mid : "");
	jrn_ledger_entry_free(&x);
}

static void duplicate(send_ctx *S, job *j)
{
	j->status = ST_DUPLICATE;
	duplicate_reason(S, j);
}

static int queue(send_ctx *S, job *j, jrn_err *e)
{
	if (jrn_ledger_queue(S->ledger, j->key, j->send_at, j->prov, j->attempt, j->text, j->len,
			     e) < 0)
		return db_fail(S, e);
	return 0;
}

/* --due: the outbox row is taken whatever becomes of it. */
static int claim_due(send_ctx *S, job *j, int64_t now, jrn_err *e)
{
	int mine = jrn_ledger_claim_due(S->ledger, j->key, now, e);
	if (mine < 0)
		return db_fail(S, e);
	if (!mine) {
		if (j->status == ST_NONE)
			duplicate(S, j);
		return 0;
	}
	j->claimed = true;
	if (j->status == ST_QUEUED) /* not due after all */
		j->status = ST_NONE;
	return 0;
}

/* --stuck --resend: taken over only if nobody else took it since it was
 * read: two --resend runs cannot both send it. */
static int take_over(send_ctx *S, job *j, int64_t now, jrn_err *e)
{
	int mine = jrn_ledger_take_over(S->ledger, j->key, j->claimed_at, now, e);
	if (mine < 0)
		return db_fail(S, e);
	if (!mine) {
		if (j->status == ST_NONE)
			duplicate(S, j);
	} else {
		j->claimed = true;
	}
	return 0;
}

/* A channel that only spools: the file is written inside the transaction
 * that claimed and recorded it; a failed write is recorded failed in the
 * same transaction, never a simulated row without its file. */
static int spool_now(send_ctx *S, job *j, provider *sp, double cost, bool sms, int64_t now,
		     jrn_err *e)
{
	jrn_buf err = {0};
	j->attempt++;
	j->attempts++;
	if (sp->ops->send_local(S, j, sp, &err) < 0) {
		outcome(S, j, sp, OUT_PERMANENT, err.p ? err.p : "out of memory", -1);
		jrn_buf_free(&err);
		jrn_delivery d = {
			.key = j->key,
			.status = "failed",
			.provider = sp->name,
			.attempts = j->attempts,
			.error = j->error.p,
			.error_len = j->error.len,
			.now = now,
		};
		if (jrn_ledger_record(S->ledger, &d, e) < 0)
			return db_fail(S, e);
	} else {
		j->status = ST_SIMULATED;
		j->cost = cost;
		j->has_cost = sms;
		jrn_buf_free(&err);
	}
	return 0;
}

/* Claims the key of jobs[i], to send now or to queue. */
static int claim_new(send_ctx *S, job **jobs, size_t i, int64_t now, jrn_err *e)
{
	job *j = jobs[i];
	/* A channel that only spools is claimed and recorded in one write,
	 * the file written inside the transaction: a crash rolls the rows
	 * back, and the next run writes the same files again under the same
	 * names, so nothing is simulated twice. */
	const chain *c = &S->cf.chains[j->channel];
	provider *sp = c->p[0];
	bool spool_only = j->status == ST_NONE && c->n == 1 && sp->ops->simulates;
	bool sms = j->channel == CH_SMS || j->channel == CH_WHATSAPP;
	double cost = sms ? j->segments * sp->cost_per_segment : 0;
	if (spool_only && !j->message_id && !(j->message_id = strndup(j->keyhash, 32)))
		return jrn_fail(e, "out of memory");
	jrn_delivery d = {
		.key = j->key,
		.customer = j->customer,
		.channel = channel_names[j->channel],
		.campaign = j->campaign,
		.status = spool_only ? "simulated" : j->status == ST_QUEUED ? "queued" : "sending",
		.attempts = spool_only,
		.record = j->text,
		.record_len = j->len,
		.now = now,
	};
	if (spool_only) {
		d.provider = sp->name;
		d.message_id = j->message_id;
		d.has_cost = d.has_segments = sms;
		d.cost = cost;
		d.segments = j->segments;
	}
	int rc = jrn_ledger_claim(S->ledger, &d, chain_is_real(S, j->channel), e);
	if (rc < 0)
		return db_fail(S, e);
	if (rc == 0) {
		duplicate(S, j);
		for (size_t k = 0; k < i; k++)
			if (jobs[k]->inserted && !strcmp(jobs[k]->key, j->key)) {
				job_error(j, "the same key as %s:%llu", jobs[k]->file,
					  (unsigned long long)jobs[k]->lineno);
				break;
			}
		return 0;
	}
	j->inserted = true;
	if (spool_only)
		return spool_now(S, j, sp, cost, sms, now, e);
	if (j->status == ST_QUEUED)
		return queue(S, j, e); /* recorded as it is */
	j->claimed = true;
	return 0;
}

/* A job that goes no further (suppressed, rejected) once its key is known:
 * its row (status suppressed or rejected, the reason in error) so that
 * jrn-report metrics counts it. Written only where a claim may take the
 * key (no row, or failed, suppressed, rejected): a key that is sent,
 * sending, queued or simulated keeps its row, and a later run may still
 * claim the key and send it (lib/ledger.h). A duplicate by jrn-route's
 * judgement is written only where the key has no row: one it has (a
 * rejection a resend may take, a cancellation) is the key's record, and
 * the duplicate says nothing new of it. 0 or -1 with e. */
static int note_unsent(send_ctx *S, job *j, int64_t now, jrn_err *e)
{
	if (j->route_duplicate) {
		jrn_ledger_entry x;
		int had = jrn_ledger_get(S->ledger, j->key, &x, e);
		if (had < 0)
			return db_fail(S, e);
		if (had) {
			jrn_ledger_entry_free(&x);
			return 0;
		}
	}
	jrn_delivery d = {
		.key = j->key,
		.customer = j->customer,
		.channel = channel_names[j->channel],
		.campaign = j->campaign,
		.status = j->status == ST_SUPPRESSED ? "suppressed" : "rejected",
		.record = j->text,
		.record_len = j->len,
		.error = j->error.p,
		.error_len = j->error.len,
		.now = now,
	};
	int rc = jrn_ledger_claim(S->ledger, &d, false, e);
	if (rc > 0)
		rc = jrn_ledger_record(S->ledger, &d, e);
	return rc < 0 ? db_fail(S, e) : 0;
}

/* Whether j is a suppression or a rejection the ledger notes. */
static bool unsent(const job *j)
{
	return (j->status == ST_SUPPRESSED || j->status == ST_REJECTED) && j->key &&
	       j->channel_known && !j->from_outbox && !j->resend && !j->claimed;
}

/* Claims the key of every job about to be sent or queued, in one
 * transaction, before anything leaves; notes the suppressed and rejected
 * ones (note_unsent). 0 or -1 with e. */
static int claim(send_ctx *S, job **jobs, size_t n, jrn_err *e)
{
	int64_t now = jrn_now();
	if (begin(S, true, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		job *j = jobs[i];
		int rc = 0;
		if (j->from_outbox)
			rc = claim_due(S, j, now, e);
		else if (j->resend)
			rc = take_over(S, j, now, e);
		else if (j->status == ST_NONE || j->status == ST_QUEUED)
			rc = claim_new(S, jobs, i, now, e);
		else if (unsent(j))
			rc = note_unsent(S, j, now, e);
		if (rc < 0) {
			jrn_db_rollback(S->db);
			return -1;
		}
	}
	return commit(S, e);
}

/* Records the outcome of every claimed job, in one transaction. */
static int record(send_ctx *S, job **jobs, size_t n, jrn_err *e)
{
	int64_t now = jrn_now();
	if (begin(S, true, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		job *j = jobs[i];
		if (!j->claimed)
			continue;
		bool done = j->status == ST_SENT || j->status == ST_SIMULATED;
		/* an outbox action may turn out suppressed or no longer
		 * render by the time it is due */
		jrn_delivery d = {
			.key = j->key,
			.status = j->status == ST_SENT ? "sent" : j->status == ST_SIMULATED ? "simulated"
				: j->status == ST_QUEUED ? "queued"
				: j->status == ST_SUPPRESSED ? "suppressed"
				: j->status == ST_REJECTED ? "rejected" : "failed",
			.provider = j->attempts ? job_provider(S, j)->name : NULL,
			.message_id = done ? j->message_id : NULL,
			.attempts = j->attempts,
			.error = done ? NULL : j->error.p,
			.error_len = j->error.len,
			.has_cost = j->has_cost,
			.cost = j->cost,
			.has_segments = j->channel == CH_SMS || j->channel == CH_WHATSAPP,
			.segments = j->segments,
			.now = now,
		};
		if (jrn_ledger_record(S->ledger, &d, e) < 0 ||
		    (j->suppress_reason && j->to &&
		     reach_suppress(S, j->to, channel_names[j->channel], j->suppress_reason,
				    j->suppress_source, now, e) < 0)) {
			db_fail(S, e);
			goto fail;
		}
		if (j->status == ST_QUEUED && queue(S, j, e) < 0)
			goto fail;
	}
	return commit(S, e);
fail:
	jrn_db_rollback(S->db);
	return -1;
}

/* --dry-run: what each job would come to, from the ledger as it is. */
static void dry_run(send_ctx *S, job **jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		job *j = jobs[i];
		if (j->status != ST_NONE && j->status != ST_QUEUED)
			continue;
		if (j->from_outbox || j->resend) { /* their ledger row is their claim */
			j->status = ST_DRYRUN;
			continue;
		}
		jrn_ledger_entry x;
		jrn_err e;
		const char *st = jrn_ledger_get(S->ledger, j->key, &x, &e) == 1 ? x.status : NULL;
		bool dup = st && strcmp(st, "failed") && strcmp(st, "suppressed") &&
			   strcmp(st, "rejected") &&
			   !(strcmp(st, "simulated") == 0 && chain_is_real(S, j->channel));
		if (st)
			jrn_ledger_entry_free(&x);
		if (dup)
			duplicate(S, j);
		else
			j->status = ST_DRYRUN; /* sendAt stays when it was for later */
	}
}

/* The state file failed before the batch was claimed: nothing was sent;
 * each record still comes out, failed, and the rejects still go out. A
 * job spooled inside the claim's transaction (simulated) was rolled back
 * with it: failed too, never reported simulated without its ledger row
 * (the next run writes the same file again under the same name). */
static int unclaimed(send_ctx *S, job **jobs, size_t n, jrn_err *e)
{
	for (size_t i = 0; i < n; i++)
		if (jobs[i]->status == ST_NONE || jobs[i]->status == ST_QUEUED ||
		    (jobs[i]->inserted && jobs[i]->status == ST_SIMULATED)) {
			jobs[i]->status = ST_FAILED;
			jobs[i]->inserted = jobs[i]->claimed = false;
			job_error(jobs[i], "not sent: %s", e->msg);
		}
	write_batch(S, jobs, n, -1, e);
	return -1;
}

int process_batch(send_ctx *S, job **jobs, size_t n, jrn_err *e)
{
	int rc = 0;
	bool have_work = false;
	/* one read transaction for the batch's suppression and consent
	 * lookups, not a lock and an unlock each */
	if (begin(S, false, e) < 0)
		return unclaimed(S, jobs, n, e);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->status == ST_NONE && !jobs[i]->key)
			prepare(S, jobs[i]);
		if (jobs[i]->status == ST_NONE || jobs[i]->status == ST_QUEUED || jobs[i]->from_outbox ||
		    jobs[i]->resend || unsent(jobs[i]))
			have_work = true;
	}
	if (!S->opts.dry_run && commit(S, e) < 0)
		return unclaimed(S, jobs, n, e);
	if (S->opts.dry_run) {
		dry_run(S, jobs, n);
	} else if (have_work) {
		if (claim(S, jobs, n, e) < 0)
			return unclaimed(S, jobs, n, e);
		send_all(S, jobs, n);
		if (record(S, jobs, n, e) < 0) {
			char was[sizeof e->msg];
			memcpy(was, e->msg, sizeof was);
			jrn_fail(e, "%s; the batch's sends stay claimed: see jrn-send --stuck", was);
			rc = -1;
		}
	}
	if (S->opts.dry_run && commit(S, e) < 0)
		return unclaimed(S, jobs, n, e);
	return write_batch(S, jobs, n, rc, e);
}

job *job_from_row(send_ctx *S, const char *text, size_t len, uint64_t rowno, jrn_err *e)
{
	job *j = job_new("state", rowno, text ? text : "{}", text ? len : 2);
	if (!j) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	jrn_err pe;
	j->rec = jrn_parse_object(&S->parser, j->text, j->len, &pe);
	if (!jv_is_valid(j->rec)) {
		jv_free(j->rec);
		j->rec = jv_object();
		j->status = ST_REJECTED;
		job_error(j, "stored record: %s", pe.msg);
	}
	return j;
}
