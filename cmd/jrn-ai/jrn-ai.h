/*
 * jrn-ai.h: what the parts of jrn-ai share (private to cmd/jrn-ai/).
 *
 *   main.c     usage, options, the subcommand table (state, optimize,
 *              eval), parse → set up → run → finish
 *   models.c   the table of model kinds (rules, openai) and the run's
 *              models: `rules` always, every ai.models entry by name
 *   rules.c    the `rules` model: the documented mapping from what jrn
 *              knows to a customer state, and the per-stage playbook to
 *              actions (no network, deterministic)
 *   openai.c   the `openai` model: any OpenAI-compatible Chat Completions
 *              endpoint (branch aiopenai)
 *   facts.c    what the state file knows of a batch's customers, read
 *              with one query per table per batch
 *   core.c     the loop every model shares: read, minimise, cache,
 *              budget, ask, validate, retry, fall back, allow-list,
 *              provenance, write in input order
 *   cache.c    the answer cache (table ai_cache, jrn-state(5))
 *   prompt.c   the prompt files and their versions
 *   insights.c the latest hourly insights (jrn-report metrics --save) for
 *              optimize: its prompt, the rules' channel order, the cache key
 *   config.c   the ai: section of jrn.yaml
 *
 * THE MODEL INTERFACE. A model kind is one file with an ai_model_ops and
 * one row of models.c's table; the core never names a kind. The core
 * hands a model a batch of questions (ai_req[0..n), one per record that
 * needs an answer: not cached, within the budget) of one task with its
 * prompt, and the model answers each in place: `answer` set to the parsed
 * JSON object it returned (not yet validated: the core validates), or left
 * invalid with `why` saying what went wrong (time-out, HTTP 500, not
 * JSON, a refusal). A failed question is not a failed run: the core
 * retries once with the validation errors in `errors`, then falls back to
 * the rules model's answer. run() returns -1 only when the run itself
 * cannot go on (out of memory); it must answer or explain every request.
 *
 *   open(m, conf, e)     once per run, before any run(); conf is the
 *                        model's ai.models entry (borrowed; {} for rules);
 *                        keep what it needs in m->priv. 0 or -1 with e
 *                        (said by the caller as "ai.models.NAME: ...").
 *   run(m, reqs, n, p, e)  answers reqs[0..n) of task p->task; may set
 *                        tokens_in/out and cost (cost: from m->price_in
 *                        and price_out per million tokens; the core adds
 *                        it to the budget). Any order, any parallelism
 *                        (m->run->parallel requests in flight at most).
 *   close(m)             frees m->priv (also after a failed open).
 *
 * The core owns reqs and everything in them; a model replaces answer
 * (jv_free the old value first: it is jv_invalid() on entry) and why
 * (free the old one). After the milestone commit this interface changes
 * only additively.
 */
#ifndef JRN_AI_H
#define JRN_AI_H

#include "jrn.h"

#define DAY_MS 86400000LL

/* The tasks: what a question asks. */
enum { AI_STATE, AI_OPTIMIZE, AI_TASKS };
/* Where an answer came from: state.source / the action's source. */
enum { AI_SRC_RULES, AI_SRC_MODEL, AI_SRC_CACHE, AI_SRC_FALLBACK };
extern const char *const ai_source_names[4]; /* "rules", "model", "cache", "fallback" */
extern const char *const ai_task_names[AI_TASKS]; /* "state", "optimize" */

/* Limits (each named in its message and in jrn-ai(1)). */
#define AI_BATCH 128             /* records a batch of the rules model; measured:
                                 * 128 beside 256, 512 and 1,024 the fastest (two
                                 * batches are held: one answered and written while
                                 * the facts of the next are read) */
#define AI_NET_BATCH 1024        /* records a batch of a model over the network (at
                                 * least AI_MAX_PARALLEL: a round of questions in
                                 * flight is never cut short) */
#define AI_NET_BATCH_BYTES (48 * 1024) /* ... or fewer while the cache answers
                                 * every question of a batch: the batch then
                                 * also ends at this many bytes of input once
                                 * it holds a round. Measured on cache hits over
                                 * jrn-merge's profiles (340 bytes each): 128
                                 * records a batch beside 1,024 0.81 the wall,
                                 * beside 256 0.88, beside 64 0.92 (the
                                 * parsed records still in the CPU's caches
                                 * when their key and output are made); on
                                 * records of 40 bytes 1,024 the faster; for
                                 * questions asked, 1,024 the faster (128: 1.3
                                 * the wall, the facts read and the answers
                                 * stored in smaller pieces) */
