/* fuzz/eval.c: the rule evaluator over records of the input's own (see
 * fuzz/rules.c: the input is a segment file, a line "%%", NDJSON). */
#define FUZZ_EVAL 1
#include "rules.c"
