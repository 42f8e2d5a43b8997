/*
 * rfb.c — the VNC protocol server: one libvncserver screen per display. This
 * file alone is the module mcpbox-rfb.so (server/module.h), so libvncserver
 * and its TLS stack load only when the first viewer connects.
 *
 * Integration with libvncserver (0.9.14), chosen knowingly:
 *  - No listening socket of its own (port -1): every client arrives through a
 *    socketpair (server.c bridges the other end).
 *  - Threaded clients (backgroundLoop + rfbStartOnHoldClient): its blocking
 *    reads and select() waits run on the client's threads, never the loop.
 *    select() breaks on fds >= FD_SETSIZE, so a client socket is moved to
 *    the lowest free fd and refused when even that is too high.
 *  - Hooks run on client threads: viewer input is queued and injected on the
 *    loop (uv_async).
 */
#include "rfb.h"
#include "../server/base/common.h"
#include "../server/base/log.h"

#include <fcntl.h>
#include <rfb/rfb.h>
#include <stdarg.h>
#include <string.h>

#include "../server/base/banned.h"

/* ---- logging ------------------------------------------------------------ */

static void rfb_to_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_debug("vnc: %s", line);
}

/* ---- viewer input from client threads ---------------------------------------- */

struct vevent {
	char sid[64];
	bool key;
	int a, b, c;		/* key: down, keysym; pointer: mask, x, y */
	struct vevent *next;
};

static struct {
	pthread_mutex_t mu;
	struct vevent *head, *tail;
	uv_async_t async;
	bool inited;
} Q = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void queue_push(const char *sid, bool key, int a, int b, int c)
{
	struct vevent *e = xcalloc(1, sizeof(*e));

	snprintf(e->sid, sizeof(e->sid), "%s", sid);
	e->key = key;
	e->a = a;
	e->b = b;
	e->c = c;
	pthread_mutex_lock(&Q.mu);
	if (Q.tail)
		Q.tail->next = e;
	else
		Q.head = e;
	Q.tail = e;
	pthread_mutex_unlock(&Q.mu);
	uv_async_send(&Q.async);
}

static void queue_drain(uv_async_t *a)
{
	struct vevent *e;

	pthread_mutex_lock(&Q.mu);
	e = Q.head;
	Q.head = Q.tail = NULL;
	pthread_mutex_unlock(&Q.mu);
	while (e) {
		struct vevent *next = e->next;
		struct vnc_display *d = vnc_display_find(e->sid, NULL);
		if (d) {
			if (e->key)
				vnc_display_viewer_key(d, e->a != 0, (uint32_t)e->b);
			else
				vnc_display_viewer_pointer(d, e->a, e->b, e->c);
		}
		free(e);
		e = next;
	}
}

static void queue_init(void)
{
	if (Q.inited)
		return;
	uv_async_init(uv_default_loop(), &Q.async, queue_drain);
	uv_unref((uv_handle_t *)&Q.async);
	Q.inited = true;
	rfbLog = rfb_to_log;
	rfbErr = rfb_to_log;
}

/* ---- screens ------------------------------------------------------------------ */

#define MAX_SHAPES 64	/* distinct cursor shapes kept per screen (X has a few dozen) */

struct vnc_srv {
	rfbScreenInfoPtr scr;
	char *sid;
	struct vnc_fbuf *fb;	/* held */
	char *passwds[2];
	/* Cursor shapes. Client threads may be sending any shape that was ever
	   current, so shapes live as long as the screen; cursor_mu guards current. */
	pthread_mutex_t cursor_mu;
	rfbCursorPtr current;
	rfbCursorPtr shapes[MAX_SHAPES];
	uint64_t shape_key[MAX_SHAPES];
	int nshapes;
	bool shapes_full_logged;
};

/* client threads */
static void on_ptr(int mask, int x, int y, rfbClientPtr cl)
{
	struct vnc_srv *s = cl->screen->screenData;
	queue_push(s->sid, false, mask, x, y);
}

static void on_key(rfbBool down, rfbKeySym sym, rfbClientPtr cl)
{
	struct vnc_srv *s = cl->screen->screenData;
	queue_push(s->sid, true, down, (int)sym, 0);
}

/* Which shape a client gets (client threads): the current one with control;
   none (an empty shape) for watchers, who see the cursor Xvfb draws. The
   screen's own cursor stays NULL, so libvncserver never draws into the
   shared framebuffer copy for clients without the Cursor encoding. */
