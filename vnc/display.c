/*
 * display.c — Xvfb per session: start, connect, track changes, inject input,
 * take screenshots, stop when idle.
 *
 * XCB rather than Xlib: Xlib ends the process when a connection breaks (its
 * I/O error handler must not return), and a sandbox can kill its Xvfb at any
 * moment; XCB reports a broken connection as a value. Nothing on the loop
 * ever waits for an X reply: round trips are matched when the socket becomes
 * readable, and the connection handshake runs on the pool.
 */
#include "display.h"
#include "keys.h"
#include "server.h"
#include "../sessions/sandbox.h"
#include "../server/buf.h"
#include "../server/common.h"
#include "../server/log.h"

#include <X11/keysym.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <xcb/damage.h>
#include <xcb/xcb.h>
#include <xcb/xcbext.h>
#include <xcb/xfixes.h>
#include <xcb/xtest.h>

#include "../server/banned.h"

#define START_TIMEOUT_MS 10000
#define SWEEP_MS 1000
#define MAX_DAMAGE 64
#define NSPARE 8
#define BACKGROUND 0x2e3440	/* a plain dark grey-blue */

enum dstate { D_STOPPED, D_STARTING, D_CONNECTING, D_READY };

struct waiter {
	vnc_ready_cb cb;
	void *arg;
	struct waiter *next;
};

struct xsync {
	unsigned int seq;
	void (*cb)(void *arg, struct err *err);
	void *arg;
	struct xsync *next;
};

struct quiet {
	void (*cb)(void *arg);
	void *arg;
	uint64_t deadline_ms;
	unsigned quiet_ms;
	struct quiet *next;
};

struct vnc_input;

struct vnc_display {
	char *sid;
	char *owner;
	struct sess_session *s;		/* held */
	int req_w, req_h;
	enum dstate state;
	unsigned refs;
	uint64_t gen;			/* names this run of Xvfb (exit callbacks) */
	struct sess_worker *worker;	/* the sandbox it runs in */
	uint64_t exec_id;
	bool xvfb_alive;
	uint64_t start_ms, ready_ms;
	struct waiter *waiters;
	/* start-up */
	uv_pipe_t *dfd;			/* Xvfb's -displayfd */
	uv_timer_t *start_timer;
	struct buf dfd_buf;
	/* X */
	xcb_connection_t *c;
	xcb_window_t root;
	uint32_t damage;
	uint8_t damage_event;
	uint8_t cursor_event;		/* XFixes CursorNotify */
	bool cursor_asked;		/* a GetCursorImage is in flight */
	unsigned int cursor_seq;
	struct vnc_cursor *cursor;	/* the displayed cursor's shape (NULL: none yet) */
	uv_poll_t *xpoll;
	int w, h;
	int fb_fd;
	size_t fb_off, fb_bpl;
	struct vnc_fbuf *fb;
	struct vnc_rect dmg[MAX_DAMAGE];
	int ndmg;
	uint64_t last_damage_ms;
	/* keyboard */
	uint8_t min_kc, max_kc;
	int per;
	uint32_t *syms;
	uint8_t spare[NSPARE];
	int nspare, next_spare;
	uint8_t kc_shift;
	int buttons;			/* mask of pressed buttons (bit b-1) */
	int px, py;			/* pointer */
	struct xsync *syncs, *syncs_tail;
	struct quiet *quiets;
	uv_timer_t *quiet_timer;
	uint64_t last_use_ms;
	struct vnc_srv *srv, *srv_tcp;
	int tcp_port;
	struct vnc_display *next;
};

static struct {
	uv_loop_t *loop;
	struct sess_registry *reg;
	const struct srv_config *cfg;
	struct vnc_display *head;
	uv_timer_t sweep;
	uint64_t gen;
	char *http_base;
	bool inited;
} V;

static void display_stop(struct vnc_display *d, const char *why);
static void display_remove(struct vnc_display *d);
static void forget_if_deleted(struct vnc_display *d);
static void x_drain(struct vnc_display *d);

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

static void display_put(struct vnc_display *d)
{
	if (--d->refs)
		return;
	free(d->sid);
	free(d->owner);
	free(d->syms);
	free(d->cursor);
	buf_release(&d->dfd_buf);
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
	d->fb_fd = -1;
	d->tcp_port = -1;
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
	display_put(d);
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
	display_put(d);
}

static void handle_close_free(uv_handle_t *h)
{
	free(h);
}

static void close_start_handles(struct vnc_display *d)
{
	if (d->dfd) {
		uv_close((uv_handle_t *)d->dfd, handle_close_free);
		d->dfd = NULL;
	}
	if (d->start_timer) {
		uv_timer_stop(d->start_timer);
		uv_close((uv_handle_t *)d->start_timer, handle_close_free);
		d->start_timer = NULL;
	}
}

static void xvfb_exited(void *arg, uint64_t exec_id, const struct sess_exit *ex)
{
	uint64_t gen = (uint64_t)(uintptr_t)arg;

	for (struct vnc_display *d = V.head; d; d = d->next) {
		if (d->gen != gen)
			continue;
		d->xvfb_alive = false;
		if (d->state != D_STOPPED) {
			log_warn("display of session %s: Xvfb exited (status %d)", d->sid, ex->status);
			display_stop(d, "Xvfb exited");
		}
		return;
	}
}

/* ---- connecting (pool thread) ---------------------------------------------- */

