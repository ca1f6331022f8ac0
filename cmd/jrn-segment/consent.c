/*
 * consent.c: the consent of a streamed profile (jrn-segment.h). A record
 * from jrn-score or any other producer carries no "consent"; a rule such
 * as {not: {field: consent.email, op: equals, value: revoked}} would read
 * that absence as "not revoked". So a profile without the member is
 * evaluated with the consent the state file holds for its customer, read
 * as --all reads it (lib/profile-read.h); the record written out is the
 * record read, byte for byte, with its segments.
 */
#include <stdlib.h>
#include <string.h>

#include "jrn-segment.h"
#include "profile-read.h"

static jrn_profile_reader *reader;
static jrn_buf text;
static jrn_json_index ix;

bool seg_reads_consent(const jrn_rules *r, int only)
{
	jrn_buf f = {0};
	bool reads = false;
	for (int i = 0; i < jrn_rule_count(r); i++) {
		jrn_buf_reset(&f);
		int n = only < 0 || i == only ? jrn_rule_fields(r, i, &f) : 0;
		for (const char *p = f.p; n > 0; n--, p += strlen(p) + 1)
			reads |= !strcmp(p, "consent");
	}
	jrn_buf_free(&f);
	return reads;
}

int seg_consent_open(sqlite3 *db, jrn_err *e)
{
	return (reader = jrn_profile_reader_open(db, 0, e)) ? 0 : -1;
}

void seg_consent_close(void)
{
	jrn_profile_reader_close(reader);
	reader = NULL;
}

void seg_consent_free(void)
{
	jrn_buf_free(&text);
	jrn_json_index_free(&ix);
}

/* Whether rr has a top-level member "consent": 1, 0, or -1 (why). */
static int has_consent(jrn_rule_rec *rr, jrn_err *why)
{
	if (rr->ix)
		return jrn_json_find(rr->ix, -1, "consent") != NULL;
	jv v = jrn_rule_rec_value(rr, why);
	if (jv_get_kind(v) != JV_KIND_OBJECT)
		return -1;
	return jv_object_has(jv_copy(v), jv_string("consent"));
}

int seg_consent_complete(jrn_rule_rec *rr, const char *cid, size_t clen, const char *no_state,
			 jrn_rule_rec *full, jrn_err *why)
{
	full->p = NULL;
	int has = has_consent(rr, why);
	if (has != 0)
		return has < 0 ? 1 : 0;
	if (!cid)
		return jrn_fail(why, "consent: not in the record, and no customerId to read it "
				"from the state file (a segment's rule reads consent)"), 1;
	if (no_state)
		return jrn_fail(why, "consent: not in the record, and %s (a segment's rule reads "
				"consent)", no_state), 1;
	/* the text up to its closing brace, then "consent", then the brace */
	size_t close = rr->len;
	while (close > 0 && rr->p[close - 1] != '}')
		close--;
	if (close-- == 0)
		return jrn_fail(why, "not an object"), 1;
	size_t k = close;
	while (k > 0 && strchr(" \t\r\n", rr->p[k - 1]))
		k--;
	jrn_buf_reset(&text);
	jrn_buf_add(&text, rr->p, close);
	jrn_buf_adds(&text, k > 0 && rr->p[k - 1] == '{' ? "\"consent\":" : ",\"consent\":");
	if (jrn_profile_consent(reader, cid, clen, &text, why) < 0)
		return -1;
	if (jrn_buf_addc(&text, '}') < 0)
		return jrn_fail(why, "out of memory");
	if (jrn_json_index_build(&ix, text.p, text.len, JRN_RULE_INDEX_DEPTH, why) < 0)
		return 1;
	*full = (jrn_rule_rec){text.p, text.len, rr->ix ? &ix : NULL, jv_invalid(), rr->parser};
	return 0;
}
