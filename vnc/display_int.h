/*
 * display_int.h — what vnc/display.c (displays: the agent, its channel,
 * damage, screenshots) and vnc/input.c (input as agent commands) share. Not
 * for anything outside vnc/. Loop thread only.
 */
#ifndef MCPBOX_VNC_DISPLAY_INT_H
#define MCPBOX_VNC_DISPLAY_INT_H

#include "display.h"
#include "image.h"
#include "../sessions/sandbox.h"
#include "../server/base/buf.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define START_TIMEOUT_MS 15000	/* the agent gives Xvfb 9 s */
#define SYNC_TIMEOUT_MS 5000	/* a round trip through the agent and X */
#define SWEEP_MS 1000
#define MAX_DAMAGE 64
#define READ_BATCH 64		/* messages per wake-up, then the loop runs others */
#define FLOOD_WINDOW_MS 100
#define FLOOD_MAX 2000		/* messages per window; past it, reading pauses until the window ends */
#define FLUSH_MIN_MS 10		/* damage is copied at most this often (screenshots copy at once) */
#define OUT_HIGH (256u * 1024)	/* queued commands past which input waits between actions */
#define OUT_MAX (4u << 20)	/* queued commands for an agent that does not read (one action adds < 512 KiB) */

/* PRIMING: READY came, the first copy of the whole screen runs on the pool (damage is kept) */
enum dstate { D_STOPPED, D_STARTING, D_PRIMING, D_READY };

struct vnc_prime;

struct waiter {
	vnc_ready_cb cb;
	void *arg;
	struct waiter *next;
};

struct xsync {
	uint32_t seq;
	uint64_t deadline_ms;
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
	bool bare;			/* no window manager or terminal (desktop "bare") */
	enum dstate state;
	unsigned refs;
	uint64_t gen;			/* names this run of the agent (exit callbacks) */
	struct sess_worker *worker;	/* the sandbox it runs in */
	uint64_t exec_id;
	uint64_t start_ms, ready_ms;
	struct waiter *waiters;
	uv_timer_t *start_timer;
	/* the channel */
	int chan;			/* our end of the SOCK_SEQPACKET pair, non-blocking */
	uv_poll_t *cpoll;
	bool paused;			/* reading paused until the flood window ends */
	const uint8_t *shm;		/* the shared buffer, read-only */
	size_t shm_len;
	size_t fb_off;			/* where the pixels start in it (checked READY) */
	struct vnc_prime *priming;	/* the first copy, on the pool (PRIMING) */
	struct buf out;			/* commands the agent has not taken yet */
	bool out_armed;			/* the poll waits for room to send them */
	struct vnc_input *blocked;	/* input jobs waiting for the queue to drain (OUT_HIGH) */
	uint64_t win_start_ms;
	unsigned win_msgs;
	uv_timer_t *pace_timer;		/* resumes reading, copies deferred damage */
	uv_timer_t *sync_timer;		/* the oldest round trip's deadline */
	uint32_t next_seq;
	/* the screen */
	struct vnc_cursor *cursor;	/* the displayed cursor's shape (NULL: none yet) */
	int w, h;
	struct vnc_fbuf *fb;
	struct vnc_rect dmg[MAX_DAMAGE];
	int ndmg;
	uint64_t last_damage_ms, next_flush_ms;
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

struct vnc_state {
	uv_loop_t *loop;
	struct sess_registry *reg;
	const struct srv_config *cfg;
	struct vnc_display *head;
	uv_timer_t sweep;
	uint64_t gen;
	char *http_base;
	int exe_fd;			/* this program, for the agent (fexecve through /proc/self/fd) */
	bool inited;
};
extern struct vnc_state V;

/* display.c, for input.c */
/* uv_close callback for a handle that was malloc'd. */
void vnc_handle_close_free(uv_handle_t *h);
void vnc_display_put(struct vnc_display *d);
/* Queue a command for the agent (sent when its socket has room). */
void vnc_agent_cmd(struct vnc_display *d, uint32_t type, int x, int y, uint32_t code, uint32_t flags);
void vnc_out_kick(struct vnc_display *d);
/* A round trip through the agent and X (with damage: the screen's changes are in by cb). */
void vnc_agent_sync(struct vnc_display *d, bool damage, void (*cb)(void *arg, struct err *err), void *arg);
/* input.c, for display.c: the command queue drained; blocked input goes on. */
void vnc_input_unblock(struct vnc_display *d);

#endif
