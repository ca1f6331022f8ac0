/* fuzz/config.c: jrn.yaml as every tool loads it (jrn_config_load), and
 * the getters and checks the tools then call.
 *
 * ${FUZZ_SECRET} is set to a marker. Oracles: no message of the loader,
 * of jrn_config_get / _duration / _int / _number / _bool / _string on every
 * dotted path of the loaded object, of jrn_config_require for every tool
 * or of jrn_config_unresolved shows the marker (unless the input wrote it);
 * every failure has a message; a loaded config is an object. */
#include "fuzz.h"

static const uint8_t *input;
static size_t input_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_secret_setenv();
	unsetenv("FUZZ_UNSET");
	return 0;
}

static void no_secret(const char *msg, const char *where)
{
	FUZZ_CHECK(msg[0] != '\0', "%s: a failure without a message", where);
	if (!fuzz_has_mark(input, input_len))
		FUZZ_CHECK(!strstr(msg, FUZZ_SECRET_MARK), "%s shows the secret: %s", where, msg);
}

/* Every getter on the dotted path (NUL-terminated in b). */
static void getters(jv cfg, const char *path)
{
	jrn_err e;
	jv g = jrn_config_get(cfg, path);
	if (!jv_is_valid(g) && jv_invalid_has_msg(jv_copy(g))) {
		jv msg = jv_invalid_get_msg(jv_copy(g));
		if (jv_get_kind(msg) == JV_KIND_STRING)
			no_secret(jv_string_value(msg), "jrn_config_get");
		jv_free(msg);
	}
	jv_free(g);
	int64_t ms, n;
	double d;
	bool b;
	char *s = NULL;
	if (jrn_config_duration(cfg, path, &ms, &e) < 0)
		no_secret(e.msg, "jrn_config_duration");
	if (jrn_config_int(cfg, path, &n, &e) < 0)
		no_secret(e.msg, "jrn_config_int");
	if (jrn_config_number(cfg, path, &d, &e) < 0)
		no_secret(e.msg, "jrn_config_number");
	if (jrn_config_bool(cfg, path, &b, &e) < 0)
		no_secret(e.msg, "jrn_config_bool");
	if (jrn_config_string(cfg, path, &s, &e) < 0)
		no_secret(e.msg, "jrn_config_string");
	free(s);
}

/* Walks the objects of v (borrowed) calling the getters on each path. */
static void walk(jv cfg, jv v, jrn_buf *path, int depth)
{
	if (jv_get_kind(v) != JV_KIND_OBJECT || depth > 8)
		return;
	size_t at = path->len;
	jv_object_foreach(v, k, item) {
		const char *ks = jv_string_value(k);
		if (!strchr(ks, '.') && ks[0]) {
			if (at)
				jrn_buf_addc(path, '.');
			jrn_buf_adds(path, ks);
			getters(cfg, path->p);
			walk(cfg, item, path, depth + 1);
			path->len = at;
			path->p[at] = '\0';
		}
		jv_free(k);
		jv_free(item);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const progs[] = {"jrn-ingest", "jrn-segment", "jrn-score", "jrn-send",
					    "jrn", "jrn init", "jrn doctor", "jrn run"};
	input = data;
	input_len = size;
	char path[64];
	int fd = fuzz_file(data, size, path);
	if (fd < 0)
		return 0;
	jrn_err e;
	e.msg[0] = '\0';
	jv cfg = jrn_config_load(path, &e);
	if (!jv_is_valid(cfg)) {
		no_secret(e.msg, "jrn_config_load");
		jv_free(cfg);
		fuzz_file_close(fd);
		return 0;
	}
	FUZZ_CHECK(jv_get_kind(cfg) == JV_KIND_OBJECT, "a config that is not an object");
	for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++)
		if (jrn_config_require(cfg, progs[i], &e) < 0)
			no_secret(e.msg, progs[i]);
	jv out;
	if (jrn_config_unresolved(cfg, &out, &e) < 0)
		no_secret(e.msg, "jrn_config_unresolved");
	jv_free(out);
	jrn_buf p = {0};
	jrn_buf_adds(&p, "");
	walk(cfg, cfg, &p, 0);
	jrn_buf_free(&p);
	jv_free(cfg);
	fuzz_file_close(fd);
	return 0;
}
