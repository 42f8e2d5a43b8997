/*
 * display.c — a display per session: start its agent, take what it sends,
 * send it input, take screenshots, stop when idle.
 *
 * The X server runs inside the sandbox, so the server never speaks X and
 * never opens a file of the sandbox: the display agent (agent.c), started in
 * the sandbox through the worker, speaks X and has Xvfb draw into a shared
 * buffer whose size we fixed and sealed; it says what changed in small
 * messages that chan.c checks.
 * Every wait on the agent has a deadline; a misbehaving agent stops its own
 * display, nothing else. Nothing here blocks: the channel is non-blocking,
 * commands queue (bounded) when the agent does not read, and an agent that
 * sends faster than a display can need is read at a bounded rate.
 */
#include "display_int.h"
#include "agent_proto.h"
#include "chan.h"
#include "desktop.h"
#include "server.h"
#include "../sessions/sandbox.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "../server/base/banned.h"

struct vnc_state V = { .exe_fd = -1 };

static void display_stop(struct vnc_display *d, const char *why);
static void display_remove(struct vnc_display *d);
static void forget_if_deleted(struct vnc_display *d);
static void damage_flush(struct vnc_display *d);
static void quiet_check(struct vnc_display *d);

/* ---- framebuffer copies ---------------------------------------------------- */

static struct vnc_fbuf *fbuf_new(int w, int h)
{
	struct vnc_fbuf *f = xcalloc(1, sizeof(*f));
	f->refs = 1;
	f->w = w;
	f->h = h;
	f->stride = (size_t)w * 4;
	f->pix = xcalloc((size_t)h, f->stride);
	pthread_rwlock_init(&f->lock, NULL);
	return f;
}

void vnc_fbuf_put(struct vnc_fbuf *f)
{
	if (f && --f->refs == 0) {
		pthread_rwlock_destroy(&f->lock);
		free(f->pix);
		free(f);
	}
}

/* ---- registry of displays --------------------------------------------------- */

void vnc_display_put(struct vnc_display *d)
{
	if (--d->refs)
		return;
	free(d->sid);
	free(d->owner);
	free(d->cursor);
	buf_release(&d->out);
	free(d);
}

static struct vnc_display *display_get(struct sess_session *s, bool create)
{
	for (struct vnc_display *d = V.head; d; d = d->next)
		if (d->s == s)
			return d;
	if (create && s->state == SESS_DELETED)
		return NULL;
	if (!create)
		return NULL;
	struct vnc_display *d = xcalloc(1, sizeof(*d));
	d->sid = xstrdup(s->id);
	d->owner = xstrdup(s->owner);
	d->s = s;
	sess_hold(s);
	d->refs = 1;
	d->chan = -1;
	d->tcp_port = -1;
	d->bare = V.cfg->display_bare;
	d->last_use_ms = now_ms();
	d->next = V.head;
	V.head = d;
	return d;
}

/* Forget d (its session is gone). */
static void display_remove(struct vnc_display *d)
{
	struct vnc_display **pp = &V.head;
	while (*pp && *pp != d)
		pp = &(*pp)->next;
	if (*pp)
		*pp = d->next;
	display_stop(d, "session ended");
	sess_put(d->s);
	d->s = NULL;
	vnc_display_put(d);
}

struct vnc_display *vnc_display_find(const char *sid, const char *owner)
{
	for (struct vnc_display *d = V.head; d; d = d->next)
		if (!strcmp(d->sid, sid) && (!owner || !strcmp(owner, d->owner)) && d->s &&
		    d->s->state != SESS_DELETED)
			return d;
	return NULL;
}

const char *vnc_display_session_id(const struct vnc_display *d)
{
	return d->sid;
}

void vnc_display_size(const struct vnc_display *d, int *w, int *h)
{
	*w = d->w;
	*h = d->h;
}

void vnc_display_touch(struct vnc_display *d)
{
	d->last_use_ms = now_ms();
}

/* ---- start: Xvfb in the sandbox -------------------------------------------- */

static void run_waiters(struct vnc_display *d, const char *failure)
{
	struct waiter *w = d->waiters;

	d->waiters = NULL;
	d->refs++;
	while (w) {
		struct waiter *next = w->next;
		struct err *e = NULL;
		if (failure)
			err_set(&e, 0, "display: %s", failure);
		w->cb(w->arg, failure ? NULL : d, e);
		free(w);
		w = next;
	}
	{
		struct err *e = NULL;
		if (failure)
			err_set(&e, 0, "display: %s", failure);
		vnc_viewers_ready(d, e);
		err_free(e);
	}
	vnc_display_put(d);
}

void vnc_handle_close_free(uv_handle_t *h)
{
	free(h);
}

static void timer_free(uv_timer_t **t)
{
	if (*t) {
		uv_timer_stop(*t);
		uv_close((uv_handle_t *)*t, vnc_handle_close_free);
		*t = NULL;
	}
}

static uv_timer_t *timer_new(struct vnc_display *d)
{
	uv_timer_t *t = xcalloc(1, sizeof(*t));

	uv_timer_init(V.loop, t);
	t->data = d;
	return t;
}

