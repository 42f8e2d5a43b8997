/**
 * rfb.h — the table of the module mcpbox-rfb.so (vnc/rfb.c): VNC screens
 * over a display's framebuffer copy. server.c is its only user and offers it
 * to the rest as vnc_srv_* (server.h), loading the module on first use.
 *
 * Threads: loop thread, except the screen's own client threads inside.
 */
#ifndef MCPBOX_VNC_RFB_H
#define MCPBOX_VNC_RFB_H

#include <stdbool.h>

#include "display.h"
#include "../server/base/module.h"

struct vnc_srv;

struct vnc_rfb_api {
	struct srv_module_hdr hdr;
	/* A screen for session sid over fb (referenced while the screen lives). */
	struct vnc_srv *(*screen_new)(const char *sid, struct vnc_fbuf *fb, struct err **errp);
	void (*damage)(struct vnc_srv *s, const struct vnc_rect *r, int n);
	int (*set_password)(struct vnc_srv *s, const char *password);
	/* The cursor's shape for clients with control (c copied). */
	void (*set_cursor)(struct vnc_srv *s, const struct vnc_cursor *c);
	/* Disconnect every client, join their threads, free s. */
	void (*screen_free)(struct vnc_srv *s);
	/* Take over a connected socket; RFB starts at once. */
	int (*add_client)(struct vnc_srv *s, int fd, bool view_only, struct err **errp);
};

#endif
