/*
 * fuzz.h: what the libFuzzer harnesses in fuzz/ share (see fuzz/README.md).
 *
 * A harness is fuzz/TARGET.c defining LLVMFuzzerTestOneInput over lib/'s
 * public API (jrn.h and the domain headers), never over a file's statics,
 * so that it keeps working while lib/ changes inside. An oracle that fails
 * calls FUZZ_CHECK's abort(), which libFuzzer reports as a crash with the
 * input saved under build-fuzz/crashes/TARGET/.
 */
#ifndef JRN_FUZZ_H
#define JRN_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "jrn.h"

/* Fails the run (abort: libFuzzer keeps the input) when cond is false,
 * saying which oracle and why on stderr. */
#define FUZZ_CHECK(cond, ...)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz oracle failed: %s (%s:%d): ",    \
				#cond, __FILE__, __LINE__);                    \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* The value ${FUZZ_SECRET} expands to, and the part of it that must never
 * appear in a message (unless the input itself holds it). */
#define FUZZ_SECRET_VALUE "Zq7Xw3Vk-fuzz-secret-4242"
#define FUZZ_SECRET_MARK "Zq7Xw3Vk"

static inline void fuzz_secret_setenv(void)
{
	setenv("FUZZ_SECRET", FUZZ_SECRET_VALUE, 1);
}

/* Whether data[0..n) itself holds the secret's mark (then a message may
 * show it: the input wrote it, not ${FUZZ_SECRET}). */
static inline bool fuzz_has_mark(const uint8_t *data, size_t n)
{
	return memmem(data, n, FUZZ_SECRET_MARK, strlen(FUZZ_SECRET_MARK)) != NULL;
}

/* A file holding data[0..n): an anonymous memory file, read through its
 * /proc/self/fd path like any file named on a command line. Fills path
 * and returns the descriptor to close (fuzz_file_close), or -1. */
static inline int fuzz_file(const uint8_t *data, size_t n, char path[64])
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(fd, data + off, n - off);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	snprintf(path, 64, "/proc/self/fd/%d", fd);
	return fd;
}

static inline void fuzz_file_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* A NUL-terminated copy of data[0..n) (malloc'd; the caller frees). */
static inline char *fuzz_strndup(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

#endif
