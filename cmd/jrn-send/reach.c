/* reach.c: may jrn-send contact a recipient? jrn-send's use of lib/reach
 * (whose header holds the rules): the question for a job, and the
 * suppression a provider's refusal writes. */
#include <stdio.h>

#include "jrn-send.h"
#include "reach.h"

int reach_open(send_ctx *S, jrn_err *e)
{
	S->reach = jrn_reach_open(S->db, e);
	return S->reach ? 0 : -1;
}

void reach_close(send_ctx *S)
{
	jrn_reach_close(S->reach);
	S->reach = NULL;
}

const char *reach_blocked(send_ctx *S, const job *j, bool marketing, char why[128], bool *broken)
{
	*broken = false;
	if (!S->reach)
		return NULL;
	const char *ch = channel_names[j->channel];
	jrn_reach_text to = jrn_reach_str(j->to);
	jrn_reach_ask q = {
		.customer = jrn_reach_str(j->customer),
		.addresses = &to,
		.naddresses = j->to ? 1 : 0,
		.channel = ch,
		.purpose = marketing ? JRN_REACH_MARKETING : JRN_REACH_TRANSACTIONAL,
	};
	jrn_reach_verdict v;
	jrn_err e;
	switch (jrn_reach_may(S->reach, &q, &v, &e)) {
	case 1:
		return NULL;
	case 0:
		if (v.answer == JRN_REACH_SUPPRESSED)
			snprintf(why, 128, "suppressed: %s", v.reason);
		else
			snprintf(why, 128, "consent for %s revoked", ch);
		return why;
	default:
		snprintf(why, 128, "cannot read the %s: %.90s", v.failed ? v.failed : "state file", e.msg);
		*broken = true;
		return why;
	}
}

int reach_suppress(send_ctx *S, const char *address, const char *channel, const char *reason,
		   const char *source, int64_t now, jrn_err *e)
{
	return jrn_reach_suppress(S->reach, jrn_reach_str(address), channel, reason, now, source, e) < 0
		       ? -1
		       : 0;
}
