/* jrn-ai-eval.c: the statistics of jrn-ai eval (cmd/jrn-ai/eval.h) against
 * values worked out by hand in the comments (no scipy on the machine). */
#include <math.h>

#include "unit.h"
#include "eval.h"

static int near(double got, double want)
{
	return fabs(got - want) < 1e-9;
}

static void midranks(void)
{
	/* 1 is rank 1, 2 rank 2, the two 3s share ranks 3 and 4: 3.5 each */
	const double x[] = {3, 1, 3, 2};
	double r[4];
	CHECK(ai_eval_midranks(x, 4, r) == 0 && r[0] == 3.5 && r[1] == 1 && r[2] == 3.5 && r[3] == 2,
	      "midranks: ties share the mean of their ranks");
	CHECK(ai_eval_midranks(x, 0, r) == 0, "midranks of nothing");
}

static void auc(void)
{
	const bool pos[] = {false, false, true, true};
	/* the positives 0.35 and 0.8 against the negatives 0.1 and 0.4: of the
	 * four pairs 0.35 > 0.1, 0.35 < 0.4, 0.8 > 0.1, 0.8 > 0.4: U = 3, 3/4 */
	const double s1[] = {0.1, 0.4, 0.35, 0.8};
	CHECK(near(ai_eval_auc(s1, pos, 4), 0.75), "AUC of the textbook example: 0.75");
	const double perfect[] = {0.1, 0.2, 0.7, 0.9};
	CHECK(near(ai_eval_auc(perfect, pos, 4), 1), "AUC 1 when every positive ranks above");
	const double reverse[] = {0.9, 0.7, 0.2, 0.1};
	CHECK(near(ai_eval_auc(reverse, pos, 4), 0), "AUC 0 when every positive ranks below");
	const double ties[] = {0.5, 0.5, 0.5, 0.5};
	CHECK(near(ai_eval_auc(ties, pos, 4), 0.5), "AUC 0.5 when all tie (ties count half)");
	/* 0.5 > 0.2 (1), 0.5 = 0.5 (1/2), 0.9 above both (2): 3.5 / 4 */
	const double tie1[] = {0.2, 0.5, 0.5, 0.9};
	CHECK(near(ai_eval_auc(tie1, pos, 4), 0.875), "AUC with one tied pair: 0.875");
	const bool none[] = {false, false, false, false}, all[] = {true, true, true, true};
	CHECK(isnan(ai_eval_auc(s1, none, 4)), "AUC undefined without positives");
	CHECK(isnan(ai_eval_auc(s1, all, 4)), "AUC undefined without negatives");
	CHECK(isnan(ai_eval_auc(s1, pos, 0)), "AUC undefined for no customers");
}

static void brier(void)
{
	const bool y[] = {false, false, true, true};
	/* (0.1^2 + 0.4^2 + 0.65^2 + 0.2^2) / 4 = (0.01 + 0.16 + 0.4225 + 0.04) / 4 */
	const double p[] = {0.1, 0.4, 0.35, 0.8};
	CHECK(near(ai_eval_brier(p, y, 4), 0.158125), "Brier 0.158125");
	const double sure[] = {0, 0, 1, 1};
	CHECK(near(ai_eval_brier(sure, y, 4), 0), "Brier 0 for certain and right");
	const double wrong[] = {1, 1, 0, 0};
	CHECK(near(ai_eval_brier(wrong, y, 4), 1), "Brier 1 for certain and wrong");
	CHECK(isnan(ai_eval_brier(p, y, 0)), "Brier undefined for no customers");
}

static void errors(void)
{
	/* differences -1, 0, -2: MAE 3/3 = 1, RMSE sqrt(5/3) */
	const double pred[] = {1, 2, 3}, act[] = {2, 2, 5};
	double mae, rmse;
	ai_eval_errors(pred, act, 3, &mae, &rmse);
	CHECK(near(mae, 1) && near(rmse, sqrt(5.0 / 3)), "MAE 1, RMSE 1.2909944");
	ai_eval_errors(pred, act, 0, &mae, &rmse);
	CHECK(isnan(mae) && isnan(rmse), "MAE and RMSE undefined for no customers");
}

static void spearman(void)
{
	/* ranks of y (5, 6, 7, 8, 7): 1, 2, 3.5, 5, 3.5; deviations from 3:
	 * x -2 -1 0 1 2, y -2 -1 .5 2 .5; sxy = 4+1+0+2+1 = 8, sxx = 10,
	 * syy = 4+1+.25+4+.25 = 9.5: 8 / sqrt(95) */
	const double x[] = {1, 2, 3, 4, 5}, y[] = {5, 6, 7, 8, 7};
	CHECK(near(ai_eval_spearman(x, y, 5), 8 / sqrt(95)), "Spearman with a tie: 0.8207827");
	const double up[] = {10, 20, 30, 40, 1000};
	CHECK(near(ai_eval_spearman(x, up, 5), 1), "Spearman 1 for any increasing relation");
	const double down[] = {9, 7, 5, 3, 1};
	CHECK(near(ai_eval_spearman(x, down, 5), -1), "Spearman -1 for a decreasing one");
	const double flat[] = {2, 2, 2, 2, 2};
	CHECK(isnan(ai_eval_spearman(x, flat, 5)), "Spearman undefined when one side is constant");
	CHECK(isnan(ai_eval_spearman(x, y, 1)), "Spearman undefined for one customer");
}

static void kappa(void)
{
	/* equal at 0, 2, 3, 4: po = 4/6; a's counts 2 2 2, b's 2 3 1:
	 * pe = (4 + 6 + 2) / 36 = 1/3; kappa = (2/3 - 1/3) / (2/3) = 0.5 */
	const int a[] = {0, 0, 1, 1, 2, 2}, b[] = {0, 1, 1, 1, 2, 0};
	double agree;
	CHECK(near(ai_eval_kappa(a, b, 6, 5, &agree), 0.5) && near(agree, 4.0 / 6),
	      "kappa 0.5, agreement 2/3");
	CHECK(near(ai_eval_kappa(a, a, 6, 5, &agree), 1) && near(agree, 1), "kappa 1 against itself");
	const int c[] = {3, 3, 3}, d[] = {3, 3, 3};
	CHECK(isnan(ai_eval_kappa(c, d, 3, 5, &agree)) && near(agree, 1),
	      "kappa undefined when both give one same category (pe = 1), agreement 1");
	/* -1 is no stage: a disagreement; po = 1/2, pe = 1/2 * 2/2: kappa 0 */
	const int e[] = {0, -1}, f[] = {0, 0};
	CHECK(near(ai_eval_kappa(e, f, 2, 5, &agree), 0) && near(agree, 0.5),
	      "a category outside 0..k-1 disagrees");
	CHECK(isnan(ai_eval_kappa(a, b, 0, 5, &agree)) && isnan(agree), "kappa undefined for none");
}

int main(void)
{
	midranks();
	auc();
	brier();
	errors();
	spearman();
	kappa();
	return unit_done();
}
