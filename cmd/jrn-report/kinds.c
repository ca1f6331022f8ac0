/* kinds.c: the table of report kinds (jrn-report.h says what a row holds).
 * A new kind is a file with its run and a row here. */
#include "jrn-report.h"

const report_kind report_kinds[] = {
	{"metrics", R_OPT_SAVE | R_OPT_DRY_RUN | R_OPT_LOOKBACK, report_metrics,
	 {CHART_BAR, NULL, NULL, {"sent", "opened", "clicked", "converted", NULL}, "Messages"},
	 "sent, delivered, opened, clicked, converted, revenue, cost, ROI, rates",
	 report_metrics_check, NULL},
	{"funnel", R_OPT_STEPS | R_OPT_WITHIN, report_funnel,
	 {CHART_BAR, "step", NULL, {"customers", NULL}, "Funnel"},
	 "customers reaching each step in order, drop-off, median time between",
	 report_funnel_check, "report.funnel.steps"},
	{"attribution", R_OPT_MODEL | R_OPT_LOOKBACK | R_OPT_HALF_LIFE, report_attribution,
	 {CHART_BAR, NULL, NULL, {"revenue", NULL}, "Revenue credited"},
	 "conversions and revenue credited to touches by six models",
	 report_attribution_check, NULL},
	{"cohorts", R_OPT_PERIOD, report_cohorts,
	 {CHART_HEATMAP, "period", "cohort", {"retention", NULL}, "Retention by cohort"},
	 "by first-order period: the share still ordering and their revenue",
	 report_cohorts_check, NULL},
	{"experiment", R_OPT_JOURNEY | R_OPT_LEVEL, report_experiment,
	 {CHART_BAR, "arm", NULL, {"rate", NULL}, "Conversion rate by arm"},
	 "A/B arms and holdouts: rate, lift, interval, p-value, sample ratio",
	 report_experiment_check, NULL},
	{"journeys", R_OPT_JOURNEY, report_journeys,
	 {CHART_BAR, "journey", NULL, {"entered", "completed", "converted", "exited", NULL},
	  "Journeys"},
	 "per journey, version and step: entered, completed, converted, exited", NULL, NULL},
	{"rfm", R_OPT_FROM | R_OPT_TO, report_rfm,
	 {CHART_HEATMAP, "to", "from", {"customers", NULL}, "RFM segment movement"},
	 "segment movement between two RFM snapshots, and the distribution", NULL, NULL},
	{"kpis", 0, report_kpis,
	 {CHART_BAR, "kpi", NULL, {"value", "target", NULL}, "KPIs against targets"},
	 "seeds/004's KPIs (cart recovery, win-back, open, click, uplift, ROI)",
	 report_kpis_check, NULL},
};

const size_t report_nkinds = sizeof report_kinds / sizeof report_kinds[0];
