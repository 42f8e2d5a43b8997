/**
 * chan.h — the server's reading of what a display agent sends: every
 * message is checked here before anything uses it (pure functions, any
 * thread; the fuzz target tests/fuzz/fuzz_display_chan.c drives them).
 *
 * A message that fails the check means the agent misbehaves: the caller
 * stops that display. Nothing here trusts a length, count, size or
 * coordinate from the agent.
 */
#ifndef MCPBOX_VNC_CHAN_H
#define MCPBOX_VNC_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "agent_proto.h"
#include "image.h"
#include "../server/base/err.h"

/** A message that passed the check. */
struct vnc_chan_msg {
	enum vnc_agent_msg_type type;
	int w, h;		/* READY: the screen; CURSOR: the image */
	size_t fb_off;		/* READY: where the pixels start (4-aligned, <= VNC_AGENT_HEADER_MAX) */
	int xhot, yhot;		/* CURSOR */
	uint32_t seq;		/* SYNCED */
	int nrects;		/* DAMAGE: 1..VNC_AGENT_RECTS, each inside the screen, not empty */
	struct vnc_rect rects[VNC_AGENT_RECTS];
	char text[VNC_AGENT_TEXT];	/* FAILED: NUL-terminated, printable ASCII only */
};

/**
 * Check one received message (len bytes at buf, as recv() returned them)
 * against the screen the server fixed (scr_w x scr_h) and fill *m. Fails
 * (-1, *errp says why) on a wrong length, an unknown type, a screen size
 * other than scr_w x scr_h, a rectangle not inside the screen, a cursor
 * larger than VNC_AGENT_CURSOR_MAX or with its hot spot outside it, or
 * text that is not terminated printable ASCII.
 */
int vnc_chan_parse(const void *buf, size_t len, int scr_w, int scr_h, struct vnc_chan_msg *m, struct err **errp);

/**
 * Copy the rectangles rs (checked by vnc_chan_parse against w x h) from the
 * shared screen (stride w * 4) into the private copy dst (same layout).
 */
void vnc_chan_copy_rects(uint8_t *dst, const uint8_t *shared, int w, const struct vnc_rect *rs, int n);

#endif
