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
	/* jrn.yaml is written first (O_EXCL: an existing one is refused
	 * before anything is made), or with --force beside it and renamed
	 * over it at the end; a state file that cannot be made takes the
	 * new jrn.yaml with it, so a failed init leaves nothing behind */
	jrn_buf path = {0}, yaml = {0}, tmp = {0};
	jrn_buf_addf(&yaml, "%s/jrn.yaml", dir);
	if (force)
		jrn_buf_addf(&tmp, "%s/.jrn.yaml.init", dir);
	const char *out = force ? tmp.p : yaml.p;
	if (!yaml.p || (force && !tmp.p)) {
		fputs("jrn: out of memory\n", stderr);
		jrn_buf_free(&yaml);
		jrn_buf_free(&tmp);
		return JRN_EXIT_FAIL;
	}
	int fd = open(out, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0666);
	if (fd < 0) {
		if (errno == EEXIST)
			fprintf(stderr, "jrn: init: %s exists (use --force to overwrite)\n", yaml.p);
		else
			fprintf(stderr, "jrn: init: %s: %s\n", out, strerror(errno));
		jrn_buf_free(&yaml);
		jrn_buf_free(&tmp);
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
	int err = short_write ? (text.p ? errno : ENOMEM) : 0;
	jrn_buf_free(&text);
	if (close(fd) < 0 && !err)
		err = errno;
	if (err) {
		fprintf(stderr, "jrn: init: %s: %s\n", out, strerror(err));
		unlink(out);
		jrn_buf_free(&yaml);
		jrn_buf_free(&tmp);
		return JRN_EXIT_FAIL;
	}

	/* The state file, relative to DIR as the config's db.path is. */
	if (db_path && db_path[0] == '/')
		jrn_buf_adds(&path, db_path);
	else
		jrn_buf_addf(&path, "%s/%s", dir, db_path ? db_path : "jrn.db");
	sqlite3 *db = NULL;
	jrn_err e;
	int status = JRN_EXIT_OK;
	if (!path.p) {
		fputs("jrn: out of memory\n", stderr);
		status = JRN_EXIT_FAIL;
	} else if (jrn_db_open(path.p, 10000, &db, &e) < 0) {
		fprintf(stderr, "jrn: init: %s\n", e.msg);
		status = JRN_EXIT_FAIL;
	} else if (force && rename(tmp.p, yaml.p) < 0) {
		fprintf(stderr, "jrn: init: %s: %s\n", yaml.p, strerror(errno));
		status = JRN_EXIT_FAIL;
	}
	if (status != JRN_EXIT_OK)
		unlink(out);
	sqlite3_close(db);
	jrn_buf_free(&path);
	jrn_buf_free(&yaml);
	jrn_buf_free(&tmp);
	return status;
}
