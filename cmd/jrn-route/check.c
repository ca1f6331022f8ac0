/* check.c: the journey linter, jrn-route --check [JOURNEY...] (jrn-route(1),
 * JOURNEYS and --check). Errors are what keeps a journey from loading (the
 * compiler's messages, journey.c) and templates that do not exist;
 * warnings are what loads but is likely wrong: steps never reached, a
 * wait_for or goal step without within, a loop without a wait, a marketing
 * e-mail without an unsubscribe link, a condition on a field no profile or
 * event carries, enrollments stranded on a step the current version
 * removed. Each is one line on stdout, "FILE:LINE:COL: error|warning:
 * what". */
#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "journey.h"
#include "mustache.h"

/* What a profile as lib/profile-read.h reads it holds at the top, and the
 * trigger event conditions see under it. */
static const char *const profile_members[] = {
	"customerId", "email", "phone", "name", "firstName", "lastName", "locale", "timeZone",
	"country", "createdAt", "traits", "provenance", "consent", "scores", "rfm", "clv", "lead",
	"segments", "summary", "cart", "promotions", "event", "properties", NULL,
};

/* What an event holds at the top (jrn-ingest(1), Events; a stage record
 * of jrn-ai has state). */
static const char *const event_members[] = {
	"id", "type", "customerId", "anonymousId", "userId", "timestamp", "receivedAt",
	"properties", "context", "traits", "source", "state", "event", NULL,
};

typedef struct {
	const journey *J;
	route_run *R;
	jrn_buf *out;
	int errors, warnings;
	char *tdir;        /* the templates folder (owned) */
	jv tfiles;         /* its file names: {name: true}, or null when none */
} lint;

