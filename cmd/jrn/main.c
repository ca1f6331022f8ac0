/*
 * jrn: the front door. `jrn TOOL ARGS` runs jrn-TOOL (from this program's
 * own directory first, then PATH); the verbs of its own (init, run, log
 * and the operator verbs) are rows of `verbs`, one file each (verbs.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "verbs.h"

static const char usage[] =
	"usage: jrn TOOL [ARGS...]\n"
	"       jrn init [--force] [--db PATH] [DIR]\n"
	"       jrn run [--wait] [--dry-run] JOB\n"
	"       jrn log [-n N] [--json] [JOB]\n"
	"       jrn events delete ID... | fix ID --set PATH=VALUE... | --bad-amount\n"
	"       jrn suppressions import [FILE...] | list | remove ADDRESS...\n"
	"       jrn queue list | cancel KEY...\n"
	"       jrn privacy export CUSTOMER | erase [--dry-run] [--spool DIR] CUSTOMER\n"
	"       jrn doctor [--config FILE] [--db PATH]\n"
	"       jrn partition --of N [--field NAME] [FILE...]\n"
	"       jrn partition export P --of N -o FILE | import FILE | drop P --of N\n"
	"       jrn help [TOOL | COMMAND]\n"
	"       jrn tools\n"
	"       jrn --version\n"
	"\n"
	"Customer-journey automation as small Unix filters over NDJSON and one\n"
	"SQLite state file. `jrn TOOL` runs jrn-TOOL with ARGS.\n"
	"\n"
	"Tools (`jrn tools` lists those installed):\n"
	"  ingest    take events in: check, normalise, dedupe, store\n"
	"  segment   segment rules, memberships and changes\n"
	"  score     RFM, lifetime value, lead scores\n"
	"  send      e-mail, SMS, WhatsApp, webhooks, audiences, each exactly once\n"
	"  merge     one profile per customer: state file, files; identities, merges\n"
	"  ai        customer state and journey actions from a model, checked\n"
	"  route     the policy gate: consent, quiet hours, caps, fallback, budget\n"
	"  report    metrics, funnels, attribution, cohorts, experiments, journeys\n"
	"\n"
	"Commands:\n"
	"  init          write a commented starter jrn.yaml and create the state file\n"
	"  run JOB       run the pipeline jobs.JOB of jrn.yaml, locked, recorded\n"
	"  log           the recent runs of jrn run, with their stages\n"
	"  events        delete or correct stored events; list bad amounts\n"
	"  suppressions  import, list or remove suppressed addresses\n"
	"  queue         list or cancel the sends waiting in the outbox\n"
	"  privacy       export or erase everything held about a customer\n"
	"  doctor        check jrn.yaml (every unset ${NAME}) and the state file\n"
	"  partition     add each record's partition; move a partition between state files\n"
	"  help          this text, or a tool's or a command's --help\n"
	"  tools         list the tools found beside jrn\n"
	"\n"
	"Verbs that write take --dry-run and leave a row in the audit log.\n"
	"See jrn(7) for the concepts and jrn(1) for this command.\n";

/* SIGPIPE's disposition as jrn was started with: a tool it runs gets it
 * back (jrn's own output ignores the signal; see main). */
static void (*sigpipe_given)(int) = SIG_DFL;

static const jrn_verb verbs[] = {
	{"init", verb_init},
	{"run", verb_run},
	{"log", verb_log},
	{"events", verb_events},
	{"suppressions", verb_suppressions},
	{"queue", verb_queue},
	{"doctor", verb_doctor},
	{"privacy", verb_privacy},
	{"partition", verb_partition},
};


/* The directory this program was run from, or NULL. */
char *jrn_self_dir(void)
{
	char *p = realpath("/proc/self/exe", NULL);
	if (!p)
		return NULL;
	char *slash = strrchr(p, '/');
	if (slash)
		*slash = '\0';
	return p;
}

