/*
 * eval.h: jrn-ai eval, the offline evaluation (eval.c; jrn-ai(1), EVAL).
 *
 * A past period replayed from the state file: the state each model would
 * have built at the cut-off (--since), through the same loop as
 * `jrn-ai state` (core.c), scored against what the customers did in the
 * outcome window [since, until), beside jrn-score clv's BG/NBD fitted at
 * the cut-off. The statistics below are pure (t/unit/jrn-ai-eval.c).
 */
#ifndef JRN_AI_EVAL_H
#define JRN_AI_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#define AI_EVAL_MAX_MODELS 8 /* --model given more often than this: usage */

/* eval's flags, as main.c's option loop takes them (borrowed argv
 * strings). models[0..nmodels) in the order given; too_many set when
 * --model came more than AI_EVAL_MAX_MODELS times. */
typedef struct {
	const char *since, *until, *horizon, *format;
	const char *models[AI_EVAL_MAX_MODELS];
	int nmodels;
	bool too_many;
} ai_eval_flags;
extern ai_eval_flags ai_eval_opts;

struct ai_run;
/* The eval subcommand: run's options resolved, nothing opened yet. An
 * exit status (said): 0, 1 (no customers, nothing in the window, the
 * state file or jrn-score unusable), 2 (a bad flag), 3 (records
 * rejected). */
int ai_eval(struct ai_run *run);

/* ---- the statistics (pure; NAN where a value is undefined) ------------- */

/* The midranks (1-based; tied values share the mean of their ranks) of
 * x[0..n) into rank[0..n) (the caller's). 0, or -1 when out of memory. */
int ai_eval_midranks(const double *x, size_t n, double *rank);

/* The area under the ROC curve of score against pos: the Mann-Whitney U
 * of the positives' scores over the negatives', ties counted half,
 * divided by npos * nneg (Hanley and McNeil, "The Meaning and Use of the
 * Area under a ROC Curve", Radiology 143, 1982). NAN when there are no
 * positives or no negatives (or out of memory). */
double ai_eval_auc(const double *score, const bool *pos, size_t n);

/* The Brier score: the mean of (p[i] - y[i])^2 (Brier, Monthly Weather
 * Review 78, 1950). NAN for n = 0. */
double ai_eval_brier(const double *p, const bool *y, size_t n);

/* The mean absolute error and the root mean square error of pred against
 * actual, into *mae and *rmse (NAN for n = 0). */
void ai_eval_errors(const double *pred, const double *actual, size_t n, double *mae, double *rmse);

/* Spearman's rank correlation: Pearson's correlation of the midranks.
 * NAN when n < 2, when either side is constant, or out of memory. */
double ai_eval_spearman(const double *x, const double *y, size_t n);

/* Cohen's kappa of two raters' categories a[i], b[i] in 0..k-1 (k <= 16;
 * a value outside it counts as a disagreement): (po - pe) / (1 - pe),
 * po the share equal, pe the sum over categories of the product of the
 * raters' shares (Cohen, Educational and Psychological Measurement 20,
 * 1960). po into *agree (NAN for n = 0). NAN when pe = 1 (both raters
 * gave one same category throughout: kappa is undefined) or n = 0. */
double ai_eval_kappa(const int *a, const int *b, size_t n, int k, double *agree);

#endif