static void say(lint *L, int line, int col, bool error, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void say(lint *L, int line, int col, bool error, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	const char *file = L->J->file ? L->J->file
				      : L->R->opts.config_path ? L->R->opts.config_path : "jrn.yaml";
	if (line > 0)
		jrn_buf_addf(L->out, "%s:%d:%d: %s: %s\n", file, line, col, error ? "error" : "warning",
			     msg);
	else
		jrn_buf_addf(L->out, "%s: %s: journeys.%s: %s\n", file, error ? "error" : "warning",
			     L->J->name, msg);
	if (error)
		L->errors++;
	else
		L->warnings++;
}

/* The steps a step may go to next (JOURNEY_END left out): into to[]
 * (room for 2 + events or arms); returns how many. */
static int edges(const step *s, int *to)
{
	int n = 0;
	switch (s->kind) {
	case S_WAIT_FOR:
	case S_GOAL:
		for (int i = 0; i < s->u.wait_for.nevents; i++)
			to[n++] = s->u.wait_for.events[i].next;
		to[n++] = s->u.wait_for.timeout_next;
		break;
	case S_BRANCH:
		to[n++] = s->u.branch.then;
		to[n++] = s->u.branch.otherwise;
		break;
	case S_SPLIT:
		for (int i = 0; i < s->u.split.narms; i++)
			to[n++] = s->u.split.arms[i].next;
		break;
	case S_EXIT: break;
	default: to[n++] = s->next; break;
	}
	int k = 0;
	for (int i = 0; i < n; i++)
		if (to[i] >= 0)
			to[k++] = to[i];
	return k;
}

static int max_edges(const step *s)
{
	return 2 + (s->kind == S_SPLIT ? s->u.split.narms
		    : s->kind == S_WAIT_FOR || s->kind == S_GOAL ? s->u.wait_for.nevents : 0);
}

static bool waits(const step *s)
{
	return s->kind == S_WAIT || s->kind == S_WAIT_FOR || s->kind == S_GOAL;
}

/* Steps never reached from the first. */
static int lint_reach(lint *L)
{
	const journey *J = L->J;
	char *seen = calloc((size_t)J->nsteps, 1);
	int *stack = malloc((size_t)J->nsteps * sizeof *stack), *to = NULL, top = 0;
	if (!seen || !stack)
		goto oom;
	seen[0] = 1;
	stack[top++] = 0;
	while (top) {
		const step *s = &J->steps[stack[--top]];
		int *nt = realloc(to, (size_t)max_edges(s) * sizeof *to);
		if (!nt)
			goto oom;
		to = nt;
		for (int k = edges(s, to), i = 0; i < k; i++)
			if (!seen[to[i]])
				seen[to[i]] = 1, stack[top++] = to[i];
	}
	for (int i = 0; i < J->nsteps; i++)
		if (!seen[i])
			say(L, J->steps[i].line, J->steps[i].col, false,
			    "step '%s' is never reached (no step leads to it)", J->steps[i].id);
	free(seen), free(stack), free(to);
	return 0;
oom:
	free(seen), free(stack), free(to);
	return -1;
}

/* Cycles of steps none of which waits: an enrollment would run round
 * them until JOURNEY_RUN_MAX steps, then again a minute later. */
static int lint_loops(lint *L)
{
	const journey *J = L->J;
	int n = J->nsteps;
	char *color = calloc((size_t)n, 1); /* 0 new, 1 on the path, 2 done */
	int *path = malloc((size_t)n * sizeof *path), *at = calloc((size_t)n, sizeof *at);
	int *to = NULL;
	char *said = calloc((size_t)n, 1);
	if (!color || !path || !at || !said)
		goto oom;
	for (int root = 0; root < n; root++) {
		if (color[root] || waits(&J->steps[root]))
			continue;
		int depth = 0;
		path[depth++] = root, color[root] = 1, at[root] = 0;
		while (depth) {
			int u = path[depth - 1];
			const step *s = &J->steps[u];
			int *nt = realloc(to, (size_t)max_edges(s) * sizeof *to);
			if (!nt)
				goto oom;
			to = nt;
			int k = edges(s, to);
			if (at[u] >= k) {
				color[u] = 2, depth--;
				continue;
			}
			int v = to[at[u]++];
			if (waits(&J->steps[v]) || color[v] == 2)
				continue;
			if (color[v] == 0) {
				path[depth++] = v, color[v] = 1, at[v] = 0;
				continue;
			}
			/* v is on the path: the cycle is path[v..u] */
			if (said[v])
				continue;
			said[v] = 1;
			char cyc[600] = "";
			size_t len = 0;
			int from = depth - 1;
			while (from > 0 && path[from] != v)
				from--;
			for (int i = from; i < depth && len < sizeof cyc - 80; i++)
				len += (size_t)snprintf(cyc + len, sizeof cyc - len, "'%.64s' -> ",
							J->steps[path[i]].id);
			snprintf(cyc + len, sizeof cyc - len, "'%.64s'", J->steps[v].id);
			say(L, J->steps[v].line, J->steps[v].col, false,
			    "steps %s loop without a wait (an enrollment stops after %d steps in one go, "
			    "JOURNEY_RUN_MAX, and goes round again a minute later)", cyc, JOURNEY_RUN_MAX);
		}
	}
	free(color), free(path), free(at), free(to), free(said);
	return 0;
oom:
	free(color), free(path), free(at), free(to), free(said);
	return -1;
}

/* The first key of each condition's paths: one the profile (or event)
 * does not carry is likely a typo. */
static int lint_fields(lint *L)
{
	const journey *J = L->J;
	int n = jrn_rule_count(J->rules);
	jrn_buf keys = {0};
	for (int i = 0; i < n; i++) {
		jrn_buf_reset(&keys);
		int k = jrn_rule_fields(J->rules, i, &keys);
		if (k < 0) {
			jrn_buf_free(&keys);
			return -1;
		}
		const jrule_at *ra = &J->rule_at[i];
		const char *const *known = ra->profile ? profile_members : event_members;
		const char *p = keys.p;
		for (int j = 0; j < k; j++, p += strlen(p) + 1) {
			const char *const *m = known;
			while (*m && strcmp(*m, p))
				m++;
			bool repeat = false;
			for (const char *q = keys.p; q < p && !repeat; q += strlen(q) + 1)
				repeat = !strcmp(q, p);
			if (*m || repeat)
				continue;
			const char *near = journey_suggest(p, known);
			char hint[128] = "";
			if (near)
				snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
			say(L, ra->line, ra->col, false, "%s: no %s carries '%.64s'%s",
			    jrn_rule_name(J->rules, i), ra->profile ? "profile" : "event", p, hint);
		}
	}
	jrn_buf_free(&keys);
	return 0;
}

/* ---- templates ---------------------------------------------------------- */

/* The templates folder as jrn-send finds it: config templates.dir (else
 * "templates"), relative to the config file's folder. */
static char *templates_dir(route_run *R)
{
	char *td = NULL;
	jrn_err ignore;
	if (jrn_config_string(R->opts.config, "templates.dir", &td, &ignore) != 1)
		td = NULL;
	const char *d = td ? td : "templates";
	const char *cp = R->opts.config_path;
	char *out;
	if (d[0] == '/' || !cp || !strchr(cp, '/')) {
		out = strdup(d);
	} else {
		size_t n = (size_t)(strrchr(cp, '/') - cp);
		if ((out = malloc(n + strlen(d) + 2)))
			sprintf(out, "%.*s/%s", (int)n, cp, d);
	}
	free(td);
	return out;
}

/* The file names of the templates folder, once per run. */
static jv template_files(lint *L)
{
	if (jv_is_valid(L->tfiles))
		return L->tfiles;
	L->tfiles = jv_null();
	DIR *d = L->tdir ? opendir(L->tdir) : NULL;
	if (!d)
		return L->tfiles;
	L->tfiles = jv_object();
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			L->tfiles = jv_object_set(L->tfiles, jv_string(de->d_name), jv_true());
	closedir(d);
	return L->tfiles;
}

/* The files of template name for part (NAME.PART or NAME.LOCALE.PART),
 * as a list of names (owned). */
static jv template_parts(lint *L, const char *name, const char *part)
{
	jv files = template_files(L), out = jv_array();
	if (jv_get_kind(files) != JV_KIND_OBJECT)
		return out;
	size_t nl = strlen(name), pl = strlen(part);
	for (int it = jv_object_iter(files); jv_object_iter_valid(files, it);
	     it = jv_object_iter_next(files, it)) {
		jv k = jv_object_iter_key(files, it);
		const char *f = jv_string_value(k);
		size_t fl = strlen(f);
		bool ok = fl >= nl + pl + 1 && !strncmp(f, name, nl) && f[nl] == '.' &&
			  f[fl - pl - 1] == '.' && !strcmp(f + fl - pl, part);
		if (ok && fl > nl + pl + 2) /* a locale between: no more dots */
			ok = !memchr(f + nl + 1, '.', fl - pl - 1 - (nl + 1));
		else if (ok && fl == nl + pl + 2) /* "a..txt" */
			ok = false;
		if (ok)
			out = jv_array_append(out, jv_copy(k));
		jv_free(k);
	}
	return out;
}

/* Whether the tag at p ("{{...") names "unsubscribe" in some form: a tag
 * almost the link, quoted in the warning; *end past it. */
static bool names_unsubscribe(const char *p, const char **end)
{
	const char *q = p + 2 + (p[2] == '{');
	const char *e = strstr(q, p[2] == '{' ? "}}}" : "}}");
	if (!e)
		return false;
	*end = e + (p[2] == '{' ? 3 : 2);
	if (*q == '/' || *q == '!')
		return false;
	for (const char *r = q; r + 11 <= e; r++)
		if (!strncasecmp(r, "unsubscribe", 11))
			return true;
	return false;
}

/* Whether an action's messageContent holds the link as jrn-send's
 * content_with_link (cmd/jrn-send/prepare.c) fills it: {{unsubscribeUrl}}
 * or {{{unsubscribeUrl}}}, spaces and tabs inside allowed, looked for at
 * every "{{" (so "{{{unsubscribeUrl}}" is "{" and the link). Else false,
 * with *near the first other tag naming "unsubscribe" and *near_len its
 * length (NULL when none). */
static bool content_has_link(const char *text, const char **near, int *near_len)
{
	static const char name[] = "unsubscribeUrl";
	*near = NULL;
	for (const char *p = strstr(text, "{{"); p; p = strstr(p + 1, "{{")) {
		const char *q = p + 2;
		bool triple = *q == '{';
		q += triple;
		q += strspn(q, " \t");
		if (!strncmp(q, name, sizeof name - 1)) {
			q += sizeof name - 1;
			q += strspn(q, " \t");
			if (!strncmp(q, triple ? "}}}" : "}}", triple ? 3 : 2))
				return true;
		}
		const char *end;
		if (!*near && names_unsubscribe(p, &end))
			*near = p, *near_len = (int)(end - p);
	}
	return false;
}

/* Whether a template holds the link as jrn-send fills it: rendered (by
 * the library jrn-send renders with, lib/mustache.c) with unsubscribeUrl
 * alone in its data, the link is in the text ({{unsubscribeUrl}},
 * {{{ unsubscribeUrl }}}, {{&unsubscribeUrl}}, a default after |, a
 * section of it, other delimiters); or, the template's own sections being
 * unknown here, a tag of the link inside one ({{#vip}}{{unsubscribeUrl}}
 * {{/vip}}: comments skipped; not with other delimiters, and then
 * nothing is quoted); or a partial
 * whose name holds "unsubscribe", any case ({{> unsubscribe-footer}}: its
 * text is not looked into). Else false with *near as content_has_link's. */
static bool template_has_link(const char *text, const char **near, int *near_len)
{
	static const char name[] = "unsubscribeUrl", mark[] = "\x01jrn-unsubscribe-link\x01";
	*near = NULL;
	jrn_err e;
	jrn_mustache *t = jrn_mustache_compile(text, strlen(text), &e);
	if (t) {
		jrn_buf out = {0};
		jv data = jv_object_set(jv_object(), jv_string(name), jv_string(mark));
		bool linked = jrn_mustache_render(t, data, jv_null(), JRN_MUSTACHE_TEXT, &out, &e) == 0 &&
			      out.p && strstr(out.p, mark);
		jv_free(data);
		jrn_buf_free(&out);
		jrn_mustache_free(t);
		if (linked)
			return true;
	}
	bool delimiters = strstr(text, "{{=") != NULL; /* (the tags below are not tags) */
	for (const char *p = strstr(text, "{{"), *end; p && !delimiters; p = strstr(end, "{{")) {
		end = p + 2;
		const char *q = p + 2;
		bool triple = *q == '{';
		q += triple;
		char sigil = !triple && *q && strchr("&#^/>!", *q) ? *q : 0;
		q += sigil != 0;
		const char *close = strstr(q, triple ? "}}}" : "}}");
		if (!close)
			break;
		end = close + (triple ? 3 : 2);
		q += strspn(q, " \t\r\n");
		size_t n = (size_t)(close - q);
		while (n && strchr(" \t\r\n", q[n - 1]))
			n--;
		if ((!sigil || sigil == '&') && n == sizeof name - 1 && !memcmp(q, name, n))
			return true;
		const char *e2;
		bool named = names_unsubscribe(p, &e2);
		if (named && sigil == '>')
			return true;
		if (named && !*near)
			*near = p, *near_len = (int)(end - p);
	}
	return false;
}

/* Appends a tag quoted from a file or a record to b: at most 80 bytes,
 * control characters as \n, \t or \xHH (one line of the lint's output). */
static void quote_tag(jrn_buf *b, const char *p, int n)
{
	for (int i = 0; i < n && i < 80; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\n')
			jrn_buf_adds(b, "\\n");
		else if (c == '\t')
			jrn_buf_adds(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			jrn_buf_addf(b, "\\x%02x", c);
		else
			jrn_buf_addc(b, (char)c);
	}
}

/* A file's text (owned, NUL-terminated) or NULL. At most 4 MiB. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	jrn_buf b = {0};
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (4u << 20))
		if (jrn_buf_add(&b, chunk, n) < 0)
			break;
	fclose(f);
	if (!b.p)
		jrn_buf_adds(&b, "");
	return b.p;
}

static void lint_action(lint *L, const step *s)
{
	jv f = s->u.action.fields;
	jv tv = jv_object_get(jv_copy(f), jv_string("template"));
	const char *ch = chan_names[s->u.action.channel];
	if (jv_get_kind(tv) == JV_KIND_STRING) {
		const char *t = jv_string_value(tv);
		static const char *const email_parts[] = {"txt", "html", NULL};
		static const char *const sms_parts[] = {"sms", NULL};
		static const char *const wa_parts[] = {"whatsapp", "sms", NULL};
		const char *const *parts = s->u.action.channel == CH_EMAIL ? email_parts
					 : s->u.action.channel == CH_SMS ? sms_parts
					 : s->u.action.channel == CH_WHATSAPP ? wa_parts : NULL;
		bool found = false, unsub = false;
		jrn_buf near = {0}; /* a tag that is almost the link */
		for (int i = 0; parts && parts[i]; i++) {
			jv names = template_parts(L, t, parts[i]);
			int n = jv_array_length(jv_copy(names));
			found |= n > 0;
			for (int k = 0; k < n && s->u.action.channel == CH_EMAIL && !unsub; k++) {
				jv nm = jv_array_get(jv_copy(names), k);
				char path[4200];
				snprintf(path, sizeof path, "%s/%s", L->tdir, jv_string_value(nm));
				char *text = slurp(path);
				const char *nr;
				int nl;
				unsub = text && template_has_link(text, &nr, &nl);
				if (text && !unsub && nr && !near.p)
					quote_tag(&near, nr, nl);
				free(text);
				jv_free(nm);
			}
			jv_free(names);
		}
		if (parts && !found)
			say(L, s->line, s->col, true, "step '%s' action: no template '%.64s' for %s in %s "
			    "(%s.%s%s)", s->id, t, ch, L->tdir, t, parts[0],
			    s->u.action.channel == CH_EMAIL ? " or .html" :
			    s->u.action.channel == CH_WHATSAPP ? " or .sms" : "");
		else if (found && s->u.action.channel == CH_EMAIL && !s->u.action.transactional && !unsub &&
			 near.p)
			say(L, s->line, s->col, false, "step '%s' action: marketing e-mail template "
			    "'%.64s' has no unsubscribe link: jrn-send fills {{unsubscribeUrl}}, not %s",
			    s->id, t, near.p);
		else if (found && s->u.action.channel == CH_EMAIL && !s->u.action.transactional && !unsub)
			say(L, s->line, s->col, false, "step '%s' action: marketing e-mail template "
			    "'%.64s' has no unsubscribe link (a tag such as {{unsubscribeUrl}} in its "
			    ".txt or .html)", s->id, t);
		jrn_buf_free(&near);
	} else if (s->u.action.channel == CH_EMAIL && !s->u.action.transactional) {
		jv mc = jv_object_get(jv_copy(f), jv_string("messageContent"));
		const char *nr = NULL;
		int nl = 0;
		bool linked = jv_get_kind(mc) == JV_KIND_STRING &&
			      content_has_link(jv_string_value(mc), &nr, &nl);
		jrn_buf near = {0};
		if (!linked && nr)
			quote_tag(&near, nr, nl);
		if (!linked && near.p)
			say(L, s->line, s->col, false, "step '%s' action: marketing e-mail without an "
			    "unsubscribe link: jrn-send fills {{unsubscribeUrl}} in messageContent, not %s",
			    s->id, near.p);
		else if (!linked)
			say(L, s->line, s->col, false, "step '%s' action: marketing e-mail without a "
			    "template or an unsubscribe link ({{unsubscribeUrl}})", s->id);
		jrn_buf_free(&near);
		jv_free(mc);
	}
	jv_free(tv);
}