#define AI_HIT_BATCH 256         /* ... and once it holds at least this many
                                 * records: measured on optimize's cache hits
                                 * over state records (680 bytes each, 70 a
                                 * batch by bytes alone), 128 a batch beside
                                 * 70 0.83 the wall (one facts query, one
                                 * thread and one read transaction a batch);
                                 * 256 beside 128 0.93 the wall for both
                                 * tasks' hits over the 99,834 profiles of 1M
                                 * events (9 pairs each, quiet; 0.88 under
                                 * load), 192 0.96, 512 and 1,024 slower than
                                 * 256 (1.11) */
#define AI_MAX_ACTIONS 5         /* actions in one answer */
#define AI_MAX_PARALLEL 256      /* --parallel */
_Static_assert(AI_NET_BATCH >= AI_MAX_PARALLEL, "a batch holds a round of questions");
#define AI_MAX_PROMPT (256 * 1024) /* bytes of a prompt file */
#define AI_MAX_LINE (1 << 20)    /* bytes of an input record */
#define AI_PLAYS 7               /* playbook entries: 5 stages, at_risk, churned */
#define AI_MAX_INSIGHTS 1000     /* rows of the latest insights run read (insights.c) */
#define AI_MMAP_SIZE_SQL "1073741824" /* the state file mapped (main.c), 1 GiB */

typedef struct ai_run ai_run;
typedef struct ai_model ai_model;
typedef struct ai_model_ops ai_model_ops;

/* A task's prompt: the system prompt file and the schema its answer must
 * satisfy. Owned by the run; models borrow it. */
typedef struct {
	int task;
	char *path;              /* the file it was read from */
	char *text;              /* its contents (NUL-terminated) */
	size_t len;
	char version[13];        /* first 12 hex of the file's SHA-256 */
	jv schema;               /* the JSON Schema as jv (for response_format) */
	const char *schema_name; /* "customer_state" or "journey_actions" */
	void *compiled;          /* the validator's compiled schema (core.c) */
} ai_prompt;

/* The facts of one question as the rules model reads them (facts.c;
 * the input's "facts" member is built from these, so both say the same).
 * Numbers are NAN when absent; the jv members are the facts' objects and
 * arrays, or jv_null() (owned by whoever holds the struct). */
typedef struct ai_facts {
	double orders, total, last, first_seen;  /* orders.count, .total, .daysSinceLast; firstSeenDays */
	double o7, o30, c7, c30, v7, v30, carts; /* events */
	double p_alive, predicted, monetary;     /* clv.pAlive, clv.predictedValue, rfm.monetary */
	char rfm_segment[32];                    /* rfm.segment, "" when none */
	jv rfm, clv, lead, segments, categories;
	jv interests;                            /* the profile's traits.interests, or jv_null() */
	/* rfm, clv, lead, segments and interests as a record carried them,
	 * read lightly (ai_lite): the JSON text of each in the record's line
	 * (borrowed; NULL when the jv member holds the part), which the cache
	 * key hashes as it is; while pending, the jv members of those parts
	 * and the numbers derived from rfm and clv are not yet read
	 * (ai_facts_parse) */
	const char *text[5];
	size_t tlen[5];
	bool pending;
} ai_facts;

/* What a record carries for its facts (facts.c's carried(): rfm, clv,
 * lead, segments and jrn-merge's summary), found in its line's index
 * without parsing it (ai_carry_scan): the JSON text of each part in the
 * line (NULL when not carried), and the summary's orders. */
typedef struct {
	const char *text[5];     /* rfm, clv, lead (objects), segments, the
				  * traits' interests (arrays) */
	size_t tlen[5];
	bool orders;             /* orders, orderTotal and firstSeen carried: */
	double count, total;     /* as written */
	int64_t first, last;     /* ms */
	bool has_last;           /* lastOrder.at carried (last) */
} ai_carry;

/* A span of a record's line: p[0..n) (borrowed from the line). */
typedef struct {
	const char *p;
	size_t n;
} ai_span;

/* A record read lightly for a task on a model whose answers are cached
 * (read.c's lite_take): its line was checked and indexed, not parsed;
 * what the cache key, the facts and the writing read of it are spans
 * of the line (borrowed from the line). */