static void chan_read(struct vnc_display *d);
static void close_start_handles(struct vnc_display *d);

static void agent_exited(void *arg, uint64_t exec_id, const struct sess_exit *ex)
{
	uint64_t gen = (uint64_t)(uintptr_t)arg;

	for (struct vnc_display *d = V.head; d; d = d->next) {
		if (d->gen != gen)
			continue;
		d->refs++;
		/* what it said before it went (VNC_AGENT_FAILED) is the better reason */
		if (d->state != D_STOPPED)
			chan_read(d);
		if (d->state != D_STOPPED) {
			char why[64];
			log_warn("display of session %s: the display agent exited (status %d)", d->sid, ex->status);
			snprintf(why, sizeof(why), "the display agent exited (status %d)", ex->status);
			display_stop(d, why);
		}
		forget_if_deleted(d);
		vnc_display_put(d);
		return;
	}
}

/* The agent broke the protocol: it is as hostile as its sandbox. */
static void agent_misbehaves(struct vnc_display *d, const char *what)
{
	char why[300];

	log_warn("display of session %s: the display agent misbehaves (%s): stopping the display", d->sid, what);
	snprintf(why, sizeof(why), "the display agent misbehaved (%s)", what);
	display_stop(d, why);
}

/* ---- the channel: commands out ------------------------------------------------- */

static void chan_cb(uv_poll_t *h, int status, int events);

static void chan_poll_update(struct vnc_display *d)
{
	int ev = (d->paused ? 0 : UV_READABLE) | (d->out.len ? UV_WRITABLE : 0);

	if (!d->cpoll)
		return;
	d->out_armed = d->out.len > 0;
	if (ev)
		uv_poll_start(d->cpoll, ev, chan_cb);
	else
		uv_poll_stop(d->cpoll);
}

/* Send what is queued, many commands per call (the agent then wakes once);
   false when the channel broke (the display stopped). */
static bool out_flush(struct vnc_display *d)
{
	const size_t sz = sizeof(struct vnc_agent_cmd);
	size_t off = 0;

	while (off < d->out.len) {
		struct mmsghdr mm[64];
		struct iovec iov[64];
		unsigned n = 0;
		for (; n < 64 && off + n * sz < d->out.len; n++) {
			iov[n] = (struct iovec){ d->out.data + off + n * sz, sz };
			mm[n] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[n], .msg_iovlen = 1 } };
		}
		int sent = sendmmsg(d->chan, mm, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent < 0 && errno == EINTR)
			continue;
		if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (sent <= 0) {
			display_stop(d, "the display agent's channel broke");
			return false;
		}
		off += (size_t)sent * sz;
	}
	buf_consume(&d->out, off);
	return true;
}

/* Queue a command; vnc_out_kick() sends the queue. */
void vnc_agent_cmd(struct vnc_display *d, uint32_t type, int x, int y, uint32_t code, uint32_t flags)
{
	struct vnc_agent_cmd c = { .type = type, .x = x, .y = y, .code = code, .flags = flags };

	if (d->chan < 0 || d->state != D_READY)
		return;
	if (d->out.len + sizeof(c) > OUT_MAX) {
		agent_misbehaves(d, "it does not take its input");
		return;
	}
	buf_add(&d->out, &c, sizeof(c));
}

void vnc_out_kick(struct vnc_display *d)
{
	if (d->chan < 0 || !d->out.len || d->out_armed)
		return;
	if (out_flush(d) && d->out.len)
		chan_poll_update(d);
}

/* ---- the channel: messages in ------------------------------------------------ */

static void damage_flush_paced(struct vnc_display *d);

static void display_ready(struct vnc_display *d)
{
	close_start_handles(d);
	d->px = d->w / 2;
	d->py = d->h / 2;
	d->buttons = 0;
	d->state = D_READY;
	d->ready_ms = now_ms();
	d->last_use_ms = d->ready_ms;
	log_info("display of session %s: %dx%d ready in %llu ms", d->sid, d->w, d->h,
		 (unsigned long long)(d->ready_ms - d->start_ms));
	if (V.cfg->vnc_tcp) {
		struct err *e = NULL;
		d->tcp_port = vnc_tcp_listen(d, &e);
		if (d->tcp_port < 0) {
			log_warn("display of session %s: VNC TCP port: %s", d->sid, err_text(e));
			err_free(e);
		}
	}
	run_waiters(d, NULL);
	damage_flush_paced(d); /* what was drawn while the first copy ran */
}

/*
 * The first copy of the whole screen (8 ms at the 4K maximum) runs on the
 * pool. The job holds the display and the copy; when the display stops
 * meanwhile, the shared buffer's mapping becomes the job's to unmap.
 */
struct vnc_prime {
	uv_work_t w;
	struct vnc_display *d;		/* held */
	struct vnc_fbuf *fb;		/* held */
	const uint8_t *map;		/* the shared buffer */
	size_t map_len, off;
	bool unmap;			/* the display stopped: the mapping is ours */
};