/* Active enrollments of other versions on a step this version neither has
 * nor maps in migrate: steps: they stay on their version. */
static int lint_stranded(lint *L, sqlite3 *db)
{
	const journey *J = L->J;
	if (!db || !J->migrate)
		return 0;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT e.version, e.step, count(*) FROM enrollments e"
			       " WHERE e.journey = ?1 AND e.status = 'active' AND e.step IS NOT NULL"
			       " AND e.version NOT IN (SELECT version FROM journey_versions v"
			       " WHERE v.journey = ?1 AND v.digest = ?2)"
			       " GROUP BY e.version, e.step ORDER BY e.version, e.step", -1, &st,
			       NULL) != SQLITE_OK)
		return 0; /* a state file without journeys' tables: nothing stranded */
	sqlite3_bind_text(st, 1, J->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, J->digest, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *sid = (const char *)sqlite3_column_text(st, 1);
		bool mapped = false;
		if (jv_get_kind(J->migrate_map) == JV_KIND_OBJECT) {
			jv v = jv_object_get(jv_copy(J->migrate_map), jv_string(sid));
			mapped = jv_is_valid(v);
			jv_free(v);
		}
		if (mapped || journey_step(J, sid) >= 0)
			continue;
		long long n = sqlite3_column_int64(st, 2);
		say(L, 1, 1, false, "%lld enrollment%s of version %lld at step '%.64s', which this "
		    "version removes, stay on version %lld (map the step in migrate: steps)", n,
		    n == 1 ? "" : "s", (long long)sqlite3_column_int64(st, 0), sid,
		    (long long)sqlite3_column_int64(st, 0));
	}
	sqlite3_finalize(st);
	return 0;
}