typedef struct ai_lite {
	const char *cid;         /* customerId's bytes (a string without escapes) */
	size_t cidlen;
	size_t nf;               /* ai.fields: their names (the run's) and */
	const char *const *names;
	const char **fv;         /* the JSON text of each one's value the question
				  * carries (minimise's), or NULL (owned: fv, fl
				  * and state are one allocation) */
	size_t *fl;
	/* optimize: the record's state object's members but provenance
	 * (those the question carries), a pair of spans each: the name's
	 * bytes, the value's JSON text; nstate pairs; stated set. The
	 * state task's: none, stated false */
	ai_span *state;
	size_t nstate;
	bool stated;
	/* optimize: the record's email and phone as rec_contact (core.c)
	 * takes them, the JSON text of a string without escapes; p NULL
	 * when none */
	ai_span contact[2];
	ai_carry carry;
} ai_lite;

/* One question to a model. */
typedef struct ai_req {
	size_t idx;              /* the core's: which record of the batch */
	int task;                /* AI_STATE or AI_OPTIMIZE */
	/* The input (owned): what the prompt carries, minimised (ai.fields;
	 * never e-mail or phone unless ai.sendContact):
	 *   {"customerId": ID,
	 *    "profile": {the allowed fields of the record},
	 *    "facts": {"rfm": {...}|null, "clv": {...}|null, "lead": {...}|null,
	 *              "segments": [...], "events": {"opens7d", "opens30d",
	 *              "clicks7d", "clicks30d", "visits7d", "visits30d",
	 *              "carts30d"}, "orders": {"count", "total",
	 *              "daysSinceLast"|null, "daysSinceFirst"|null}},
	 *    "state": {...}}            (optimize only: the customer state) */
	jv input;
	jv errors;               /* the previous try's validation errors, or jv_null() (owned) */
	jv answer;               /* set by the model: the parsed object, else jv_invalid() (owned) */
	char *why;               /* set by the model when no answer: malloc'd reason */
	long tokens_in, tokens_out;
	double cost;             /* in the price table's currency */
	/* (added after the milestone) the input's facts as numbers, for the
	 * rules model (the core's; a model may read them). For the rules model
	 * not cached and not --dry-run, input carries only customerId (and the
	 * state for optimize): nothing else reads it. */
	const ai_facts *facts;
	/* the record read lightly (the core's), or NULL: the facts then come
	 * from its carry and its customerId's span, the cache key hashes its
	 * spans, and input is jv_invalid() until the cache misses (not
	 * --dry-run; a model is only ever given a complete one) */
	const ai_lite *lite;
	/* a question read lightly, on the facts thread (ai_facts_start
	 * with a scope): keyed, key its cache key; looked, looked up in the
	 * cache there, with on a hit text (the row's output, malloc'd, the
	 * core's to take or free), tokens and cost (a miss there may still
	 * be a hit of the run's own since: ai_run.cache_puts) */
	struct {
		bool keyed, looked;
		unsigned char key[32];
		char *text;
		size_t len;
		long tokens;
		double cost;
	} peek;
} ai_req;

/* A model kind: one file each, one row of models.c's table. */
struct ai_model_ops {
	const char *kind;        /* "rules", "openai" */
	bool network;            /* asks something outside the process: answers
				  * are cached and count against --budget */
	/* the keys of ai.models.NAME that change its answers (NULL-ended;
	 * NULL: none), part of the cache key: another model id or endpoint
	 * behind the same name is a miss, a new timeout or apiKey is not */
	const char *const *answer_keys;
	int (*open)(ai_model *m, jv conf, jrn_err *e);
	int (*run)(ai_model *m, ai_req *reqs, size_t n, const ai_prompt *p, jrn_err *e);
	void (*close)(ai_model *m);
};

/* A configured model. */
struct ai_model {
	const ai_model_ops *ops;
	char *name;              /* "rules" or its ai.models key (owned) */
	char *identity;          /* what its cache key says of it (owned): the
				  * JSON text [name, kind, its answer_keys'
				  * values]; rules: [name, kind, ai.playbook,
				  * ai.insights.minSends] */
	ai_run *run;             /* the run (borrowed): clock, verbosity, config */
	double price_in, price_out; /* currency per 1M tokens (ai.models.NAME.price) */
	void *priv;              /* the kind's own state */
};

