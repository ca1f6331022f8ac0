/* output.c: what jrn-send writes: each record as read with its delivery
 * spliced in, the rejects, a line per failure, and the summary line. */
#include <stdlib.h>
#include <string.h>

#include "jrn-send.h"

const char *const status_names[NSTATUS] = {
	"none", "sent", "simulated", "duplicate", "queued", "failed", "rejected",
	"suppressed", "deferred", "dry-run", "stuck", "passed",
};

/* The delivery object of j, as JSON, onto b. */
static void delivery_json(send_ctx *S, const job *j, jrn_buf *b)
{
	char ts[32];
	jrn_buf_addf(b, "{\"status\":\"%s\"", status_names[j->status]);
	if (j->attempts && j->status != ST_DUPLICATE) {
		const char *pn = S->cf.chains[j->channel].p[j->prov]->name;
		jrn_buf_adds(b, ",\"provider\":");
		jrn_json_append_str(b, pn, strlen(pn));
	}
	if (j->message_id && (j->status == ST_SENT || j->status == ST_SIMULATED)) {
		jrn_buf_adds(b, ",\"messageId\":");
		jrn_json_append_str(b, j->message_id, strlen(j->message_id));
	}
	jrn_buf_addf(b, ",\"attempts\":%d", j->attempts);
	if (j->error.p && j->error.len && j->status != ST_SENT && j->status != ST_SIMULATED) {
		jrn_buf_adds(b, ",\"error\":");
		jrn_json_append_str(b, j->error.p, j->error.len);
	}
	if (j->has_cost)
		jrn_buf_addf(b, ",\"cost\":%.10g", j->cost);
	if ((j->channel == CH_SMS || j->channel == CH_WHATSAPP) && j->segments)
		jrn_buf_addf(b, ",\"segments\":%d", j->segments);
	if (j->key) {
		jrn_buf_adds(b, ",\"key\":");
		jrn_json_append_str(b, j->key, strlen(j->key));
	}
	if (j->status == ST_QUEUED || (j->status == ST_DRYRUN && j->send_at)) {
		jrn_time_format(j->send_at, ts);
		jrn_buf_addf(b, ",\"sendAt\":\"%s\"", ts);
	}
	jrn_buf_addc(b, '}');
}

/* Writes text[0..len), a JSON object, to out with the value of its one
 * top-level member key replaced by val: 1 done, 0 when it cannot be done
 * that way (no such member, or twice, or an escaped key that might be it). */
static int replace_member(send_ctx *S, const char *text, size_t len, const char *key,
			  const char *val, size_t vlen, jrn_buf *out)
{
	jrn_json_index *ix = &S->emit_ix;
	jrn_err e;
	if (jrn_json_index_build(ix, text, len, 1, &e) < 0)
		return 0;
	const jrn_json_member *m = NULL;
	size_t klen = strlen(key);
	for (size_t i = 0; i < ix->n; i++) {
		if (ix->m[i].parent != -1)
			continue;
		if (ix->m[i].kescaped)
			return 0;
		if (ix->m[i].klen == klen && !memcmp(ix->m[i].key, key, klen)) {
			if (m)
				return 0;
			m = &ix->m[i];
		}
	}
	if (!m)
		return 0;
	const char *v0 = m->val, *v1 = m->val + m->vlen;
	if (m->kind == '"')
		v0--, v1++; /* the quotes */
	jrn_buf_reset(out);
	jrn_buf_add(out, text, (size_t)(v0 - text));
	jrn_buf_add(out, val, vlen);
	jrn_buf_add(out, v1, (size_t)(text + len - v1));
	return out->p ? 1 : 0;
}

/* Writes j with its delivery: the text as read with the member spliced in
 * before the closing brace, so everything else passes byte for byte. */
static int emit(send_ctx *S, job *j, jrn_buf *line, jrn_err *e)
{
	jrn_buf d = {0};
	delivery_json(S, j, &d);
	jrn_buf_reset(line);
	int rc = 0;
	if (!d.p) {
		rc = jrn_fail(e, "out of memory");
	} else if (!jv_object_has(jv_copy(j->rec), jv_string("delivery")) &&
		   memchr(j->text, '}', j->len)) {
		size_t end = j->len;
		while (end && j->text[end - 1] != '}')
			end--;
		bool empty = jv_object_length(jv_copy(j->rec)) == 0;
		jrn_buf_add(line, j->text, end - 1);
		if (!empty)
			jrn_buf_addc(line, ',');
		jrn_buf_adds(line, "\"delivery\":");
		jrn_buf_add(line, d.p, d.len);
		jrn_buf_addc(line, '}');
	} else if (replace_member(S, j->text, j->len, "delivery", d.p, d.len, line) == 1) {
		/* done: the old delivery replaced in place, the rest as read */
	} else {
		jv dv = jrn_parse_value(d.p, d.len, NULL);
		if (jrn_json_append(line, jv_object_set(jv_copy(j->rec), jv_string("delivery"), dv), 0,
				    e) < 0)
			rc = -1;
	}
	jrn_buf_free(&d);
	if (rc == 0 && !line->p)
		rc = jrn_fail(e, "out of memory");
	if (rc == 0)
		jrn_out_line(&S->out, line->p, line->len);
	return rc;
}