static int lint_run(lint *L, sqlite3 *db)
{
	const journey *J = L->J;
	if (lint_reach(L) < 0 || lint_loops(L) < 0 || lint_fields(L) < 0)
		return -1;
	for (int i = 0; i < J->nsteps; i++) {
		const step *s = &J->steps[i];
		if ((s->kind == S_WAIT_FOR || s->kind == S_GOAL) && !s->u.wait_for.within)
			say(L, s->line, s->col, false, "step '%s' %s: no within: it waits for ever when "
			    "the event never comes", s->id, step_kind_names[s->kind]);
		if (s->kind == S_ACTION)
			lint_action(L, s);
	}
	return lint_stranded(L, db);
}

/* The line number a linter's line starts with after "FILE:" (0: none). */
static long line_of(const char *s, size_t flen)
{
	return s[flen] == ':' ? strtol(s + flen + 1, NULL, 10) : 0;
}

static size_t sort_flen;
static int by_place(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	long lx = line_of(x, sort_flen), ly = line_of(y, sort_flen);
	if (lx != ly)
		return lx < ly ? -1 : 1;
	const char *cx = strchr(x + sort_flen + 1, ':'), *cy = strchr(y + sort_flen + 1, ':');
	long ax = cx ? strtol(cx + 1, NULL, 10) : 0, ay = cy ? strtol(cy + 1, NULL, 10) : 0;
	if (ax != ay)
		return ax < ay ? -1 : 1;
	return x < y ? -1 : x > y; /* stable: in the order said */
}

