/* models.c: the table of model kinds. A new kind is one file with its
 * ai_model_ops and one row here. The openai kind (openai.c) is declared
 * weak, so that jrn-ai builds and runs (rules only) in a tree without it. */
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
