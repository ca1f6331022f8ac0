/*
 * state.c: the state file's part of a profile (see jrn-merge.h), read by
 * lib/profile-read (one reader for every tool that reads a profile):
 * jrn-merge's profiles carry provenance and their scores under "scores".
 */
#include "jrn-merge.h"

merge_state *merge_state_open(sqlite3 *db, jrn_err *e)
{
	return (merge_state *)jrn_profile_reader_open(db, JRN_PROFILE_PROVENANCE | JRN_PROFILE_SUMMARY, e);
}

void merge_state_close(merge_state *S)
{
	jrn_profile_reader_close((jrn_profile_reader *)S);
}

int merge_state_profile(merge_state *S, const char *customer, jv row, jrn_buf *out, jrn_err *e)
{
	return jrn_profile_read((jrn_profile_reader *)S, customer, row, out, e);
}

int merge_state_all(merge_state *S, int (*each)(void *ctx, const char *customer, jrn_buf *members),
		    void *ctx, jrn_err *e)
{
	return jrn_profile_read_all((jrn_profile_reader *)S, each, ctx, e);
}