/* Appends the lines of b to out in the order of their places. */
static int sorted_lines(jrn_buf *out, jrn_buf *b, const char *file)
{
	int n = 0;
	for (size_t i = 0; i < b->len; i++)
		n += b->p[i] == '\n';
	char **v = n ? malloc((size_t)n * sizeof *v) : NULL;
	if (n && !v)
		return -1;
	int k = 0;
	for (char *p = b->p; k < n; p = strchr(p, '\n') + 1)
		v[k++] = p;
	sort_flen = strlen(file);
	qsort(v, (size_t)n, sizeof *v, by_place);
	int rc = 0;
	for (int i = 0; i < n; i++)
		rc |= jrn_buf_add(out, v[i], (size_t)(strchr(v[i], '\n') - v[i]) + 1);
	free(v);
	return rc;
}

int journey_lint_counted(const journey *J, route_run *R, sqlite3 *db, jrn_buf *out, int *warnings)
{
	jrn_buf mine = {0};
	lint L = {.J = J, .R = R, .out = &mine, .tfiles = jv_invalid()};
	L.tdir = templates_dir(R);
	int rc = L.tdir ? lint_run(&L, db) : -1;
	if (rc == 0 && mine.len)
		rc = sorted_lines(out, &mine, J->file ? J->file
					      : R->opts.config_path ? R->opts.config_path : "jrn.yaml");
	jrn_buf_free(&mine);
	free(L.tdir);
	jv_free(L.tfiles);
	if (warnings)
		*warnings = L.warnings;
	return rc < 0 ? -1 : L.errors;
}

