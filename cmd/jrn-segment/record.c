/* record.c: a profile record's customerId (jrn-segment.h). */
#include "jrn-segment.h"

int seg_customer_of(jrn_rule_rec *rr, jv *cust, const char **got, jrn_err *why)
{
	*cust = jv_invalid();
	*got = NULL;
	/* from the span index when plain, else from the value */
	const jrn_json_member *cm = rr->ix ? jrn_json_find(rr->ix, -1, "customerId") : NULL;
	if (cm && cm->kind == '"' && !cm->escaped) {
		*cust = jv_string_sized(cm->val, (int)cm->vlen);
	} else if (cm && cm->kind != '"' && cm->kind != 'n') {
		*got = jrn_json_kind_phrase_at(cm->val, cm->vlen);
	} else if (!rr->ix || (cm && cm->kind == '"')) {
		jv v = jrn_rule_rec_value(rr, why);
		if (!jv_is_valid(v))
			return -1;
		*cust = jv_object_get(jv_copy(v), jv_string("customerId"));
		jv_kind k = jv_get_kind(*cust);
		if (k != JV_KIND_STRING && k != JV_KIND_NULL && k != JV_KIND_INVALID)
			*got = jrn_kind_phrase(k, false);
	}
	return 0;
}
