/*
 * upstream.c — a connection into a sandbox (upstream.h): the socket comes
 * from the worker with its connect in progress; we watch it with a uv_poll
 * and do the reads and writes ourselves, so that pausing, bounds and
 * timeouts stay in one place.
 */
#include "upstream.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../sessions/ports.h"
#include "../sessions/sandbox.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "../server/base/banned.h"

enum up_state { UP_ASKING, UP_CONNECTING, UP_OPEN, UP_ENDED };

struct px_up {
	enum up_state state;
	struct sess_session *s;
	struct sess_worker *w;		/* while asking: the worker asked */
	uint64_t req;
	int fd;
	uv_poll_t *poll;
	uv_timer_t *timer;
	struct buf out;
	size_t out_off;
	bool paused, full, closing;
	int events;
	const struct px_up_ops *ops;
	void *arg;
	int handles;			/* libuv handles still to be closed */
};

static void up_poll_cb(uv_poll_t *h, int status, int events);

static void handle_closed(uv_handle_t *h)
{
	struct px_up *u = h->data;
	free(h);
	if (--u->handles == 0) {
		buf_release(&u->out);
		sess_put(u->s);
		free(u);
	}
}

static void update(struct px_up *u)
{
	int ev = 0;

	if (!u->poll || u->closing)
		return;
	if (u->state == UP_CONNECTING)
		ev = UV_WRITABLE;
	else if (u->state == UP_OPEN)
		ev = (u->paused ? 0 : UV_READABLE) | (u->out.len > u->out_off ? UV_WRITABLE : 0);
	if (ev == u->events)
		return;
	u->events = ev;
	if (ev)
		uv_poll_start(u->poll, ev, up_poll_cb);
	else
		uv_poll_stop(u->poll);
}

/* The connection is over: stop watching, tell the owner once. */
static void end(struct px_up *u, struct err *e)
{
	enum up_state was = u->state;

	u->state = UP_ENDED;
	update(u);
	if (u->poll)
		uv_poll_stop(u->poll);
	u->events = 0;
	uv_timer_stop(u->timer);
	if (was == UP_ASKING || was == UP_CONNECTING)
		u->ops->connected(u->arg, e);
	else
		u->ops->ended(u->arg, e);
}

static void fail(struct px_up *u, enum err_class cls, int errnum, const char *what)
{
	struct err *e = NULL;
	err_setc(&e, cls, errnum, "%s", what);
	end(u, e);
}

static void timer_cb(uv_timer_t *t)
{
	struct px_up *u = t->data;
	if (u->state == UP_ASKING) {
		sess_worker_connect_cancel(u->w, u->req);
		u->w = NULL;
	}
	fail(u, ERR_TIMEOUT, 0, u->state == UP_OPEN ? "the server inside the sandbox did not answer in time"
						     : "connecting inside the sandbox timed out");
}

static void got_socket(void *arg, int fd, struct err *err)
{
	struct px_up *u = arg;

	u->w = NULL;
	if (err) {
		end(u, err);
		return;
	}
	u->fd = fd;
	fd_set_nonblock(fd, true);
	u->poll = xcalloc(1, sizeof(*u->poll));
	if (uv_poll_init(uv_default_loop(), u->poll, fd) < 0) {
		free(u->poll);
		u->poll = NULL;
		fail(u, ERR_INTERNAL, 0, "cannot watch the connection");
		return;
	}
	u->poll->data = u;
	u->handles++;
	u->state = UP_CONNECTING;
	update(u);
}

static void do_write(struct px_up *u)
{
	while (u->out.len > u->out_off) {
		ssize_t n = send(u->fd, u->out.data + u->out_off, u->out.len - u->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			fail(u, ERR_UNAVAILABLE, errno, "writing to the server inside the sandbox");
			return;
		}
		u->out_off += (size_t)n;
	}
	if (u->out_off == u->out.len) {
		buf_reset(&u->out);
		u->out_off = 0;
	} else if (u->out_off > (64u << 10)) {
		memmove(u->out.data, u->out.data + u->out_off, u->out.len - u->out_off);
		u->out.len -= u->out_off;
		u->out_off = 0;
	}
	update(u);
	if (u->full && px_up_queued(u) < PX_UP_QUEUE_MAX / 4) {
		u->full = false;
		if (u->ops->writable)
			u->ops->writable(u->arg);
	}
}