int journey_lint(const journey *J, route_run *R, sqlite3 *db, jrn_buf *out)
{
	return journey_lint_counted(J, R, db, out, NULL);
}

/* A compiler's message "FILE:LINE:COL: why" (or "FILE: why") as a
 * linter's line: "error: " after the place. */
static void error_line(jrn_buf *out, const char *msg, size_t len)
{
	size_t cut = 0;
	for (size_t i = 0; i < len && !cut; i++) {
		if (msg[i] != ':' || msg[i + 1] < '0' || msg[i + 1] > '9')
			continue;
		size_t j = i + 1;
		while (msg[j] >= '0' && msg[j] <= '9')
			j++;
		if (msg[j] != ':' || msg[j + 1] < '0' || msg[j + 1] > '9')
			continue;
		j++;
		while (msg[j] >= '0' && msg[j] <= '9')
			j++;
		if (msg[j] == ':' && msg[j + 1] == ' ')
			cut = j + 2;
	}
	if (!cut) {
		const char *c = strstr(msg, ": ");
		cut = c && (size_t)(c - msg) < len ? (size_t)(c - msg) + 2 : 0;
	}
	jrn_buf_add(out, msg, cut);
	jrn_buf_adds(out, "error: ");
	jrn_buf_add(out, msg + cut, len - cut);
	jrn_buf_addc(out, '\n');
}