static void prime_work(uv_work_t *w)
{
	struct vnc_prime *p = w->data;

	pthread_rwlock_wrlock(&p->fb->lock);
	memcpy(p->fb->pix, p->map + p->off, (size_t)p->fb->h * p->fb->stride);
	pthread_rwlock_unlock(&p->fb->lock);
}

static void prime_done(uv_work_t *w, int status)
{
	struct vnc_prime *p = w->data;
	struct vnc_display *d = p->d;
	bool current = d->priming == p;

	if (current)
		d->priming = NULL;
	if (p->unmap)
		munmap((void *)p->map, p->map_len);
	vnc_fbuf_put(p->fb);
	free(p);
	if (current && d->state == D_PRIMING)
		display_ready(d);
	vnc_display_put(d);
}

/* READY (checked by vnc_chan_parse): the screen's size is the one asked for; copy it off the loop. */
static void display_prime(struct vnc_display *d)
{
	struct vnc_prime *p = xcalloc(1, sizeof(*p));

	d->w = d->req_w;
	d->h = d->req_h;
	d->state = D_PRIMING;
	p->w.data = p;
	p->d = d;
	d->refs++;
	p->fb = d->fb;
	d->fb->refs++;
	p->map = d->shm;
	p->map_len = d->shm_len;
	p->off = d->fb_off;
	d->priming = p;
	uv_queue_work(V.loop, &p->w, prime_work, prime_done);
}

static void add_damage(struct vnc_display *d, const struct vnc_rect *r)
{
	if (d->ndmg == MAX_DAMAGE) {
		/* too many: one bounding box */
		int x0 = r->x, y0 = r->y, x1 = r->x + r->w, y1 = r->y + r->h;
		for (int i = 0; i < d->ndmg; i++) {
			struct vnc_rect *o = &d->dmg[i];
			if (o->x < x0) x0 = o->x;
			if (o->y < y0) y0 = o->y;
			if (o->x + o->w > x1) x1 = o->x + o->w;
			if (o->y + o->h > y1) y1 = o->y + o->h;
		}
		d->ndmg = 1;
		d->dmg[0] = (struct vnc_rect){ x0, y0, x1 - x0, y1 - y0 };
		return;
	}
	d->dmg[d->ndmg++] = *r;
}

static void cursor_take(struct vnc_display *d, const struct vnc_chan_msg *m)
{
	size_t n = (size_t)m->w * (size_t)m->h;
	struct vnc_cursor *c = xmalloc(sizeof(*c) + n * sizeof(uint32_t));

	c->w = m->w;
	c->h = m->h;
	c->xhot = m->xhot;
	c->yhot = m->yhot;
	memcpy(c->argb, d->shm + vnc_agent_cursor_offset(d->w, d->h), n * sizeof(uint32_t));
	free(d->cursor);
	d->cursor = c;
	if (d->srv)
		vnc_srv_cursor(d->srv, c);
	if (d->srv_tcp)
		vnc_srv_cursor(d->srv_tcp, c);
}

static void sync_timer_update(struct vnc_display *d);

/* One checked message; false when the display stopped. */
static bool agent_msg(struct vnc_display *d, const struct vnc_chan_msg *m)
{
	char why[VNC_AGENT_TEXT + 8];

	switch (m->type) {
	case VNC_AGENT_READY:
		if (d->state != D_STARTING)
			return agent_misbehaves(d, "ready twice"), false;
		d->fb_off = m->fb_off;
		display_prime(d);
		return true;
	case VNC_AGENT_FAILED:
		snprintf(why, sizeof(why), "%s", m->text[0] ? m->text : "the display agent failed");
		log_warn("display of session %s: %s", d->sid, why);
		display_stop(d, why);
		return false;
	default:
		break;
	}
	if (d->state == D_STARTING)
		return agent_misbehaves(d, "a message before ready"), false;
	switch (m->type) {
	case VNC_AGENT_DAMAGE:
		for (int i = 0; i < m->nrects; i++)
			add_damage(d, &m->rects[i]);
		d->last_damage_ms = now_ms();
		return true;
	case VNC_AGENT_CURSOR:
		cursor_take(d, m);
		return true;
	case VNC_AGENT_SYNCED: {
		struct xsync *x = d->syncs;
		if (!x || x->seq != m->seq)
			return agent_misbehaves(d, "an answer to no question"), false;
		d->syncs = x->next;
		if (!d->syncs)
			d->syncs_tail = NULL;
		sync_timer_update(d);
		x->cb(x->arg, NULL);
		free(x);
		return d->state == D_READY;
	}
	default:
		return agent_misbehaves(d, "unexpected message"), false;
	}
}

static void pace_tick(uv_timer_t *t);

/* Copy the damage now unless the last copy was too recent (then the pace timer does). */
static void damage_flush_paced(struct vnc_display *d)
{
	uint64_t now = now_ms();

	if (!d->ndmg || d->state != D_READY)
		return;
	if (now >= d->next_flush_ms) {
		damage_flush(d);
		return;
	}
	if (!d->pace_timer)
		d->pace_timer = timer_new(d);
	if (!uv_is_active((uv_handle_t *)d->pace_timer))
		uv_timer_start(d->pace_timer, pace_tick, d->next_flush_ms - now, 0);
}

