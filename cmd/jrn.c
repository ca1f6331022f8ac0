/*
 * jrn: the front door. `jrn TOOL ARGS` runs jrn-TOOL (from this program's
 * own directory first, then PATH); `jrn init` starts a project directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jrn.h"
#include "starter.h" /* starter_yaml: share/jrn/jrn.yaml */

static const char usage[] =
	"usage: jrn TOOL [ARGS...]\n"
	"       jrn init [--force] [--db PATH] [DIR]\n"
	"       jrn help [TOOL]\n"
	"       jrn tools\n"
	"       jrn --version\n"
	"\n"
	"Customer-journey automation as small Unix filters over NDJSON and one\n"
	"SQLite state file. `jrn TOOL` runs jrn-TOOL with ARGS.\n"
	"\n"
	"Tools (`jrn tools` lists those installed):\n"
	"  ingest    take events in: check, normalise, dedupe, store\n"
	"  score     RFM, lifetime value and churn risk\n"
	"  segment   segment rules, memberships and changes\n"
	"\n"
	"Commands:\n"
	"  init      write a commented starter jrn.yaml and create the state file\n"
	"  help      this text, or TOOL's --help\n"
	"  tools     list the tools found beside jrn\n"
	"\n"
	"See jrn(7) for the concepts and jrn(1) for this command.\n";


/* The directory this program was run from, or NULL. */
static char *self_dir(void)
{
	char *p = realpath("/proc/self/exe", NULL);
	if (!p)
		return NULL;
	char *slash = strrchr(p, '/');
	if (slash)
		*slash = '\0';
	return p;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints the tools installed beside jrn (executables named jrn-NAME). */
static int list_tools(void)
{
	char *dir = self_dir();
	DIR *d = dir ? opendir(dir) : NULL;
	if (!d) {
		fprintf(stderr, "jrn: cannot list the tools: %s\n", strerror(errno));
		free(dir);
		return JRN_EXIT_FAIL;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "jrn-", 4) != 0 || !de->d_name[4])
			continue;
		if (faccessat(dirfd(d), de->d_name, X_OK, 0) != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **p = realloc(names, cap * sizeof *p);
			if (!p)
				break;
			names = p;
		}
		if (!(names[n] = strdup(de->d_name + 4)))
			break;
		n++;
	}
	closedir(d);
	free(dir);
	qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++) {
		puts(names[i]);
		free(names[i]);
	}
	free(names);
	return JRN_EXIT_OK;
}

static int run_tool(const char *tool, char **argv)
{
	for (const char *c = tool; *c; c++)
		if (!(*c >= 'a' && *c <= 'z') && !(*c >= '0' && *c <= '9') && *c != '-') {
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

	char *dir = self_dir();
	if (dir) {
		size_t m = strlen(dir) + n + 1;
		char *path = malloc(m);
		if (path) {
			snprintf(path, m, "%s/%s", dir, name);
			if (access(path, X_OK) == 0)
				execv(path, argv);
			free(path);
		}
		free(dir);
	}
	execvp(name, argv);
	int err = errno;
	if (err == ENOENT)
		fprintf(stderr, "jrn: '%s' is not a jrn tool (no %s found); see 'jrn help'\n",
			tool, name);
	else
		fprintf(stderr, "jrn: %s: %s\n", name, strerror(err));
	free(name);
	return err == ENOENT ? JRN_EXIT_USAGE : JRN_EXIT_FAIL;
}

static const char init_usage[] = "usage: jrn init [--force] [--db PATH] [DIR]\n";

static int init_take(void *ctx, int c, const char *arg)
{
	(void)arg;
	if (c != 'f')
		return -2;
	*(bool *)ctx = true;
	return 0;
}

static int init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"force", no_argument, NULL, 'f'},
		JRN_COMMON_LONG,
		{NULL, 0, NULL, 0},
	};
	bool force = false;
	jrn_opts o;
	jrn_opts_init(&o, "jrn init");
	optind = 1;
	int rc = jrn_opts_parse(&o, argc, argv, "f" JRN_COMMON_SHORT, longopts, init_usage,
				init_take, &force);
	const char *db_path = o.db_path;
	jrn_opts_free(&o);
	if (rc >= 0)
		return rc;
	if (argc - optind > 1) {
		fputs(init_usage, stderr);
		return JRN_EXIT_USAGE;
	}
	const char *dir = optind < argc ? argv[optind] : ".";
	if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "jrn: init: %s: %s\n", dir, strerror(errno));
		return JRN_EXIT_FAIL;
	}
	jrn_buf path = {0};
	jrn_buf_addf(&path, "%s/jrn.yaml", dir);
	if (!path.p) {
		fputs("jrn: out of memory\n", stderr);
		return JRN_EXIT_FAIL;
	}
	int fd = open(path.p, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0666);
	if (fd < 0) {
		if (errno == EEXIST)
			fprintf(stderr, "jrn: init: %s exists (use --force to overwrite)\n", path.p);
		else
			fprintf(stderr, "jrn: init: %s: %s\n", path.p, strerror(errno));
		jrn_buf_free(&path);
		return JRN_EXIT_FAIL;
	}
	/* With --db, the starter's db.path names that file instead. */
	jrn_buf text = {0};
	const char *dflt = "  path: jrn.db\n", *at = strstr(starter_yaml, dflt);
	if (db_path && at) {
		jrn_buf_add(&text, starter_yaml, (size_t)(at - starter_yaml));
		jrn_buf_adds(&text, "  path: ");
		jrn_json_append_str(&text, db_path, strlen(db_path));
		jrn_buf_adds(&text, "\n");
		jrn_buf_adds(&text, at + strlen(dflt));
	} else {
		jrn_buf_adds(&text, starter_yaml);
	}
	ssize_t w = text.p ? write(fd, text.p, text.len) : -1;
	bool short_write = w != (ssize_t)text.len;
	jrn_buf_free(&text);
	if (short_write || close(fd) < 0) {
		fprintf(stderr, "jrn: init: %s: %s\n", path.p, strerror(errno));
		jrn_buf_free(&path);
		return JRN_EXIT_FAIL;
	}

	/* The state file, relative to DIR as the config's db.path is. */
	jrn_buf_reset(&path);
	if (db_path && db_path[0] == '/')
		jrn_buf_adds(&path, db_path);
	else
		jrn_buf_addf(&path, "%s/%s", dir, db_path ? db_path : "jrn.db");
	sqlite3 *db;
	jrn_err e;
	if (jrn_db_open(path.p, 10000, &db, &e) < 0) {
		fprintf(stderr, "jrn: init: %s\n", e.msg);
		jrn_buf_free(&path);
		return JRN_EXIT_FAIL;
	}
	sqlite3_close(db);
	jrn_buf_free(&path);
	return JRN_EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return JRN_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		puts("jrn " JRN_VERSION);
		return JRN_EXIT_OK;
	}
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		if (argc > 2 && strcmp(cmd, "help") == 0) {
			char *args[] = {argv[2], "--help", NULL};
			return run_tool(argv[2], args);
		}
		fputs(usage, stdout);
		return JRN_EXIT_OK;
	}
	if (!strcmp(cmd, "init"))
		return init(argc - 1, argv + 1);
	if (!strcmp(cmd, "tools"))
		return list_tools();
	if (cmd[0] == '-') {
		fprintf(stderr, "jrn: unknown option '%s'\n", cmd);
		fputs(usage, stderr);
		return JRN_EXIT_USAGE;
	}
	return run_tool(cmd, argv + 1);
}
