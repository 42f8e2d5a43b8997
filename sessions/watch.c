#include "watch.h"
#include "session.h"
#include "workspace.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/banned.h"

#include <assert.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/queue.h>
#include <unistd.h>

/* What changes a file's content or which file the name means. */
#define DIR_MASK (IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
		  IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)
#define READ_BUF (64 * 1024)
#define READS_PER_TURN 16	/* 1 MiB of events per loop turn, then the loop's other work */
#define BUCKETS 64

struct watch_dir {
	int wd;			/* -1: the kernel dropped it (directory gone) */
	TAILQ_HEAD(, sess_watch) watches;
	LIST_ENTRY(watch_dir) link;	/* in its bucket while wd >= 0 */
};

struct sess_watch {
	struct sess_session *s;
	struct watch_dir *dir;
	char *name;		/* the last component */
	sess_watch_cb cb;
	void *arg;
	uint64_t last_ms;	/* when it last reported */
	bool pending;		/* a change to report at last_ms + interval */
	TAILQ_ENTRY(sess_watch) in_dir, in_all, in_pending;
};

static struct {
	uv_loop_t *loop;
	int fd;
	uv_poll_t poll;
	uv_timer_t timer;
	bool open;
	LIST_HEAD(, watch_dir) buckets[BUCKETS];
	TAILQ_HEAD(, sess_watch) all, pending;
	unsigned count, dirs;
} W = { .fd = -1, .all = TAILQ_HEAD_INITIALIZER(W.all), .pending = TAILQ_HEAD_INITIALIZER(W.pending) };

void sess_watch_init(uv_loop_t *loop)
{
	W.loop = loop;
}

static struct watch_dir *dir_find(int wd)
{
	struct watch_dir *d;
	LIST_FOREACH(d, &W.buckets[(unsigned)wd % BUCKETS], link)
		if (d->wd == wd)
			return d;
	return NULL;
}

/* The kernel no longer watches d (or we stopped): out of the table, kept while watches point at it. */
static void dir_detach(struct watch_dir *d)
{
	if (d->wd < 0)
		return;
	LIST_REMOVE(d, link);
	d->wd = -1;
}

static void report(struct sess_watch *w, uint64_t now)
{
	w->last_ms = now;
	w->cb(w->arg, false);
}

static void arm_timer(uint64_t now);

static void changed(struct sess_watch *w, uint64_t now)
{
	if (w->pending)
		return;
	if (now - w->last_ms >= SESS_WATCH_INTERVAL_MS) {
		report(w, now);
		return;
	}
	w->pending = true;
	TAILQ_INSERT_TAIL(&W.pending, w, in_pending);
	arm_timer(now);
}

static void unpend(struct sess_watch *w)
{
	if (!w->pending)
		return;
	TAILQ_REMOVE(&W.pending, w, in_pending);
	w->pending = false;
}

static void on_timer(uv_timer_t *t)
{
	uint64_t now = now_ms();
	struct sess_watch *w, *next;

	for (w = TAILQ_FIRST(&W.pending); w; w = next) {
		next = TAILQ_NEXT(w, in_pending);
		if (now - w->last_ms >= SESS_WATCH_INTERVAL_MS) {
			unpend(w);
			report(w, now);
		}
	}
	arm_timer(now);
}

/* Due next: the pending watch that reported longest ago. */
static void arm_timer(uint64_t now)
{
	uint64_t soonest = UINT64_MAX;
	struct sess_watch *w;

	TAILQ_FOREACH(w, &W.pending, in_pending) {
		uint64_t due = w->last_ms + SESS_WATCH_INTERVAL_MS;
		if (due < soonest)
			soonest = due;
	}
	if (soonest == UINT64_MAX)
		uv_timer_stop(&W.timer);
	else
		uv_timer_start(&W.timer, on_timer, soonest > now ? soonest - now : 0, 0);
}

static void dir_changed(struct watch_dir *d, const char *name, uint64_t now)
{
	struct sess_watch *w;
	TAILQ_FOREACH(w, &d->watches, in_dir)
		if (!name || !strcmp(w->name, name))
			changed(w, now);
}

