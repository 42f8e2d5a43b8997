/**
 * server.h — VNC for a display: one libvncserver screen fed from the
 * display's private framebuffer copy, viewers bridged to it over socketpairs
 * (a WebSocket from transport/http.c, or the optional raw TCP port), and the
 * short-lived view/control tokens that let a browser in without an API key.
 *
 * Threads: libvncserver runs each client on its own threads (its select()
 * loops only ever see that client's socket, kept below FD_SETSIZE); they
 * read the framebuffer copy and queue viewer input, which the loop injects.
 * Everything declared here is loop thread only.
 */
#ifndef MCPBOX_VNC_SERVER_H
#define MCPBOX_VNC_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "display.h"

struct vnc_srv;

/** A VNC screen for d (w x h over fb, which the screen references). */
struct vnc_srv *vnc_srv_new(struct vnc_display *d, struct vnc_fbuf *fb, struct err **errp);
/** These rectangles of fb changed. */
void vnc_srv_damage(struct vnc_srv *s, const struct vnc_rect *r, int n);
/**
 * The cursor's shape changed (c copied). Sent to clients with control that
 * draw the cursor themselves (the Cursor pseudo-encoding); view-only clients
 * get an empty shape and watch the cursor Xvfb draws into the pixels.
 */
void vnc_srv_cursor(struct vnc_srv *s, const struct vnc_cursor *c);
/** Ask VNC clients for this password (VNC authentication). */
int vnc_srv_set_password(struct vnc_srv *s, const char *password);
/** Disconnect every client, join their threads, free s. */
void vnc_srv_free(struct vnc_srv *s);
/** Hand a connected socket to s (taken over); RFB starts at once. */
int vnc_srv_add_client(struct vnc_srv *s, int fd, bool view_only, struct err **errp);

/* ---- viewers: a client stream bridged to a display's VNC screen ---- */

struct vnc_viewer;

struct vnc_viewer_ops {
	/* bytes for the client (RFB from the server) */
	void (*send)(void *arg, const void *data, size_t len);
	/* the display side ended: close the client; no callback follows */
	void (*closed)(void *arg);
};

/**
 * Connect a viewer to session sid's display (started if needed). Allowed
 * when principal owns the session, or token is a valid view (or control)
 * token for it. Control (input) needs the owner's key or a control token.
 */
int vnc_viewer_open(const char *sid, const char *principal, const char *token,
		    const struct vnc_viewer_ops *ops, void *arg, struct vnc_viewer **out, struct err **errp);
/** Bytes from the client. */
void vnc_viewer_write(struct vnc_viewer *v, const void *data, size_t len);
/** Stop (true) or resume reading from the VNC side (backpressure). */
void vnc_viewer_pause(struct vnc_viewer *v, bool paused);
/** The client went away: free v; no callback follows. */
void vnc_viewer_close(struct vnc_viewer *v);
/** Viewers connected to d. */
unsigned vnc_viewer_count(const struct vnc_display *d);
/** Display d stops: end its viewers (their closed callbacks run). */
void vnc_viewers_end(struct vnc_display *d);
/** Display d (re)started: connect viewers that waited for it. */
void vnc_viewers_ready(struct vnc_display *d, struct err *err);

/**
 * May this caller see session sid? principal (NULL: none) must own it (and
 * its key hold sandbox_read there), or token must be a live token for it.
 * *control says whether input is allowed: for a principal, when its key is
 * an editor of sid holding sandbox_write and execute (base/rights.h), so a
 * viewer's key never mints a control token.
 */
bool vnc_access(const char *sid, const char *principal, const char *token, bool *control);
/** A token for sid (owner's), valid ttl_ms; reuses a fresh one. Static storage. */
const char *vnc_token_get(const char *sid, const char *owner, bool control);

/* ---- optional raw TCP port per display ---- */
/** Listen for d (config vnc_tcp); returns the port or -1. */
int vnc_tcp_listen(struct vnc_display *d, struct err **errp);
void vnc_tcp_close(struct vnc_display *d);

#endif
