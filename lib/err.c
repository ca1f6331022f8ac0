/* err.c: error messages for callers. */
#include <stdarg.h>
#include <stdio.h>

#include "jrn.h"

int jrn_fail(jrn_err *e, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
	}
	return -1;
}
