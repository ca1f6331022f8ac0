/*
 * verbs.h: what the parts of jrn(1) share. (A folder tool's private header
 * is usually NAME.h; cmd/jrn/jrn.h would hide lib/jrn.h from every part,
 * which includes "jrn.h", so this one is named for what it declares.)
 *
 * jrn is a front door (`jrn TOOL ARGS` runs jrn-TOOL) and a handful of
 * verbs of its own, one file each: init.c, run.c (jrn run), log.c (jrn
 * log), events.c, suppressions.c, queue.c, privacy.c, partition.c (the operator verbs). admin.c
 * holds what the verbs share: opening the state file with the common
 * options, and the audit log (table audit, migration 4) that every verb
 * which writes fills in the same transaction as its change.
 */
#ifndef JRN_VERBS_H
#define JRN_VERBS_H

#include <getopt.h>

#include "jrn.h"

/* A verb: `jrn NAME ARGS`, called with argv[0] = NAME; returns the exit
 * status. */
typedef struct {
	const char *name;
	int (*run)(int argc, char **argv);
} jrn_verb;

int verb_init(int argc, char **argv);
int verb_run(int argc, char **argv);
int verb_log(int argc, char **argv);
int verb_events(int argc, char **argv);
int verb_suppressions(int argc, char **argv);
int verb_queue(int argc, char **argv);
int verb_doctor(int argc, char **argv);
int verb_privacy(int argc, char **argv);
int verb_partition(int argc, char **argv);

/* The directory this program was run from (malloc'd), or NULL. */
char *jrn_self_dir(void);
/* The path of the tool name ("jrn-route") beside jrn when it is there and
 * executable (malloc'd), else NULL: jrn looks there first, then on PATH. */
char *jrn_tool_beside(const char *name);

/* `jrn doctor`'s check of jobs: in cfg (borrowed; loaded from path): each
 * job's name and stages read as `jrn run JOB` reads them (run.c), and each
 * trouble said as jrn run says it. Returns how many jobs are bad (0: none,
 * or no jobs:). */
int jobs_check(jv cfg, const char *path);

/* ---- admin.c ---------------------------------------------------------------- */

/* jrn_opts_init for the verb argv[0] ("log"), so that its option errors
 * read as the verbs' others do: getopt_long's own (it says them as
 * argv[0], which becomes "jrn: log" in a static buffer) "jrn: log:
 * unrecognized option '--bogus'", then "Try 'jrn log --help'."; --version
 * says "jrn log VERSION" (o->prog, "jrn log", for jrn_config_require too);
 * jrn_say keeps "jrn: ". Call it before jrn_opts_parse, once a run. */
void admin_opts_init(jrn_opts *o, char **argv);

/* Parses argv (argv[0] the verb) with the common options, longopts (which
 * must include JRN_COMMON_LONG) and shortopts, passing the verb's own
 * options to take(ctx, c, arg) as jrn_opts_parse does; then resolves the
 * options (config, environment, clock). Names the verb as admin_opts_init
 * (messages read "jrn: ..."). Returns -1 when the verb should go
 * on (optind at its first operand), or the status to exit with now (said
 * already). o is the caller's to jrn_opts_free in either case. */
int admin_parse(jrn_opts *o, int argc, char **argv, const char *shortopts,
		const struct option *longopts, const char *usage,
		int (*take)(void *ctx, int c, const char *arg), void *ctx);

/* A verb's usage error for its subcommand: when sub is a word near one of
 * subs (NULL-ended; "lsit" for "list") says "VERB: SUB: unknown command
 * (did you mean list?)" first; then writes usage to stderr. Returns
 * JRN_EXIT_USAGE. */
int admin_bad_sub(const char *verb, const char *sub, const char *const *subs,
		  const char *usage);

/* Opens o's state file (says "-v" notes: the state file and config in
 * use). 0 with *db set, or the exit status (said already). */
int admin_open(const jrn_opts *o, sqlite3 **db);
/* admin_open for a verb that only reads the state file or takes from it:
 * a missing file is refused, never created ("VERB: " and jrn_db_exists'
 * message, exit 1). The exit status, said, or 0. */
int admin_open_existing(const jrn_opts *o, const char *verb, sqlite3 **db);

/* Who runs this: $USER, else the password entry's name, else the uid as a
 * number. The string is static. */
const char *admin_who(void);

/* Writes one audit row: now, who, verb ("events delete"), args (argv[0..
 * argc), a JSON array of strings), counts (a jv object, consumed). Call it
 * inside the transaction of the change. 0 or -1 with e. */
int admin_audit(sqlite3 *db, const char *verb, int argc, char **argv, jv counts,
		jrn_err *e);

/* ---- admin.c: output ------------------------------------------------------- */

/* What a verb writes to standard output goes through admin_print and
 * admin_write (one buffered writer, lib/out.c) and ends in admin_finish,
 * which main calls after every verb: a reader that went away (EPIPE, `jrn
 * log | head -1`) ends the output quietly and leaves the exit status as it
 * is, as in every tool (jrn_finish); another write error (ENOSPC) is said
 * once, "jrn: writing output: REASON", and makes it 1. A verb that prints
 * with stdio (doctor) flushes and checks stdout itself. */

/* Buffers one NDJSON line of v (consumed) for stdout. 0; or -1 when the
 * output has ended: a write error, EPIPE included (admin_finish says it,
 * EPIPE not at all), or v has no JSON form (a NaN: said now, exit 1). On
 * -1 the verb stops writing; its status stays its own. */
int admin_print(jv v);
/* Buffers p[0..len) (text as it is) for stdout. 0, or -1 as admin_print
 * (the output has ended). Borrows p. */
int admin_write(const char *p, size_t len);
/* Whether the output has ended (a write error, EPIPE included): a loop of
 * many lines stops. */
bool admin_gone(void);
/* Writes what is buffered and ends the output as above. Returns the exit
 * status: status, or 1 after a write error other than EPIPE (said) or an
 * unprintable value. */
int admin_finish(int status);

#endif