static void handle_event(const struct inotify_event *e, uint64_t now)
{
	struct sess_watch *w;

	if (e->mask & IN_Q_OVERFLOW) {
		/* events were lost: anything may have changed */
		TAILQ_FOREACH(w, &W.all, in_all)
			changed(w, now);
		return;
	}
	struct watch_dir *d = dir_find(e->wd);
	if (!d)
		return; /* a directory we stopped watching: its last events */
	if (e->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
		dir_changed(d, NULL, now);
		if (e->mask & IN_IGNORED)
			dir_detach(d);
		else if (e->mask & IN_MOVE_SELF) {
			/* renamed away: the names no longer mean what was subscribed to */
			inotify_rm_watch(W.fd, d->wd);
			dir_detach(d);
		}
		return;
	}
	if (e->len)
		dir_changed(d, e->name, now);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
	alignas(struct inotify_event) char buf[READ_BUF];
	uint64_t now = now_ms();

	for (int i = 0; i < READS_PER_TURN; i++) {
		ssize_t n = read(W.fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (size_t off = 0; off + sizeof(struct inotify_event) <= (size_t)n;) {
			const struct inotify_event *e = (const void *)(buf + off);
			size_t len = sizeof(*e) + e->len;
			if (off + len > (size_t)n)
				break;
			handle_event(e, now);
			off += len;
		}
	}
}

static int open_fd(struct err **errp)
{
	if (W.open)
		return 0;
	assert(W.loop);
	W.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (W.fd < 0)
		return err_set(errp, errno == EMFILE ? EDQUOT : errno,
			       "cannot watch files (the host's inotify instances are used up)");
	uv_poll_init(W.loop, &W.poll, W.fd);
	uv_poll_start(&W.poll, UV_READABLE, on_readable);
	uv_unref((uv_handle_t *)&W.poll);
	uv_timer_init(W.loop, &W.timer);
	uv_unref((uv_handle_t *)&W.timer);
	W.open = true;
	return 0;
}

static unsigned session_watches(const struct sess_session *s)
{
	unsigned n = 0;
	struct sess_watch *w;
	TAILQ_FOREACH(w, &W.all, in_all)
		n += w->s == s;
	return n;
}

int sess_watch_add(struct sess_session *s, const char *rel, const char *shown, sess_watch_cb cb, void *arg,
		   struct sess_watch **out, struct err **errp)
{
	auto_close int dfd = -1;
	const char *base;
	char proc[64];

	assert(strcmp(rel, "."));
	if (s->wsfd < 0)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "session %s has no workspace", s->id);
	if (session_watches(s) >= SESS_WATCH_MAX)
		return err_setc(errp, ERR_LIMIT, 0, "session %s already has %d watched files, the most it may have",
				s->id, SESS_WATCH_MAX);
	if (open_fd(errp) < 0)
		return -1;
	dfd = sess_ws_open_parent(s->wsfd, rel, false, 0, 0, &base, shown, errp);
	if (dfd < 0)
		return -1;
	/* the directory dfd is, reached through its fd: nothing is looked up by name again */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dfd);
	int wd = inotify_add_watch(W.fd, proc, DIR_MASK);
	if (wd < 0) {
		if (errno == ENOSPC)
			return err_setc(errp, ERR_LIMIT, ENOSPC, "cannot watch \"%s\": the host's inotify watch limit "
					"(fs.inotify.max_user_watches) is reached", shown);
		return err_set(errp, errno, "cannot watch \"%s\"", shown);
	}
	struct watch_dir *d = dir_find(wd);
	if (!d) {
		d = xcalloc(1, sizeof(*d));
		d->wd = wd;
		TAILQ_INIT(&d->watches);
		LIST_INSERT_HEAD(&W.buckets[(unsigned)wd % BUCKETS], d, link);
		W.dirs++;
	}
	struct sess_watch *w = xcalloc(1, sizeof(*w));
	w->s = s;
	w->dir = d;
	w->name = xstrdup(base);
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&d->watches, w, in_dir);
	TAILQ_INSERT_TAIL(&W.all, w, in_all);
	W.count++;
	*out = w;
	return 0;
}

void sess_watch_remove(struct sess_watch *w)
{
	struct watch_dir *d = w->dir;

	unpend(w);
	TAILQ_REMOVE(&d->watches, w, in_dir);
	TAILQ_REMOVE(&W.all, w, in_all);
	W.count--;
	if (TAILQ_EMPTY(&d->watches)) {
		if (d->wd >= 0) {
			inotify_rm_watch(W.fd, d->wd);
			dir_detach(d);
		}
		free(d);
		W.dirs--;
	}
	free(w->name);
	free(w);
}

void sess_watch_session_gone(struct sess_session *s)
{
	struct sess_watch *w, *next;

	for (w = TAILQ_FIRST(&W.all); w; w = next) {
		next = TAILQ_NEXT(w, in_all);
		if (w->s != s)
			continue;
		w->cb(w->arg, true);
		sess_watch_remove(w);
	}
}

unsigned sess_watch_count(unsigned *dirs)
{
	if (dirs)
		*dirs = W.dirs;
	return W.count;
}

static void poll_closed(uv_handle_t *h)
{
	close(W.fd); /* not before libuv let go of it */
	W.fd = -1;
}

void sess_watch_shutdown(void)
{
	struct sess_watch *w;

	while ((w = TAILQ_FIRST(&W.all))) {
		w->cb(w->arg, true);
		sess_watch_remove(w);
	}
	if (!W.open)
		return;
	uv_close((uv_handle_t *)&W.poll, poll_closed);
	uv_close((uv_handle_t *)&W.timer, NULL);
	W.open = false;
}