static rfbCursorPtr cursor_for(rfbClientPtr cl)
{
	struct vnc_srv *s = cl->screen->screenData;
	rfbCursorPtr c;

	if (cl->viewOnly)
		return NULL;
	pthread_mutex_lock(&s->cursor_mu);
	c = s->current;
	pthread_mutex_unlock(&s->cursor_mu);
	return c;
}

static uint64_t cursor_key(const struct vnc_cursor *c)
{
	const int head[4] = { c->w, c->h, c->xhot, c->yhot };

	return fnv1a(fnv1a(FNV1A_INIT, head, sizeof(head)), c->argb, (size_t)c->w * (size_t)c->h * 4);
}

/* An rfbCursor from XFixes' premultiplied ARGB: colours un-premultiplied,
   the mask where a pixel is at least half opaque. */
static rfbCursorPtr cursor_build(rfbScreenInfoPtr scr, const struct vnc_cursor *in)
{
	rfbCursorPtr c = xcalloc(1, sizeof(*c));
	size_t n = (size_t)in->w * (size_t)in->h, bpl = ((size_t)in->w + 7) / 8;
	uint32_t *rich = xmalloc(n * 4);

	c->width = (unsigned short)in->w;
	c->height = (unsigned short)in->h;
	c->xhot = (unsigned short)in->xhot;
	c->yhot = (unsigned short)in->yhot;
	c->mask = xcalloc(bpl * (size_t)in->h, 1);
	for (int y = 0; y < in->h; y++)
		for (int x = 0; x < in->w; x++) {
			uint32_t p = in->argb[(size_t)y * (size_t)in->w + (size_t)x];
			unsigned a = p >> 24, r = (p >> 16) & 0xff, g = (p >> 8) & 0xff, b = p & 0xff;
			if (a && a < 255) {
				r = r * 255 / a;
				g = g * 255 / a;
				b = b * 255 / a;
				r = r > 255 ? 255 : r;
				g = g > 255 ? 255 : g;
				b = b > 255 ? 255 : b;
			}
			rich[(size_t)y * (size_t)in->w + (size_t)x] = r << 16 | g << 8 | b;	/* serverFormat */
			if (a >= 128)
				c->mask[(size_t)y * bpl + (size_t)x / 8] |= (unsigned char)(0x80 >> (x % 8));
		}
	c->richSource = (unsigned char *)rich;
	/* the two-colour form for clients that only know XCursor */
	rfbMakeXCursorFromRichCursor(scr, c);
	c->cleanup = c->cleanupSource = c->cleanupMask = c->cleanupRichSource = TRUE;
	return c;
}

static void set_cursor(struct vnc_srv *s, const struct vnc_cursor *in)
{
	uint64_t key = cursor_key(in);
	rfbCursorPtr c = NULL;
	rfbClientIteratorPtr it;
	rfbClientPtr cl;

	for (int i = 0; i < s->nshapes && !c; i++)
		if (s->shape_key[i] == key)
			c = s->shapes[i];
	if (!c) {
		if (s->nshapes == MAX_SHAPES) {
			if (!s->shapes_full_logged)
				log_info("vnc %s: more than %d cursor shapes; keeping the last one", s->sid, MAX_SHAPES);
			s->shapes_full_logged = true;
			return;
		}
		c = cursor_build(s->scr, in);
		s->shape_key[s->nshapes] = key;
		s->shapes[s->nshapes++] = c;
	}
	pthread_mutex_lock(&s->cursor_mu);
	bool same = s->current == c;
	s->current = c;
	pthread_mutex_unlock(&s->cursor_mu);
	if (same)
		return;
	it = rfbGetClientIterator(s->scr);
	while ((cl = rfbClientIteratorNext(it)))
		cl->cursorWasChanged = TRUE;
	rfbReleaseClientIterator(it);
	/* wake the clients' output threads */
	rfbMarkRectAsModified(s->scr, 0, 0, 1, 1);
}

static struct vnc_srv *screen_new(const char *sid, struct vnc_fbuf *fb, struct err **errp)
{
	struct vnc_srv *s = xcalloc(1, sizeof(*s));