static void chan_read(struct vnc_display *d)
{
	for (int i = 0; i < READ_BATCH && d->chan >= 0 && !d->paused; i++) {
		struct vnc_agent_msg raw;
		struct vnc_chan_msg m;
		auto_err struct err *e = NULL;
		uint64_t now = now_ms();

		if (now - d->win_start_ms >= FLOOD_WINDOW_MS) {
			d->win_start_ms = now;
			d->win_msgs = 0;
		}
		if (++d->win_msgs > FLOOD_MAX) {
			/* more than any screen needs: read on when the window ends */
			d->paused = true;
			chan_poll_update(d);
			if (!d->pace_timer)
				d->pace_timer = timer_new(d);
			uv_timer_start(d->pace_timer, pace_tick, d->win_start_ms + FLOOD_WINDOW_MS - now, 0);
			break;
		}
		/* MSG_TRUNC: the real length of a longer message, which the check refuses */
		ssize_t n = recv(d->chan, &raw, sizeof(raw), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			d->win_msgs--;
			break;
		}
		if (n <= 0) {
			display_stop(d, d->state != D_READY ? "the display agent exited before it was ready"
							       : "the display agent went away");
			return;
		}
		if (vnc_chan_parse(&raw, (size_t)n, d->req_w, d->req_h, &m, &e) < 0) {
			agent_misbehaves(d, err_text(e));
			return;
		}
		if (!agent_msg(d, &m))
			return;
	}
	damage_flush_paced(d);
	if (d->quiets)
		quiet_check(d);
}

static void pace_tick(uv_timer_t *t)
{
	struct vnc_display *d = t->data;

	d->refs++;
	if (d->paused) {
		d->paused = false;
		chan_poll_update(d);
	}
	damage_flush_paced(d);
	vnc_display_put(d);
}

static void chan_cb(uv_poll_t *h, int status, int events)
{
	struct vnc_display *d = h->data;

	d->refs++;
	if (status < 0)
		display_stop(d, "the display agent's channel broke");
	if (d->state != D_STOPPED && (events & UV_WRITABLE) && out_flush(d)) {
		chan_poll_update(d);
		if (d->out.len <= OUT_HIGH)
			vnc_input_unblock(d);
	}
	if (d->state != D_STOPPED && (events & (UV_READABLE | UV_DISCONNECT)))
		chan_read(d);
	forget_if_deleted(d);
	vnc_display_put(d);
}

/* ---- round trips ---------------------------------------------------------------- */

static void sync_timeout(uv_timer_t *t)
{
	struct vnc_display *d = t->data;

	d->refs++;
	agent_misbehaves(d, "no answer within 5 s");
	forget_if_deleted(d);
	vnc_display_put(d);
}

static void sync_timer_update(struct vnc_display *d)
{
	uint64_t now = now_ms();

	if (!d->syncs) {
		if (d->sync_timer)
			uv_timer_stop(d->sync_timer);
		return;
	}
	if (!d->sync_timer)
		d->sync_timer = timer_new(d);
	uv_timer_start(d->sync_timer, sync_timeout,
		       d->syncs->deadline_ms > now ? d->syncs->deadline_ms - now : 0, 0);
}

/* cb once the agent answered: X processed everything sent before (with
   damage: and the damage up to then is in our copy's queue). */
void vnc_agent_sync(struct vnc_display *d, bool damage, void (*cb)(void *arg, struct err *err), void *arg)
{
	struct xsync *x;

	if (d->state != D_READY) {
		struct err *e = NULL;
		err_set(&e, 0, "display stopped");
		cb(arg, e);
		return;
	}
	x = xcalloc(1, sizeof(*x));
	x->seq = ++d->next_seq;
	x->deadline_ms = now_ms() + SYNC_TIMEOUT_MS;
	x->cb = cb;
	x->arg = arg;
	if (d->syncs_tail)
		d->syncs_tail->next = x;
	else
		d->syncs = x;
	d->syncs_tail = x;
	if (d->syncs == x)
		sync_timer_update(d);
	vnc_agent_cmd(d, VNC_AGENT_SYNC, 0, 0, x->seq, damage ? VNC_AGENT_WITH_DAMAGE : 0);
	vnc_out_kick(d);
}

/* ---- start: the agent in the sandbox -------------------------------------------- */

static void close_start_handles(struct vnc_display *d)
{
	timer_free(&d->start_timer);
}

static void start_timeout(uv_timer_t *t)
{
	struct vnc_display *d = t->data;

	d->refs++;
	display_stop(d, "the display did not become ready in time");
	forget_if_deleted(d);
	vnc_display_put(d);
}

static const char *const agent_env[] = {
	"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/workspace", "LANG=C.UTF-8", "TMPDIR=/tmp", NULL,
};

