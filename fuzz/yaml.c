/* fuzz/yaml.c: the one YAML reader (lib/yaml.h), with ${NAME} expansion.
 *
 * The first byte picks the flags (JRN_YAML_ENV, _LINES, _ENV_KEEP); the
 * rest is the document. ${FUZZ_SECRET} is set to a marker. Oracles: an
 * error has a message, which never shows the marker (unless the input
 * wrote it); a value prints as JSON (jrn_json_append) that parses back
 * jv_equal (libjq's parser: the value may be any kind); its position tree
 * has the value's shape (every mapping's keys, in document order, are the
 * object's keys; every place is 1-based or unknown); with _ENV_KEEP, *unset
 * is an array of {key, name, line, column}. */
#include "fuzz.h"
#include "yaml.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_secret_setenv();
	unsetenv("FUZZ_UNSET");
	return 0;
}

/* Checks v's position tree pos (both consumed). */
static void check_pos(jv v, jv pos, int depth)
{
	if (jv_get_kind(pos) == JV_KIND_NULL || depth > 64) {
		/* null: unknown, the items of an alias */
		if (jv_get_kind(pos) != JV_KIND_NULL) {
			jrn_yaml_at at = jrn_yaml_pos_at(pos);
			FUZZ_CHECK(at.line >= 1 && at.col >= 1, "a place %d:%d", at.line, at.col);
		}
		jv_free(v);
		jv_free(pos);
		return;
	}
	jrn_yaml_at at = jrn_yaml_pos_at(pos);
	FUZZ_CHECK(at.line >= 1 && at.col >= 1, "a place %d:%d", at.line, at.col);
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		jv keys = jrn_yaml_pos_keys(pos);
		if (!jv_is_valid(keys)) { /* an alias: no mapping positions */
			jv_free(keys);
			jv_free(v);
			jv_free(pos);
			return;
		}
		FUZZ_CHECK(jv_array_length(jv_copy(keys)) == jv_object_length(jv_copy(v)),
			   "position keys and object keys differ in number");
		jv_array_foreach(keys, i, k) {
			FUZZ_CHECK(jv_object_has(jv_copy(v), jv_copy(k)), "a position key not in the object");
			jrn_yaml_at ka = jrn_yaml_pos_key_at(pos, k);
			FUZZ_CHECK(ka.line >= 1 && ka.col >= 1, "key place %d:%d", ka.line, ka.col);
			jv vp = jrn_yaml_pos_value(pos, k);
			check_pos(jv_object_get(jv_copy(v), jv_copy(k)), vp, depth + 1);
			jv_free(k);
			(void)i;
		}
		jv_free(keys);
	} else if (jv_get_kind(v) == JV_KIND_ARRAY) {
		jv_array_foreach(v, i, item) {
			jv ip = jrn_yaml_pos_item(pos, i);
			check_pos(item, ip, depth + 1);
		}
		jv_free(v);
		jv_free(pos);
		return;
	}
	jv_free(v);
	jv_free(pos);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int flags = data[0] & (JRN_YAML_ENV | JRN_YAML_LINES | JRN_YAML_ENV_KEEP);
	jv unset = jv_invalid();
	jrn_yaml_opts o = {.flags = flags, .what = "the fuzz input", .unset = &unset};
	jv pos;
	jrn_err e;
	e.msg[0] = '\0';
	jv v = jrn_yaml_parse((const char *)data + 1, size - 1, "fuzz.yaml", &o, &pos, &e);
	if (!jv_is_valid(v)) {
		FUZZ_CHECK(e.msg[0] != '\0', "an error without a message");
		if (!fuzz_has_mark(data, size))
			FUZZ_CHECK(!strstr(e.msg, FUZZ_SECRET_MARK), "the secret in a message: %s", e.msg);
		jv_free(v);
		jv_free(pos);
		jv_free(unset);
		return 0;
	}
	jrn_buf b = {0};
	FUZZ_CHECK(jrn_json_append(&b, jv_copy(v), 0, &e) == 0, "append: %s", e.msg);
	jv w = jv_parse_sized(b.p, (int)b.len);
	FUZZ_CHECK(jv_is_valid(w) && jv_equal(jv_copy(v), w), "YAML value does not print as JSON: %s",
		   b.p);
	jrn_buf_free(&b);
	if ((flags & JRN_YAML_ENV_KEEP) && (flags & JRN_YAML_ENV)) {
		FUZZ_CHECK(jv_get_kind(unset) == JV_KIND_ARRAY, "*unset is not an array");
		jv_array_foreach(unset, i, u) {
			jv line = jv_object_get(jv_copy(u), jv_string("line"));
			FUZZ_CHECK(jv_get_kind(line) == JV_KIND_NUMBER && jv_number_value(line) >= 1,
				   "unset[%d] has no line", i);
			jv_free(line);
			jv_free(u);
		}
	}
	jv_free(unset);
	check_pos(v, pos, 0);
	return 0;
}
