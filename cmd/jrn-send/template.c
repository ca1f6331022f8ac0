/* template.c: Mustache templates NAME[.LOCALE].PART in templates.dir,
 * compiled once and cached, and the partials of a locale chain (every
 * NAME[.LOCALE].mustache, the best locale of each name). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrn-send.h"

struct tmpl_entry {
	char *path;
	jrn_mustache *t; /* NULL: the file does not exist */
};

struct partial_file {
	char *name, *locale; /* footer, de: footer.de.mustache */
	char *text;
};

struct partial_set {
	char *chain; /* "de-AT\nde\n" */
	jv partials;
};

int read_whole(const char *path, jrn_buf *b, jrn_err *e)
{
	char shown[JRN_PATH_SHOWN]; /* a long path must not push the reason out */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : jrn_fail(e, "%s: %s", jrn_path_shown(path, shown),
						      strerror(errno));
	for (;;) {
		if (jrn_buf_reserve(b, 65536) < 0) {
			close(fd);
			return jrn_fail(e, "out of memory");
		}
		ssize_t n = read(fd, b->p + b->len, b->cap - b->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(fd);
			return jrn_fail(e, "%s: %s", jrn_path_shown(path, shown), strerror(err));
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->p[b->len] = '\0';
	}
	close(fd);
	return 0;
}

/* The compiled template at path (cached), or NULL with *absent set when
 * there is no such file; NULL without it is an error in e. */
static const jrn_mustache *tmpl_get(send_ctx *S, const char *path, bool *absent, jrn_err *e)
{
	char shown[JRN_PATH_SHOWN];
	*absent = false;
	for (size_t i = 0; i < S->tm.n; i++)
		if (!strcmp(S->tm.cache[i].path, path)) {
			*absent = !S->tm.cache[i].t;
			return S->tm.cache[i].t;
		}
	jrn_buf b = {0};
	int rc = read_whole(path, &b, e);
	if (rc < 0) {
		jrn_buf_free(&b);
		return NULL;
	}
	jrn_mustache *t = NULL;
	if (rc == 0) {
		size_t bad = jrn_utf8_invalid_at(b.p ? b.p : "", b.len);
		if (bad < b.len) {
			jrn_fail(e, "%s: invalid UTF-8 at byte %zu", jrn_path_shown(path, shown),
				 bad + 1);
			jrn_buf_free(&b);
			return NULL;
		}
		jrn_err ce;
		t = jrn_mustache_compile(b.p ? b.p : "", b.len, &ce);
		jrn_buf_free(&b);
		if (!t) {
			jrn_fail(e, "%s: %s", jrn_path_shown(path, shown), ce.msg);
			return NULL;
		}
	}
	jrn_buf_free(&b);
	if (S->tm.n == S->tm.cap) {
		size_t cap = S->tm.cap ? 2 * S->tm.cap : 16;
		struct tmpl_entry *ne = realloc(S->tm.cache, cap * sizeof *ne);
		if (!ne) {
			jrn_mustache_free(t);
			jrn_fail(e, "out of memory");
			return NULL;
		}
		S->tm.cache = ne, S->tm.cap = cap;
	}
	if (!(S->tm.cache[S->tm.n].path = strdup(path))) {
		jrn_mustache_free(t);
		jrn_fail(e, "out of memory");
		return NULL;
	}
	S->tm.cache[S->tm.n++].t = t;
	*absent = !t;
	return t;
}

/* The locales to try, best first, as "de-AT\nde\n\n" ("" = no locale). */
void locale_chain(send_ctx *S, jv rec, jrn_buf *b)
{
	const char *loc = rec_str(rec, "locale", NULL);
	if (!loc)
		loc = rec_str(rec, "profile.locale", NULL);
	if (!loc)
		loc = rec_str(rec, "traits.locale", NULL);
	if (!loc)
		loc = rec_str(rec, "profile.traits.locale", NULL);
	if (!loc)
		loc = S->cf.default_locale;
	jrn_buf_reset(b);
	for (int pass = 0; loc && pass < 2; pass++) {
		size_t n = strlen(loc);
		/* only plain tags: a locale is part of a file name */
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)loc[i]) && loc[i] != '-' && loc[i] != '_')
				n = 0;
		if (n) {
			jrn_buf_add(b, loc, n);
			jrn_buf_addc(b, '\n');
			size_t lang = strcspn(loc, "-_");
			if (lang < n) {
				jrn_buf_add(b, loc, lang);
				jrn_buf_addc(b, '\n');
			}
		}
		const char *dl = S->cf.default_locale;
		loc = pass == 0 && dl && loc != dl ? dl : NULL;
	}
	jrn_buf_addc(b, '\n');
}

/* The template NAME[.LOCALE].PART for the first locale of chain that has
 * one; NULL when none does (*found false) or on error (*found true, e). */
static const jrn_mustache *tmpl_find(send_ctx *S, const char *name, const char *part,
				     const char *chain, jrn_buf *path_out, bool *found,
				     jrn_err *e)
{
	*found = false;
	for (const char *l = chain; *l || l == chain; ) {
		size_t n = strcspn(l, "\n");
		jrn_buf_reset(path_out);
		jrn_buf_addf(path_out, "%s/%s", S->cf.templates_dir, name);
		if (n)
			jrn_buf_addf(path_out, ".%.*s", (int)n, l);
		if (jrn_buf_addf(path_out, ".%s", part) < 0) {
			*found = true;
			jrn_fail(e, "out of memory");
			return NULL;
		}
		bool absent;
		const jrn_mustache *t = tmpl_get(S, path_out->p, &absent, e);
		if (t || !absent) {
			*found = true;
			return t;
		}
		if (!n)
			break;
		l += n + 1;
	}
	return NULL;
}

