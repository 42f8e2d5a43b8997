/*
 * vnc/input.c — input to a display: pointer moves, buttons, keys and text,
 * from tools (vnc_display_input) and from VNC viewers, turned into commands
 * for the display agent (which replays them with XTest), paced so that a
 * long action never floods an agent that does not read.
 */
#include "display_int.h"
#include "agent_proto.h"
#include "keys.h"
#include "server.h"
#include "../server/base/common.h"
#include "../server/base/log.h"

#include <string.h>

#include "../server/base/banned.h"

static void move_to(struct vnc_display *d, int x, int y)
{
	if (x < 0 || y < 0)
		return;
	d->px = x;
	d->py = y;
	vnc_agent_cmd(d, VNC_AGENT_MOTION, x, y, 0, 0);
}

static void button(struct vnc_display *d, int b, bool down)
{
	if (b < 1 || b > 31)
		return;
	vnc_agent_cmd(d, VNC_AGENT_BUTTON, 0, 0, (uint32_t)b, down ? VNC_AGENT_DOWN : 0);
	if (down)
		d->buttons |= 1 << (b - 1);
	else
		d->buttons &= ~(1 << (b - 1));
}

static void key(struct vnc_display *d, uint32_t sym, bool down, bool with_shift)
{
	vnc_agent_cmd(d, VNC_AGENT_KEY, 0, 0, sym, (down ? VNC_AGENT_DOWN : 0) | (with_shift ? VNC_AGENT_WITH_SHIFT : 0));
}

struct vnc_input {
	struct vnc_display *d;		/* held */
	struct vnc_action *acts;
	size_t n, next;
	uv_timer_t *timer;
	bool waiting;			/* in a wait action: the timer runs */
	bool cancelled;
	int pressed;			/* buttons pressed by this job's down actions (bit b-1) */
	bool blocked;			/* on d->blocked until the agent took the queue */
	struct vnc_input *next_blocked;
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
		uv_close((uv_handle_t *)j->timer, vnc_handle_close_free);
	if (j->cancelled && !err)
		err_set(&err, ECANCELED, "cancelled");
	if (j->handle)
		*j->handle = NULL;
	for (size_t i = 0; i < j->n; i++)
		free(j->acts[i].syms);
	free(j->acts);
	j->cb(j->arg, err);
	free(j);
	vnc_display_put(d);
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
		if (d->out.len > OUT_HIGH) {
			/* the agent is behind: go on when it has taken the queue */
			vnc_out_kick(d);
			if (d->state != D_READY || d->out.len > OUT_HIGH) {
				if (d->state == D_READY) {
					j->blocked = true;
					j->next_blocked = d->blocked;
					d->blocked = j;
				} else {
					input_continue(j);
				}
				return;
			}
		}
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
		case VNC_ACT_DRAG:	/* vnc_display_input() made it steps and waits */
			break;
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
		case VNC_ACT_KEY_DOWN:
			for (int i = 0; i < a->nsyms; i++)
				key(d, a->syms[i], true, false);
			break;
		case VNC_ACT_KEY_UP:
			for (int i = a->nsyms - 1; i >= 0; i--)
				key(d, a->syms[i], false, false);
			break;
		case VNC_ACT_WAIT:
			vnc_out_kick(d);
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
	vnc_agent_sync(d, false, input_synced, j);	/* input is done once X has it; its pixels follow */
}

/* Go on with the input jobs that waited for the queue (or fail them: the display stopped). */
void vnc_input_unblock(struct vnc_display *d)
{
	struct vnc_input *j = d->blocked;

	d->blocked = NULL;
	while (j) {
		struct vnc_input *next = j->next_blocked;
		j->blocked = false;
		j->next_blocked = NULL;
		input_continue(j);
		j = next;
	}
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
	vnc_out_kick(d);
	if (j->blocked) {
		struct vnc_input **pp = &d->blocked;
		while (*pp && *pp != j)
			pp = &(*pp)->next_blocked;
		if (*pp)
			*pp = j->next_blocked;
		j->blocked = false;
		input_continue(j);	/* nothing more to send: the round trip ends it */
	} else if (j->waiting) {
		/* cut the wait short; otherwise a round trip is in flight and ends the job */
		uv_timer_stop(j->timer);
		j->waiting = false;
		input_continue(j);
	}
}

/*
 * A drag at the speed of XTest is a click to most programs: a window manager
 * that sees the button already released when it starts moving a window does
 * not move it. So a drag is paced as a hand would: press, hold, move in
 * steps, hold, release (about 0.1 s); as waits, cancelling one releases the
 * button like any held one.
 */
#define DRAG_STEPS 8
#define DRAG_HOLD_MS 30
#define DRAG_STEP_MS 8
#define DRAG_ACTIONS (2 + 2 * DRAG_STEPS + 1)

static size_t drag_expand(const struct vnc_action *a, struct vnc_action *out)
{
	int b = a->button ? a->button : 1;
	size_t k = 0;

	out[k++] = (struct vnc_action){ .type = VNC_ACT_DOWN, .x = a->x, .y = a->y, .button = b };
	out[k++] = (struct vnc_action){ .type = VNC_ACT_WAIT, .ms = DRAG_HOLD_MS };
	for (int i = 1; i <= DRAG_STEPS; i++) {
		out[k++] = (struct vnc_action){ .type = VNC_ACT_MOVE, .x = a->x + (a->x2 - a->x) * i / DRAG_STEPS,
						.y = a->y + (a->y2 - a->y) * i / DRAG_STEPS };
		out[k++] = (struct vnc_action){ .type = VNC_ACT_WAIT, .ms = i < DRAG_STEPS ? DRAG_STEP_MS : DRAG_HOLD_MS };
	}
	out[k++] = (struct vnc_action){ .type = VNC_ACT_UP, .x = a->x2, .y = a->y2, .button = b };
	return k;
}

void vnc_display_input(struct vnc_display *d, const struct vnc_action *acts, size_t n,
		       void (*cb)(void *arg, struct err *err), void *arg, struct vnc_input **handle)
{
	struct vnc_input *j = xcalloc(1, sizeof(*j));
	size_t total = 0, k = 0;

	d->last_use_ms = now_ms();
	j->d = d;
	d->refs++;
	for (size_t i = 0; i < n; i++)
		total += acts[i].type == VNC_ACT_DRAG ? DRAG_ACTIONS : 1;
	j->acts = xcalloc(total ? total : 1, sizeof(*acts));
	for (size_t i = 0; i < n; i++) {
		if (acts[i].type == VNC_ACT_DRAG) {
			k += drag_expand(&acts[i], &j->acts[k]);
			continue;
		}
		j->acts[k] = acts[i];
		if (acts[i].nsyms) {
			j->acts[k].syms = xcalloc((size_t)acts[i].nsyms, sizeof(uint32_t));
			memcpy(j->acts[k].syms, acts[i].syms, sizeof(uint32_t) * (size_t)acts[i].nsyms);
		} else {
			j->acts[k].syms = NULL;
		}
		k++;
	}
	j->n = k;
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
	vnc_out_kick(d);
}

void vnc_display_viewer_key(struct vnc_display *d, bool down, uint32_t keysym)
{
	if (d->state != D_READY)
		return;
	d->last_use_ms = now_ms();
	/* the viewer sends its own Shift presses */
	key(d, keysym, down, false);
	vnc_out_kick(d);
}

struct vnc_srv *vnc_display_srv(struct vnc_display *d, bool tcp, struct err **errp)
{
	struct vnc_srv **sp = tcp ? &d->srv_tcp : &d->srv;

	if (d->state != D_READY || !d->fb)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "display is not running"), NULL;
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