/* The model kinds (models.c): the kind named kind, or NULL; their names
 * for messages ("rules, openai"). */
const ai_model_ops *ai_model_kind(const char *kind);
extern const char ai_kind_names[];
extern const ai_model_ops rules_ops;

/* One invocation. */
struct ai_run {
	jrn_opts opts;
	jrn_out out;
	jrn_rejects rej;
	sqlite3 *db;
	int task;                /* the subcommand's task */
	const char *model_flag;  /* --model */
	const char *budget_flag; /* --budget */
	int parallel;            /* --parallel, else the model's inFlight, else 8 */
	char **files;
	int nfiles;
	/* set up from the config (config.c) */
	ai_model *models;        /* [0] is rules; then ai.models in order */
	size_t nmodels;
	ai_model *model;         /* the one asked (--model, ai.model, rules) */
	ai_prompt prompts[AI_TASKS];
	int64_t ttl_ms;          /* ai.cache.ttl, 7d */
	bool cache_rules;        /* ai.cache.rules: the rules model's answers cached too */
	bool send_contact;       /* ai.sendContact */
	jv fields;               /* ai.fields: the profile keys a prompt carries (owned) */
	const char **field_names; /* its strings, borrowed from it (owned array) */
	size_t nfields;          /* how many */
	jv playbook;             /* ai.playbook: stage -> [action], defaults filled (owned) */
	jv allow;                /* ai.allow, or jv_null() (owned) */
	bool channel_ok[3];      /* email, sms, retargeting: a provider or ai.allow.channels */
	double budget_tokens;    /* --budget N: tokens; 0 none */
	double budget_cost;      /* --budget 0.50: currency; 0 none */
	double spent_tokens, spent_cost;
	/* the latest hourly insights (insights.c), optimize only */
	int64_t insights_at;     /* their computed_at (ms), -1 none */
	struct {                 /* email, sms, retargeting: the channel rows */
		double sent, conversion, click; /* NAN when unknown */
	} chan[3];
	int64_t min_sends;       /* ai.insights.minSends, 100 */
	/* rules.c: the optimize answer per playbook entry (AI_PLAYS, then
	 * none), made on first use once the insights are read (NULL: made
	 * every time) */
	jv *rules_answers;
	bool budget_said;
	/* counts for the summary */
	uint64_t records, events, actions, answered, cache_hits, asked, fallbacks, dropped, rejected;
	uint64_t cache_puts;     /* answers stored in the cache so far (ai_cache_put) */
	void *cache;             /* cache.c's statements */
	void *facts;             /* facts.c's statements */
	/* optimize: the event types it answers (ai.touchpoints, config.c);
	 * other events pass through (owned) */
	jv touchpoints;
};

/* Interned strings (models.c): KS("name") is jv_string("name") made once
 * per call site and copied after (a reference count, and the hash kept),
 * for the member names read and written per record; ai_keys_free frees
 * them all at the end of the run. */
jv ai_key_intern(jv *slot, const char *lit);
void ai_keys_free(void);
/* The same for a name that is not a literal, in a slot of the caller's
 * (a static jv, one per name). */
static inline jv ai_key(jv *slot, const char *name)
{
	return jv_get_kind(*slot) == JV_KIND_STRING ? jv_copy(*slot) : ai_key_intern(slot, name);
}
/* The same for a string that lives as long as the program (a literal, or
 * a member of a static table), found by its address: enum values, names
 * from tables. */
jv ai_lit(const char *s);
#define KS(lit)                                                              \
	({                                                                   \
		static jv ks_slot_;                                          \
		jv_get_kind(ks_slot_) == JV_KIND_STRING ? jv_copy(ks_slot_)  \
							: ai_key_intern(&ks_slot_, lit); \
	})

/* ---- config.c ----------------------------------------------------------- */

/* Reads the ai: section into run (models opened, prompts loaded,
 * playbook with its defaults, fields, allow-list, cache TTL) and picks
 * run->model. 0 or the exit status (said). */
int ai_setup(ai_run *run);
/* Whether an event of type t[0..len) is a touchpoint that optimize answers
 * (ai.touchpoints, or the default list in config.c): an entry equal to it,
 * or ending in '*' and a prefix of it. */
