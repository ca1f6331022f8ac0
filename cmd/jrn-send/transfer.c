/* transfer.c: the transfer loop: a batch's jobs through libcurl's multi
 * interface (connections reused), each provider's token bucket (rate:
 * messages a second) and connection limit, retries with backoff and
 * jitter (send.retry), Retry-After, the outbox for long waits, and the
 * next provider of the chain when one gives up. Names no provider type:
 * it calls p->ops. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jrn-send.h"

volatile sig_atomic_t send_interrupted;

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	/* a response body is read for ids and error codes: 1 MiB is plenty */
	if (x->resp.len + size * n > (1u << 20))
		return size * n;
	return jrn_buf_add(&x->resp, p, size * n) < 0 ? 0 : size * n;
}

static int64_t jittered(send_ctx *S, int64_t ms)
{
	if (S->cf.jitter <= 0)
		return ms;
	double f = 1 - S->cf.jitter + 2 * S->cf.jitter * ((double)random() / RAND_MAX);
	return (int64_t)(ms * f);
}

static void requeue(send_ctx *S, job *j)
{
	if (S->tx.nrequeued == S->tx.requeued_cap) {
		size_t cap = S->tx.requeued_cap ? 2 * S->tx.requeued_cap : 64;
		job **n = realloc(S->tx.requeued, cap * sizeof *n);
		if (!n) {
			j->status = ST_FAILED;
			job_error(j, "out of memory");
			return;
		}
		S->tx.requeued = n, S->tx.requeued_cap = cap;
	}
	S->tx.requeued[S->tx.nrequeued++] = j;
}

/* What happened to one attempt of j on p: done, or another try later (here
 * or from the outbox), or the next provider, or failed. */
void outcome(send_ctx *S, job *j, provider *p, enum outcome kind, const char *msg,
	     int64_t retry_after)
{
	if (kind == OUT_OK) {
		j->status = p->ops->simulates ? ST_SIMULATED : ST_SENT;
		j->suppress_reason = NULL; /* another provider's refusal was not the address */
		jrn_buf_reset(&j->error);
		if (j->channel == CH_SMS || j->channel == CH_WHATSAPP) {
			j->cost = j->segments * p->cost_per_segment;
			j->has_cost = true;
		}
		return;
	}
	jrn_buf_reset(&j->error);
	jrn_buf_addf(&j->error, "%s: %s", p->name, msg);
	if (kind == OUT_TRANSIENT && j->attempt <= S->cf.nbackoff) {
		int64_t wait = retry_after >= 0 ? retry_after : jittered(S, S->cf.backoff[j->attempt - 1]);
		if (wait <= S->cf.max_wait) {
			j->ready = (S->tx.outcome_clock ? S->tx.outcome_clock : jrn_mono_ms()) + wait;
			requeue(S, j);
			if (S->trace)
				jrn_say(0, "%s:%llu: %s; retrying in %lld ms", j->file,
					(unsigned long long)j->lineno, j->error.p, (long long)wait);
		} else {
			j->status = ST_QUEUED;
			j->send_at = jrn_now() + wait;
			if (S->trace)
				jrn_say(0, "%s:%llu: %s; queued for jrn-send --due in %lld s",
					j->file, (unsigned long long)j->lineno, j->error.p,
					(long long)(wait / 1000));
		}
		return;
	}
	const chain *c = &S->cf.chains[j->channel];
	if (j->prov + 1 < c->n) {
		if (S->opts.verbosity >= 0)
			jrn_say(0, "%s:%llu: %s; trying %s", j->file,
				(unsigned long long)j->lineno, j->error.p, c->p[j->prov + 1]->name);
		j->prov++;
		j->attempt = 0;
		j->ready = 0;
		requeue(S, j);
		return;
	}
	j->status = ST_FAILED;
}

static CURL *easy_get(send_ctx *S)
{
	if (S->tx.npool)
		return S->tx.pool[--S->tx.npool];
	return curl_easy_init();
}

static void easy_put(send_ctx *S, CURL *c)
{
	if (S->tx.npool == S->tx.pool_cap) {
		size_t cap = S->tx.pool_cap ? 2 * S->tx.pool_cap : 32;
		CURL **n = realloc(S->tx.pool, cap * sizeof *n);
		if (!n) {
			curl_easy_cleanup(c);
			return;
		}
		S->tx.pool = n, S->tx.pool_cap = cap;
	}
	curl_easy_reset(c);
	S->tx.pool[S->tx.npool++] = c;
}

static void xfer_free(xfer *x)
{
	if (!x)
		return;
	curl_slist_free_all(x->hdrs);
	curl_slist_free_all(x->rcpts);
	jrn_buf_free(&x->body);
	jrn_buf_free(&x->resp);
	free(x->jobs);
	free(x);
}