/* The shared buffer: sized by us, sealed so the agent can neither shrink nor grow it. */
static int shm_create(size_t len, struct err **errp)
{
	auto_close int fd = memfd_create("mcpbox-display", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return err_set(errp, errno, "memfd_create");
	if (ftruncate(fd, (off_t)len) < 0)
		return err_set(errp, errno, "size the shared buffer");
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return err_set(errp, errno, "seal the shared buffer");
	return steal_fd(fd);
}

static int agent_spawn(struct vnc_display *d, struct err **errp)
{
	struct sess_session *s = d->s;
	char w[16], h[16], exe[32];
	int sv[2];
	size_t len = vnc_agent_shm_size(d->req_w, d->req_h);

	if (V.exe_fd < 0)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "the display agent's program is not available");
	auto_close int shm = shm_create(len, errp);
	if (shm < 0)
		return -1;
	void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, shm, 0);
	if (map == MAP_FAILED)
		return err_set(errp, errno, "map the shared buffer");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
		munmap(map, len);
		return err_set(errp, errno, "socketpair");
	}
	/* the agent's end blocks: it may wait for us, never we for it */
	fd_set_nonblock(sv[1], false);
	snprintf(w, sizeof(w), "%d", d->req_w);
	snprintf(h, sizeof(h), "%d", d->req_h);
	snprintf(exe, sizeof(exe), "/proc/self/fd/%d", VNC_AGENT_FD_EXE);
	const char *argv[] = { exe, "display-agent", w, h, d->bare ? VNC_DESKTOP_BARE : VNC_DESKTOP_STANDARD, NULL };
	struct sess_spawn sp = {
		.argv = argv,
		.envp = agent_env,
		.cwd = "/tmp",
		.fds = { -1, -1, -1, sv[1], shm, V.exe_fd, -1, -1 },
		.nfds = 6,
		.limits = s->limits,
	};
#if defined(__SANITIZE_ADDRESS__)
	sp.limits.memory_bytes = 0;	/* ASan's shadow does not fit an RLIMIT_AS */
#endif
	d->gen = ++V.gen;
	if (sess_worker_spawn(s->worker, &sp, agent_exited, (void *)(uintptr_t)d->gen, &d->exec_id, errp) < 0) {
		close(sv[0]);
		close(sv[1]);
		munmap(map, len);
		return -1;
	}
	close(sv[1]);
	d->shm = map;
	d->shm_len = len;
	d->chan = sv[0];
	return 0;
}

static void display_start(struct vnc_display *d)
{
	struct sess_session *s = d->s;
	auto_err struct err *e = NULL;

	if (!s->worker || s->state != SESS_RUNNING) {
		run_waiters(d, "the session's sandbox is not running");
		return;
	}
	if (!d->req_w) {
		d->req_w = VNC_DEFAULT_W;
		d->req_h = VNC_DEFAULT_H;
	}
	d->start_ms = now_ms();
	if (agent_spawn(d, &e) < 0) {
		log_warn("display of session %s: %s", d->sid, err_text(e));
		run_waiters(d, err_text(e));
		return;
	}
	d->worker = s->worker;
	d->state = D_STARTING;
	d->paused = false;
	d->win_msgs = 0;
	d->next_flush_ms = 0;
	buf_reset(&d->out);
	d->fb = fbuf_new(d->req_w, d->req_h);
	d->cpoll = xcalloc(1, sizeof(*d->cpoll));
	uv_poll_init(V.loop, d->cpoll, d->chan);
	d->cpoll->data = d;
	uv_poll_start(d->cpoll, UV_READABLE, chan_cb);
	d->start_timer = timer_new(d);
	uv_timer_start(d->start_timer, start_timeout, START_TIMEOUT_MS, 0);
}

/* Back to STOPPED: the agent (and its Xvfb) killed, channel and copies released, waiters failed. */
static void display_stop(struct vnc_display *d, const char *why)
{
	if (d->state == D_STOPPED && !d->waiters)
		return;
	d->refs++;
	close_start_handles(d);
	vnc_tcp_close(d);
	d->tcp_port = -1;
	vnc_viewers_end(d);
	vnc_srv_free(d->srv);
	vnc_srv_free(d->srv_tcp);
	d->srv = d->srv_tcp = NULL;
	if (d->cpoll) {
		uv_poll_stop(d->cpoll);
		uv_close((uv_handle_t *)d->cpoll, vnc_handle_close_free);
		d->cpoll = NULL;
	}
	if (d->chan >= 0) {
		close(d->chan);
		d->chan = -1;
	}
	if (d->priming) {
		/* the first copy still reads the buffer: it unmaps it when done */
		d->priming->unmap = true;
		d->priming = NULL;
	} else if (d->shm) {
		munmap((void *)d->shm, d->shm_len);
	}
	d->shm = NULL;
	buf_reset(&d->out);
	d->out_armed = false;
	timer_free(&d->pace_timer);
	timer_free(&d->sync_timer);
	d->paused = false;
	free(d->cursor);
	d->cursor = NULL;
	vnc_fbuf_put(d->fb);
	d->fb = NULL;
	d->ndmg = 0;
	/* the whole group, also when the agent has exited: its Xvfb goes too */
	if (d->worker && d->s && d->s->worker == d->worker)
		sess_worker_kill(d->worker, d->exec_id, SIGKILL, NULL);
	d->worker = NULL;
	d->state = D_STOPPED;
	/* finish what waited on the agent */
	while (d->syncs) {
		struct xsync *x = d->syncs;
		struct err *e = NULL;
		d->syncs = x->next;
		err_set(&e, 0, "display stopped: %s", why);
		x->cb(x->arg, e);
		free(x);
	}
	d->syncs_tail = NULL;
	vnc_input_unblock(d);	/* each ends with "display stopped" */
	while (d->quiets) {
		struct quiet *q = d->quiets;
		d->quiets = q->next;
		q->cb(q->arg);
		free(q);
	}
	timer_free(&d->quiet_timer);
	run_waiters(d, why);
	log_info("display of session %s stopped: %s", d->sid, why);
	vnc_display_put(d);
}

