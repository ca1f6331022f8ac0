/*
 * clv-math.h: the pure maths of jrn-score clv (private to cmd/jrn-score/).
 *
 * Customer lifetime value from transaction histories, by two models fitted
 * by maximum likelihood:
 *
 *   BG/NBD (Fader, Hardie and Lee, "Counting Your Customers the Easy Way:
 *   An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 2005):
 *   while alive a customer buys at rate lambda ~ Gamma(r, alpha); after
 *   each purchase they drop out with probability p ~ Beta(a, b). A
 *   customer's summary is x (repeat purchases), t_x (time of the last) and
 *   T (time since the first), in time units (jrn-score: weeks by default).
 *
 *   Gamma-Gamma (Fader and Hardie, "The Gamma-Gamma Model of Monetary
 *   Value", 2013): order values ~ Gamma(p, nu), nu ~ Gamma(q, v) across
 *   customers; fitted on the customers with repeat purchases, by x and
 *   their mean repeat value m.
 *
 * Nothing here does I/O or keeps state: every function works on what it is
 * handed (t/unit/jrn-score-clv.c tests them directly). Likelihoods are in
 * log space; the fits run Nelder and Mead's simplex over the logs of the
 * parameters, so they stay positive.
 */
#ifndef JRN_SCORE_CLV_MATH_H
#define JRN_SCORE_CLV_MATH_H

#include <stdbool.h>
#include <stddef.h>

/* A function to minimise over R^n at x, with the caller's context. */
typedef double (*clv_objective)(const double *x, void *ctx);

/* Minimises f over R^n (n <= 4) by Nelder and Mead's simplex from x, with
 * first steps of `step` along each axis; restarts from the best point
 * (steps of 0.3) until a restart no longer improves it, at most 20 times.
 * Leaves the minimum in x and returns f there. */
double clv_nelder_mead(clv_objective f, void *ctx, double *x, int n, double step);

/* log 2F1(a, b; c; z), the Gauss hypergeometric function, for a, b, c > 0
 * and 0 <= z < 1: the power series, rescaled as it grows, to a relative
 * 1e-15 (at most 10^6 terms). */
double clv_log_hyp2f1(double a, double b, double c, double z);

/* One customer: the summary the models read, and what the forecast gives. */
typedef struct {
	int x;           /* repeat purchase days */
	double tx, T;    /* last and first purchase, in units before the end */
	double m;        /* mean value of the repeat purchase days; 0 none */
	double palive, expected, value; /* clv_predict's */
} clv_cust;

/* One group of customers with the same BG/NBD summary. */
typedef struct {
	int x;           /* repeat purchase days */
	int itx, iT;     /* indices into the distinct t_x and T values */
	double w;        /* how many customers */
} clv_group;

/* The BG/NBD likelihood's data: customers grouped by (x, t_x, T), and
 * scratch for clv_bg_nll. Made by clv_bg_prepare, freed by clv_bg_release. */
typedef struct {
	clv_group *g;
	size_t ng;
	double *tx, *T;  /* the distinct values, ascending */
	size_t ntx, nT;
	int maxx;
	double *ltx, *lT, *cx, *dx; /* scratch: per distinct t_x, T, x */
} clv_bg_data;

/* Groups cc[0..n) into d. 0, or -1 when out of memory (d empty). */
int clv_bg_prepare(clv_bg_data *d, const clv_cust *cc, size_t n);
void clv_bg_release(clv_bg_data *d);

/* Minus the BG/NBD log-likelihood of d (a clv_bg_data) at log-parameters
 * v = log(r, alpha, a, b) (Fader, Hardie and Lee 2005, eq. 6, in log
 * space); 1e300 outside |v[i]| <= 25 or where it is not finite. */
double clv_bg_nll(const double *v, void *d);

/* The Gamma-Gamma likelihood's data: x[i] >= 1 and m[i] > 0 of n
 * customers (borrowed), maxx the largest x; lg1, lg2 scratch of maxx + 1
 * each (the caller's). */
typedef struct {
	const int *x;
	const double *m;
	size_t n;
	int maxx;
	double *lg1, *lg2;
} clv_gg_data;

/* Minus the Gamma-Gamma log-likelihood of d (a clv_gg_data) at
 * lv = log(p, q, v) (Fader and Hardie 2013, eq. 1); 1e300 outside
 * |lv[i]| <= 25 or where it is not finite. */
double clv_gg_nll(const double *lv, void *d);

/* The fitted models. */
typedef struct {
	double r, alpha, a, b, bg_ll; /* BG/NBD and its log-likelihood */
	bool gg_ok;                   /* Gamma-Gamma fitted (some repeat buyers) */
	double p, q, v, gg_ll;        /* Gamma-Gamma (1, 1, 1 and 0 when not) */
	size_t nrep;                  /* the customers it was fitted on */
	double pop_mean;              /* mean order value: p v / (q - 1) when
				       * fitted with q > 1, else as handed */
} clv_model;

/* Whether the BG/NBD fit m of cc[0..n) (n > 0) is degenerate, as
 * jrn-score(1) defines it: the dropout process vanished, so P(alive) is
 * about 1 for every customer whatever their history. That is when no
 * customer has a repeat purchase (a and b are then not estimated at all),
 * or when the mean dropout probability after a repeat purchase, a / (a +
 * b), is below CLV_DROPOUT_MIN (a at its lower bound e^-25 or b at its
 * upper bound e^25, where clv_bg_nll stops, give that too). */
#define CLV_DROPOUT_MIN 1e-3
bool clv_bg_degenerate(const clv_model *m, const clv_cust *cc, size_t n);

/* Fits BG/NBD to cc[0..n) from r = 1, alpha = mean T, a = b = 1: the
 * parameters and log-likelihood into m (r = alpha = a = b = 1 and 0 for no
 * customers). 0, or -1 when out of memory. */
int clv_fit_bgnbd(const clv_cust *cc, size_t n, clv_model *m);

/* Fits Gamma-Gamma to the customers of cc[0..n) with x > 0 and m > 0
 * (maxx: the largest x), from p = 1, q = 2, v = their mean m; sets gg_ok,
 * p, q, v, gg_ll, nrep and, when q > 1, pop_mean = p v / (q - 1) (m's
 * pop_mean is kept otherwise). 0, or -1 when out of memory. */
int clv_fit_gg(const clv_cust *cc, size_t n, int maxx, clv_model *m);

/* The forecast of each of cc[0..n) over a horizon of hz units, under m:
 * palive = P(alive | x, t_x, T) = 1 / (1 + [x > 0] a / (b + x - 1)
 * ((alpha + T) / (alpha + t_x))^(r + x)) (Fader, Hardie and Lee,
 * "Computing P(alive) Using the BG/NBD Model", 2008); expected =
 * E[Y(hz) | x, t_x, T] (FHL 2005 eq. 10, with 2F1; a within 1e-4 of 1, a
 * removable singularity, is moved to 1 -+ 1e-4; 0 when not finite);
 * value = expected times the conditional mean order value: Gamma-Gamma's
 * p (v + x m) / (p x + q - 1) when fitted (and p x + q > 1), else m for a
 * repeat buyer, else pop_mean. */
void clv_predict(const clv_model *m, clv_cust *cc, size_t n, double hz);

#endif