bool ai_touchpoint(const ai_run *run, const char *t, size_t len);
/* When an action's timing (s[0..len), the Journey Action Schema's free
 * text, as share/jrn/prompts/optimize.txt asks for it) says to send,
 * from now (ms): an RFC 3339 time with a zone (as it is); a delay, "2h",
 * "1h30m" (jrn_duration_parse), "in 2h", "2 hours", "in 3 days" (minute,
 * hour, day, week, singular or plural, one number); 1 with *at set. 0
 * for now ("now", "immediately", empty), -1 for text it does not read
 * (the action then goes as it would without: now). */
int ai_timing_at(const char *s, size_t len, int64_t now, int64_t *at);
/* Closes the models and frees what ai_setup set. */
void ai_teardown(ai_run *run);

/* ---- prompt.c ----------------------------------------------------------- */

/* Loads the prompt of task into p from DIR/state.txt or DIR/optimize.txt
 * (dir: ai.prompts.dir, else the installed share/jrn/prompts, else the
 * source tree's) and the schema beside it from the schemas directory.
 * 0 or -1 with e. p is freed by ai_prompt_free. */
int ai_prompt_load(ai_prompt *p, int task, const char *dir, jrn_err *e);
void ai_prompt_free(ai_prompt *p);

/* ---- insights.c ---------------------------------------------------------- */

/* Reads the latest insights run (kind 'metrics', the greatest
 * computed_at not after now) once: appends it to the optimize prompt's
 * text, sets run->insights_at and run->chan. No rows, or none good: as
 * without insights (insights_at -1, chan NAN). Bad rows are ignored, said
 * once. 0 or -1 (said: the state file cannot be read, out of memory). */
int ai_insights_load(ai_run *run);

/* What the cache's key needs beside the question: the task's name, the
 * model's identity (ai_model.identity), the prompt version and the insights' computed_at (-1
 * none), all borrowed for the run; and what a look-up needs, the run's
 * ai.cache.ttl (ms). */
typedef struct {
	const char *task, *model, *version;
	int64_t insights_at;
	int64_t ttl_ms;
} ai_cache_scope;

/* ---- facts.c ------------------------------------------------------------ */

/* Opens the facts' connection: a read-only one of their own to the run's
 * state file (run->db open; the queries then run on a thread of their
 * own), or the run's own when its state is in memory (--dry-run without
 * a file). Opened with the state file, not at the first batch, so that
 * both read the same file. 0 or -1 with e (which names the file). */
int ai_facts_open(ai_run *run, jrn_err *e);
/* Starts filling facts[i] for each question reqs[i] (whose input's
 * customerId is set) from the state file: rfm (latest snapshot), clv and
 * lead (scores), segments (segment_members), event counts in 7 and 30
 * days, categories and the orders, with one query per table for the
 * whole batch. recs[reqs[i].idx] is the record: what it carries (rfm,
 * clv, lead, segments, jrn-merge's summary) wins over the state file and
 * is not asked of it (recs is read here only). The queries run on a
 * thread of their own, on a read-only connection of their own, while the
 * caller goes on, and so are the facts completed (the rows taken, the
 * record's parts merged); ai_facts_finish waits for them. With scope
 * (borrowed until then), each question read lightly (reqs[i].lite) is
 * looked up in the cache there too, in the same read transaction:
 * reqs[i].peek (the cache's look-ups were a third of the main thread's
 * time in a run of cache hits, the facts thread's work a fourth of it).
 * Until ai_facts_finish, reqs and facts are not to be touched, and no
 * other batch started. 0 (ai_facts_finish must follow), or -1 with e
 * (facts[] all cleared; no finish). */
int ai_facts_start(ai_run *run, ai_req *reqs, size_t n, const jv *recs, ai_facts *facts,
		   const ai_cache_scope *scope, jrn_err *e);
/* Completes what ai_facts_start began (the same reqs, n and facts):
 * facts[i] filled and reqs[i].facts pointing at it. 0 or -1 with e
 * (reading the state file failed: facts[] then all cleared). */
int ai_facts_finish(ai_run *run, ai_req *reqs, size_t n, ai_facts *facts, jrn_err *e);
/* Finds in ix (an index of a record's line, jrn_json_index_build to
 * depth 4 at least) what carried() would read of the parsed record, into
 * *c (spans of the line). 0, or -1 when the line is to be parsed to tell
 * (a time with an escape in it). */