/* Partials for a locale chain: every NAME[.LOCALE].mustache of the templates
 * directory, the best locale of each name. Borrowed (cached). */
static jv partials_for(send_ctx *S, const char *chain)
{
	if (!S->tm.scanned) {
		S->tm.scanned = true;
		DIR *d = opendir(S->cf.templates_dir);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			size_t n = strlen(de->d_name);
			if (n <= 9 || strcmp(de->d_name + n - 9, ".mustache") || de->d_name[0] == '.')
				continue;
			jrn_buf path = {0}, text = {0};
			jrn_err e;
			jrn_buf_addf(&path, "%s/%s", S->cf.templates_dir, de->d_name);
			if (path.p && read_whole(path.p, &text, &e) == 0) {
				struct partial_file *nf = realloc(S->tm.files,
							   (S->tm.nfiles + 1) * sizeof *nf);
				if (nf) {
					S->tm.files = nf;
					char *base = strndup(de->d_name, n - 9);
					char *dot = base ? strchr(base, '.') : NULL;
					if (dot)
						*dot = '\0';
					nf[S->tm.nfiles].name = base;
					nf[S->tm.nfiles].locale = strdup(dot ? dot + 1 : "");
					nf[S->tm.nfiles].text = text.p ? text.p : strdup("");
					text.p = NULL;
					if (base && nf[S->tm.nfiles].locale && nf[S->tm.nfiles].text)
						S->tm.nfiles++;
				}
			}
			jrn_buf_free(&path);
			jrn_buf_free(&text);
		}
		if (d)
			closedir(d);
	}
	for (size_t i = 0; i < S->tm.nsets; i++)
		if (!strcmp(S->tm.sets[i].chain, chain))
			return S->tm.sets[i].partials;
	jv set = jv_object();
	/* worst locale first, so better ones overwrite */
	const char *locs[16];
	size_t lens[16], nl = 0;
	for (const char *l = chain; nl < 16;) {
		size_t n = strcspn(l, "\n");
		locs[nl] = l, lens[nl++] = n;
		if (!n || !l[n])
			break;
		l += n + 1;
	}
	for (size_t k = nl; k-- > 0;)
		for (size_t i = 0; i < S->tm.nfiles; i++)
			if (strlen(S->tm.files[i].locale) == lens[k] &&
			    !strncmp(S->tm.files[i].locale, locs[k], lens[k]))
				set = jv_object_set(set, jv_string(S->tm.files[i].name),
						    jv_string(S->tm.files[i].text));
	struct partial_set *ns = realloc(S->tm.sets, (S->tm.nsets + 1) * sizeof *ns);
	char *c = strdup(chain);
	if (!ns || !c) {
		free(c);
		if (ns)
			S->tm.sets = ns;
		jv_free(set);
		return jv_null();
	}
	S->tm.sets = ns;
	ns[S->tm.nsets].chain = c;
	ns[S->tm.nsets++].partials = set;
	return set;
}

void templates_free(send_ctx *S)
{
	for (size_t i = 0; i < S->tm.n; i++) {
		free(S->tm.cache[i].path);
		jrn_mustache_free(S->tm.cache[i].t);
	}
	free(S->tm.cache);
	for (size_t i = 0; i < S->tm.nfiles; i++)
		free(S->tm.files[i].name), free(S->tm.files[i].locale), free(S->tm.files[i].text);
	free(S->tm.files);
	for (size_t i = 0; i < S->tm.nsets; i++) {
		free(S->tm.sets[i].chain);
		jv_free(S->tm.sets[i].partials);
	}
	free(S->tm.sets);
}

/* Renders template name's PART (strictly) into out. 1 rendered, 0 no such
 * template, -1 error in e (a missing variable names itself). */
int render_part(send_ctx *S, const char *name, const char *part, jv data, const char *chain,
		       jrn_buf *out, jrn_err *e)
{
	jrn_buf path = {0};
	bool found;
	const jrn_mustache *t = tmpl_find(S, name, part, chain, &path, &found, e);
	int rc = 0;
	if (t) {
		jrn_err re;
		jrn_buf_reset(out);
		/* {{x}} escapes for what the part is: HTML, JSON, or plain text */
		int flags = JRN_MUSTACHE_STRICT | (!strcmp(part, "html") ? 0
						   : !strcmp(part, "json") ? JRN_MUSTACHE_JSON
						   : JRN_MUSTACHE_TEXT);
		if (jrn_mustache_render(t, data, partials_for(S, chain), flags, out, &re) < 0)
			rc = jrn_fail(e, "template %s: %s", path.p + strlen(S->cf.templates_dir) + 1, re.msg);
		else
			rc = 1;
		if (rc == 1 && !out->p)
			jrn_buf_adds(out, "");
	} else if (found) {
		rc = -1;
	}
	jrn_buf_free(&path);
	return rc;
}