char *jrn_tool_beside(const char *name)
{
	char *dir = jrn_self_dir();
	if (!dir)
		return NULL;
	size_t m = strlen(dir) + strlen(name) + 2;
	char *path = malloc(m);
	if (path) {
		snprintf(path, m, "%s/%s", dir, name);
		if (access(path, X_OK) != 0) {
			free(path);
			path = NULL;
		}
	}
	free(dir);
	return path;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the tools installed beside jrn (executables named
 * jrn-NAME), sorted, NULL-ended, in an array the caller frees with each
 * name (free_names); *n says how many. NULL with errno when the directory
 * cannot be read. */
static char **tool_names(size_t *n)
{
	char *dir = jrn_self_dir();
	DIR *d = dir ? opendir(dir) : NULL;
	free(dir);
	*n = 0;
	if (!d)
		return NULL;
	char **names = calloc(1, sizeof *names);
	size_t cap = 1;
	struct dirent *de;
	while (names && (de = readdir(d))) {
		if (strncmp(de->d_name, "jrn-", 4) != 0 || !de->d_name[4])
			continue;
		if (faccessat(dirfd(d), de->d_name, X_OK, 0) != 0)
			continue;
		if (*n + 1 == cap) {
			char **p = realloc(names, cap * 2 * sizeof *p);
			if (!p)
				break;
			names = p;
			cap *= 2;
		}
		if (!(names[*n] = strdup(de->d_name + 4)))
			break;
		names[++*n] = NULL;
	}
	closedir(d);
	if (names)
		qsort(names, *n, sizeof *names, by_name);
	return names;
}

static void free_names(char **names)
{
	for (char **p = names; p && *p; p++)
		free(*p);
	free(names);
}

/* Prints the tools installed beside jrn (executables named jrn-NAME), one
 * a line. The exit status: 1 when the directory cannot be read or the
 * output not written (said). */
static int list_tools(void)
{
	size_t n;
	char **names = tool_names(&n);
	if (!names)
		return jrn_say(JRN_EXIT_FAIL, "cannot list the tools: %s", strerror(errno));
	jrn_buf b = {0};
	bool oom = false;
	for (size_t i = 0; i < n; i++)
		oom |= jrn_buf_addf(&b, "%s\n", names[i]) < 0;
	free_names(names);
	int rc = oom ? jrn_say(JRN_EXIT_FAIL, "out of memory") : jrn_print_text(b.p ? b.p : "");
	jrn_buf_free(&b);
	return rc;
}

/* The verb or installed tool nearest to cmd (a typo: "queu"), copied
 * into near (size bytes); false when none is near. */
static bool nearest_command(const char *cmd, char *near, size_t size)
{
	size_t nv = sizeof verbs / sizeof verbs[0], nt = 0;
	char **tools = tool_names(&nt);
	const char **all = calloc(nv + nt + 4, sizeof *all);
	const char *got = NULL;
	if (all) {
		size_t k = 0;
		for (size_t i = 0; i < nv; i++)
			all[k++] = verbs[i].name;
		all[k++] = "tools";
		all[k++] = "help";
		all[k++] = "version";
		for (size_t i = 0; i < nt; i++)
			all[k++] = tools[i];
		got = jrn_nearest(cmd, all);
		if (got)
			snprintf(near, size, "%s", got);
	}
	free(all);
	free_names(tools);
	return got != NULL;
}

/* Says on stderr that cmd names no command, with the nearest verb or
 * tool ("jrn: queu: unknown command (did you mean queue?)"). false, and
 * nothing said, when no name is near. */
static bool say_nearest(const char *cmd)
{
	char near[64];
	if (!nearest_command(cmd, near, sizeof near))
		return false;
	fprintf(stderr, "jrn: %s: unknown command (did you mean %s?)\n", cmd, near);
	return true;
}

/* Runs jrn-TOOL with argv (argv[0] replaced), from jrn's own directory
 * first, then PATH. Returns only on failure, said: 2 when TOOL is not a
 * tool name (lower-case letters, digits, '-') or no jrn-TOOL is found,
 * with the nearest verb or tool when one is near ('Queue', 'queu': did
 * you mean queue?); 1 when it could not be run. */
static int run_tool(const char *tool, char **argv)
{
	for (const char *c = tool; *c; c++)
		if (!(*c >= 'a' && *c <= 'z') && !(*c >= '0' && *c <= '9') && *c != '-') {
			if (!say_nearest(tool))
				fprintf(stderr, "jrn: '%s' is not a tool name; see 'jrn help'\n", tool);
			return JRN_EXIT_USAGE;
		}
	size_t n = strlen(tool) + 5;
	char *name = malloc(n);
	if (!name) {
		fprintf(stderr, "jrn: out of memory\n");
		return JRN_EXIT_FAIL;
	}
	snprintf(name, n, "jrn-%s", tool);
	argv[0] = name;
	signal(SIGPIPE, sigpipe_given);

	char *path = jrn_tool_beside(name);
	if (path) {
		execv(path, argv);
		free(path);
	}
	execvp(name, argv);
	int err = errno;
	if (err != ENOENT)
		fprintf(stderr, "jrn: %s: %s\n", name, strerror(err));
	else if (!say_nearest(tool))
		fprintf(stderr, "jrn: '%s' is not a jrn tool (no %s found); see 'jrn help'\n",
			tool, name);
	free(name);
	return err == ENOENT ? JRN_EXIT_USAGE : JRN_EXIT_FAIL;
}

/* The row of verbs named name, or NULL. */
static const jrn_verb *verb_named(const char *name)
{
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (!strcmp(name, verbs[i].name))
			return &verbs[i];
	return NULL;
}

/* `jrn help [NAME]`: without NAME, or NAME one of jrn's own words (help,
 * tools, version), jrn's usage; a verb's NAME, the verb's --help; else
 * jrn-NAME --help (run_tool, with its did-you-mean). The exit status. */
static int help(char *name)
{
	char *args[] = {name, "--help", NULL};
	const jrn_verb *v = name ? verb_named(name) : NULL;
	if (v)
		return admin_finish(v->run(2, args));
	if (!name || !strcmp(name, "help") || !strcmp(name, "tools") || !strcmp(name, "version"))
		return jrn_print_text(usage);
	return run_tool(name, args);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return JRN_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	/* jrn's own output (help, tools, the verbs'): a reader that went away
	 * is EPIPE, a normal end as in every tool (jrn_finish), not death by
	 * SIGPIPE */
	sigpipe_given = signal(SIGPIPE, SIG_IGN);
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version"))
		return jrn_print_text("jrn " JRN_VERSION "\n");
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help"))
		return help(strcmp(cmd, "help") == 0 && argc > 2 ? argv[2] : NULL);
	const jrn_verb *v = verb_named(cmd);
	if (v)
		return admin_finish(v->run(argc - 1, argv + 1));
	if (!strcmp(cmd, "tools"))
		return list_tools();
	if (cmd[0] == '-') {
		fprintf(stderr, "jrn: unknown option '%s'\n", cmd);
		fputs(usage, stderr);
		return JRN_EXIT_USAGE;
	}
	return run_tool(cmd, argv + 1);
}