int ai_carry_scan(const jrn_json_index *ix, ai_carry *c);
/* Completes f when pending: the parts carried as text (interests among
 * them) parsed into its jv members, and the numbers read from rfm and
 * clv. */
void ai_facts_parse(ai_facts *f);
/* The facts as the input's "facts" object (a new jv; f not pending). */
jv ai_facts_jv(const ai_facts *f);
/* Frees f's jv members. */
void ai_facts_clear(ai_facts *f);
void ai_facts_free(ai_run *run);

/* ---- rules.c ------------------------------------------------------------ */

/* The rules answer of one question: the state object from its facts, or
 * {"actions": [...]} from the state in its input (borrowed: only its
 * journeyStage and segment are read), the playbook entry's actions in
 * the latest insights' channel order (jrn-ai(1), INSIGHTS); valid against
 * the task's schema. With run->rules_answers, one optimize answer per
 * playbook entry is made a run and shared (a new reference each call). */
jv ai_rules_state(const ai_run *run, const ai_facts *f);
jv ai_rules_optimize(const ai_run *run, jv input);

/* ---- cache.c ------------------------------------------------------------ */

/* The cache key of question r (borrowed; its input's customerId,
 * profile and state members and its facts, as the prompt carries them)
 * of task for model (ai_model.identity) with prompt version, and insights_at (the optimize
 * insights' computed_at, -1 none or state) into out: the SHA-256 of the
 * length-prefixed layout cache.c describes (jrn-state(5) ai_cache).
 * 0 or -1 (out of memory). Not reentrant (one buffer, reused). */
int ai_cache_key(const char *task, const char *model, const char *version, const ai_req *r,
		 int64_t insights_at, unsigned char out[32]);
/* The same with the layout built in b (the caller's, reused from key to
 * key, jrn_buf_free'd by it): reentrant, for the facts thread. */
int ai_cache_key_in(jrn_buf *b, const char *task, const char *model, const char *version,
		    const ai_req *r, int64_t insights_at, unsigned char out[32]);
/* The cached answer under key, not expired at now: 1 with *answer (the
 * caller's), *tokens and *cost; 0 when none; -1 with e. With text
 * non-NULL, an answer that can be written as it is (an object with
 * members, checked as the parse checks it, none null at the top level)
 * comes as *text (malloc'd, NUL-terminated, the caller's) and *tlen with
 * *answer jv_null(), never parsed into jv (measured: parsing it and
 * writing it back were a tenth of a run of cache hits); else *text is
 * NULL and *answer the parsed object. */
int ai_cache_get(ai_run *run, const unsigned char key[32], jv *answer, char **text,
		 size_t *tlen, long *tokens, double *cost, jrn_err *e);
/* The row under key not expired at now (ms) and made less than ttl_ms
 * before it (the run's ai.cache.ttl), on connection db with *st
 * (prepared there on first use; the caller's to finalize): 1 with *text
 * its output (malloc'd, NUL-terminated, the caller's) of *len bytes,
 * *tokens and *cost; 0 none (*text NULL); -1 with e. No jv: for the facts
 * thread's look-ups (facts.c) as for ai_cache_get's. */
int ai_cache_peek(sqlite3 *db, sqlite3_stmt **st, const unsigned char key[32], int64_t now,
		  int64_t ttl_ms, char **text, size_t *len, long *tokens, double *cost, jrn_err *e);
/* The answer of a row's output s (malloc'd, n bytes, NUL-terminated:
 * taken, kept as *text or freed), as ai_cache_get makes it: 1 with
 * *text (text non-NULL and s writable as it is) or *answer; 0 when s
 * does not read back as an object (a miss); -1 with e. */
int ai_cache_answer(ai_run *run, char *s, size_t n, jv *answer, char **text, size_t *tlen,
		    jrn_err *e);
/* Stores answer (borrowed) of run->model under key until now +
 * run->ttl_ms, in the caller's transaction; the first store of a run
 * deletes the expired rows. 0 or -1 with e. */
int ai_cache_put(ai_run *run, const unsigned char key[32], const char *task,
		 const char *customer, jv answer, long tokens, double cost, jrn_err *e);
void ai_cache_free(ai_run *run);

/* ---- core.c ------------------------------------------------------------- */

/* The run of `state` and `optimize`: every record of the input through
 * the loop. An exit status (said). */
int ai_run_task(ai_run *run);

#endif
