/* journeys.c: sets of journeys (journey.h): a folder's files and
 * jrn.yaml's journeys: entries compiled (journey.c), names unique, the
 * folder found by the rule of jrn-route(1); and the near-miss suggestion
 * the compiler and the linter give. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journey.h"
#include "yaml.h"

/* The word of list (NULL-ended) closest to s, when close enough to be a
 * typo; else NULL. */
const char *journey_suggest(const char *s, const char *const *list)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX, n = strlen(s);
	for (; *list; list++) {
		size_t kl = strlen(*list), limit = kl / 3 > 1 ? kl / 3 : 1;
		if ((n > kl ? n - kl : kl - n) > limit)
			continue;
		size_t d = jrn_edit_distance(s, n, *list, kl);
		if (d <= limit && d < best_d && d < kl) /* not a word replaced whole */
			best = *list, best_d = d;
	}
	return best;
}

const char *journey_near_key(jv o, const char *const *names, size_t n, jv *key)
{
	const char *list[n + 1];
	memcpy(list, names, n * sizeof *names);
	list[n] = NULL;
	*key = jv_invalid();
	for (int it = jv_object_iter(o); jv_object_iter_valid(o, it); it = jv_object_iter_next(o, it)) {
		jv k = jv_object_iter_key(o, it);
		const char *near = journey_suggest(jv_string_value(k), list);
		if (near) {
			*key = k;
			return near;
		}
		jv_free(k);
	}
	return NULL;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Says msg: on stderr, or as a line of errs. */
static void report(jrn_buf *errs, const char *msg)
{
	if (errs) {
		jrn_buf_adds(errs, msg);
		jrn_buf_addc(errs, '\n');
	} else {
		jrn_say(0, "%s", msg);
	}
}

/* Adds J to js, unless a journey of its name is there: then an error. */
static int add_journey(journeys *js, journey *J, jrn_buf *errs, int *bad)
{
	for (int i = 0; i < js->n; i++) {
		if (strcmp(js->v[i]->name, J->name))
			continue;
		char msg[1200];
		snprintf(msg, sizeof msg, "%s: a second journey named '%.64s' (the first is %s)",
			 J->file ? J->file : "jrn.yaml journeys", J->name,
			 js->v[i]->file ? js->v[i]->file : "in jrn.yaml journeys");
		report(errs, msg);
		(*bad)++;
		journey_free(J);
		return 0;
	}
	journey **v = realloc(js->v, (size_t)(js->n + 1) * sizeof *v);
	if (!v) {
		journey_free(J);
		return -1;
	}
	js->v = v;
	js->v[js->n++] = J;
	return 0;
}

journey *journey_load_file(const char *path, jrn_err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		jrn_fail(e, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > JOURNEY_SOURCE_MAX) {
		close(fd);
		if (S_ISDIR(st.st_mode))
			jrn_fail(e, "%s: Is a directory", path);
		else if (!S_ISREG(st.st_mode))
			jrn_fail(e, "%s: not a regular file", path);
		else
			jrn_fail(e, "%s: larger than %d bytes (the limit)", path, JOURNEY_SOURCE_MAX);
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	int err = errno;
	close(fd);
	if (!buf || got < (size_t)st.st_size) {
		jrn_fail(e, "%s: %s", path, buf ? (err ? strerror(err) : "changed while read") :
			 "out of memory");
		free(buf);
		return NULL;
	}
	journey *J = journey_compile(buf, got, path, e);
	free(buf);
	return J;
}

/* The names of DIR's *.yaml and *.yml files (not hidden), sorted: 0 with
 * *names (each and the array the caller's), -1 with e. */
static int dir_files(const char *dir, char ***names, int *n, jrn_err *e)
{
	DIR *d = opendir(dir);
	if (!d)
		return jrn_fail(e, "%s: %s", dir, strerror(errno));
	char **v = NULL;
	int k = 0, rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' ||
		    !((len > 5 && !strcmp(de->d_name + len - 5, ".yaml")) ||
		      (len > 4 && !strcmp(de->d_name + len - 4, ".yml"))))
			continue;
		char **nv = realloc(v, (size_t)(k + 1) * sizeof *v);
		if (!nv || !(nv[k] = malloc(strlen(dir) + len + 2))) {
			v = nv ? nv : v;
			rc = jrn_fail(e, "%s: out of memory", dir);
			break;
		}
		v = nv;
		sprintf(v[k++], "%s/%s", dir, de->d_name);
	}
	closedir(d);
	if (rc < 0) {
		for (int i = 0; i < k; i++)
			free(v[i]);
		free(v);
		return -1;
	}
	if (k)
		qsort(v, (size_t)k, sizeof *v, by_name);
	*names = v, *n = k;
	return 0;
}

/* The position tree of journeys: in the configuration file (read again:
 * the loaded configuration keeps no positions), or null. */
static jv entry_positions(const char *config_file)
{
	jv pos = jv_null(), unset = jv_null();
	jrn_yaml_opts yo = {.flags = JRN_YAML_ENV | JRN_YAML_ENV_KEEP, .unset = &unset};
	jrn_err ignore;
	jv all = jrn_yaml_load(config_file, &yo, &pos, &ignore);
	jv_free(all), jv_free(unset);
	jv k = jv_string("journeys");
	jv jp = jrn_yaml_pos_value(pos, k);
	jv_free(k), jv_free(pos);
	return jp;
}