/* Writes the batch's records, reports its rejects and failures. Returns
 * rc, or -1 when writing failed (e says why). */
int write_batch(send_ctx *S, job **jobs, size_t n, int rc, jrn_err *e)
{
	jrn_buf line = {0};
	bool batch_failed = rc < 0;
	for (size_t i = 0; i < n; i++) {
		job *j = jobs[i];
		jrn_err we;
		S->counts[j->status]++;
		if (j->channel_known)
			S->channel_counts[j->channel]++;
		if (j->status == ST_REJECTED && !S->rejects_broken &&
		    jrn_reject(&S->rej, j->file, j->lineno, j->text, j->len,
			       j->error.p ? j->error.p : "rejected", &we) < 0) {
			S->rejects_broken = true;
			if (rc == 0)
				*e = we;
			rc = -1;
		}
		/* said even under -q, a failure not being a success (exit 1),
		 * unless the batch failed whole: then its one error says why */
		if (j->status == ST_FAILED && (S->opts.verbosity >= 0 || !batch_failed))
			jrn_say(0, "%s:%llu: %s to %s failed: %s", j->file,
				(unsigned long long)j->lineno, channel_names[j->channel],
				j->to ? j->to : j->campaign ? j->campaign : "?",
				j->error.p ? j->error.p : "");
		if (j->status == ST_PASSED) /* an event: byte for byte as read */
			jrn_out_line(&S->out, j->text, j->len);
		else if (!j->bad_line && emit(S, j, &line, &we) < 0) {
			if (rc == 0)
				*e = we;
			rc = -1;
		}
	}
	jrn_buf_free(&line);
	jrn_out_flush(&S->out);
	return rc;
}

void write_stuck(send_ctx *S, job *j, jrn_buf *line, jrn_err *e)
{
	/* listed as it is: {"status":"stuck", provider, attempts, key, claimedAt} */
	char ts[32];
	jrn_time_format(j->claimed_at, ts);
	jrn_buf d = {0};
	jrn_buf_adds(&d, "{\"status\":\"stuck\"");
	if (j->stuck_provider) {
		jrn_buf_adds(&d, ",\"provider\":");
		jrn_json_append_str(&d, j->stuck_provider, strlen(j->stuck_provider));
	}
	jrn_buf_addf(&d, ",\"attempts\":%d,\"key\":", j->attempts);
	jrn_json_append_str(&d, j->key, strlen(j->key));
	if (j->status == ST_REJECTED && j->error.p) {
		jrn_buf_adds(&d, ",\"error\":");
		jrn_json_append_str(&d, j->error.p, j->error.len);
	}
	jrn_buf_addf(&d, ",\"claimedAt\":\"%s\"}", ts);
	jv dv = d.p ? jrn_parse_value(d.p, d.len, NULL) : jv_invalid();
	jrn_buf_reset(line);
	if (jv_is_valid(dv) &&
	    jrn_json_append(line, jv_object_set(jv_copy(j->rec), jv_string("delivery"), dv), 0, e) == 0)
		jrn_out_line(&S->out, line->p, line->len);
	else
		jv_free(dv);
	jrn_buf_free(&d);
	S->counts[ST_STUCK]++;
}

void summary(send_ctx *S, uint64_t rejected)
{
	/* one line: the five that matter always, the others when seen */
	static const enum status always[] = {ST_SENT, ST_DUPLICATE, ST_QUEUED, ST_FAILED,
					     ST_REJECTED};
	const uint64_t *counts = S->counts;
	jrn_buf s = {0};
	for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
		jrn_buf_addf(&s, "%s%llu %s", i ? ", " : "",
			     (unsigned long long)(always[i] == ST_REJECTED ? rejected
									   : counts[always[i]]),
			     status_names[always[i]]);
	for (int i = 1; i < NSTATUS; i++)
		if (counts[i] && i != ST_SENT && i != ST_DUPLICATE && i != ST_QUEUED &&
		    i != ST_FAILED && i != ST_REJECTED)
			jrn_buf_addf(&s, ", %llu %s", (unsigned long long)counts[i], status_names[i]);
	const char *sep = " (";
	for (int c = 0; c < NCHANNELS; c++)
		if (S->channel_counts[c]) {
			jrn_buf_addf(&s, "%s%s %llu", sep, channel_names[c],
				     (unsigned long long)S->channel_counts[c]);
			sep = ", ";
		}
	if (*sep == ',')
		jrn_buf_addc(&s, ')');
	if (S->opts.dry_run)
		jrn_buf_adds(&s, " (dry run, nothing saved)");
	jrn_say(0, "%s", s.p ? s.p : "");
	jrn_buf_free(&s);
}
