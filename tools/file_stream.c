/*
 * tools/file_stream.c — workspace files written from a stream and read into
 * one (see file_stream.h). A sink fills a chunk of TOOL_SINK_CHUNK bytes on
 * the loop; full chunks wait in order and go to the pool one at a time
 * (pwrite at their offset), so the loop never touches the disk and a slow
 * disk holds the writer back through tool_sink_write's false.
 */
#include "file_stream.h"
#include "tool.h"
#include "../sessions/quota.h"
#include "../sessions/workspace.h"
#include "../server/base/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../server/base/banned.h"

#define TMP_PREFIX ".upload-"
#define TMP_SUFFIX ".part"
#define SPARE_MAX (TOOL_SINK_AHEAD / TOOL_SINK_CHUNK + 2)

struct chunk {
	TAILQ_ENTRY(chunk) link;
	size_t len;
	char data[];
};
TAILQ_HEAD(chunks, chunk);

struct tool_sink {
	char *principal;
	char sid[64];
	int rootfd;			/* the workspace (a dup of the session's: it may go meanwhile) */
	int fd;				/* the file being written: unnamed (O_TMPFILE) or named tmp */
	char tmp[64];			/* its name at the workspace's top, or "" while it has none */
	struct chunks full;		/* chunks waiting for the disk, oldest first */
	struct chunks spare;		/* written chunks kept for reuse (no 1 MiB malloc and free per chunk) */
	unsigned nspare;
	struct chunk *cur;		/* the chunk being filled, or NULL */
	size_t queued;			/* bytes taken and not yet written */
	uint64_t taken, written;
	bool wants_ready;		/* write said false: call ready when the queue drains */
	void (*ready)(void *arg);
	void *ready_arg;
	struct err *failure;
	/* the pool job (one at a time) */
	uv_work_t req;
	bool busy;
	struct chunk *job;
	uint64_t job_off;
	int job_errno;
	/* the end */
	bool aborted;			/* free once the job in flight is back */
	char *commit_path;		/* commit asked: rename once everything is written */
	tool_sink_done_fn done;
	void *done_arg;
};

static struct sess_registry *registry(void)
{
	return tool_registry_env()->sessions;
}

