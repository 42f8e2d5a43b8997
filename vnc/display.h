/**
 * display.h — one virtual display per session: Xvfb and the display agent
 * inside the sandbox, driven from the server through a checked channel.
 *
 * Lifecycle: nothing exists until something needs the display (screenshot,
 * input, a viewer, session_create with display). Then the display agent
 * (agent.h) is started in the session's sandbox through its worker; it
 * starts Xvfb and says READY once the screen is in the shared buffer (at
 * most 15 s). A display with no viewer and no call for the configured
 * display_idle time is stopped and restarted on the next need. A destroyed
 * session's display goes with it.
 *
 * Trust: the agent is as hostile as its sandbox (agent_proto.h). Every
 * message is checked (chan.h); a bad one, a missed deadline (5 s per round
 * trip) or a queue it does not take stops that display only, and the
 * calls waiting on it fail with the reason.
 *
 * Pixels: Xvfb draws into the sealed shared buffer and the agent reports
 * damaged rectangles; they are copied from it into a private copy under a
 * write lock. Screenshots
 * (after a round trip through the agent, so they show everything drawn
 * before the call) read that copy under a read lock on the pool, VNC
 * clients (server.c) read it from their threads.
 *
 * Ownership: the module owns every display; callers get borrowed pointers
 * valid until their callback returns. Loop thread only, except where noted.
 */
#ifndef MCPBOX_VNC_DISPLAY_H
#define MCPBOX_VNC_DISPLAY_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "image.h"
#include "../server/base/config.h"
#include "../server/base/err.h"
#include "../sessions/session.h"

#define VNC_DEFAULT_W 1280
#define VNC_DEFAULT_H 800
#define VNC_MAX_W 3840
#define VNC_MAX_H 2160

struct vnc_display;

/** Set up the module (once, at tool registration). */
void vnc_init(uv_loop_t *loop, struct sess_registry *reg, const struct srv_config *cfg);
/** Stop every display (at shutdown). */
void vnc_shutdown(void);
/** The server's HTTP base ("http://127.0.0.1:8080") for view URLs; NULL: none (stdio). */
void vnc_set_http_base(const char *base);

/**
 * Record the display size for session s (0: default) and whether it is a
 * bare X server (else the standard desktop of vnc/desktop.h: a window
 * manager and a terminal), and with start, start it as soon as the sandbox
 * runs. Fails on a size out of range. Takes effect at the display's next start.
 */
int vnc_display_configure(struct sess_session *s, int w, int h, bool bare, bool start, struct err **errp);

typedef void (*vnc_ready_cb)(void *arg, struct vnc_display *d, struct err *err);
/** Call cb once s's display runs (starting it if needed); cb owns err. */
void vnc_display_ensure(struct sess_session *s, vnc_ready_cb cb, void *arg);

void vnc_display_size(const struct vnc_display *d, int *w, int *h);

struct vnc_shot_opts {
	struct vnc_rect region;	/* w == 0: the whole screen */
	int max_w, max_h;	/* 0: no bound */
	int max_side;		/* longer side bound (0: none) */
	bool jpeg;
	int quality;		/* JPEG 1..100 */
	size_t max_bytes;	/* PNG: scale down further until below (0: no bound) */
};

struct vnc_shot {
	struct buf data;	/* the encoded image */
	int w, h;		/* of the image */
	double scale;		/* image pixels per screen pixel */
	struct vnc_rect region;	/* of the screen */
	bool jpeg;
	uint64_t encode_us;
};

/** cb gets the shot (owned by the module; valid during cb) or an error (owned by cb). */
typedef void (*vnc_shot_cb)(void *arg, struct vnc_shot *shot, struct err *err);
void vnc_display_screenshot(struct vnc_display *d, const struct vnc_shot_opts *o, vnc_shot_cb cb, void *arg);

/** How a screenshot maps to the screen: region of the screen, image pixels per screen pixel. */
struct vnc_view {
	struct vnc_rect region;
	double scale;
};