static void error_lines(jrn_buf *out, const jrn_buf *errs)
{
	for (const char *p = errs->p; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		error_line(out, p, n);
		p += n + (nl != NULL);
	}
}

int mode_check(route_run *R, char **names, int n)
{
	jrn_err e;
	char *owned;
	const char *dir = journeys_dir(R->journeys_dir, R->opts.config, R->opts.config_path, &owned);
	journeys js = {0}, picked = {0};
	jrn_buf errs = {0}, out = {0};
	int bad = 0, errors = 0, warnings = 0, status = 0;
	struct stat st;
	if (journeys_load(dir, R->opts.config, R->opts.config_path, &js, &bad,
			  &errs, &e) < 0) {
		free(owned);
		return jrn_say(JRN_EXIT_FAIL, "--check: %s", e.msg);
	}
	if (!n) {
		error_lines(&out, &errs);
		errors += bad;
		picked = js;
		js = (journeys){0};
	}
	for (int i = 0; i < n; i++) {
		int k = 0;
		while (k < js.n && (!js.v[k] /* named before */ ||
				    (strcmp(js.v[k]->name, names[i]) &&
				     !(js.v[k]->file && !strcmp(js.v[k]->file, names[i])))))
			k++;
		journey *J = NULL;
		if (k < js.n) {
			J = js.v[k];
			js.v[k] = NULL;
		} else if (stat(names[i], &st) == 0) {
			if (!(J = journey_load_file(names[i], &e))) {
				error_line(&out, e.msg, strlen(e.msg));
				errors++;
			}
		} else {
			status = jrn_say(JRN_EXIT_FAIL, "--check: no journey '%s' (neither a name in %s "
					 "nor a file)", names[i], dir ? dir : "the journeys");
		}
		journey **v = J ? realloc(picked.v, (size_t)(picked.n + 1) * sizeof *v) : NULL;
		if (v) {
			picked.v = v;
			picked.v[picked.n++] = J;
		} else if (J) {
			journey_free(J);
			status = jrn_say(JRN_EXIT_FAIL, "out of memory");
		}
	}
	for (int i = 0; i < picked.n; i++) {
		int w = 0, r = journey_lint_counted(picked.v[i], R, R->db, &out, &w);
		if (r < 0)
			status = jrn_say(JRN_EXIT_FAIL, "--check: out of memory");
		errors += r > 0 ? r : 0;
		warnings += w;
	}
	if (out.len)
		jrn_out_line(&R->out, out.p, out.len - 1);
	if (R->opts.verbosity >= 0 && !n && !picked.n && !bad)
		jrn_say(0, "--check: no journeys in %s (nor journeys: in the config): nothing checked",
			dir ? dir : "journeys/");
	else if ((R->opts.verbosity >= 0 && (errors || warnings)) || R->opts.verbosity > 0)
		jrn_say(0, "--check: %d error%s, %d warning%s in %d journey%s", errors,
			errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s", picked.n + bad,
			picked.n + bad == 1 ? "" : "s");
	for (int i = 0; i < js.n; i++)
		journey_free(js.v[i]);
	free(js.v);
	journeys_free(&picked);
	jrn_buf_free(&errs), jrn_buf_free(&out);
	free(owned);
	if (status)
		return status;
	return errors ? JRN_EXIT_FAIL : JRN_EXIT_OK;
}