	queue_init();
	s->scr = rfbGetScreen(NULL, NULL, fb->w, fb->h, 8, 3, 4);
	if (!s->scr) {
		free(s);
		return err_set(errp, 0, "cannot create a VNC screen"), NULL;
	}
	s->sid = xstrdup(sid);
	s->fb = fb;
	fb->refs++;
	s->scr->frameBuffer = (char *)fb->pix;
	s->scr->paddedWidthInBytes = (int)fb->stride;
	s->scr->serverFormat.redShift = 16;
	s->scr->serverFormat.greenShift = 8;
	s->scr->serverFormat.blueShift = 0;
	s->scr->depth = s->scr->serverFormat.depth = 24;
	s->scr->desktopName = "mcpbox";
	s->scr->autoPort = FALSE;
	s->scr->port = -1;
	s->scr->ipv6port = -1;
	s->scr->httpPort = -1;
	s->scr->http6Port = -1;
	s->scr->cursor = NULL;		/* see cursor_for() */
	s->scr->getCursorPtr = cursor_for;
	pthread_mutex_init(&s->cursor_mu, NULL);
	s->scr->ptrAddEvent = on_ptr;
	s->scr->kbdAddEvent = on_key;
	s->scr->screenData = s;
	s->scr->deferUpdateTime = 5;
	s->scr->alwaysShared = TRUE;
	s->scr->backgroundLoop = TRUE;	/* clients on their own threads */
	rfbInitServer(s->scr);
	return s;
}

static int set_password(struct vnc_srv *s, const char *password)
{
	s->passwds[0] = xstrdup(password);
	s->passwds[1] = NULL;
	s->scr->authPasswdData = (void *)s->passwds;
	s->scr->passwordCheck = rfbCheckPasswordByList;
	return 0;
}

static void damage(struct vnc_srv *s, const struct vnc_rect *r, int n)
{
	for (int i = 0; i < n; i++)
		rfbMarkRectAsModified(s->scr, r[i].x, r[i].y, r[i].x + r[i].w, r[i].y + r[i].h);
}

/*
 * End every client's thread before the screen goes. libvncserver 0.9.14's
 * rfbShutdownServer(TRUE) closes and frees threaded clients itself while their
 * own threads, seeing the socket closed, free them too: a double free whenever
 * a viewer is connected as its display stops (the unit test hit it under
 * load). shutdown() makes each client thread end on its own (also one blocked
 * writing to a viewer that does not read); we wait for the list to empty.
 */
static void clients_end(rfbScreenInfoPtr scr)
{
	rfbClientIteratorPtr it = rfbGetClientIterator(scr);
	rfbClientPtr cl;

	while ((cl = rfbClientIteratorNext(it)))
		if (cl->sock > -1)
			shutdown(cl->sock, SHUT_RDWR);
	rfbReleaseClientIterator(it);
	for (int i = 0; i < 2000; i++) {	/* 2 s at most */
		it = rfbGetClientIterator(scr);
		bool any = rfbClientIteratorNext(it) != NULL;
		rfbReleaseClientIterator(it);
		if (!any)
			return;
		usleep(1000);
	}
}

static void screen_free(struct vnc_srv *s)
{
	clients_end(s->scr);
	rfbShutdownServer(s->scr, TRUE);
	rfbScreenCleanup(s->scr);
	for (int i = 0; i < s->nshapes; i++)
		rfbFreeCursor(s->shapes[i]);
	pthread_mutex_destroy(&s->cursor_mu);
	vnc_fbuf_put(s->fb);
	free(s->passwds[0]);
	free(s->sid);
	free(s);
}

static int add_client(struct vnc_srv *s, int fd, bool view_only, struct err **errp)
{
	rfbClientPtr cl;

	if (fd >= FD_SETSIZE) {
		int low = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		close(fd);
		if (low < 0 || low >= FD_SETSIZE) {
			if (low >= 0)
				close(low);
			return err_set(errp, EMFILE, "too many open files for a VNC client (libvncserver needs fds below %d)",
				       FD_SETSIZE);
		}
		fd = low;
	}
	cl = rfbNewClient(s->scr, fd);
	if (!cl)
		return err_set(errp, 0, "the VNC server refused the client");
	cl->viewOnly = view_only;
	if (!cl->onHold)
		rfbStartOnHoldClient(cl);
	return 0;
}

/* ---- the module's one export (server/module.h) ----------------------------- */

__attribute__((visibility("default"))) extern const struct vnc_rfb_api mcpbox_rfb_api;
const struct vnc_rfb_api mcpbox_rfb_api = {
	.hdr = { SRV_MODULE_ABI, sizeof(struct vnc_rfb_api) },
	.screen_new = screen_new,
	.damage = damage,
	.set_password = set_password,
	.set_cursor = set_cursor,
	.screen_free = screen_free,
	.add_client = add_client,
};
