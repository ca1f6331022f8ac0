/* init.c: `jrn init`: a project directory with a commented starter
 * jrn.yaml and the state file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "verbs.h"
#include "starter.h" /* starter_yaml: share/jrn/jrn.yaml */

static const char init_usage[] = "usage: jrn init [--force] [--db PATH] [DIR]\n";

static int init_take(void *ctx, int c, const char *arg)
{
	(void)arg;
	if (c != 'f')
		return -2;
	*(bool *)ctx = true;
	return 0;
}

int verb_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"force", no_argument, NULL, 'f'},
		JRN_COMMON_LONG,
		{NULL, 0, NULL, 0},
	};
	bool force = false;
	jrn_opts o;
	admin_opts_init(&o, argv);
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

