/*
 * nats.h: jrn-ingest over NATS JetStream (private to cmd/jrn-ingest/;
 * jrn-ingest(1) NATS).
 *
 * --publish: the events a run took (record.c) go to the stream, event i to
 * subject "<subject>.<p>" with p = jrn_partition_of(customerId, N) and
 * header Nats-Msg-Id = its id; a batch is published asynchronously and
 * waited for: ingest_nats_publish returns once JetStream acknowledged every
 * record of the batch, re-sending what stays unacked after nats.ackTimeout
 * (libnats 3.4.1 has no time-out of its own: an async publish in flight
 * when a stream leader dies is never answered, ../shared/PEERS.md) until
 * nats.deadline, counted from the batch's first publish. Re-sending is
 * safe: the stream drops a Msg-Id it holds (within its duplicate window).
 *
 * --from: one ephemeral ordered consumer per owned partition, filtered on
 * "<subject>.<p>", starting at log_offsets.seq + 1 (jrn-state(5)); the
 * position is jrn's own, kept in the state file in the same transaction
 * as the events (ingest_nats_offsets_save), never JetStream's acks.
 *
 * The stream (nats.stream, subjects "<subject>.*") is created when
 * missing with nats.replicas, nats.storage, nats.duplicateWindow and the
 * description "jrn partitions=N"; an existing one with other subjects or
 * another partition count is an error, never changed.
 */
#ifndef JRN_INGEST_NATS_H
#define JRN_INGEST_NATS_H

#include "jrn-ingest.h"

/* The largest partition count (nats.partitions, P/N). */
#define INGEST_NATS_MAX_PARTITIONS 4096
/* How long --from fills a batch (one transaction) after its first message
 * while more keep coming, in ms, when the store thread waits for it; while
 * that thread still stores the last one, the batch goes on filling, up to
 * its size (jrn-ingest(1), NATS). */
#define INGEST_NATS_LINGER_MS 50

typedef struct ingest_nats ingest_nats;

/* Whether urls ("nats://HOST[:PORT][,nats://...]", at most 16) is
 * well-formed: 0, or -1 with the reason in e (naming the bad part). */
int ingest_nats_url_check(const char *urls, jrn_err *e);

/* The partitions list of --partitions ("0,3,5", "0-3", "P/N", mixed
 * "0-2,5") for n partitions: sets owned[p] (n bytes, cleared first).
 * n = 0 checks the syntax only. 0, or -1 with e ("4: not below the 8
 * partitions (nats.partitions)", "3/4: 4 is not the 8 partitions ..."). */
int ingest_nats_partitions(const char *list, int n, unsigned char *owned, jrn_err *e);

/* Connects to urls (or nats.url of cfg when urls is NULL; cfg borrowed)
 * and makes sure the stream is as configured (created when missing).
 * verbosity as opts.verbosity (-v says each reconnect attempt). Returns
 * the handle, or NULL with *status (JRN_EXIT_USAGE for a bad setting,
 * JRN_EXIT_FAIL for a server not reachable or a stream that differs) and
 * the message in e. */
ingest_nats *ingest_nats_open(jv cfg, const char *urls, int verbosity, int *status, jrn_err *e);
/* The partition count (nats.partitions). */
int ingest_nats_count(const ingest_nats *N);
/* Whether ingest_nats_open created the stream (it did not exist). */
bool ingest_nats_created(const ingest_nats *N);
/* The stream's name (owned by N). */
const char *ingest_nats_stream(const ingest_nats *N);
/* The server's largest message (bytes). */
int64_t ingest_nats_max_payload(const ingest_nats *N);
/* Whether the connection is up now (not reconnecting, not closed). */
bool ingest_nats_connected(ingest_nats *N);
void ingest_nats_close(ingest_nats *N);

/* Publishes b's records and waits for their acknowledgements: state[i]
 * (b->n bytes) becomes 1 for a record stored, 2 for one the stream
 * already held (a duplicate; one re-sent after a time-out counts as 1).
 * 0, or -1 with e naming how many records stay unacked after
 * nats.deadline (those have state 0). */
int ingest_nats_publish(ingest_nats *N, const batch *b, unsigned char *state, jrn_err *e);

/* --from: subscribes to every partition p with owned[p] (n =
 * ingest_nats_count bytes) at start[p] + 1 (the stored offsets). With
 * drain, each partition's end is the stream's last sequence of its
 * subject as of now. 0, or -1 with e. */
int ingest_nats_follow(ingest_nats *N, const unsigned char *owned, const uint64_t *start,
		       bool drain, jrn_err *e);
/* Fills b with up to max messages, each through ingest_take_line (file
 * "nats:SUBJECT", line = its stream sequence) and b->seq[p] set to the last
 * sequence taken per partition (b->seq has ingest_nats_count slots). A
 * message whose customer belongs to another partition than its subject
 * is rejected. Waits up to 200 ms for a first message. Past
 * INGEST_NATS_LINGER_MS after the first, b is done when busy is NULL or
 * returns false (whoever takes b is free to), else it fills on: a batch
 * shipped while the store thread is still on the last waits as long all
 * the same, and small ones cost more per event (each commit writes the
 * index pages its rows touched again). Returns 1 when b took messages, 0
 * when none came (or, with drain, every partition is done: *done set),
 * -1 with fatal (from ingest_take_line). */
int ingest_nats_fill(ingest_nats *N, batch *b, size_t max, bool (*busy)(void), jrn_rejects *rej,
		     bool *done, jrn_err *fatal);

/* Writes b->seq's set partitions to log_offsets (stream of N) in db's
 * open transaction. 0, or -1 with e. */
int ingest_nats_offsets_save(ingest_nats *N, sqlite3 *db, const batch *b, jrn_err *e);
/* Reads the stored offsets of N's stream into start (ingest_nats_count
 * slots, 0 where none). 0, or -1 with e. */
int ingest_nats_offsets_load(ingest_nats *N, sqlite3 *db, uint64_t *start, jrn_err *e);

#endif