void vnc_display_ensure(struct sess_session *s, vnc_ready_cb cb, void *arg)
{
	struct vnc_display *d = display_get(s, true);

	if (!d) {
		struct err *e = NULL;
		err_set(&e, 0, "the session was deleted");
		cb(arg, NULL, e);
		return;
	}
	d->last_use_ms = now_ms();
	if (d->state == D_READY) {
		d->refs++;
		cb(arg, d, NULL);
		vnc_display_put(d);
		return;
	}
	struct waiter *w = xcalloc(1, sizeof(*w)), **pp = &d->waiters;
	w->cb = cb;
	w->arg = arg;
	while (*pp)
		pp = &(*pp)->next;
	*pp = w;
	if (d->state == D_STOPPED)
		display_start(d);
}

static void started_ignore(void *arg, struct vnc_display *d, struct err *err)
{
	err_free(err);
}

static void configured_ready(void *arg, struct sess_session *s, struct err *err)
{
	if (err) {
		err_free(err);
		return;
	}
	if (s->state == SESS_RUNNING)
		vnc_display_ensure(s, started_ignore, NULL);
}

int vnc_display_configure(struct sess_session *s, int w, int h, bool bare, bool start, struct err **errp)
{
	if (w || h) {
		if (w < 64 || h < 64 || w > VNC_MAX_W || h > VNC_MAX_H)
			return err_setc(errp, ERR_INVALID, 0, "display size %dx%d out of range (64x64 to %dx%d)", w, h, VNC_MAX_W,
				       VNC_MAX_H);
	}
	struct vnc_display *d = display_get(s, true);
	if (!d)
		return err_setc(errp, ERR_NOT_FOUND, 0, "the session was deleted");
	if (w) {
		d->req_w = w;
		d->req_h = h;
	}
	d->bare = bare;
	if (start)
		sess_when_ready(s, configured_ready, NULL);
	return 0;
}

/* ---- damage ------------------------------------------------------------------ */

/* Copy the damaged rectangles from the shared buffer into the private copy
   (write lock; retried later if a screenshot holds the read lock). */
static void damage_flush(struct vnc_display *d)
{
	struct vnc_rect rs[MAX_DAMAGE];
	int n = d->ndmg;
	uint64_t t0;

	if (!n || !d->fb || !d->shm || d->state != D_READY)
		return;
	if (pthread_rwlock_trywrlock(&d->fb->lock) != 0)
		return;	/* the screenshot's after-work callback flushes */
	t0 = now_ns();
	memcpy(rs, d->dmg, sizeof(rs[0]) * (size_t)n);
	d->ndmg = 0;
	vnc_chan_copy_rects(d->fb->pix, d->shm + d->fb_off, d->w, rs, n);
	pthread_rwlock_unlock(&d->fb->lock);
	/* copying takes at most a tenth of the loop's time, whatever the agent claims changed */
	d->next_flush_ms = now_ms() + FLUSH_MIN_MS + (now_ns() - t0) * 10 / 1000000;
	if (d->srv)
		vnc_srv_damage(d->srv, rs, n);
	if (d->srv_tcp)
		vnc_srv_damage(d->srv_tcp, rs, n);
}

/* After the display ended: a display whose session is gone goes too (at
   shutdown this is how displays let go of their sessions). */
static void forget_if_deleted(struct vnc_display *d)
{
	if (d->state == D_STOPPED && d->s && d->s->state == SESS_DELETED)
		display_remove(d);
}

/* ---- quiet screen ------------------------------------------------------------ */

static void quiet_tick(uv_timer_t *t)
{
	quiet_check(t->data);
}

static void quiet_check(struct vnc_display *d)
{
	uint64_t now = now_ms(), next = UINT64_MAX;
	struct quiet **pp = &d->quiets;

	while (*pp) {
		struct quiet *q = *pp;
		uint64_t calm_at = d->last_damage_ms + q->quiet_ms;
		if (now >= calm_at || now >= q->deadline_ms) {
			*pp = q->next;
			q->cb(q->arg);
			free(q);
			continue;
		}
		if (calm_at < next)
			next = calm_at;
		if (q->deadline_ms < next)
			next = q->deadline_ms;
		pp = &q->next;
	}
	if (!d->quiets || !d->quiet_timer)
		return;
	uv_timer_start(d->quiet_timer, quiet_tick, next - now, 0);
}

