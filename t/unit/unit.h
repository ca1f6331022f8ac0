/* unit.h: a minimal TAP producer for the C unit tests of lib/.
 * Each check prints "ok N - what" or "not ok N - what"; unit_done() prints
 * the plan and returns the exit status. */
#ifndef UNIT_H
#define UNIT_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_n, unit_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		int unit_ok_ = (cond) ? 1 : 0;                             \
		++unit_n;                                                  \
		if (unit_ok_) {                                            \
			printf("ok %d - ", unit_n);                        \
		} else {                                                   \
			++unit_failed;                                     \
			printf("not ok %d - ", unit_n);                    \
		}                                                          \
		printf(__VA_ARGS__);                                       \
		printf("\n");                                              \
		if (!unit_ok_)                                             \
			printf("#   at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	} while (0)

#define CHECK_STR(got, want, ...)                                          \
	do {                                                               \
		const char *g_ = (got), *w_ = (want);                      \
		int same_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_;   \
		CHECK(same_, __VA_ARGS__);                                 \
		if (!same_)                                                \
			printf("#   got  '%s'\n#   want '%s'\n",              \
			       g_ ? g_ : "(null)", w_ ? w_ : "(null)");    \
	} while (0)

/* Removes the directory tree dir (a test's scratch: rm -rf). 0, or -1
 * after printing "# could not remove DIR". */
static inline int unit_rmtree(const char *dir)
{
	char cmd[4200];
	if (snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir) < (int)sizeof cmd && system(cmd) == 0)
		return 0;
	printf("# could not remove %s\n", dir);
	return -1;
}

static inline int unit_done(void)
{
	printf("1..%d\n", unit_n);
	return unit_failed ? 1 : 0;
}
#endif
