/* models.c: the table of model kinds. A new kind is one file with its
 * ai_model_ops and one row here. The openai kind (openai.c) is declared
 * weak, so that jrn-ai builds and runs (rules only) in a tree without it. */
#include <stdlib.h>
#include <string.h>

#include "jrn-ai.h"

extern const ai_model_ops openai_ops __attribute__((weak));

const char *const ai_source_names[4] = {"rules", "model", "cache", "fallback"};
const char *const ai_task_names[AI_TASKS] = {"state", "optimize"};

const char ai_kind_names[] = "rules, openai";

const ai_model_ops *ai_model_kind(const char *kind)
{
	const ai_model_ops *const kinds[] = {&rules_ops, &openai_ops};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (kinds[i] && !strcmp(kind, kinds[i]->kind))
			return kinds[i];
	return NULL;
}

/* The slots KS has filled, to free them at the end. */
static jv **slots;
static size_t nslots, capslots;

jv ai_key_intern(jv *slot, const char *lit)
{
	if (nslots == capslots) {
		size_t cap = capslots ? 2 * capslots : 64;
		jv **p = realloc(slots, cap * sizeof *p);
		if (!p)
			return jv_string(lit); /* not interned: still right */
		slots = p;
		capslots = cap;
	}
	*slot = jv_string(lit);
	slots[nslots++] = slot;
	return jv_copy(*slot);
}

void ai_keys_free(void)
{
	for (size_t i = 0; i < nslots; i++) {
		jv_free(*slots[i]);
		*slots[i] = jv_invalid();
	}
	free(slots);
	slots = NULL;
	nslots = capslots = 0;
}

jv ai_lit(const char *s)
{
	static struct {
		const char *p;
		jv v;
	} t[128];
	size_t i = (size_t)(((uintptr_t)s >> 3) * 2654435761u) % 128;
	for (size_t n = 0; n < 128; n++, i = (i + 1) % 128) {
		if (t[i].p == s)
			return jv_copy(t[i].v);
		if (!t[i].p) {
			t[i].p = s;
			return ai_key_intern(&t[i].v, s);
		}
	}
	return jv_string(s);
}
