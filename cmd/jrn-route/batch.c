/* batch.c: the way every record goes through the gate into the output
 * batch (route_action, route_line), the end of a batch (its output
 * written, then its transaction committed), where the journeys come from,
 * and the interrupt flag: what main.c's loop, the engine and --tick share
 * (apart from main.c, so that the parts link without main). */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

volatile sig_atomic_t route_interrupted;

/* The state file's trouble, said once with its path. */
static int db_fail(route_run *R, const jrn_err *e)
{
	return jrn_say(JRN_EXIT_FAIL, "%s: %s", R->opts.db_path, e->msg);
}

/* The end of a batch: its records written, then its decisions committed
 * (a dry run keeps its one transaction open to the end, and rolls it
 * back). When the output fails (a reader that went away) the batch is
 * rolled back, so nothing is remembered as decided that nobody received;
 * when the commit fails after the write, a rerun decides those actions
 * again under the same idempotency keys, which jrn-send's ledger holds.
 * 0, or -1 with e (the commit). */
static int batch_end(route_run *R, jrn_err *e)
{
	/* the decisions written behind (store_behind) are written before
	 * their records go out */
	if (store_sync(R->st, e) < 0) {
		jrn_buf_reset(&R->batch);
		if (R->in_tx)
			jrn_db_rollback(R->db);
		R->in_tx = false;
		return -1;
	}
	if (R->batch.len)
		jrn_out_lines(&R->out, R->batch.p, R->batch.len);
	jrn_buf_reset(&R->batch);
	jrn_out_flush(&R->out);
	if (R->out.err && R->in_tx) {
		jrn_db_rollback(R->db);
		R->in_tx = false;
	}
	if (R->in_tx && !R->opts.dry_run) {
		R->in_tx = false;
		if (jrn_db_commit(R->db, e) < 0) {
			jrn_db_rollback(R->db);
			return -1;
		}
	}
	return 0;
}

int route_batch_end(route_run *R)
{
	jrn_err e;
	return batch_end(R, &e) < 0 ? db_fail(R, &e), -1 : 0;
}

int route_action(route_run *R, const jrn_line *ln, decision *d, bool *rejected)
{
	jrn_err why, e;
	action a;
	*rejected = false;
	if (!R->in_tx) {
		if (jrn_db_begin(R->db, &e) < 0) {
			db_fail(R, &e);
			return -1;
		}
		R->in_tx = true;
	}
	int rc = record_read(R, ln, &a, &why);
	if (rc == 2) {
		R->passed++;
		jrn_buf_add(&R->batch, ln->p, ln->len);
		if (jrn_buf_addc(&R->batch, '\n') < 0)
			return jrn_say(-1, "out of memory");
		*rejected = true; /* not an action: no decision */
		return R->eng ? engine_event(R, ln) : 0;
	}
	if (rc == 0) { /* the customer the id names now: its caps, consent, decisions */
		const char *now_id = store_standing(R->st, a.f[F_CUSTOMER], &e);
		if (!now_id)
			rc = -1;
		else if (now_id != a.f[F_CUSTOMER])
			a.key_customer = a.f[F_CUSTOMER], a.f[F_CUSTOMER] = now_id;
	}
	if (rc == 0)
		rc = gate_decide(R, &a, d, &why, &e);
	if (rc < 0) {
		db_fail(R, &e);
		return -1;
	}
	if (rc == 1) {
		*rejected = true;
		R->rejected_why = why;
		char said[sizeof why.msg + 128];
		if (R->acting_for)
			snprintf(said, sizeof said, "customer %s, enrollment %lld: %s", R->acting_for,
				 (long long)R->acting_enrollment, why.msg);
		return jrn_reject(&R->rej, ln->file, ln->lineno, ln->p, ln->len,
				  R->acting_for ? said : why.msg, &e) < 0 ? jrn_say(-1, "%s", e.msg) : 0;
	}
	const char *tk = a.f[F_TRIGGER] ? a.f[F_TRIGGER] : a.f[F_JOURNEY];
	if (!d->erased && store_write(R->st, &a, d, tk, jrn_now(), &e) < 0) {
		db_fail(R, &e);
		return -1;
	}
	R->counts[d->kind]++;
	if (record_write(R, ln, &a, d, &e) < 0)
		return jrn_say(-1, "%s", e.msg);
	return 0;
}

/* One line: decided into the batch, or rejected; an event passed through
 * and given to the journeys. 0, -1 fatal (said). */
int route_line(route_run *R, const jrn_line *ln)
{
	decision d;
	bool rejected;
	return route_action(R, ln, &d, &rejected);
}

int route_journeys_load(route_run *R, journeys *js, int *bad, jrn_err *e)
{
	char *owned = NULL;
	const char *dir = journeys_dir(R->journeys_dir, R->opts.config, R->opts.config_path, &owned);
	*bad = 0;
	int rc = journeys_load(dir, R->opts.config, R->opts.config_path, js, bad, NULL, e);
	free(owned);
	return rc;
}

const char *route_ended_reason(const char *status)
{
	if (!status)
		return NULL;
	if (!strcmp(status, "exited"))
		return "enrollment_exited";
	if (!strcmp(status, "converted"))
		return "enrollment_converted";
	return NULL;
}