/* Starts the transfer of jobs[0..n) (n > 1 only for audience batches) on
 * p. 0, or -1 with the jobs' outcome already decided. */
static int xfer_start(send_ctx *S, provider *p, job **jobs, size_t n)
{
	xfer *x = calloc(1, sizeof *x);
	const char *why = "out of memory";
	if (!x || !(x->jobs = malloc(n * sizeof *jobs)))
		goto fail;
	memcpy(x->jobs, jobs, n * sizeof *jobs);
	x->njobs = n;
	x->p = p;
	CURL *c = x->easy = easy_get(S);
	if (!c)
		goto fail;
	curl_easy_setopt(c, CURLOPT_PRIVATE, x);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, p->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms < 10000 ? p->timeout_ms : 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "jrn-send/" JRN_VERSION);
	if (p->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_file);

	if (p->ops->start(S, x, c) < 0)
		goto fail;
	if (curl_multi_add_handle(S->tx.multi, c) != CURLM_OK) {
		why = "curl_multi_add_handle failed";
		goto fail;
	}
	p->in_flight++;
	for (size_t i = 0; i < n; i++) {
		jobs[i]->attempt++;
		jobs[i]->attempts++;
	}
	return 0;
fail:
	for (size_t i = 0; i < n; i++) {
		jobs[i]->attempt++;
		jobs[i]->attempts++;
		outcome(S, jobs[i], p, OUT_PERMANENT, why, -1);
	}
	if (x && x->easy)
		easy_put(S, x->easy);
	xfer_free(x);
	return -1;
}

/* A finished transfer: each of its jobs' outcome. */
static void xfer_done(send_ctx *S, CURL *c, CURLcode res)
{
	xfer *x = NULL;
	curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&x);
	provider *p = x->p;
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	enum outcome kind = OUT_OK;
	jrn_buf msg = {0};
	int64_t ra = -1;
	job *j = x->jobs[0];

	p->ops->done(x, c, res, code, &kind, &msg, &ra);
	if (x->njobs > 1) {
		/* one wait and one clock for the batch, so that it is tried
		 * again whole, under the same Idempotency-Key */
		S->tx.outcome_clock = jrn_mono_ms();
		if (kind == OUT_TRANSIENT && ra < 0 && j->attempt <= S->cf.nbackoff)
			ra = jittered(S, S->cf.backoff[j->attempt - 1]);
	}
	for (size_t i = 0; i < x->njobs; i++)
		outcome(S, x->jobs[i], p, kind, msg.p ? msg.p : "", ra);
	S->tx.outcome_clock = 0;
	jrn_buf_free(&msg);
	p->in_flight--;
	curl_multi_remove_handle(S->tx.multi, c);
	easy_put(S, c);
	xfer_free(x);
}

/* Milliseconds until p's token bucket holds a token (0: take it now). */
static int64_t bucket_take(provider *p, int64_t now)
{
	if (p->rate <= 0)
		return 0;
	double cap = p->rate > 1 ? p->rate : 1;
	p->tokens += (double)(now - p->refilled) * p->rate / 1000.0;
	p->refilled = now;
	if (p->tokens > cap)
		p->tokens = cap;
	if (p->tokens >= 1) {
		p->tokens -= 1;
		return 0;
	}
	int64_t wait = (int64_t)ceil((1 - p->tokens) * 1000.0 / p->rate);
	return wait > 0 ? wait : 1;
}

/* Moves the jobs outcome() queued for another try to the end of the
 * pending queue (growing it and its twin, the keep array). */
static void take_requeued(send_ctx *S, job ***pend, job ***keep, size_t *npend)
{
	job **grown = realloc(*pend, (*npend + S->tx.nrequeued) * sizeof **pend);
	if (grown)
		*pend = grown;
	job **grown2 = grown ? realloc(*keep, (*npend + S->tx.nrequeued) * sizeof **keep) : NULL;
	if (grown2)
		*keep = grown2;
	if (!grown || !grown2) {
		for (size_t k = 0; k < S->tx.nrequeued; k++) {
			S->tx.requeued[k]->status = ST_FAILED;
			job_error(S->tx.requeued[k], "out of memory");
		}
	} else {
		memcpy(*pend + *npend, S->tx.requeued, S->tx.nrequeued * sizeof **pend);
		*npend += S->tx.nrequeued;
	}
	S->tx.nrequeued = 0;
}

/* Sends every job of jobs[0..n) whose status is ST_NONE, through its
 * chain, until each has an outcome. */
