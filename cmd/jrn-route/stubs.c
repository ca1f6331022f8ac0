/* stubs.c: TEMPORARY placeholders while the journey engine is built in
 * parallel (session 6); each function moves to its own file and this file
 * is deleted before issue 12 is called done. */
#include "jrn-route.h"

int mode_simulate(route_run *R, char **files, int n)
{
	(void)R, (void)files, (void)n;
	return jrn_say(JRN_EXIT_FAIL, "--simulate: not built yet");
}
