/* phone-memo.c: jrn_phone_e164's answers remembered (jrn.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jrn.h"

/* PHONE_MEMO numbers, in sets of PHONE_WAYS by hash, the newest first, so
 * that two numbers of one set do not evict each other in turn (with one
 * way, 14% of 10,000 numbers did, and were parsed again each time). */
#define PHONE_MEMO 65536
#define PHONE_WAYS 4

typedef struct {
	unsigned char n; /* raw's length; 0: an empty slot */
	char raw[63];
	char e164[20];   /* "" for not a number */
} memo_slot;

struct jrn_phone_memo {
	char *region;
	memo_slot *slot; /* PHONE_MEMO of them, mapped at the first look-up */
	bool no_room;    /* that mapping failed: every number is parsed */
};

jrn_phone_memo *jrn_phone_memo_new(const char *region)
{
	jrn_phone_memo *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	if (region && !(m->region = strdup(region))) {
		free(m);
		return NULL;
	}
	return m;
}

void jrn_phone_memo_free(jrn_phone_memo *m)
{
	if (!m)
		return;
	jrn_huge_free(m->slot, PHONE_MEMO * sizeof *m->slot);
	free(m->region);
	free(m);
}

int jrn_phone_memo_e164(jrn_phone_memo *m, const char *s, size_t len, jrn_buf *out)
{
	if (!m->slot && !m->no_room && !(m->slot = jrn_huge_alloc(PHONE_MEMO * sizeof *m->slot)))
		m->no_room = true;
	if (len == 0 || len > sizeof m->slot->raw || !m->slot)
		return jrn_phone_e164(s, len, m->region, out, NULL);
	memo_slot *set = &m->slot[jrn_hash64(s, len) % (PHONE_MEMO / PHONE_WAYS) * PHONE_WAYS];
	int w = 0;
	while (w < PHONE_WAYS && (set[w].n != len || memcmp(set[w].raw, s, len)))
		w++;
	if (w == PHONE_WAYS) {
		size_t at = out->len;
		jrn_err why;
		int rc = jrn_phone_e164(s, len, m->region, out, &why);
		if (rc == 0 && out->len - at >= sizeof set->e164)
			return 0; /* longer than E.164 allows: not remembered */
		if (rc < 0 && !strcmp(why.msg, "out of memory"))
			return rc; /* not an answer about the number */
		memmove(set + 1, set, (PHONE_WAYS - 1) * sizeof *set); /* the oldest goes */
		set[0].n = (unsigned char)len;
		memcpy(set[0].raw, s, len);
		if (rc == 0)
			memcpy(set[0].e164, out->p + at, out->len - at);
		set[0].e164[rc == 0 ? out->len - at : 0] = '\0';
		return rc;
	}
	return set[w].e164[0] ? (jrn_buf_adds(out, set[w].e164) < 0 ? -1 : 0) : -1;
}