void send_all(send_ctx *S, job **jobs, size_t n)
{
	job **pend = malloc((n ? n : 1) * sizeof *pend), **keep = malloc((n ? n : 1) * sizeof *keep);
	size_t npend = 0;
	int in_flight = 0;
	if (!pend || !keep) {
		for (size_t i = 0; i < n; i++)
			if (jobs[i]->status == ST_NONE) {
				jobs[i]->status = ST_FAILED;
				job_error(jobs[i], "out of memory");
			}
		free(pend);
		free(keep);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (jobs[i]->status == ST_NONE)
			jobs[i]->ready = 0, pend[npend++] = jobs[i];

	while (npend || in_flight) {
		int64_t now = jrn_mono_ms(), next = INT64_MAX;
		size_t nkeep = 0;
		S->tx.nrequeued = 0;
		for (size_t i = 0; i < npend; i++) {
			job *j = pend[i];
			if (!j) /* taken into an audience batch */
				continue;
			if (send_interrupted) {
				/* not started: back to the outbox, for --due */
				j->status = ST_QUEUED;
				j->send_at = jrn_now();
				job_error(j, "interrupted before sending");
				continue;
			}
			provider *p = S->cf.chains[j->channel].p[j->prov];
			if (j->ready > now) {
				next = j->ready < next ? j->ready : next;
				keep[nkeep++] = j;
				continue;
			}
			if (p->local) {
				jrn_buf err = {0};
				j->attempt++;
				j->attempts++;
				if (p->ops->send_local(S, j, p, &err) < 0)
					outcome(S, j, p, OUT_PERMANENT, err.p ? err.p : "out of memory", -1);
				else
					outcome(S, j, p, OUT_OK, NULL, -1);
				jrn_buf_free(&err);
				continue;
			}
			int64_t wait = 0;
			if (in_flight >= S->cf.parallel || p->in_flight >= p->connections ||
			    (wait = bucket_take(p, now)) > 0) {
				if (wait > 0 && now + wait < next)
					next = now + wait;
				keep[nkeep++] = j;
				continue;
			}
			size_t nb = 1;
			job *batch_one[1] = {j}, **batch = batch_one;
			job **many = NULL;
			if (p->ops->same_batch) {
				/* jobs that go together (an audience), up to batchSize */
				many = malloc((size_t)p->batch_size * sizeof *many);
				if (many) {
					many[0] = j;
					for (size_t k = i + 1; k < npend && nb < (size_t)p->batch_size; k++) {
						job *o = pend[k];
						if (o && o->ready <= now && o->channel == j->channel &&
						    S->cf.chains[o->channel].p[o->prov] == p &&
						    p->ops->same_batch(j, o)) {
							many[nb++] = o;
							pend[k] = NULL;
						}
					}
					batch = many;
				}
			}
			if (xfer_start(S, p, batch, nb) == 0)
				in_flight++;
			free(many);
		}
		/* jobs to try again join the queue behind the waiting ones */
		memcpy(pend, keep, nkeep * sizeof *pend);
		npend = nkeep;
		if (S->tx.nrequeued) {
			take_requeued(S, &pend, &keep, &npend);
			continue; /* a job may be ready at once (the next provider) */
		}
		if (!in_flight) {
			if (!npend)
				break;
			jrn_sleep_ms(next == INT64_MAX ? 10 : next - jrn_mono_ms());
			continue;
		}
		int running = 0;
		curl_multi_perform(S->tx.multi, &running);
		CURLMsg *m;
		int left;
		bool done_any = false;
		while ((m = curl_multi_info_read(S->tx.multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			xfer_done(S, m->easy_handle, m->data.result);
			in_flight--;
			done_any = true;
		}
		if (S->tx.nrequeued)
			take_requeued(S, &pend, &keep, &npend);
		if (done_any)
			continue;
		int64_t ms = next == INT64_MAX ? 1000 : next - jrn_mono_ms();
		if (ms < 0)
			ms = 0;
		if (ms > 1000)
			ms = 1000;
		curl_multi_poll(S->tx.multi, NULL, 0, (int)ms, NULL);
	}
	free(pend);
	free(keep);
}

int transfer_init(send_ctx *S)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(S->tx.multi = curl_multi_init()))
		return -1;
	curl_multi_setopt(S->tx.multi, CURLMOPT_MAXCONNECTS, (long)S->cf.parallel * 2);
	return 0;
}

void transfer_free(send_ctx *S)
{
	send_transfer *tx = &S->tx;
	for (size_t i = 0; i < tx->npool; i++)
		curl_easy_cleanup(tx->pool[i]);
	free(tx->pool);
	free(tx->requeued);
	if (tx->multi)
		curl_multi_cleanup(tx->multi);
	curl_global_cleanup();
	memset(tx, 0, sizeof *tx);
}
