/* prompt.c: the prompt files (share/jrn/prompts/state.txt, optimize.txt,
 * or ai.prompts.dir) and the schemas their answers satisfy
 * (share/jrn/schemas/customer-state.json, journey-action.json). A prompt's
 * version is the first 12 hex digits of its file's SHA-256: an edited
 * prompt is a new version, and the cache misses. The share directory is
 * found beside the executable: BIN/../share/jrn (installed) or
 * BIN/../../share/jrn (the build tree's build/bin). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrn-ai.h"

static const char *const files[AI_TASKS] = {"state.txt", "optimize.txt"};
static const char *const schemas[AI_TASKS] = {"customer-state.json", "journey-action.json"};
static const char *const schema_names[AI_TASKS] = {"customer_state", "journey_actions"};

/* The share directory's SUB (prompts, schemas) into b, or -1 when none
 * is found. */
static int share_dir(const char *sub, jrn_buf *b)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	static const char *const rel[] = {"/../share/jrn/", "/../../share/jrn/"};
	for (size_t i = 0; i < 2; i++) {
		jrn_buf_reset(b);
		if (jrn_buf_addf(b, "%s%s%s", exe, rel[i], sub) < 0)
			return -1;
		if (access(b->p, R_OK) == 0)
			return 0;
	}
	return -1;
}

/* Reads path whole into *text (NUL-terminated, malloc'd), at most max
 * bytes. 0 or -1 with e. */
static int slurp(const char *path, size_t max, char **text, size_t *len, jrn_err *e)
{
	char shown[JRN_PATH_SHOWN];
	FILE *f = fopen(path, "rb");
	if (!f)
		return jrn_fail(e, "%s: %s", jrn_path_shown(path, shown), strerror(errno));
	jrn_buf b = {0};
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= max)
		if (jrn_buf_add(&b, chunk, n) < 0)
			break;
	int bad = ferror(f);
	fclose(f);
	if (bad || b.len > max || !b.p) {
		jrn_buf_free(&b);
		return jrn_fail(e, "%s: %s", jrn_path_shown(path, shown),
				bad ? "cannot read it" : b.len > max ? "over 256 KiB (AI_MAX_PROMPT)"
				: "empty");
	}
	*text = b.p;
	*len = b.len;
	return 0;
}

int ai_prompt_load(ai_prompt *p, int task, const char *dir, jrn_err *e)
{
	jrn_buf b = {0};
	p->task = task;
	p->schema = jv_invalid();
	p->schema_name = schema_names[task];
	if (dir ? jrn_buf_addf(&b, "%s/%s", dir, files[task]) < 0
		: (share_dir("prompts", &b) < 0 || jrn_buf_addf(&b, "/%s", files[task]) < 0)) {
		jrn_buf_free(&b);
		return jrn_fail(e, "no prompts directory beside the program (share/jrn/prompts);"
				" set ai.prompts.dir");
	}
	p->path = b.p;
	if (slurp(p->path, AI_MAX_PROMPT, &p->text, &p->len, e) < 0)
		return -1;
	if (jrn_utf8_invalid_at(p->text, p->len) != p->len)
		return jrn_fail(e, "%s: not UTF-8", p->path);
	char hex[65];
	if (jrn_sha256_hex(p->text, p->len, hex) < 0)
		return jrn_fail(e, "%s: SHA-256 failed", p->path);
	memcpy(p->version, hex, 12);
	p->version[12] = '\0';
	/* the schema */
	jrn_buf s = {0};
	char *text = NULL;
	size_t len;
	jrn_err pe;
	int rc = 0;
	if (share_dir("schemas", &s) < 0 || jrn_buf_addf(&s, "/%s", schemas[task]) < 0)
		rc = jrn_fail(e, "no schemas directory beside the program (share/jrn/schemas)");
	else if (slurp(s.p, 1 << 20, &text, &len, e) < 0)
		rc = -1;
	else if (!jv_is_valid(p->schema = jrn_parse_value(text, len, &pe)))
		rc = jrn_fail(e, "%s: %s", s.p, pe.msg);
	free(text);
	jrn_buf_free(&s);
	return rc;
}

void ai_prompt_free(ai_prompt *p)
{
	free(p->path);
	free(p->text);
	jv_free(p->schema);
	p->path = p->text = NULL;
	p->schema = jv_invalid();
}
