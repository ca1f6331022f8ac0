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

/* Writes p[0..n) whole to fd from its start (an existing file cut to
 * it first). 0, or an errno (ENOSPC for a write that stopped short). */
static int write_whole(int fd, const char *p, size_t n)
{
	if (ftruncate(fd, 0) < 0)
		return errno;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : ENOSPC;
		p += w, n -= (size_t)w;
	}
	return 0;
}

/* The starter jrn.yaml, its db.path db_path when given (else jrn.db), into
 * text. 0 or -1 (memory). */
static int starter_text(jrn_buf *text, const char *db_path)
{
	const char *dflt = "  path: jrn.db\n", *at = strstr(starter_yaml, dflt);
	if (db_path && at) {
		jrn_buf_add(text, starter_yaml, (size_t)(at - starter_yaml));
		jrn_buf_adds(text, "  path: ");
		jrn_json_append_str(text, db_path, strlen(db_path));
		jrn_buf_adds(text, "\n");
		jrn_buf_adds(text, at + strlen(dflt));
	} else {
		jrn_buf_adds(text, starter_yaml);
	}
	return text->p ? 0 : -1;
}

/* What a failed init made, removed: the state file (with its -wal, -shm
 * and -journal) when it was not there before, jrn.yaml when this init
 * created it, DIR when this init made it. */
static void undo(const char *state, bool made_state, const char *yaml, bool made_yaml,
		 const char *dir, bool made_dir)
{
	if (made_state) {
		static const char *const ext[] = {"", "-wal", "-shm", "-journal"};
		for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
			jrn_buf f = {0};
			if (jrn_buf_addf(&f, "%s%s", state, ext[i]) == 0)
				unlink(f.p);
			jrn_buf_free(&f);
		}
	}
	if (made_yaml)
		unlink(yaml);
	if (made_dir)
		rmdir(dir);
}

/* jrn init: jrn.yaml is opened first (a new one with O_EXCL; with
 * --force an existing one as it is, neither cut nor replaced yet), then
 * the state file is made or migrated, and only then is jrn.yaml written:
 * a failure anywhere leaves what was there as it was and removes what
 * this init made. */
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
	bool made_dir = mkdir(dir, 0777) == 0;
	if (!made_dir && errno != EEXIST) {
		fprintf(stderr, "jrn: init: %s: %s\n", dir, strerror(errno));
		return JRN_EXIT_FAIL;
	}
	jrn_buf yaml = {0}, path = {0}, text = {0};
	jrn_buf_addf(&yaml, "%s/jrn.yaml", dir);
	/* the state file, relative to DIR as the config's db.path is */
	if (db_path && db_path[0] == '/')
		jrn_buf_adds(&path, db_path);
	else
		jrn_buf_addf(&path, "%s/%s", dir, db_path ? db_path : "jrn.db");
	if (!yaml.p || !path.p || starter_text(&text, db_path) < 0) {
		fputs("jrn: out of memory\n", stderr);
		undo(NULL, false, NULL, false, dir, made_dir);
		jrn_buf_free(&yaml);
		jrn_buf_free(&path);
		jrn_buf_free(&text);
		return JRN_EXIT_FAIL;
	}
	int status = JRN_EXIT_FAIL;
	bool made_yaml = false, made_state = false;
	int fd = open(yaml.p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd >= 0)
		made_yaml = true;
	else if (errno == EEXIST && force)
		fd = open(yaml.p, O_WRONLY | O_CLOEXEC); /* a directory: EISDIR */
	struct stat st;
	sqlite3 *db = NULL;
	jrn_err e;
	int err;
	if (fd < 0) {
		if (errno == EEXIST)
			fprintf(stderr, "jrn: init: %s exists (use --force to overwrite)\n", yaml.p);
		else
			fprintf(stderr, "jrn: init: %s: %s\n", yaml.p, strerror(errno));
	} else if ((made_state = stat(path.p, &st) < 0 && errno == ENOENT),
		   jrn_db_open(path.p, 10000, &db, &e) < 0) {
		fprintf(stderr, "jrn: init: %s\n", e.msg);
	} else if ((err = write_whole(fd, text.p, text.len)) != 0) {
		fprintf(stderr, "jrn: init: %s: %s\n", yaml.p, strerror(err));
	} else {
		status = JRN_EXIT_OK;
	}
	sqlite3_close(db);
	if (fd >= 0 && close(fd) < 0 && status == JRN_EXIT_OK) {
		fprintf(stderr, "jrn: init: %s: %s\n", yaml.p, strerror(errno));
		status = JRN_EXIT_FAIL;
	}
	if (status != JRN_EXIT_OK)
		undo(path.p, made_state, yaml.p, made_yaml, dir, made_dir);
	jrn_buf_free(&yaml);
	jrn_buf_free(&path);
	jrn_buf_free(&text);
	return status;
}
