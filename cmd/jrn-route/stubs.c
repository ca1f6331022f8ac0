/* stubs.c: TEMPORARY placeholders while the journey engine is built in
 * parallel (session 6); each function moves to its own file and this file
 * is deleted before issue 12 is called done. */
#include "jrn-route.h"

int engine_event(route_run *R, const jrn_line *ln)
{
	(void)R, (void)ln;
	return 0;
}

int mode_tick(route_run *R)
{
	(void)R;
	return jrn_say(JRN_EXIT_FAIL, "--tick: not built yet");
}

int mode_simulate(route_run *R, char **files, int n)
{
	(void)R, (void)files, (void)n;
	return jrn_say(JRN_EXIT_FAIL, "--simulate: not built yet");
}

int mode_explain(route_run *R)
{
	(void)R;
	return jrn_say(JRN_EXIT_FAIL, "--explain: not built yet");
}
