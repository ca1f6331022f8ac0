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

int mode_check(route_run *R, char **names, int n)
{
	(void)R, (void)names, (void)n;
	return jrn_say(JRN_EXIT_FAIL, "--check: not built yet");
}

int mode_explain(route_run *R)
{
	(void)R;
	return jrn_say(JRN_EXIT_FAIL, "--explain: not built yet");
}