static void do_read(struct px_up *u)
{
	static char rb[PX_UP_READ];

	/* one read per wake-up: the other connections get their turn */
	ssize_t n = recv(u->fd, rb, sizeof(rb), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		fail(u, ERR_UNAVAILABLE, errno, "reading from the server inside the sandbox");
		return;
	}
	if (n == 0) {
		end(u, NULL);
		return;
	}
	u->ops->data(u->arg, rb, (size_t)n);
}

static void up_poll_cb(uv_poll_t *h, int status, int events)
{
	struct px_up *u = h->data;

	if (u->closing || u->state == UP_ENDED)
		return;
	if (u->state == UP_CONNECTING) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (status < 0 || getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
			fail(u, ERR_UNAVAILABLE, soerr ? soerr : ECONNREFUSED, "connect inside the sandbox");
			return;
		}
		u->state = UP_OPEN;
		uv_timer_stop(u->timer);
		update(u);
		u->ops->connected(u->arg, NULL);
		return;
	}
	if (status < 0) {
		fail(u, ERR_UNAVAILABLE, -status, "the connection into the sandbox failed");
		return;
	}
	if (events & UV_WRITABLE)
		do_write(u);
	if (!u->closing && u->state == UP_OPEN && !u->paused && (events & (UV_READABLE | UV_DISCONNECT)))
		do_read(u);
}

struct px_up *px_up_open(struct sess_session *s, unsigned port, const struct px_up_ops *ops, void *arg,
			 struct err **errp)
{
	struct sess_port ports[SESS_PORTS_MAX];
	bool v6 = false;
	int n;

	if (s->state != SESS_RUNNING || !s->worker)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "session %s is not running", s->id), NULL;
	/* 127.0.0.1 unless only an IPv6 loopback listener has the port */
	n = sess_ports_list(s, ports, SESS_PORTS_MAX, NULL);
	for (int i = 0; i < n; i++)
		if (ports[i].port == port)
			v6 = !ports[i].v4 && ports[i].v6;

	struct px_up *u = xcalloc(1, sizeof(*u));
	u->fd = -1;
	u->ops = ops;
	u->arg = arg;
	if (sess_worker_connect(s->worker, port, v6, got_socket, u, &u->req, errp) < 0) {
		free(u);
		return NULL;
	}
	u->w = s->worker;
	u->s = s;
	sess_hold(s);
	u->timer = xcalloc(1, sizeof(*u->timer));
	uv_timer_init(uv_default_loop(), u->timer);
	u->timer->data = u;
	u->handles = 1;
	uv_timer_start(u->timer, timer_cb, PX_UP_CONNECT_MS, 0);
	return u;
}

bool px_up_write(struct px_up *u, const void *p, size_t n)
{
	if (u->closing || u->state == UP_ENDED)
		return false;
	buf_add(&u->out, p, n);
	if (u->state == UP_OPEN)
		update(u);
	if (px_up_queued(u) > PX_UP_QUEUE_MAX) {
		u->full = true;
		return false;
	}
	return true;
}

size_t px_up_queued(const struct px_up *u)
{
	return u->out.len - u->out_off;
}

void px_up_pause(struct px_up *u, bool paused)
{
	u->paused = paused;
	update(u);
}

void px_up_timeout(struct px_up *u, unsigned ms)
{
	if (u->closing || u->state == UP_ENDED)
		return;
	uv_timer_stop(u->timer);
	if (ms)
		uv_timer_start(u->timer, timer_cb, ms, 0);
}

void px_up_close(struct px_up *u)
{
	if (!u || u->closing)
		return;
	if (u->state == UP_ASKING && u->w)
		sess_worker_connect_cancel(u->w, u->req);
	/* what is queued (a close frame, say) goes as far as the socket takes it now */
	if (u->state == UP_OPEN && u->out.len > u->out_off)
		(void)!send(u->fd, u->out.data + u->out_off, u->out.len - u->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
	u->closing = true;
	if (u->poll) {
		uv_poll_stop(u->poll);
		uv_close((uv_handle_t *)u->poll, handle_closed);
	}
	if (u->fd >= 0)
		close(u->fd); /* after the poll stopped watching it */
	u->fd = -1;
	uv_close((uv_handle_t *)u->timer, handle_closed);
}