void vnc_display_when_quiet(struct vnc_display *d, unsigned quiet_ms, unsigned max_ms, void (*cb)(void *arg),
			    void *arg)
{
	struct quiet *q = xcalloc(1, sizeof(*q));

	if (d->state != D_READY) {
		free(q);
		cb(arg);
		return;
	}
	q->cb = cb;
	q->arg = arg;
	q->quiet_ms = quiet_ms;
	q->deadline_ms = now_ms() + max_ms;
	q->next = d->quiets;
	d->quiets = q;
	if (!d->quiet_timer) {
		d->quiet_timer = xcalloc(1, sizeof(*d->quiet_timer));
		uv_timer_init(V.loop, d->quiet_timer);
		d->quiet_timer->data = d;
	}
	/* the pixels of input just sent count as activity */
	if (d->last_damage_ms < now_ms())
		d->last_damage_ms = now_ms();
	quiet_check(d);
}

/* ---- screenshots (pool thread) ------------------------------------------------ */

struct shot_work {
	uv_work_t w;
	struct vnc_display *d;		/* held */
	struct vnc_fbuf *fb;		/* held */
	struct vnc_shot_opts o;
	struct vnc_shot shot;
	char msg[256];
	bool failed;
	vnc_shot_cb cb;
	void *arg;
};

static void shot_work(uv_work_t *w)
{
	struct shot_work *sw = w->data;
	struct vnc_fbuf *fb = sw->fb;
	struct vnc_rect r = sw->o.region;
	int ow, oh, max_w = sw->o.max_w, max_h = sw->o.max_h;
	uint64_t t0 = now_ns();

	if (!r.w || !r.h)
		r = (struct vnc_rect){ 0, 0, fb->w, fb->h };
	sw->shot.region = r;
	for (int attempt = 0; attempt < 6; attempt++) {
		struct err *e = NULL;
		double scale = vnc_fit(r.w, r.h, max_w, max_h, sw->o.max_side, &ow, &oh);
		uint8_t *rgb = xmalloc((size_t)ow * (size_t)oh * 3);
		pthread_rwlock_rdlock(&fb->lock);
		vnc_scale_rgb(fb->pix, fb->stride, &r, rgb, ow, oh);
		pthread_rwlock_unlock(&fb->lock);
		buf_reset(&sw->shot.data);
		int rc = sw->o.jpeg ? vnc_jpeg_encode(rgb, ow, oh, sw->o.quality, &sw->shot.data, &e)
				    : vnc_png_encode(rgb, ow, oh, &sw->shot.data, &e);
		free(rgb);
		if (rc < 0) {
			snprintf(sw->msg, sizeof(sw->msg), "%s", err_text(e));
			err_free(e);
			sw->failed = true;
			return;
		}
		sw->shot.w = ow;
		sw->shot.h = oh;
		sw->shot.scale = (double)ow / r.w;
		(void)scale;
		if (!sw->o.max_bytes || sw->shot.data.len <= sw->o.max_bytes || (ow <= 64 && oh <= 64))
			break;
		/* too big: shrink the area in proportion, with a margin */
		double q = (double)sw->o.max_bytes / (double)sw->shot.data.len, f = q;
		for (int i = 0; i < 20; i++)
			f = 0.5 * (f + q / f);	/* sqrt */
		f *= 0.9;
		max_w = (int)(ow * f);
		max_h = (int)(oh * f);
		if (max_w < 1)
			max_w = 1;
		if (max_h < 1)
			max_h = 1;
	}
	sw->shot.encode_us = (now_ns() - t0) / 1000;
}

static void shot_done(uv_work_t *w, int status)
{
	struct shot_work *sw = w->data;
	struct vnc_display *d = sw->d;

	if (sw->failed) {
		struct err *e = NULL;
		err_set(&e, 0, "screenshot: %s", sw->msg);
		sw->cb(sw->arg, NULL, e);
	} else {
		sw->cb(sw->arg, &sw->shot, NULL);
	}
	buf_release(&sw->shot.data);
	vnc_fbuf_put(sw->fb);
	free(sw);
	if (d->fb && d->ndmg)
		damage_flush(d);
	vnc_display_put(d);
}

/* The agent answered: everything drawn before the call is in the shared buffer. */
static void shot_synced(void *arg, struct err *err)
{
	struct shot_work *sw = arg;
	struct vnc_display *d = sw->d;

	if (err || d->state != D_READY || !d->fb) {
		if (!err)
			err_set(&err, 0, "display is not running");
		err_wrap(&err, "screenshot");
		sw->cb(sw->arg, NULL, err);
		free(sw);
		vnc_display_put(d);
		return;
	}
	damage_flush(d);
	sw->fb = d->fb;
	d->fb->refs++;
	uv_queue_work(V.loop, &sw->w, shot_work, shot_done);
}