/* The session principal names sid, with the rights of tool: its workspace fd (a dup), or -1. */
static int session_root(const char *principal, const struct tool_conn *conn, const char *tool, const char *sid,
			struct err **errp)
{
	if (tool_rights_check(principal, conn, tool, sid, errp) < 0)
		return -1;
	struct sess_session *s = sess_find(registry(), sid, principal);
	if (!s)
		return err_setc(errp, ERR_NOT_FOUND, 0, "session \"%s\" not found", sid);
	if (s->wsfd < 0)
		return err_setc(errp, ERR_CONFLICT, 0, "session \"%s\" is not running: start it first", sid);
	int fd = fcntl(s->wsfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return err_set(errp, errno, "session \"%s\": its workspace", sid);
	return fd;
}

/* May session sid take bytes more (its disk limit, its key's disk quota: the rule file_write meets)? */
static int disk_ok(const char *principal, const char *sid, uint64_t bytes, struct err **errp)
{
	struct sess_session *s = sess_find(registry(), sid, NULL);
	if (!s)
		return err_setc(errp, ERR_NOT_FOUND, 0, "session \"%s\" not found (it ended during the upload)", sid);
	return sess_quota_disk_check(registry(), s, principal, bytes, errp);
}

/* Does path (a client path) lead out of the workspace, through ".." or a symlink, as far as it exists now? */
static int path_confined(int root, const char *path, struct err **errp)
{
	auto_free char *rel = NULL;
	auto_err struct err *e = NULL;
	if (sess_ws_relpath(path, &rel, errp) < 0)
		return -1;
	/* resolved in order: a component that escapes answers EXDEV before a missing one answers ENOENT */
	int fd = sess_ws_open(root, rel, O_PATH, 0, path, &e);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (e->cls == ERR_NOT_FOUND)
		return 0; /* the rest is made at commit */
	if (errp)
		*errp = steal_ptr(e);
	return -1;
}

/* The upload's file as a named ".upload-*.part" at the workspace's top (a filesystem without O_TMPFILE). */
static int open_named(int root, char name[static 64], struct err **errp)
{
	for (int tries = 0;; tries++) {
		uint64_t r;
		srv_random_bytes(&r, sizeof(r));
		snprintf(name, 64, TMP_PREFIX "%016llx" TMP_SUFFIX, (unsigned long long)r);
		/* beneath the workspace like every file tool's path; never an existing entry, never a link */
		struct err *e = NULL;
		int fd = sess_ws_open(root, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0644, name,
				      &e);
		if (fd >= 0)
			return fd;
		if (!e || e->cls != ERR_CONFLICT || tries == 8) { /* EEXIST: try another name */
			if (errp)
				*errp = e;
			else
				err_free(e);
			return -1;
		}
		err_free(e);
	}
}

struct tool_sink *tool_sink_open(const char *principal, const struct tool_conn *conn, const char *sid,
				 const char *path, struct err **errp)
{
	const struct sess_host_info *host = sess_registry_host(registry());
	auto_close int root = -1, fd = -1;
	auto_err struct err *e = NULL;
	char name[64] = "";

	if ((root = session_root(principal, conn, "file_write", sid, errp)) < 0 || disk_ok(principal, sid, 0, errp) < 0 ||
	    (path && path_confined(root, path, errp) < 0))
		return NULL;
	/* unnamed until commit links it in: a server that dies meanwhile leaves nothing in the workspace */
	fd = sess_ws_tmpfile(root, O_WRONLY | O_NOCTTY, 0644, &e);
	if (fd < 0 && e->errnum == EOPNOTSUPP)
		fd = open_named(root, name, errp);
	else if (fd < 0 && errp)
		*errp = steal_ptr(e);
	if (fd < 0)
		return NULL;
	if (host->root && fchown(fd, host->sandbox_uid, host->sandbox_gid) < 0) {
		if (name[0])
			unlinkat(root, name, 0);
		err_set(errp, errno, "cannot give the upload's file to the sandbox's user");
		return NULL;
	}
	struct tool_sink *s = xcalloc(1, sizeof(*s));
	s->principal = xstrdup(principal);
	snprintf(s->sid, sizeof(s->sid), "%s", sid);
	snprintf(s->tmp, sizeof(s->tmp), "%s", name);
	s->rootfd = steal_fd(root);
	s->fd = steal_fd(fd);
	TAILQ_INIT(&s->full);
	TAILQ_INIT(&s->spare);
	return s;
}

static void sink_free(struct tool_sink *s)
{
	struct chunk *c;
	while ((c = TAILQ_FIRST(&s->full))) {
		TAILQ_REMOVE(&s->full, c, link);
		free(c);
	}
	while ((c = TAILQ_FIRST(&s->spare))) {
		TAILQ_REMOVE(&s->spare, c, link);
		free(c);
	}
	free(s->cur);
	if (s->fd >= 0) {
		close(s->fd);
		if (s->tmp[0])
			unlinkat(s->rootfd, s->tmp, 0); /* not renamed: nothing is left of it */
		/* nor of what it counted against the limits */
		struct sess_session *ss = sess_find(registry(), s->sid, NULL);
		if (ss && !s->tmp[0]) {
			sess_quota_disk_reveal(ss, s->written, true);
		} else if (ss) {
			ss->disk_bytes -= ss->disk_bytes < s->written ? ss->disk_bytes : s->written;
			ss->disk_dirty = true;
		}
	}
	close(s->rootfd);
	err_free(s->failure);
	free(s->commit_path);
	free(s->principal);
	free(s);
}

static void kick(struct tool_sink *s);

static void tell_ready(struct tool_sink *s)
{
	if (s->wants_ready && s->ready && (s->failure || s->queued <= TOOL_SINK_AHEAD / 2)) {
		s->wants_ready = false;
		s->ready(s->ready_arg);
	}
}

static void sink_fail(struct tool_sink *s, struct err *e)
{
	if (!s->failure)
		s->failure = e;
	else
		err_free(e);
}

static void finish_commit(struct tool_sink *s);

static void chunk_write(uv_work_t *req)
{
	struct tool_sink *s = req->data;
	size_t done = 0;
	s->job_errno = 0;
	while (done < s->job->len) {
		ssize_t n = pwrite(s->fd, s->job->data + done, s->job->len - done, (off_t)(s->job_off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->job_errno = n < 0 ? errno : EIO;
			return;
		}
		done += (size_t)n;
	}
}

static void chunk_written(uv_work_t *req, int status)
{
	struct tool_sink *s = req->data;
	size_t len = s->job->len;
	if (s->nspare < SPARE_MAX) {
		TAILQ_INSERT_TAIL(&s->spare, s->job, link);
		s->nspare++;
	} else {
		free(s->job);
	}
	s->job = NULL;
	s->busy = false;
	if (s->aborted) {
		sink_free(s);
		return;
	}
	s->queued -= len;
	if (status == UV_ECANCELED) {
		struct err *e = NULL;
		err_setc(&e, ERR_UNAVAILABLE, 0, "the upload's write was cancelled");
		sink_fail(s, e);
	} else if (s->job_errno) {
		struct err *e = NULL;
		err_set(&e, s->job_errno, "writing the upload");
		sink_fail(s, e);
	} else {
		s->written += len;
		/* counted as it lands, as file_write counts: the quota scan measures it exactly later
		   (an unnamed file once it has its name: until then each measure adds it) */
		struct sess_session *ss = sess_find(registry(), s->sid, NULL);
		if (ss && !s->tmp[0])
			sess_quota_disk_add_hidden(ss, len);
		else if (ss)
			sess_quota_disk_add(ss, len);
	}
	kick(s);
	tell_ready(s);
	if (s->commit_path && !s->busy && (s->failure || (TAILQ_EMPTY(&s->full) && !s->cur)))
		finish_commit(s);
}

/* Start the next write if none runs. */
static void kick(struct tool_sink *s)
{
	struct chunk *c = TAILQ_FIRST(&s->full);
	if (s->busy || !c || s->failure)
		return;
	struct err *e = NULL;
	if (disk_ok(s->principal, s->sid, c->len, &e) < 0) {
		sink_fail(s, e);
		return;
	}
	TAILQ_REMOVE(&s->full, c, link);
	s->job = c;
	s->job_off = s->written;
	s->busy = true;
	s->req.data = s;
	srv_pool_queue(s->principal, &s->req, chunk_write, chunk_written);
}

static void seal(struct tool_sink *s)
{
	if (s->cur && s->cur->len) {
		TAILQ_INSERT_TAIL(&s->full, s->cur, link);
		s->cur = NULL;
	}
}

bool tool_sink_write(struct tool_sink *s, const void *data, size_t len)
{
	const char *p = data;
	while (len && !s->failure) {
		if (!s->cur) {
			s->cur = TAILQ_FIRST(&s->spare);
			if (s->cur) {
				TAILQ_REMOVE(&s->spare, s->cur, link);
				s->nspare--;
			} else {
				s->cur = xmalloc(sizeof(*s->cur) + TOOL_SINK_CHUNK);
			}
			s->cur->len = 0;
		}
		size_t n = TOOL_SINK_CHUNK - s->cur->len < len ? TOOL_SINK_CHUNK - s->cur->len : len;
		memcpy(s->cur->data + s->cur->len, p, n);
		s->cur->len += n;
		s->queued += n;
		s->taken += n;
		p += n;
		len -= n;
		if (s->cur->len == TOOL_SINK_CHUNK) {
			seal(s);
			kick(s);
		}
	}
	if (s->failure || s->queued > TOOL_SINK_AHEAD) {
		s->wants_ready = true;
		return false;
	}
	return true;
}

void tool_sink_on_ready(struct tool_sink *s, void (*fn)(void *arg), void *arg)
{
	s->ready = fn;
	s->ready_arg = arg;
}

struct err *tool_sink_failure(const struct tool_sink *s)
{
	return s->failure;
}

uint64_t tool_sink_bytes(const struct tool_sink *s)
{
	return s->taken;
}

/* Everything is written (or it failed): name it at its path, tell, free. */
static void finish_commit(struct tool_sink *s)
{
	auto_err struct err *err = NULL;
	auto_free char *rel = NULL;
	auto_close int dfd = -1;
	const char *base;
	const struct sess_host_info *host = sess_registry_host(registry());
	struct stat st;

	if (s->failure) {
		err = s->failure;
		s->failure = NULL;
	} else if (sess_ws_relpath(s->commit_path, &rel, &err) == 0 &&
		   (dfd = sess_ws_open_parent(s->rootfd, rel, true, host->sandbox_uid, host->sandbox_gid, &base,
					      s->commit_path, &err)) >= 0) {
		if (!s->tmp[0]) {
			if (sess_ws_link(s->fd, dfd, base, s->commit_path, &err) == 0) {
				close(steal_fd(s->fd)); /* linked: it stays when the fd closes */
				struct sess_session *ss = sess_find(registry(), s->sid, NULL);
				if (ss)
					sess_quota_disk_reveal(ss, s->written, false); /* the walk sees it now */
			}
		} else if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
			err_setc(&err, ERR_INVALID, 0, "\"%s\" is a directory", s->commit_path);
		} else if (renameat(s->rootfd, s->tmp, dfd, base) < 0) {
			err_set(&err, errno, "\"%s\"", s->commit_path);
		} else {
			close(steal_fd(s->fd)); /* renamed: no longer ours to remove */
		}
	}
	s->done(s->done_arg, err, s->written);
	sink_free(s);
}

void tool_sink_commit(struct tool_sink *s, const char *path, tool_sink_done_fn done, void *arg)
{
	s->commit_path = xstrdup(path);
	s->done = done;
	s->done_arg = arg;
	s->ready = NULL;
	seal(s);
	kick(s);
	if (!s->busy)
		finish_commit(s);
}

int tool_sink_path_check(const char *path, struct err **errp)
{
	auto_free char *rel = NULL;
	return sess_ws_relpath(path, &rel, errp);
}

void tool_sink_abort(struct tool_sink *s)
{
	if (s->busy) {
		s->aborted = true;
		srv_pool_cancel(&s->req); /* if it has not started; either way chunk_written frees */
		return;
	}
	sink_free(s);
}

/* ---- sources ---- */

struct tool_source {
	char *principal;
	int fd;
	uint64_t off;
	uv_work_t req;
	bool busy, closed;
	char *buf;
	size_t got;
	int rerrno;
	tool_source_fn fn;
	void *arg;
};

struct tool_source *tool_source_open(const char *principal, const struct tool_conn *conn, const char *sid,
				     const char *path, uint64_t *size, struct err **errp)
{
	auto_close int root = -1, fd = -1;
	auto_free char *rel = NULL;
	struct stat st;

	if ((root = session_root(principal, conn, "file_read", sid, errp)) < 0 || sess_ws_relpath(path, &rel, errp) < 0 ||
	    (fd = sess_ws_open(root, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0, path, errp)) < 0)
		return NULL;
	if (fstat(fd, &st) < 0) {
		err_set(errp, errno, "\"%s\"", path);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		err_setc(errp, ERR_INVALID, 0, "\"%s\" is %s, not a regular file", path,
			 S_ISDIR(st.st_mode) ? "a directory" : "special");
		return NULL;
	}
	struct tool_source *s = xcalloc(1, sizeof(*s));
	s->principal = xstrdup(principal);
	s->fd = steal_fd(fd);
	s->buf = xmalloc(TOOL_SOURCE_CHUNK);
	*size = (uint64_t)st.st_size;
	return s;
}

static void source_free(struct tool_source *s)
{
	close(s->fd);
	free(s->buf);
	free(s->principal);
	free(s);
}

static void piece_read(uv_work_t *req)
{
	struct tool_source *s = req->data;
	ssize_t n;
	s->rerrno = 0;
	do
		n = pread(s->fd, s->buf, TOOL_SOURCE_CHUNK, (off_t)s->off);
	while (n < 0 && errno == EINTR);
	s->got = n > 0 ? (size_t)n : 0;
	if (n < 0)
		s->rerrno = errno;
}

static void piece_done(uv_work_t *req, int status)
{
	struct tool_source *s = req->data;
	auto_err struct err *err = NULL;
	s->busy = false;
	if (s->closed) {
		source_free(s);
		return;
	}
	if (status == UV_ECANCELED)
		err_setc(&err, ERR_UNAVAILABLE, 0, "the read was cancelled");
	else if (s->rerrno)
		err_set(&err, s->rerrno, "reading the file");
	s->off += s->got;
	s->fn(s->arg, s->buf, err ? 0 : s->got, err);
}

void tool_source_read(struct tool_source *s, tool_source_fn fn, void *arg)
{
	s->fn = fn;
	s->arg = arg;
	s->busy = true;
	s->req.data = s;
	srv_pool_queue(s->principal, &s->req, piece_read, piece_done);
}

void tool_source_close(struct tool_source *s)
{
	if (s->busy) {
		s->closed = true;
		srv_pool_cancel(&s->req);
		return;
	}
	source_free(s);
}
