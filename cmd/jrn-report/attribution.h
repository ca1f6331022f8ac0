/*
 * attribution.h: the models of jrn-report attribution, as pure functions
 * (attribution-models.c; unit-tested in t/unit/jrn-report-attribution.c).
 * attribution.c reads the paths from the state file and calls these.
 *
 * A path is one conversion's touches in time order: each a group (an index
 * the caller gives to each (campaign, channel) touchpoint) and a time. The
 * rule-based models give each touch of a path a weight; the weights of a
 * path sum to 1, so that crediting weight x the conversion's revenue to the
 * touch's group shares out the revenue exactly:
 *
 *   first      1 to the first touch
 *   last       1 to the last touch
 *   linear     1/n to each
 *   time-decay 2^(-age/half-life), normalised; age = conversion time minus
 *              the touch's time (Google Analytics' time decay model: "a
 *              touchpoint 7 days before a conversion receives half the
 *              credit of a touchpoint 1 day before", half-life 7 days)
 *   position   40 % to the first, 40 % to the last, 20 % shared equally by
 *              the touches between (Google Analytics' position-based
 *              model, "40% credit to the first and last interaction, and
 *              the remaining 20% distributed evenly to the middle
 *              interactions"); one touch: 100 %; two touches: 50 % each
 *              (the docs leave two touches open; with no middle, jrn
 *              shares the middle's 20 % between the two ends, the one
 *              split that treats both ends alike and sums to 1)
 *
 * The Markov model (Anderl, Becker, von Wangenheim and Schumann 2016,
 * "Mapping the customer journey: Lessons learned from graph-based online
 * attribution modeling", IJRM 33(3)) is first order on the states start,
 * one per group, conversion and null: every path, converting or not, adds
 * its transitions start -> g1 -> ... -> gn -> conversion (or null). The
 * conversion probability P is the absorbing chain's probability of
 * reaching conversion from start; the removal effect of group r is
 * 1 - P_r / P, where P_r is the same probability when r leads to null.
 * Solved exactly: with N = (I - Q)^-1 the fundamental matrix over the
 * transient states (start and the groups) and x = N b the probabilities of
 * conversion (b: each state's one-step probability of conversion),
 * P = x[start], and P_r = x[start] - h_r x[r], where h_r = N[start][r] /
 * N[r][r] is the probability of ever reaching r from start (the paths that
 * reach r are the ones lost; the others are unchanged). One Gauss-Jordan
 * inversion, O(groups^3), for every removal effect.
 */
#ifndef JRN_REPORT_ATTRIBUTION_H
#define JRN_REPORT_ATTRIBUTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	ATTR_FIRST,
	ATTR_LAST,
	ATTR_LINEAR,
	ATTR_DECAY,
	ATTR_POSITION,
	ATTR_MARKOV,
	ATTR_NMODELS,
};

/* The models' names as --model takes them, by ATTR_* index. */
extern const char *const attr_model_names[ATTR_NMODELS];

/* The ATTR_* index of the model named name[0..len), or -1. */
int attr_model_find(const char *name, size_t len);

/* One touch of a path. */
typedef struct {
	int64_t ts;      /* ms */
	uint32_t group;  /* the caller's index of its (campaign, channel) */
} attr_touch;

/* The weights of rule-based model (ATTR_FIRST .. ATTR_POSITION) over the n
 * touches of path (n >= 1, in time order) of a conversion at conv_ts (>=
 * every touch's time), half_life_ms > 0 for ATTR_DECAY: w[i] for touch i,
 * summing to 1 (to rounding). w has room for n. */
void attr_weights(int model, const attr_touch *path, size_t n, int64_t conv_ts,
		  int64_t half_life_ms, double *w);

/* The Markov chain's transition counts, grown as groups appear. The states
 * are 0 start, 1 + g for group g; conversion and null are columns only. */
typedef struct {
	size_t ngroups;   /* groups seen (1 + the largest index added) */
	size_t cap;       /* groups with room */
	size_t max;       /* the most groups allowed (attr_markov_init) */
	double *count;    /* (1 + cap) rows x (3 + cap) columns: to start
			   * (unused), to each group, to conversion, to null */
} attr_markov;

/* Sets m empty, allowing up to max groups. */
void attr_markov_init(attr_markov *m, size_t max);
void attr_markov_free(attr_markov *m);

/* Adds one path's transitions: start -> path[0].group -> ... ->
 * path[n-1].group -> conversion (converted) or null; n >= 1. 0, or -1
 * when a group index is max or more (the caller says which limit) or
 * memory runs out (errno ENOMEM). */
int attr_markov_add(attr_markov *m, const attr_touch *path, size_t n, bool converted);

/* The states of attr_markov_edge besides the groups (0, 1, ...). */
enum { ATTR_START = -1, ATTR_CONV = -2, ATTR_NULL = -3 };

/* Adds one transition from (ATTR_START or a group) to (a group, ATTR_CONV
 * or ATTR_NULL), for paths added a touch at a time. 0, or -1 as
 * attr_markov_add (errno ERANGE: a group past max; ENOMEM). */
int attr_markov_edge(attr_markov *m, int64_t from, int64_t to);

/* Solves the chain: *p_conv = P, and effect[g] = the removal effect of
 * group g for g < m->ngroups (effect has room for ngroups). 0; -1 when
 * memory runs out or the system is singular (it is not, for paths that
 * all end in conversion or null). With no path, P = 0 and every effect
 * 0. */
int attr_markov_solve(const attr_markov *m, double *p_conv, double *effect);

#endif
