/* spool.c: the spool provider: every message written into a directory,
 * one file each, named by its key (KEYHASH.eml for email, KEYHASH.json for
 * the other channels); nothing is delivered: a success is 'simulated'. The
 * fallback of every channel without providers, and all of them under
 * --spool. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jrn-send.h"

int mkdirs(const char *path)
{
	char *p = strdup(path);
	if (!p)
		return -1;
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, 0777) < 0 && errno != EEXIST) {
				free(p);
				return -1;
			}
			*s = '/';
		}
	int rc = mkdir(p, 0777) < 0 && errno != EEXIST ? -1 : 0;
	free(p);
	return rc;
}

int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		p += k, n -= (size_t)k;
	}
	return 0;
}

/* Writes a file whole under its name in p's directory: a temporary name
 * first, then rename, so a reader of the directory never sees half a
 * message. The directory is opened once (created if missing) and named by
 * its descriptor after that: no path walk per message. */
static int write_file_atomic(provider *p, const char *name, const char *data, size_t n,
			     jrn_buf *err)
{
	static long pid;
	char tmp[256];
	if (!pid)
		pid = (long)getpid();
	if (p->dirfd < 0) {
		if (mkdirs(p->dir) < 0 ||
		    (p->dirfd = open(p->dir, O_DIRECTORY | O_PATH | O_CLOEXEC)) < 0) {
			jrn_buf_addf(err, "%s: %s", p->dir, strerror(errno));
			return -1;
		}
	}
	snprintf(tmp, sizeof tmp, ".%s.%ld.tmp", name, pid);
	int fd = openat(p->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0 || write_all(fd, data, n) < 0 || close(fd) < 0 ||
	    renameat(p->dirfd, tmp, p->dirfd, name) < 0) {
		jrn_buf_addf(err, "%s/%s: %s", p->dir, fd < 0 ? tmp : name, strerror(errno));
		if (fd >= 0)
			unlinkat(p->dirfd, tmp, 0);
		return -1;
	}
	return 0;
}

/* Writes j into the spool p. 0 or -1 (err). */
static int spool_send(send_ctx *S, job *j, provider *p, jrn_buf *err)
{
	(void)S;
	jrn_buf b = {0}, name = {0};
	int rc = -1;
	if (j->channel == CH_EMAIL) {
		jrn_buf_addf(&name, "%.32s.eml", j->keyhash);
		rc = write_file_atomic(p, name.p, j->payload.p, j->payload.len, err);
		goto done;
	}
	jrn_buf_addf(&name, "%.32s.json", j->keyhash);
	jrn_buf_adds(&b, "{\"channel\":\"");
	jrn_buf_adds(&b, channel_names[j->channel]);
	jrn_buf_adds(&b, "\",\"provider\":");
	jrn_json_append_str(&b, p->name, strlen(p->name));
	jrn_buf_adds(&b, ",\"key\":");
	jrn_json_append_str(&b, j->key, strlen(j->key));
	if (j->to) {
		jrn_buf_adds(&b, ",\"to\":");
		jrn_json_append_str(&b, j->to, strlen(j->to));
	}
	if (j->channel == CH_SMS || j->channel == CH_WHATSAPP) {
		jrn_buf_adds(&b, ",\"body\":");
		jrn_json_append_str(&b, j->payload.p, j->payload.len);
		jrn_buf_addf(&b, ",\"segments\":%d", j->segments);
	} else if (j->channel == CH_WEBHOOK) {
		jrn_buf_adds(&b, ",\"body\":");
		jrn_buf_add(&b, j->payload.p, j->payload.len);
	} else if (j->channel == CH_RETARGETING) {
		jrn_buf_adds(&b, ",\"member\":");
		audience_member(j, &b, true);
	}
	jrn_buf_adds(&b, "}\n");
	if (!b.p || !name.p)
		jrn_buf_adds(err, "out of memory");
	else
		rc = write_file_atomic(p, name.p, b.p, b.len, err);
done:
	if (rc == 0 && !j->message_id)
		j->message_id = strndup(j->keyhash, 32);
	jrn_buf_free(&b);
	jrn_buf_free(&name);
	return rc;
}

/* type: spool; dir defaults to the run's spool directory. */
static int spool_load(send_ctx *S, provider *p, jv pc, const char *where, jrn_err *e)
{
	(void)pc, (void)where;
	if (!p->dir && !(p->dir = strdup(S->cf.spool_dir)))
		return jrn_fail(e, "out of memory");
	p->local = true;
	return 0;
}

const provider_ops spool_ops = {
	.type = "spool",
	.load = spool_load,
	.send_local = spool_send,
	.simulates = true,
};