/** Map a point of a screenshot (v; NULL: none, identity) to screen pixels, clamped to the screen. */
void vnc_display_from_view(const struct vnc_display *d, const struct vnc_view *v, double x, double y, int *sx, int *sy);

enum vnc_action_type {
	VNC_ACT_MOVE,
	VNC_ACT_CLICK,
	VNC_ACT_DOWN,
	VNC_ACT_UP,
	VNC_ACT_DRAG,
	VNC_ACT_SCROLL,
	VNC_ACT_TYPE,
	VNC_ACT_KEY,
	VNC_ACT_KEY_DOWN,	/* press the combination's keys and keep them held */
	VNC_ACT_KEY_UP,		/* release them (last first) */
	VNC_ACT_WAIT,
};

/** One input action in screen pixels. */
struct vnc_action {
	enum vnc_action_type type;
	int x, y;		/* move, click, scroll, drag from; -1: where the pointer is */
	int x2, y2;		/* drag to */
	int button;		/* 1 left, 2 middle, 3 right */
	int count;		/* click count */
	int dx, dy;		/* scroll clicks (dy > 0: down) */
	uint32_t *syms;		/* type: keysyms to type; key, key_down, key_up: the combination */
	int nsyms;
	int ms;			/* wait */
};

struct vnc_input;
/**
 * Inject actions (copied) through the agent (XTest); cb runs once they were
 * all handed to the X server, which runs them before anything asked later
 * (at most 5 s), with an error
 * if the display went away or the job was cancelled (ECANCELED). *handle (may be NULL) names the job
 * for vnc_input_cancel() until the job clears it, just before cb runs.
 */
void vnc_display_input(struct vnc_display *d, const struct vnc_action *acts, size_t n,
		       void (*cb)(void *arg, struct err *err), void *arg, struct vnc_input **handle);
/** Send nothing more (a running wait ends now), release the buttons the job holds down. */
void vnc_input_cancel(struct vnc_input *j);
/** cb once no damage arrived for quiet_ms (at most max_ms from now). */
void vnc_display_when_quiet(struct vnc_display *d, unsigned quiet_ms, unsigned max_ms,
			    void (*cb)(void *arg), void *arg);

/**
 * What session_info shows about s's display for principal (view and, when
 * control, control URLs with fresh tokens, VNC port, viewers), or NULL when
 * s never had one. control: the caller may give input (vnc_access's rule).
 */
json_t *vnc_display_info(struct sess_session *s, const char *principal, bool control);

/* ---- for server.c (viewers) ---- */

/** The running display of session id visible to owner (NULL owner: anyone), or NULL. */
struct vnc_display *vnc_display_find(const char *sid, const char *owner);
const char *vnc_display_session_id(const struct vnc_display *d);
/** Pointer / key from a viewer with control (loop thread). */
void vnc_display_viewer_pointer(struct vnc_display *d, int mask, int x, int y);
void vnc_display_viewer_key(struct vnc_display *d, bool down, uint32_t keysym);
/** A viewer keeps the display from idling. */
void vnc_display_touch(struct vnc_display *d);

/** The private framebuffer copy (B,G,R,X; stride = width * 4) and its lock. */
struct vnc_fbuf {
	unsigned refs;		/* loop thread */
	pthread_rwlock_t lock;
	uint8_t *pix;
	int w, h;
	size_t stride;
};

void vnc_fbuf_put(struct vnc_fbuf *f);

#define VNC_CURSOR_MAX 128	/* larger cursor images are not forwarded */

/** The displayed cursor's shape (XFixes): ARGB, premultiplied alpha, w * h pixels. */
struct vnc_cursor {
	int w, h;
	int xhot, yhot;
	uint32_t argb[];
};
/** The display's VNC screen (made on first use); tcp: the raw-port one (password). */
struct vnc_srv *vnc_display_srv(struct vnc_display *d, bool tcp, struct err **errp);
bool vnc_display_running(const struct vnc_display *d);
/** The session sid if owner (NULL: anyone) owns it. */
struct sess_session *vnc_session_find(const char *sid, const char *owner);
const struct srv_config *vnc_config(void);

#endif