void vnc_display_screenshot(struct vnc_display *d, const struct vnc_shot_opts *o, vnc_shot_cb cb, void *arg)
{
	struct shot_work *sw;

	if (d->state != D_READY || !d->fb) {
		struct err *e = NULL;
		err_set(&e, 0, "display is not running");
		cb(arg, NULL, e);
		return;
	}
	d->last_use_ms = now_ms();
	sw = xcalloc(1, sizeof(*sw));
	sw->d = d;
	d->refs++;
	sw->o = *o;
	sw->shot.jpeg = o->jpeg;
	sw->cb = cb;
	sw->arg = arg;
	sw->w.data = sw;
	vnc_agent_sync(d, true, shot_synced, sw);
}

void vnc_display_from_view(const struct vnc_display *d, const struct vnc_view *v, double x, double y, int *sx, int *sy)
{
	double fx = x, fy = y;

	if (v && v->scale > 0) {
		fx = v->region.x + x / v->scale;
		fy = v->region.y + y / v->scale;
	}
	*sx = (int)(fx + 0.5);
	*sy = (int)(fy + 0.5);
	if (*sx < 0)
		*sx = 0;
	if (*sy < 0)
		*sy = 0;
	if (d->w && *sx >= d->w)
		*sx = d->w - 1;
	if (d->h && *sy >= d->h)
		*sy = d->h - 1;
}

/* ---- module ------------------------------------------------------------------ */

static void sweep(uv_timer_t *t)
{
	uint64_t now = now_ms(), idle = V.cfg->display_idle_s * 1000;
	struct vnc_display *d, *next;

	for (d = V.head; d; d = next) {
		next = d->next;
		if (!d->s || d->s->state == SESS_DELETED) {
			display_remove(d);
			continue;
		}
		if (d->state != D_STOPPED && d->s->state != SESS_RUNNING) {
			display_stop(d, "the sandbox stopped");
			continue;
		}
		if (d->state != D_STOPPED && d->worker && d->s->worker != d->worker) {
			display_stop(d, "the sandbox went away");
			continue;
		}
		if (d->state == D_READY && idle && now - d->last_use_ms >= idle && !vnc_viewer_count(d) &&
		    !d->syncs && d->refs == 1)
			display_stop(d, "idle");
	}
}

void vnc_init(uv_loop_t *loop, struct sess_registry *reg, const struct srv_config *cfg)
{
	if (V.inited)
		return;
	V.loop = loop;
	V.reg = reg;
	V.cfg = cfg;
	V.inited = true;
	/* the agent runs this very program inside the sandbox, which cannot see its path */
	V.exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (V.exe_fd < 0)
		log_warn("display: cannot open /proc/self/exe (%s): displays will not start", strerror(errno));
	uv_timer_init(loop, &V.sweep);
	uv_timer_start(&V.sweep, sweep, SWEEP_MS, SWEEP_MS);
	uv_unref((uv_handle_t *)&V.sweep);
}

void vnc_shutdown(void)
{
	if (!V.inited)
		return;
	while (V.head)
		display_remove(V.head);
	uv_timer_stop(&V.sweep);
	uv_close((uv_handle_t *)&V.sweep, NULL);
	free(V.http_base);
	V.http_base = NULL;
	if (V.exe_fd >= 0)
		close(V.exe_fd);
	V.exe_fd = -1;
	V.inited = false;
}

void vnc_set_http_base(const char *base)
{
	free(V.http_base);
	V.http_base = base && base[0] ? xstrdup(base) : NULL;
}

json_t *vnc_display_info(struct sess_session *s, const char *principal, bool control)
{
	struct vnc_display *d = display_get(s, false);
	static const char *const names[] = { [D_STOPPED] = "stopped", [D_STARTING] = "starting", [D_PRIMING] = "starting", [D_READY] = "running" };
	json_t *o;

	if (!d)
		return NULL;
	o = json_pack("{s:s, s:i, s:i, s:s, s:i}", "status", names[d->state], "width",
		      d->state == D_READY ? d->w : d->req_w ? d->req_w : VNC_DEFAULT_W, "height",
		      d->state == D_READY ? d->h : d->req_h ? d->req_h : VNC_DEFAULT_H, "desktop",
		      d->bare ? VNC_DESKTOP_BARE : VNC_DESKTOP_STANDARD, "viewers", (int)vnc_viewer_count(d));
	if (V.http_base && principal && !strcmp(principal, d->owner)) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s/sessions/%s/view?token=%s", V.http_base, d->sid, vnc_token_get(d->sid, d->owner, false));
		json_object_set_new(o, "view_url", json_string(b.data));
		buf_reset(&b);
		if (control) {
			buf_addf(&b, "%s/sessions/%s/view?token=%s", V.http_base, d->sid,
				 vnc_token_get(d->sid, d->owner, true));
			json_object_set_new(o, "control_url", json_string(b.data));
		}
		buf_release(&b);
		json_object_set_new(o, "token_ttl_s", json_integer((json_int_t)V.cfg->view_token_ttl_s));
	}
	if (d->tcp_port > 0)
		json_object_set_new(o, "vnc_port", json_integer(d->tcp_port));
	return o;
}
