/**
 * agent_proto.h — the wire between the server and a session's display agent
 * (vnc/agent.c, running inside the sandbox).
 *
 * The agent is as hostile as the sandbox it runs in. The channel is:
 *
 *  - one SOCK_SEQPACKET socketpair: the agent sends struct vnc_agent_msg
 *    (exactly that size, every time), the server sends struct vnc_agent_cmd
 *    (exactly that size);
 *  - one memfd the server created and sealed (F_SEAL_SHRINK | F_SEAL_GROW |
 *    F_SEAL_SEAL) at vnc_agent_shm_size(w, h) for the size the server chose.
 *    It is Xvfb's framebuffer file itself (the agent makes -fbdir's
 *    Xvfb_screen0 a link to it, so no process copies pixels into it): an XWD
 *    header and colormap in the first VNC_AGENT_HEADER_MAX bytes, the screen
 *    at the offset READY names (B,G,R,X, stride w * 4), then the cursor slot
 *    at vnc_agent_cursor_offset(w, h). The server maps it read-only; since it
 *    cannot shrink, no access within that size can fault.
 *
 * Everything the server receives is checked by vnc_chan_parse() (vnc/chan.h)
 * against the size the server fixed; pixel bytes are plain data copied into
 * the server's private copy.
 */
#ifndef MCPBOX_VNC_AGENT_PROTO_H
#define MCPBOX_VNC_AGENT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define VNC_AGENT_CURSOR_MAX 128
#define VNC_AGENT_CURSOR_BYTES ((size_t)VNC_AGENT_CURSOR_MAX * VNC_AGENT_CURSOR_MAX * 4)
#define VNC_AGENT_HEADER_MAX ((size_t)64 * 1024)	/* room for Xvfb's XWD header and colormap */
#define VNC_AGENT_RECTS 32
#define VNC_AGENT_TEXT 200

/* The fds the agent is started with. */
#define VNC_AGENT_FD_CHAN 3
#define VNC_AGENT_FD_SHM 4
#define VNC_AGENT_FD_EXE 5

static inline size_t vnc_agent_cursor_offset(int w, int h)
{
	return VNC_AGENT_HEADER_MAX + (size_t)w * (size_t)h * 4;
}

static inline size_t vnc_agent_shm_size(int w, int h)
{
	return vnc_agent_cursor_offset(w, h) + VNC_AGENT_CURSOR_BYTES;
}

/* agent → server */
enum vnc_agent_msg_type {
	VNC_AGENT_READY = 1,	/* a, b: the screen's width and height; c: the offset of its pixels,
				   d: bytes per row (w * 4) */
	VNC_AGENT_DAMAGE,	/* a: count of rects; their pixels are in the buffer */
	VNC_AGENT_CURSOR,	/* a, b: width, height; c, d: hot spot; ARGB image in the cursor slot */
	VNC_AGENT_SYNCED,	/* a: the seq of the VNC_AGENT_SYNC it answers */
	VNC_AGENT_FAILED,	/* text: why the display cannot run (printable ASCII) */
};

struct vnc_agent_rect {
	uint16_t x, y, w, h;
};

struct vnc_agent_msg {
	uint32_t type;
	uint32_t a, b, c, d;
	union {
		struct vnc_agent_rect rects[VNC_AGENT_RECTS];
		char text[VNC_AGENT_TEXT];
	} u;
};

/* server → agent */
enum vnc_agent_cmd_type {
	VNC_AGENT_MOTION = 101,	/* x, y */
	VNC_AGENT_BUTTON,	/* code: button 1..31; flags: VNC_AGENT_DOWN */
	VNC_AGENT_KEY,		/* code: keysym; flags: DOWN, WITH_SHIFT (press Shift when the keysym needs it) */
	VNC_AGENT_SYNC,		/* code: seq; answered with VNC_AGENT_SYNCED once everything before
				   it was written to X (input: X runs it in order before anything
				   asked later); flags WITH_DAMAGE: once X processed it all and
				   the damage up to then was sent (screenshots) */
};

#define VNC_AGENT_DOWN 1u
#define VNC_AGENT_WITH_SHIFT 2u
#define VNC_AGENT_WITH_DAMAGE 4u

struct vnc_agent_cmd {
	uint32_t type;
	int32_t x, y;
	uint32_t code;
	uint32_t flags;
};

#endif