journey *journey_compile_jv(const char *name, jv def, const char *config_file, jrn_err *e)
{
	jrn_err first;
	journey *J = journey_compile_jv_at(name, def, jv_null(), config_file, &first);
	if (J || !config_file) {
		if (!J)
			*e = first;
		return J;
	}
	/* the config as loaded keeps no positions: read them again to name
	 * the place (the same text, so the same shape) */
	jv jp = entry_positions(config_file), k = jv_string(name);
	jv pos = jrn_yaml_pos_value(jp, k);
	jv_free(k), jv_free(jp);
	if (jv_get_kind(pos) != JV_KIND_NULL)
		J = journey_compile_jv_at(name, def, pos, config_file, e);
	else
		*e = first;
	jv_free(pos);
	return J;
}

/* Has journeys: (borrowed) an entry, or a dir that is not a string? */
static bool needs_positions(jv entries)
{
	jv d = jv_object_get(jv_copy(entries), jv_string("dir"));
	bool dir = jv_is_valid(d), bad = dir && jv_get_kind(d) != JV_KIND_STRING;
	jv_free(d);
	return bad || jv_object_length(jv_copy(entries)) > (int)dir;
}

int journeys_load(const char *dir, jv config, const char *config_file, journeys *out, int *bad,
		  jrn_buf *errs, jrn_err *e)
{
	*out = (journeys){0};
	*bad = 0;
	char **files = NULL;
	int nfiles = 0, rc = 0;
	if (dir && dir_files(dir, &files, &nfiles, e) < 0)
		return -1;
	for (int i = 0; rc == 0 && i < nfiles; i++) {
		jrn_err why;
		journey *J = journey_load_file(files[i], &why);
		if (!J) {
			report(errs, why.msg);
			(*bad)++;
		} else if (add_journey(out, J, errs, bad) < 0) {
			rc = jrn_fail(e, "out of memory");
		}
	}
	for (int i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	jv entries = jv_get_kind(config) == JV_KIND_OBJECT
			     ? jv_object_get(jv_copy(config), jv_string("journeys")) : jv_invalid();
	jv pos = jv_null();
	if (jv_get_kind(entries) == JV_KIND_OBJECT && config_file && needs_positions(entries))
		pos = entry_positions(config_file);
	if (jv_get_kind(entries) == JV_KIND_OBJECT) {
		for (int it = jv_object_iter(entries); rc == 0 && jv_object_iter_valid(entries, it);
		     it = jv_object_iter_next(entries, it)) {
			jv k = jv_object_iter_key(entries, it), v = jv_object_iter_value(entries, it);
			jrn_err why;
			if (!strcmp(jv_string_value(k), "dir") && jv_get_kind(v) != JV_KIND_STRING) {
				jv p = jrn_yaml_pos_value(pos, k);
				jrn_yaml_at a = jrn_yaml_pos_at(p);
				char msg[1200];
				if (a.line)
					snprintf(msg, sizeof msg, "%s:%d:%d: journeys.dir: expected a folder's "
						 "name, not %s", config_file, a.line, a.col,
						 jrn_kind_phrase(jv_get_kind(v), true));
				else
					snprintf(msg, sizeof msg, "%s: journeys.dir: expected a folder's name, "
						 "not %s", config_file ? config_file : "jrn.yaml",
						 jrn_kind_phrase(jv_get_kind(v), true));
				report(errs, msg);
				(*bad)++;
				jv_free(p);
			} else if (strcmp(jv_string_value(k), "dir")) {
				jv p = jrn_yaml_pos_value(pos, k);
				journey *J = jv_get_kind(p) == JV_KIND_NULL
						     ? journey_compile_jv(jv_string_value(k), v, config_file, &why)
						     : journey_compile_jv_at(jv_string_value(k), v, p, config_file,
									     &why);
				jv_free(p);
				if (!J) {
					report(errs, why.msg);
					(*bad)++;
				} else if (add_journey(out, J, errs, bad) < 0) {
					rc = jrn_fail(e, "out of memory");
				}
			}
			jv_free(k), jv_free(v);
		}
	}
	jv_free(entries), jv_free(pos);
	if (rc < 0)
		journeys_free(out);
	return rc;
}

void journeys_free(journeys *js)
{
	for (int i = 0; i < js->n; i++)
		journey_free(js->v[i]);
	free(js->v);
	*js = (journeys){0};
}

const char *journeys_dir(const char *flag, jv config, const char *config_file, char **owned)
{
	*owned = NULL;
	if (flag)
		return flag;
	const char *env = getenv("JRN_JOURNEYS");
	if (env && *env)
		return env;
	char *d = NULL;
	jrn_err ignore;
	if (jrn_config_string(config, "journeys.dir", &d, &ignore) == 1 && d) {
		const char *slash = config_file ? strrchr(config_file, '/') : NULL;
		if (d[0] == '/' || !slash) {
			*owned = d;
		} else {
			size_t n = (size_t)(slash - config_file);
			if ((*owned = malloc(n + strlen(d) + 2)))
				sprintf(*owned, "%.*s/%s", (int)n, config_file, d);
			free(d);
		}
		return *owned;
	}
	free(d);
	struct stat st;
	if (stat("journeys", &st) == 0 && S_ISDIR(st.st_mode))
		return "journeys";
	return NULL;
}