struct connect_work {
	uv_work_t req;
	struct vnc_display *d;		/* held */
	char x11[512], fbdir[512];
	int want_w, want_h;
	/* results */
	char msg[256];
	xcb_connection_t *c;
	xcb_window_t root;
	int w, h;
	uint32_t damage;
	uint8_t damage_event;
	uint8_t cursor_event;
	uint8_t min_kc, max_kc;
	int per;
	uint32_t *syms;
	int fb_fd;
	size_t fb_off, fb_bpl;
	struct vnc_fbuf *fb;
};

static int open_x_socket(const char *dir, char *msg, size_t cap)
{
	auto_close int dfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	auto_close int sfd = -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int s;

	if (dfd < 0) {
		snprintf(msg, cap, "no display directory (%s)", strerror(errno));
		return -1;
	}
	/* The sandbox owns this directory: never follow a link it planted;
	   connect through the checked inode itself. */
	sfd = openat(dfd, "X0", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0 || fstat(sfd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		snprintf(msg, cap, "Xvfb made no socket");
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", sfd);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(msg, cap, "cannot connect to Xvfb: %s", strerror(errno));
		if (s >= 0)
			close(s);
		return -1;
	}
	return s;
}

/* Read the XWD header of Xvfb's framebuffer file. */
static int open_fb(struct connect_work *cw)
{
	auto_close int dfd = open(cw->fbdir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	uint32_t hd[25];
	struct stat st;
	int fd;

	if (dfd < 0 || (fd = openat(dfd, "Xvfb_screen0", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		snprintf(cw->msg, sizeof(cw->msg), "no framebuffer file");
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || pread(fd, hd, sizeof(hd), 0) != sizeof(hd)) {
		close(fd);
		snprintf(cw->msg, sizeof(cw->msg), "bad framebuffer file");
		return -1;
	}
	for (int i = 0; i < 25; i++)
		hd[i] = ntohl(hd[i]);
	/* header_size, ..., [4] width, [5] height, [7] byte order, [11] bpp,
	   [12] bytes per line, [14..16] masks, [19] ncolors */
	if (hd[11] != 32 || (int)hd[4] != cw->w || (int)hd[5] != cw->h || hd[12] < hd[4] * 4 ||
	    hd[7] != 0 || hd[14] != 0xff0000 || hd[15] != 0xff00 || hd[16] != 0xff || hd[19] > 65536 ||
	    hd[0] > 65536) {
		close(fd);
		snprintf(cw->msg, sizeof(cw->msg), "unexpected framebuffer format (%u bpp, %ux%u)", hd[11], hd[4],
			 hd[5]);
		return -1;
	}
	cw->fb_fd = fd;
	cw->fb_off = hd[0] + (size_t)hd[19] * 12;
	cw->fb_bpl = hd[12];
	return 0;
}

static void connect_work(uv_work_t *req)
{
	struct connect_work *cw = req->data;
	xcb_generic_error_t *e = NULL;
	int fd;

	cw->fb_fd = -1;
	fd = open_x_socket(cw->x11, cw->msg, sizeof(cw->msg));
	if (fd < 0)
		return;
	cw->c = xcb_connect_to_fd(fd, NULL);
	if (xcb_connection_has_error(cw->c)) {
		snprintf(cw->msg, sizeof(cw->msg), "X connection failed");
		goto fail;
	}
	const xcb_setup_t *setup = xcb_get_setup(cw->c);
	xcb_screen_t *scr = xcb_setup_roots_iterator(setup).data;
	cw->root = scr->root;
	cw->w = scr->width_in_pixels;
	cw->h = scr->height_in_pixels;
	cw->min_kc = setup->min_keycode;
	cw->max_kc = setup->max_keycode;

	xcb_xfixes_query_version_reply_t *xf =
		xcb_xfixes_query_version_reply(cw->c, xcb_xfixes_query_version(cw->c, 5, 0), &e);
	xcb_damage_query_version_reply_t *dm =
		xf ? xcb_damage_query_version_reply(cw->c, xcb_damage_query_version(cw->c, 1, 1), &e) : NULL;
	xcb_test_get_version_reply_t *xt =
		dm ? xcb_test_get_version_reply(cw->c, xcb_test_get_version(cw->c, 2, 2), &e) : NULL;
	free(xf);
	free(dm);
	free(e);
	if (!xt) {
		snprintf(cw->msg, sizeof(cw->msg), "Xvfb lacks XFIXES, DAMAGE or XTEST");
		goto fail;
	}
	free(xt);
	const xcb_query_extension_reply_t *ext = xcb_get_extension_data(cw->c, &xcb_damage_id);
	cw->damage_event = ext->first_event + XCB_DAMAGE_NOTIFY;
	cw->damage = xcb_generate_id(cw->c);
	xcb_damage_create(cw->c, cw->damage, cw->root, XCB_DAMAGE_REPORT_LEVEL_RAW_RECTANGLES);
	/* the cursor's shape, for VNC clients that draw it themselves */
	ext = xcb_get_extension_data(cw->c, &xcb_xfixes_id);
	cw->cursor_event = ext->first_event + XCB_XFIXES_CURSOR_NOTIFY;
	xcb_xfixes_select_cursor_input(cw->c, cw->root, XCB_XFIXES_CURSOR_NOTIFY_MASK_DISPLAY_CURSOR);

	/* a plain background and an arrow cursor instead of X's weave and cross */
	uint32_t bg = BACKGROUND;
	xcb_change_window_attributes(cw->c, cw->root, XCB_CW_BACK_PIXEL, &bg);
	xcb_font_t font = xcb_generate_id(cw->c);
	xcb_cursor_t cur = xcb_generate_id(cw->c);
	xcb_open_font(cw->c, font, 6, "cursor");
	xcb_create_glyph_cursor(cw->c, cur, font, font, 68, 69, 0, 0, 0, 0xffff, 0xffff, 0xffff); /* left_ptr */
	xcb_change_window_attributes(cw->c, cw->root, XCB_CW_CURSOR, &cur);
	xcb_free_cursor(cw->c, cur);
	xcb_close_font(cw->c, font);
	xcb_clear_area(cw->c, 0, cw->root, 0, 0, 0, 0);

	xcb_get_keyboard_mapping_reply_t *km = xcb_get_keyboard_mapping_reply(
		cw->c, xcb_get_keyboard_mapping(cw->c, cw->min_kc, (uint8_t)(cw->max_kc - cw->min_kc + 1)), &e);
	if (!km) {
		free(e);
		snprintf(cw->msg, sizeof(cw->msg), "cannot read the keyboard map");
		goto fail;
	}
	cw->per = km->keysyms_per_keycode;
	size_t n = (size_t)xcb_get_keyboard_mapping_keysyms_length(km);
	cw->syms = xcalloc((size_t)(cw->max_kc - cw->min_kc + 1) * (size_t)(cw->per ? cw->per : 1), sizeof(uint32_t));
	memcpy(cw->syms, xcb_get_keyboard_mapping_keysyms(km), n * sizeof(uint32_t));
	free(km);
	/* everything above has been processed once this answers */
	free(xcb_get_input_focus_reply(cw->c, xcb_get_input_focus(cw->c), NULL));
	if (xcb_connection_has_error(cw->c)) {
		snprintf(cw->msg, sizeof(cw->msg), "X connection broke during set-up");
		goto fail;
	}
	if (open_fb(cw) < 0)
		goto fail;
	cw->fb = fbuf_new(cw->w, cw->h);
	for (int y = 0; y < cw->h; y++)
		if (pread(cw->fb_fd, cw->fb->pix + (size_t)y * cw->fb->stride, cw->fb->stride,
			  (off_t)(cw->fb_off + (size_t)y * cw->fb_bpl)) < 0)
			break;
	return;
fail:
	if (cw->c)
		xcb_disconnect(cw->c);
	cw->c = NULL;
	free(cw->syms);
	cw->syms = NULL;
}

static void x_poll_cb(uv_poll_t *h, int status, int events);

static void find_spares(struct vnc_display *d)
{
	d->nspare = 0;
	for (int kc = d->max_kc; kc >= d->min_kc && d->nspare < NSPARE; kc--) {
		bool empty = true;
		for (int i = 0; i < d->per; i++)
			if (d->syms[(kc - d->min_kc) * d->per + i])
				empty = false;
		if (empty)
			d->spare[d->nspare++] = (uint8_t)kc;
	}
}

static int keycode_for(struct vnc_display *d, uint32_t sym, bool *shift);
static void cursor_ask(struct vnc_display *d);

static void connect_done(uv_work_t *req, int status)
{
	struct connect_work *cw = req->data;
	struct vnc_display *d = cw->d;

	if (d->state != D_CONNECTING || !d->s) {
		/* stopped meanwhile */
		if (cw->c)
			xcb_disconnect(cw->c);
		if (cw->fb_fd >= 0)
			close(cw->fb_fd);
		vnc_fbuf_put(cw->fb);
		free(cw->syms);
		free(cw);
		display_put(d);
		return;
	}
	if (!cw->c) {
		log_warn("display of session %s: %s", d->sid, cw->msg);
		char msg[300];
		snprintf(msg, sizeof(msg), "%s", cw->msg);
		free(cw);
		display_stop(d, msg);
		display_put(d);
		return;
	}
	d->c = cw->c;
	d->root = cw->root;
	d->w = cw->w;
	d->h = cw->h;
	d->damage = cw->damage;
	d->damage_event = cw->damage_event;
	d->cursor_event = cw->cursor_event;
	d->min_kc = cw->min_kc;
	d->max_kc = cw->max_kc;
	d->per = cw->per;
	free(d->syms);
	d->syms = cw->syms;
	d->fb_fd = cw->fb_fd;
	d->fb_off = cw->fb_off;
	d->fb_bpl = cw->fb_bpl;
	d->fb = cw->fb;
	d->px = d->w / 2;
	d->py = d->h / 2;
	d->buttons = 0;
	find_spares(d);
	bool sh;
	int kc = keycode_for(d, XK_Shift_L, &sh);
	d->kc_shift = kc > 0 ? (uint8_t)kc : 0;
	free(cw);
	d->xpoll = xcalloc(1, sizeof(*d->xpoll));
	uv_poll_init(V.loop, d->xpoll, xcb_get_file_descriptor(d->c));
	d->xpoll->data = d;
	uv_poll_start(d->xpoll, UV_READABLE, x_poll_cb);
	d->state = D_READY;
	d->ready_ms = now_ms();
	d->last_use_ms = d->ready_ms;
	log_info("display of session %s: %dx%d ready in %llu ms", d->sid, d->w, d->h,
		 (unsigned long long)(d->ready_ms - d->start_ms));
	if (V.cfg->vnc_tcp) {
		struct err *e = NULL;
		d->tcp_port = vnc_tcp_listen(d, &e);
		if (d->tcp_port < 0) {
			log_warn("display of session %s: VNC TCP port: %s", d->sid, e->msg);
			err_free(e);
		}
	}
	cursor_ask(d);
	x_drain(d);
	run_waiters(d, NULL);
	display_put(d);
}

static void start_connect(struct vnc_display *d)
{
	struct connect_work *cw = xcalloc(1, sizeof(*cw));
	const struct sess_host_info *host = sess_registry_host(V.reg);

	close_start_handles(d);
	d->state = D_CONNECTING;
	cw->d = d;
	d->refs++;
	cw->w = d->req_w;
	cw->h = d->req_h;
	snprintf(cw->x11, sizeof(cw->x11), "%s/%s/x11", host->display_root, d->sid);
	snprintf(cw->fbdir, sizeof(cw->fbdir), "%s/%s/fb", host->display_root, d->sid);
	cw->req.data = cw;
	uv_queue_work(V.loop, &cw->req, connect_work, connect_done);
}

static void dfd_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char tmp[64];
	b->base = tmp;
	b->len = sizeof(tmp);
}

static void dfd_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct vnc_display *d = s->data;

	if (n > 0) {
		buf_add(&d->dfd_buf, b->base, (size_t)n);
		if (memchr(d->dfd_buf.data, '\n', d->dfd_buf.len))
			start_connect(d);
		return;
	}
	if (n < 0) {
		d->refs++;
		display_stop(d, "Xvfb did not start (is the xvfb package installed?)");
		forget_if_deleted(d);
		display_put(d);
	}
}

static void start_timeout(uv_timer_t *t)
{
	display_stop(t->data, "Xvfb did not become ready in time");
}

static const char *const xvfb_env[] = {
	"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/workspace", "LANG=C.UTF-8", "TMPDIR=/tmp", NULL,
};

static void display_start(struct vnc_display *d)
{
	struct sess_session *s = d->s;
	char geom[64];
	int p[2];
	auto_err struct err *e = NULL;

	if (!s->worker || s->state != SESS_RUNNING) {
		run_waiters(d, "the session's sandbox is not running");
		return;
	}
	if (!d->req_w) {
		d->req_w = VNC_DEFAULT_W;
		d->req_h = VNC_DEFAULT_H;
	}
	snprintf(geom, sizeof(geom), "%dx%dx24", d->req_w, d->req_h);
	const char *argv[] = {
		"/usr/bin/Xvfb", ":0", "-screen", "0", geom, "-fbdir", "/run/mcpbox/display", "-nolisten", "tcp",
		"-nolisten", "local",	/* no abstract socket: a network session shares the host namespace */
		"-ac", "-noreset", "-extension", "GLX", "-displayfd", "3", NULL,
	};
	if (pipe2(p, O_CLOEXEC) < 0) {
		run_waiters(d, "cannot make a pipe");
		return;
	}
	struct sess_spawn sp = {
		.argv = argv,
		.envp = xvfb_env,
		.cwd = "/tmp",
		.fds = { -1, -1, -1, p[1], -1, -1, -1, -1 },
		.nfds = 4,
		.limits = s->limits,
	};
	d->gen = ++V.gen;
	d->start_ms = now_ms();
	if (sess_worker_spawn(s->worker, &sp, xvfb_exited, (void *)(uintptr_t)d->gen, &d->exec_id, &e) < 0) {
		close(p[0]);
		close(p[1]);
		run_waiters(d, e->msg);
		return;
	}
	close(p[1]);
	d->worker = s->worker;
	d->xvfb_alive = true;
	d->state = D_STARTING;
	buf_reset(&d->dfd_buf);
	d->dfd = xcalloc(1, sizeof(*d->dfd));
	uv_pipe_init(V.loop, d->dfd, 0);
	uv_pipe_open(d->dfd, p[0]);
	d->dfd->data = d;
	uv_read_start((uv_stream_t *)d->dfd, dfd_alloc, dfd_read);
	d->start_timer = xcalloc(1, sizeof(*d->start_timer));
	uv_timer_init(V.loop, d->start_timer);
	d->start_timer->data = d;
	uv_timer_start(d->start_timer, start_timeout, START_TIMEOUT_MS, 0);
}

/* Back to STOPPED: Xvfb killed, connection and copies released, waiters failed. */
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
	if (d->xpoll) {
		uv_poll_stop(d->xpoll);
		uv_close((uv_handle_t *)d->xpoll, handle_close_free);
		d->xpoll = NULL;
	}
	if (d->c) {
		xcb_disconnect(d->c);
		d->c = NULL;
	}
	d->cursor_asked = false;
	free(d->cursor);
	d->cursor = NULL;
	if (d->fb_fd >= 0) {
		close(d->fb_fd);
		d->fb_fd = -1;
	}
	vnc_fbuf_put(d->fb);
	d->fb = NULL;
	d->ndmg = 0;
	if (d->xvfb_alive && d->worker && d->s && d->s->worker == d->worker)
		sess_worker_kill(d->worker, d->exec_id, SIGKILL, NULL);
	d->xvfb_alive = false;
	d->worker = NULL;
	d->state = D_STOPPED;
	/* finish what waited on the X server */
	while (d->syncs) {
		struct xsync *x = d->syncs;
		struct err *e = NULL;
		d->syncs = x->next;
		err_set(&e, 0, "display stopped: %s", why);
		x->cb(x->arg, e);
		free(x);
	}
	d->syncs_tail = NULL;
	while (d->quiets) {
		struct quiet *q = d->quiets;
		d->quiets = q->next;
		q->cb(q->arg);
		free(q);
	}
	if (d->quiet_timer) {
		uv_timer_stop(d->quiet_timer);
		uv_close((uv_handle_t *)d->quiet_timer, handle_close_free);
		d->quiet_timer = NULL;
	}
	run_waiters(d, why);
	log_info("display of session %s stopped: %s", d->sid, why);
	display_put(d);
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
		display_put(d);
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

int vnc_display_configure(struct sess_session *s, int w, int h, bool start, struct err **errp)
{
	if (w || h) {
		if (w < 64 || h < 64 || w > VNC_MAX_W || h > VNC_MAX_H)
			return err_set(errp, 0, "display size %dx%d out of range (64x64 to %dx%d)", w, h, VNC_MAX_W,
				       VNC_MAX_H);
	}
	struct vnc_display *d = display_get(s, true);
	if (!d)
		return err_set(errp, 0, "the session was deleted");
	if (w) {
		d->req_w = w;
		d->req_h = h;
	}
	if (start)
		sess_when_ready(s, configured_ready, NULL);
	return 0;
}

/* ---- X events, damage ------------------------------------------------------ */

/* Read the changed rows into the private copy (write lock; retried later if
   a screenshot holds the read lock). */
static void damage_flush(struct vnc_display *d)
{
	struct vnc_rect rs[MAX_DAMAGE];
	int n = d->ndmg;

	if (!n || !d->fb || d->fb_fd < 0)
		return;
	if (pthread_rwlock_trywrlock(&d->fb->lock) != 0)
		return;	/* the screenshot's after-work callback flushes */
	memcpy(rs, d->dmg, sizeof(rs[0]) * (size_t)n);
	d->ndmg = 0;
	/* merge the row ranges, then one pread per range */
	for (int i = 0; i < n; i++) {
		for (int j = i + 1; j < n; j++) {
			if (rs[j].y < rs[i].y) {
				struct vnc_rect t = rs[i];
				rs[i] = rs[j];
				rs[j] = t;
			}
		}
	}
	int y0 = -1, y1 = -1;
	for (int i = 0; i <= n; i++) {
		if (i < n && y0 >= 0 && rs[i].y <= y1) {
			if (rs[i].y + rs[i].h > y1)
				y1 = rs[i].y + rs[i].h;
			continue;
		}
		if (y0 >= 0) {
			for (int y = y0; y < y1; y++)
				if (pread(d->fb_fd, d->fb->pix + (size_t)y * d->fb->stride, d->fb->stride,
					  (off_t)(d->fb_off + (size_t)y * d->fb_bpl)) <= 0)
					break;
		}
		if (i < n) {
			y0 = rs[i].y;
			y1 = rs[i].y + rs[i].h;
		}
	}
	pthread_rwlock_unlock(&d->fb->lock);
	if (d->srv)
		vnc_srv_damage(d->srv, rs, n);
	if (d->srv_tcp)
		vnc_srv_damage(d->srv_tcp, rs, n);
}

static void add_damage(struct vnc_display *d, int x, int y, int w, int h)
{
	if (x < 0) {
		w += x;
		x = 0;
	}
	if (y < 0) {
		h += y;
		y = 0;
	}
	if (x + w > d->w)
		w = d->w - x;
	if (y + h > d->h)
		h = d->h - y;
	if (w <= 0 || h <= 0)
		return;
	if (d->ndmg == MAX_DAMAGE) {
		/* too many: one bounding box */
		int x0 = x, y0 = y, x1 = x + w, y1 = y + h;
		for (int i = 0; i < d->ndmg; i++) {
			struct vnc_rect *r = &d->dmg[i];
			if (r->x < x0) x0 = r->x;
			if (r->y < y0) y0 = r->y;
			if (r->x + r->w > x1) x1 = r->x + r->w;
			if (r->y + r->h > y1) y1 = r->y + r->h;
		}
		d->ndmg = 1;
		d->dmg[0] = (struct vnc_rect){ x0, y0, x1 - x0, y1 - y0 };
		return;
	}
	d->dmg[d->ndmg++] = (struct vnc_rect){ x, y, w, h };
}

static void quiet_check(struct vnc_display *d);

/* ---- the cursor's shape ------------------------------------------------------ */

/* The displayed cursor changed (or we never asked): ask for its image. */
static void cursor_ask(struct vnc_display *d)
{
	if (d->cursor_asked)
		return;		/* the answer in flight is at least as new as this event */
	d->cursor_seq = xcb_xfixes_get_cursor_image(d->c).sequence;
	d->cursor_asked = true;
	xcb_flush(d->c);
}

/* The image arrived: keep it and give it to the VNC screens. */
static void cursor_take(struct vnc_display *d)
{
	xcb_xfixes_get_cursor_image_reply_t *r = NULL;
	xcb_generic_error_t *e = NULL;

	if (!xcb_poll_for_reply(d->c, d->cursor_seq, (void **)&r, &e))
		return;
	d->cursor_asked = false;
	free(e);
	if (!r)
		return;
	int n = xcb_xfixes_get_cursor_image_cursor_image_length(r);
	if (r->width && r->height && r->width <= VNC_CURSOR_MAX && r->height <= VNC_CURSOR_MAX &&
	    n == r->width * r->height) {
		struct vnc_cursor *c = xmalloc(sizeof(*c) + (size_t)n * sizeof(uint32_t));
		c->w = r->width;
		c->h = r->height;
		c->xhot = r->xhot < r->width ? r->xhot : 0;
		c->yhot = r->yhot < r->height ? r->yhot : 0;
		memcpy(c->argb, xcb_xfixes_get_cursor_image_cursor_image(r), (size_t)n * sizeof(uint32_t));
		free(d->cursor);
		d->cursor = c;
		if (d->srv)
			vnc_srv_cursor(d->srv, c);
		if (d->srv_tcp)
			vnc_srv_cursor(d->srv_tcp, c);
	}
	free(r);
}

/* Take every event and reply XCB has or can read now. */
static void x_drain(struct vnc_display *d)
{
	xcb_generic_event_t *ev;

	if (!d->c)
		return;
	while ((ev = xcb_poll_for_event(d->c))) {
		uint8_t type = ev->response_type & 0x7f;
		if (type == d->damage_event) {
			xcb_damage_notify_event_t *dn = (void *)ev;
			add_damage(d, dn->area.x, dn->area.y, dn->area.width, dn->area.height);
			d->last_damage_ms = now_ms();
		} else if (type == d->cursor_event) {
			cursor_ask(d);
		} else if (type == 0) {
			xcb_generic_error_t *e = (void *)ev;
			log_debug("display of session %s: X error %d (request %d)", d->sid, e->error_code,
				  e->major_code);
		}
		free(ev);
	}
	while (d->syncs) {
		void *reply = NULL;
		xcb_generic_error_t *e = NULL;
		if (!xcb_poll_for_reply(d->c, d->syncs->seq, &reply, &e))
			break;
		free(reply);
		free(e);
		struct xsync *x = d->syncs;
		d->syncs = x->next;
		if (!d->syncs)
			d->syncs_tail = NULL;
		x->cb(x->arg, NULL);
		free(x);
		if (!d->c)
			return;
	}
	if (d->cursor_asked)
		cursor_take(d);
	if (xcb_connection_has_error(d->c)) {
		display_stop(d, "the X connection broke");
		return;
	}
	damage_flush(d);
	if (d->quiets)
		quiet_check(d);
}

/* After the X side ended: a display whose session is gone goes too (at
   shutdown this is how displays let go of their sessions). */
static void forget_if_deleted(struct vnc_display *d)
{
	if (d->state == D_STOPPED && d->s && d->s->state == SESS_DELETED)
		display_remove(d);
}

static void x_poll_cb(uv_poll_t *h, int status, int events)
{
	struct vnc_display *d = h->data;

	d->refs++;
	if (status < 0)
		display_stop(d, "the X connection broke");
	else
		x_drain(d);
	forget_if_deleted(d);
	display_put(d);
}

/* Send what is queued; the reply to a GetInputFocus then tells us the X
   server has processed everything before it. */
static void x_sync(struct vnc_display *d, void (*cb)(void *arg, struct err *err), void *arg)
{
	struct xsync *x = xcalloc(1, sizeof(*x));

	x->seq = xcb_get_input_focus(d->c).sequence;
	x->cb = cb;
	x->arg = arg;
	if (d->syncs_tail)
		d->syncs_tail->next = x;
	else
		d->syncs = x;
	d->syncs_tail = x;
	xcb_flush(d->c);
	x_drain(d);
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
			snprintf(sw->msg, sizeof(sw->msg), "%s", e->msg);
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
	display_put(d);
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
	damage_flush(d);
	sw = xcalloc(1, sizeof(*sw));
	sw->d = d;
	d->refs++;
	sw->fb = d->fb;
	d->fb->refs++;
	sw->o = *o;
	sw->shot.jpeg = o->jpeg;
	sw->cb = cb;
	sw->arg = arg;
	sw->w.data = sw;
	uv_queue_work(V.loop, &sw->w, shot_work, shot_done);
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

/* ---- input ---------------------------------------------------------------------- */

static int keycode_for(struct vnc_display *d, uint32_t sym, bool *shift)
{
	int n = d->max_kc - d->min_kc + 1;

	for (int col = 0; col < 2 && col < d->per; col++) {
		for (int i = 0; i < n; i++) {
			if (d->syms[i * d->per + col] == sym) {
				*shift = col == 1;
				return d->min_kc + i;
			}
		}
	}
	*shift = false;
	return 0;
}

/* A keycode that types sym, mapping a spare one when the keymap has none. */
static int keycode_map(struct vnc_display *d, uint32_t sym, bool *shift)
{
	int kc = keycode_for(d, sym, shift);

	if (kc || !d->nspare)
		return kc;
	kc = d->spare[d->next_spare];
	d->next_spare = (d->next_spare + 1) % d->nspare;
	uint32_t *row = &d->syms[(kc - d->min_kc) * d->per];
	for (int i = 0; i < d->per; i++)
		row[i] = i < 2 ? sym : 0;
	xcb_change_keyboard_mapping(d->c, 1, (xcb_keycode_t)kc, (uint8_t)d->per, row);
	*shift = false;
	return kc;
}

static void fake(struct vnc_display *d, uint8_t type, uint8_t detail, int x, int y)
{
	xcb_test_fake_input(d->c, type, detail, XCB_CURRENT_TIME, d->root, (int16_t)x, (int16_t)y, 0);
}

static void move_to(struct vnc_display *d, int x, int y)
{
	if (x < 0 || y < 0)
		return;
	d->px = x;
	d->py = y;
	fake(d, XCB_MOTION_NOTIFY, 0, x, y);
}

static void button(struct vnc_display *d, int b, bool down)
{
	if (b < 1 || b > 31)
		return;
	fake(d, down ? XCB_BUTTON_PRESS : XCB_BUTTON_RELEASE, (uint8_t)b, 0, 0);
	if (down)
		d->buttons |= 1 << (b - 1);
	else
		d->buttons &= ~(1 << (b - 1));
}

static void key(struct vnc_display *d, uint32_t sym, bool down, bool with_shift)
{
	bool shift;
	int kc = keycode_map(d, sym, &shift);

	if (!kc)
		return;
	if (with_shift && shift && d->kc_shift && down)
		fake(d, XCB_KEY_PRESS, d->kc_shift, 0, 0);
	fake(d, down ? XCB_KEY_PRESS : XCB_KEY_RELEASE, (uint8_t)kc, 0, 0);
	if (with_shift && shift && d->kc_shift && !down)
		fake(d, XCB_KEY_RELEASE, d->kc_shift, 0, 0);
}

struct vnc_input {
	struct vnc_display *d;		/* held */
	struct vnc_action *acts;
	size_t n, next;
	uv_timer_t *timer;
	bool waiting;			/* in a wait action: the timer runs */
	bool cancelled;
	int pressed;			/* buttons pressed by this job's down actions (bit b-1) */
	struct vnc_input **handle;	/* the caller's pointer to this job, cleared at the end */
	void (*cb)(void *arg, struct err *err);
	void *arg;
};

static void input_continue(struct vnc_input *j);

static void input_wait_done(uv_timer_t *t)
{
	struct vnc_input *j = t->data;
	j->waiting = false;
	input_continue(j);
}

static void input_synced(void *arg, struct err *err)
{
	struct vnc_input *j = arg;
	struct vnc_display *d = j->d;

	if (j->timer)
		uv_close((uv_handle_t *)j->timer, handle_close_free);
	if (j->cancelled && !err)
		err_set(&err, ECANCELED, "cancelled");
	if (j->handle)
		*j->handle = NULL;
	for (size_t i = 0; i < j->n; i++)
		free(j->acts[i].syms);
	free(j->acts);
	j->cb(j->arg, err);
	free(j);
	display_put(d);
}

static void input_continue(struct vnc_input *j)
{
	struct vnc_display *d = j->d;

	if (d->state != D_READY) {
		struct err *e = NULL;
		err_set(&e, 0, "display stopped");
		input_synced(j, e);
		return;
	}
	while (j->next < j->n) {
		const struct vnc_action *a = &j->acts[j->next++];
		switch (a->type) {
		case VNC_ACT_MOVE:
			move_to(d, a->x, a->y);
			break;
		case VNC_ACT_CLICK:
			move_to(d, a->x, a->y);
			for (int i = 0; i < (a->count > 0 ? a->count : 1); i++) {
				button(d, a->button, true);
				button(d, a->button, false);
			}
			break;
		case VNC_ACT_DOWN:
			if (a->x >= 0)
				move_to(d, a->x, a->y);
			button(d, a->button, true);
			j->pressed |= 1 << (a->button - 1);
			break;
		case VNC_ACT_UP:
			if (a->x >= 0)
				move_to(d, a->x, a->y);
			button(d, a->button, false);
			j->pressed &= ~(1 << (a->button - 1));
			break;
		case VNC_ACT_DRAG: {
			move_to(d, a->x, a->y);
			button(d, a->button ? a->button : 1, true);
			for (int i = 1; i <= 8; i++)
				move_to(d, a->x + (a->x2 - a->x) * i / 8, a->y + (a->y2 - a->y) * i / 8);
			button(d, a->button ? a->button : 1, false);
			break;
		}
		case VNC_ACT_SCROLL: {
			move_to(d, a->x, a->y);
			int b = a->dy > 0 ? 5 : 4, n = a->dy > 0 ? a->dy : -a->dy;
			for (int i = 0; i < n; i++) {
				button(d, b, true);
				button(d, b, false);
			}
			b = a->dx > 0 ? 7 : 6;
			n = a->dx > 0 ? a->dx : -a->dx;
			for (int i = 0; i < n; i++) {
				button(d, b, true);
				button(d, b, false);
			}
			break;
		}
		case VNC_ACT_TYPE:
			for (int i = 0; i < a->nsyms; i++) {
				key(d, a->syms[i], true, true);
				key(d, a->syms[i], false, true);
			}
			break;
		case VNC_ACT_KEY:
			for (int i = 0; i < a->nsyms; i++)
				key(d, a->syms[i], true, false);
			for (int i = a->nsyms - 1; i >= 0; i--)
				key(d, a->syms[i], false, false);
			break;
		case VNC_ACT_WAIT:
			xcb_flush(d->c);
			if (!j->timer) {
				j->timer = xcalloc(1, sizeof(*j->timer));
				uv_timer_init(V.loop, j->timer);
				j->timer->data = j;
			}
			uv_timer_start(j->timer, input_wait_done, (uint64_t)a->ms, 0);
			j->waiting = true;
			return;
		}
	}
	x_sync(d, input_synced, j);
}

void vnc_input_cancel(struct vnc_input *j)
{
	struct vnc_display *d = j->d;

	if (j->cancelled)
		return;
	j->cancelled = true;
	j->next = j->n;		/* nothing more is sent */
	if (d->state == D_READY)
		for (int b = 1; b <= 8; b++)
			if (j->pressed & (1 << (b - 1)))
				button(d, b, false);	/* no button stays held by a cancelled drag */
	j->pressed = 0;
	if (j->waiting) {
		/* cut the wait short; otherwise a round trip is in flight and ends the job */
		uv_timer_stop(j->timer);
		j->waiting = false;
		input_continue(j);
	}
}

void vnc_display_input(struct vnc_display *d, const struct vnc_action *acts, size_t n,
		       void (*cb)(void *arg, struct err *err), void *arg, struct vnc_input **handle)
{
	struct vnc_input *j = xcalloc(1, sizeof(*j));

	d->last_use_ms = now_ms();
	j->d = d;
	d->refs++;
	j->acts = xcalloc(n ? n : 1, sizeof(*acts));
	for (size_t i = 0; i < n; i++) {
		j->acts[i] = acts[i];
		if (acts[i].nsyms) {
			j->acts[i].syms = xcalloc((size_t)acts[i].nsyms, sizeof(uint32_t));
			memcpy(j->acts[i].syms, acts[i].syms, sizeof(uint32_t) * (size_t)acts[i].nsyms);
		} else {
			j->acts[i].syms = NULL;
		}
	}
	j->n = n;
	j->cb = cb;
	j->arg = arg;
	j->handle = handle;
	if (handle)
		*handle = j;
	input_continue(j);
}

void vnc_display_viewer_pointer(struct vnc_display *d, int mask, int x, int y)
{
	if (d->state != D_READY)
		return;
	d->last_use_ms = now_ms();
	if (x != d->px || y != d->py)
		move_to(d, x, y);
	for (int b = 1; b <= 8; b++) {
		bool want = mask & (1 << (b - 1)), have = d->buttons & (1 << (b - 1));
		if (want != have)
			button(d, b, want);
	}
	xcb_flush(d->c);
	x_drain(d);
}

void vnc_display_viewer_key(struct vnc_display *d, bool down, uint32_t keysym)
{
	if (d->state != D_READY)
		return;
	d->last_use_ms = now_ms();
	/* the viewer sends its own Shift presses */
	key(d, keysym, down, false);
	xcb_flush(d->c);
	x_drain(d);
}

struct vnc_srv *vnc_display_srv(struct vnc_display *d, bool tcp, struct err **errp)
{
	struct vnc_srv **sp = tcp ? &d->srv_tcp : &d->srv;

	if (d->state != D_READY || !d->fb)
		return err_set(errp, 0, "display is not running"), NULL;
	if (!*sp) {
		*sp = vnc_srv_new(d, d->fb, errp);
		if (*sp && tcp && V.cfg->vnc_password)
			vnc_srv_set_password(*sp, V.cfg->vnc_password);
		if (*sp && d->cursor)
			vnc_srv_cursor(*sp, d->cursor);
	}
	return *sp;
}

bool vnc_display_running(const struct vnc_display *d)
{
	return d->state == D_READY;
}

struct sess_session *vnc_session_find(const char *sid, const char *owner)
{
	return V.reg ? sess_find(V.reg, sid, owner) : NULL;
}

const struct srv_config *vnc_config(void)
{
	return V.cfg;
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
	V.inited = false;
}

void vnc_set_http_base(const char *host, int port)
{
	struct buf b = BUF_INIT;
	bool v6 = strchr(host, ':') != NULL;

	if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::"))
		host = "127.0.0.1";
	buf_addf(&b, "http://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
	free(V.http_base);
	V.http_base = buf_detach(&b);
}

json_t *vnc_display_info(struct sess_session *s, const char *principal)
{
	struct vnc_display *d = display_get(s, false);
	static const char *const names[] = { "stopped", "starting", "starting", "running" };
	json_t *o;

	if (!d)
		return NULL;
	o = json_pack("{s:s, s:i, s:i, s:i}", "status", names[d->state], "width",
		      d->state == D_READY ? d->w : d->req_w ? d->req_w : VNC_DEFAULT_W, "height",
		      d->state == D_READY ? d->h : d->req_h ? d->req_h : VNC_DEFAULT_H, "viewers",
		      (int)vnc_viewer_count(d));
	if (V.http_base && principal && !strcmp(principal, d->owner)) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s/sessions/%s/view?token=%s", V.http_base, d->sid, vnc_token_get(d->sid, d->owner, false));
		json_object_set_new(o, "view_url", json_string(b.data));
		buf_reset(&b);
		buf_addf(&b, "%s/sessions/%s/view?token=%s", V.http_base, d->sid, vnc_token_get(d->sid, d->owner, true));
		json_object_set_new(o, "control_url", json_string(b.data));
		buf_release(&b);
		json_object_set_new(o, "token_ttl_s", json_integer((json_int_t)V.cfg->view_token_ttl_s));
	}
	if (d->tcp_port > 0)
		json_object_set_new(o, "vnc_port", json_integer(d->tcp_port));
	return o;
}
