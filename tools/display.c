/*
 * screenshot, input: see and drive the session's virtual display (vnc/).
 *
 * The display starts on first use. Coordinates given to input are in the
 * space of the last screenshot the calling connection took of that session
 * (scaled and cropped back to the screen) unless space is "screen".
 */
#include "tool.h"
#include "../sessions/quota.h"
#include "../vnc/display.h"
#include "../vnc/keys.h"
#include "../server/base/base64.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/banned.h"

#include <string.h>

#define DEFAULT_SIDE 1280
#define DEFAULT_MAX_BYTES (1000u * 1000u)	/* clients reject results over 1 MB */
#define MAX_ACTIONS 1000
#define MAX_TEXT 10000
#define MAX_WAIT_MS 10000

struct dstate {
	struct tool_call *call;
	struct vnc_display *d;		/* valid inside display callbacks only */
	struct vnc_shot_opts o;
	struct vnc_action *acts;
	size_t nacts;
	bool shot_after;
	size_t done_actions;
	struct vnc_input *job;		/* the input being sent (cleared by the display module) */
};

/* ---- coordinate spaces: each connection's last screenshot, per session ----- */

struct tool_view {
	char *sid;
	struct vnc_view v;
	struct tool_view *next;
};

#define MAX_VIEWS 64	/* sessions remembered per connection (the oldest go first) */

static struct tool_view *view_find(struct tool_conn *tc, const char *sid)
{
	for (struct tool_view *v = tc ? tc->views : NULL; v; v = v->next)
		if (!strcmp(v->sid, sid))
			return v;
	return NULL;
}

static void view_set(struct tool_conn *tc, const char *sid, const struct vnc_rect *region, double scale)
{
	struct tool_view *v = view_find(tc, sid), **pp;
	size_t n = 0;

	if (!tc)
		return;
	if (!v) {
		v = xcalloc(1, sizeof(*v));
		v->sid = xstrdup(sid);
		v->next = tc->views;
		tc->views = v;
		for (pp = &tc->views; *pp; pp = &(*pp)->next)
			if (++n > MAX_VIEWS) {
				struct tool_view *old = *pp;
				*pp = NULL;
				free(old->sid);
				free(old);
				break;
			}
	}
	v->v.region = *region;
	v->v.scale = scale > 0 ? scale : 1.0;
}

void tool_display_views_free(struct tool_conn *tc)
{
	while (tc->views) {
		struct tool_view *v = tc->views;
		tc->views = v->next;
		free(v->sid);
		free(v);
	}
}

/* call->state_free: the state goes with its call, however the call ends */
static void dstate_free(void *arg)
{
	struct dstate *st = arg;
	for (size_t i = 0; i < st->nacts; i++)
		free(st->acts[i].syms);
	free(st->acts);
	free(st);
}

static void init_once(struct tool_call *call)
{
	vnc_init(uv_default_loop(), call->env->sessions, call->env->cfg);
}

/* ---- screenshot ----------------------------------------------------------- */

/*
 * An image result has no structuredContent: clients that find one (Codex,
 * Mastra) hand the model only that JSON and drop the image. The picture's
 * geometry goes in a short text for the model and in _meta for programs.
 */
static json_t *image_result(struct vnc_shot *shot, const char *lead, size_t actions)
{
	size_t n;
	char *b64 = base64_encode(shot->data.data, shot->data.len, &n);
	json_t *content = json_array();
	struct buf text = BUF_INIT;

	if (lead)
		buf_addf(&text, "%s ", lead);
	buf_addf(&text, "%s %dx%d of screen region (%d,%d) %dx%d, scale %.4g, %zu bytes", shot->jpeg ? "JPEG" : "PNG",
		 shot->w, shot->h, shot->region.x, shot->region.y, shot->region.w, shot->region.h, shot->scale,
		 shot->data.len);
	json_array_append_new(content, json_pack("{s:s, s:s%}", "type", "text", "text", text.data, text.len));
	buf_release(&text);
	/* base64 is ASCII: no UTF-8 check over the whole image */
	json_array_append_new(content, json_pack("{s:s, s:o, s:s}", "type", "image", "data", json_stringn_nocheck(b64, n),
						 "mimeType", shot->jpeg ? "image/jpeg" : "image/png"));
	free(b64);
	/* encode time to 0.01 ms: what a reader can use of it */
	double encode_ms = (double)(shot->encode_us / 10) / 100.0;
	json_t *meta = json_pack("{s:i, s:i, s:f, s:s, s:I, s:{s:i, s:i, s:i, s:i}, s:f}", "width", shot->w, "height",
				 shot->h, "scale", shot->scale, "format", shot->jpeg ? "jpeg" : "png", "bytes",
				 (json_int_t)shot->data.len, "region", "x", shot->region.x, "y", shot->region.y, "width",
				 shot->region.w, "height", shot->region.h, "encode_ms", encode_ms);
	if (lead)
		json_object_set_new(meta, "actions", json_integer((json_int_t)actions));
	return json_pack("{s:o, s:{s:o}}", "content", content, "_meta", "mcpbox/screenshot", meta);
}

/* An error from the display ends the call (and its state): report it, free err. True when it did. */
static bool failed(struct dstate *st, struct err *err, const char *what)
{
	if (!err)
		return false;
	tool_fail_err(st->call, err, what);
	err_free(err);
	return true;
}

static void shot_done(void *arg, struct vnc_shot *shot, struct err *err)
{
	struct dstate *st = arg;
	struct tool_call *call = st->call;

	if (failed(st, err, NULL))
		return;
	view_set(call->conn, vnc_display_session_id(st->d), &shot->region, shot->scale);
	struct buf text = BUF_INIT;
	if (st->acts)
		buf_addf(&text, "did %zu action%s; screen after:", st->done_actions, st->done_actions == 1 ? "" : "s");
	json_t *res = image_result(shot, st->acts ? text.data : NULL, st->done_actions);
	buf_release(&text);
	tool_finish(call, res);
}

static void shot_ready(void *arg, struct vnc_display *d, struct err *err)
{
	struct dstate *st = arg;
	int w, h;

	if (failed(st, err, NULL))
		return;
	st->d = d;
	vnc_display_size(d, &w, &h);
	struct vnc_rect *r = &st->o.region;
	if (r->w) {
		if (r->x < 0 || r->y < 0 || r->x >= w || r->y >= h) {
			tool_fail(st->call, "argument \"region\" lies outside the %dx%d screen", w, h);
			return;
		}
		if (r->x + r->w > w)
			r->w = w - r->x;
		if (r->y + r->h > h)
			r->h = h - r->y;
	}
	vnc_display_screenshot(d, &st->o, shot_done, st);
}

/* ---- quota ------------------------------------------------------------------ */

static bool has_display(struct sess_session *s)
{
	struct vnc_display *d = vnc_display_find(s->id, NULL);
	return d && vnc_display_running(d);
}

static void count_display(void *arg, struct sess_session *s)
{
	if (has_display(s))
		++*(uint64_t *)arg;
}

int tool_display_quota(struct tool_call *call, struct sess_session *s, struct err **errp)
{
	uint64_t max = call->env->cfg->quota.displays, held = 0;

	if (!max || !sess_quota_applies(call->principal) || (s && has_display(s)))
		return 0;
	sess_foreach(call->env->sessions, call->principal, count_display, &held);
	if (held + 1 > max)
		return err_setc(errp, ERR_LIMIT, 0, "quota: this key may hold %llu displays and holds %llu (a display stops "
			       "when unused for display_idle, or with its session)", (unsigned long long)max,
			       (unsigned long long)held);
	return 0;
}

/* A call that needs s's display: start it (within the caller's quota). */
static void with_display(struct tool_call *call, struct sess_session *s, vnc_ready_cb cb)
{
	auto_err struct err *err = NULL;
	struct dstate *st = call->state;

	if (tool_display_quota(call, s, &err) < 0) {
		tool_fail_err(call, err, NULL);
		return;
	}
	vnc_display_ensure(s, cb, st);
}

static void shot_in_session(struct tool_call *call, struct sess_session *s)
{
	with_display(call, s, shot_ready);
}

static void parse_shot_opts(struct tool_call *call, struct vnc_shot_opts *o)
{
	json_t *region = json_object_get(call->args, "region");
	const char *fmt = tool_arg_str(call, "format", "png");

	memset(o, 0, sizeof(*o));
	o->max_w = (int)tool_arg_int(call, "max_width", 0);
	o->max_h = (int)tool_arg_int(call, "max_height", 0);
	o->max_side = o->max_w || o->max_h ? 0 : DEFAULT_SIDE;
	o->jpeg = !strcmp(fmt, "jpeg");
	o->quality = (int)tool_arg_int(call, "quality", 80);
	o->max_bytes = json_object_get(call->args, "max_bytes") ? (size_t)tool_arg_int(call, "max_bytes", 0)
								 : DEFAULT_MAX_BYTES;
	if (region) {
		o->region.x = (int)json_integer_value(json_object_get(region, "x"));
		o->region.y = (int)json_integer_value(json_object_get(region, "y"));
		o->region.w = (int)json_integer_value(json_object_get(region, "width"));
		o->region.h = (int)json_integer_value(json_object_get(region, "height"));
	}
}

static void screenshot_run(struct tool_call *call)
{
	struct dstate *st = xcalloc(1, sizeof(*st));

	init_once(call);
	st->call = call;
	parse_shot_opts(call, &st->o);
	call->state = st;
	call->state_free = dstate_free;
	tool_with_session(call, shot_in_session);
}

/* ---- input ----------------------------------------------------------------- */

static void input_shot_quiet(void *arg)
{
	struct dstate *st = arg;
	vnc_display_screenshot(st->d, &st->o, shot_done, st);
}

static void input_done(void *arg, struct err *err)
{
	struct dstate *st = arg;
	struct tool_call *call = st->call;

	if (failed(st, err, "input"))
		return;
	st->done_actions = st->nacts;
	if (st->shot_after) {
		/* settled: no new pixels for 50 ms (at most 1 s) */
		vnc_display_when_quiet(st->d, 50, 1000, input_shot_quiet, st);
		return;
	}
	struct buf text = BUF_INIT;
	buf_addf(&text, "did %zu action%s", st->nacts, st->nacts == 1 ? "" : "s");
	tool_ok(call, json_pack("{s:I}", "actions", (json_int_t)st->nacts), text.data);
	buf_release(&text);
}

static int point(struct tool_call *call, struct vnc_display *d, json_t *o, bool screen, int *x, int *y)
{
	json_t *jx = json_object_get(o, "x"), *jy = json_object_get(o, "y");
	if (!json_is_number(jx) || !json_is_number(jy))
		return -1;
	if (screen) {
		int w, h;
		vnc_display_size(d, &w, &h);
		*x = (int)json_number_value(jx);
		*y = (int)json_number_value(jy);
		if (*x < 0 || *y < 0 || *x >= w || *y >= h)
			return -2;
		return 0;
	}
	struct tool_view *v = view_find(call->conn, vnc_display_session_id(d));
	vnc_display_from_view(d, v ? &v->v : NULL, json_number_value(jx), json_number_value(jy), x, y);
	return 0;
}

static int button_of(json_t *a)
{
	const char *b = json_string_value(json_object_get(a, "button"));
	if (!b || !strcmp(b, "left"))
		return 1;
	if (!strcmp(b, "middle"))
		return 2;
	if (!strcmp(b, "right"))
		return 3;
	return -1;
}

/* Turn the JSON actions into screen-space actions; a message on error. */
static char *parse_actions(struct tool_call *call, struct dstate *st, struct vnc_display *d)
{
	json_t *arr = json_object_get(call->args, "actions");
	bool screen = !strcmp(tool_arg_str(call, "space", "screenshot"), "screen");
	size_t i;
	json_t *a;
	struct buf msg = BUF_INIT;

	if (json_array_size(arr) > MAX_ACTIONS) {
		buf_addf(&msg, "argument \"actions\": at most %d actions", MAX_ACTIONS);
		return buf_detach(&msg);
	}
	st->acts = xcalloc(json_array_size(arr) + 1, sizeof(*st->acts));
	json_array_foreach(arr, i, a) {
		struct vnc_action *v = &st->acts[st->nacts];
		const char *type = json_string_value(json_object_get(a, "type"));
		int r = 0;
		memset(v, 0, sizeof(*v));
		v->x = v->y = -1;
		v->button = button_of(a);
		if (v->button < 0) {
			buf_addf(&msg, "actions[%zu]: button must be left, middle or right", i);
			break;
		}
		if (!type) {
			buf_addf(&msg, "actions[%zu]: missing \"type\"", i);
			break;
		}
		if (!strcmp(type, "move") || !strcmp(type, "click") || !strcmp(type, "scroll")) {
			v->type = type[0] == 'm' ? VNC_ACT_MOVE : type[0] == 'c' ? VNC_ACT_CLICK : VNC_ACT_SCROLL;
			r = point(call, d, a, screen, &v->x, &v->y);
			v->count = (int)json_integer_value(json_object_get(a, "count"));
			if (v->count < 1)
				v->count = 1;
			if (v->count > 10)
				v->count = 10;
			v->dx = (int)json_integer_value(json_object_get(a, "dx"));
			v->dy = (int)json_integer_value(json_object_get(a, "dy"));
			if (v->dx > 100 || v->dx < -100 || v->dy > 100 || v->dy < -100) {
				buf_addf(&msg, "actions[%zu]: dx and dy must be within -100..100 clicks", i);
				break;
			}
		} else if (!strcmp(type, "down") || !strcmp(type, "up")) {
			v->type = type[0] == 'd' ? VNC_ACT_DOWN : VNC_ACT_UP;
			if (json_object_get(a, "x"))
				r = point(call, d, a, screen, &v->x, &v->y);
		} else if (!strcmp(type, "drag")) {
			v->type = VNC_ACT_DRAG;
			r = point(call, d, json_object_get(a, "from"), screen, &v->x, &v->y);
			if (!r)
				r = point(call, d, json_object_get(a, "to"), screen, &v->x2, &v->y2);
		} else if (!strcmp(type, "type")) {
			const char *text = json_string_value(json_object_get(a, "text"));
			size_t len = json_string_length(json_object_get(a, "text")), off = 0;
			if (!text) {
				buf_addf(&msg, "actions[%zu]: type needs \"text\"", i);
				break;
			}
			if (len > MAX_TEXT) {
				buf_addf(&msg, "actions[%zu]: text longer than %d bytes", i, MAX_TEXT);
				break;
			}
			v->type = VNC_ACT_TYPE;
			v->syms = xcalloc(len + 1, sizeof(uint32_t));
			while (off < len) {
				uint32_t cp;
				off += (size_t)vnc_utf8_next(text + off, len - off, &cp);
				v->syms[v->nsyms++] = vnc_keysym_for_char(cp);
			}
		} else if (!strcmp(type, "key") || !strcmp(type, "key_down") || !strcmp(type, "key_up")) {
			const char *keys = json_string_value(json_object_get(a, "keys"));
			auto_err struct err *e = NULL;
			if (!keys) {
				buf_addf(&msg, "actions[%zu]: %s needs \"keys\" (e.g. \"ctrl+c\")", i, type);
				break;
			}
			v->type = !strcmp(type, "key") ? VNC_ACT_KEY : !strcmp(type, "key_down") ? VNC_ACT_KEY_DOWN : VNC_ACT_KEY_UP;
			v->syms = xcalloc(VNC_MAX_COMBO, sizeof(uint32_t));
			v->nsyms = vnc_keys_parse(keys, v->syms, VNC_MAX_COMBO, &e);
			if (v->nsyms < 0) {
				v->nsyms = 0;
				st->nacts++;
				buf_addf(&msg, "actions[%zu]: %s", i, err_text(e));
				break;
			}
		} else if (!strcmp(type, "wait")) {
			v->type = VNC_ACT_WAIT;
			v->ms = (int)json_integer_value(json_object_get(a, "ms"));
			if (v->ms < 0 || v->ms > MAX_WAIT_MS) {
				buf_addf(&msg, "actions[%zu]: ms must be within 0..%d", i, MAX_WAIT_MS);
				break;
			}
		} else {
			buf_addf(&msg, "actions[%zu]: unknown type \"%s\" (move, click, down, up, drag, scroll, type, key, key_down, key_up, wait)",
				 i, type);
			break;
		}
		st->nacts++;
		if (r == -1) {
			buf_addf(&msg, "actions[%zu]: %s needs numeric x and y%s", i, type,
				 v->type == VNC_ACT_DRAG ? " in from and to" : "");
			break;
		}
		if (r == -2) {
			int w, h;
			vnc_display_size(d, &w, &h);
			buf_addf(&msg, "actions[%zu]: point outside the %dx%d screen", i, w, h);
			break;
		}
	}
	if (msg.len)
		return buf_detach(&msg);
	return NULL;
}

static void input_ready(void *arg, struct vnc_display *d, struct err *err)
{
	struct dstate *st = arg;
	char *msg;

	if (failed(st, err, NULL))
		return;
	st->d = d;
	if ((msg = parse_actions(st->call, st, d))) {
		tool_fail(st->call, "argument \"actions\": %s", msg);
		free(msg);
		return;
	}
	vnc_display_input(d, st->acts, st->nacts, input_done, st, &st->job);
}

/* notifications/cancelled (or the connection went): stop sending, end a wait now */
static void input_cancel(void *arg)
{
	struct dstate *st = arg;
	if (st->job)
		vnc_input_cancel(st->job);
}

static void input_in_session(struct tool_call *call, struct sess_session *s)
{
	with_display(call, s, input_ready);
}

static void input_run(struct tool_call *call)
{
	struct dstate *st = xcalloc(1, sizeof(*st));

	init_once(call);
	st->call = call;
	st->shot_after = tool_arg_bool(call, "screenshot_after", false);
	parse_shot_opts(call, &st->o);
	call->state = st;
	call->state_free = dstate_free;
	tool_on_cancel(call, input_cancel, st);
	tool_with_session(call, input_in_session);
}

/* ---- schemas ---------------------------------------------------------------- */

#define SESSION_ARG "\"session_id\":{\"type\":\"string\",\"description\":\"Session whose screen to use; default: this connection's own session.\"}"
#define SHOT_ARGS \
	"\"region\":{\"type\":\"object\",\"description\":\"Part of the screen, in screen pixels.\",\"properties\":{" \
	"\"x\":{\"type\":\"integer\",\"minimum\":0},\"y\":{\"type\":\"integer\",\"minimum\":0}," \
	"\"width\":{\"type\":\"integer\",\"minimum\":1},\"height\":{\"type\":\"integer\",\"minimum\":1}}," \
	"\"required\":[\"x\",\"y\",\"width\",\"height\"],\"additionalProperties\":false}," \
	"\"max_width\":{\"type\":\"integer\",\"minimum\":16,\"maximum\":8000,\"description\":\"Scale down to at most this width (default: longer side at most 1280).\"}," \
	"\"max_height\":{\"type\":\"integer\",\"minimum\":16,\"maximum\":8000}," \
	"\"format\":{\"type\":\"string\",\"enum\":[\"png\",\"jpeg\"],\"description\":\"png (default, lossless) or jpeg (smaller, faster).\"}," \
	"\"quality\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,\"description\":\"JPEG quality (default 80).\"}," \
	"\"max_bytes\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":1000000000,\"description\":\"PNG: scale down further until the file is at most this many bytes (default 1000000, what MCP clients accept; 0: never scale for size).\"}"

#define POINT "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\"},\"y\":{\"type\":\"number\"}},\"required\":[\"x\",\"y\"]}"

const struct tool_def tool_display_defs[] = {
	{
		.name = "screenshot",
		.title = "Take a screenshot",
		.description = "A picture of the session's virtual screen (X display :0, where GUI programs started "
			       "with execute appear). The display starts on first use (1280x800 unless session_create "
			       "asked for another size). Returns a PNG scaled so its longer side is at most 1280 px "
			       "(and under 1 MB), or JPEG on request; input coordinates refer to the last screenshot.",
		.input_schema = "{\"type\":\"object\",\"properties\":{" SESSION_ARG "," SHOT_ARGS "},\"additionalProperties\":false}",
		.read_only = true,
		.idempotent = true,
		.run = screenshot_run,
	},
	{
		.name = "input",
		.title = "Mouse and keyboard",
		.description = "Send mouse and keyboard input to the session's screen, in order. Actions: "
			       "{type:\"move\",x,y}, {type:\"click\",x,y,button?:\"left\"|\"middle\"|\"right\",count?}, "
			       "{type:\"down\"|\"up\",button?,x?,y?}, {type:\"drag\",from:{x,y},to:{x,y}}, "
			       "{type:\"scroll\",x,y,dx?,dy?} (clicks; dy>0 scrolls down), {type:\"type\",text} (any "
			       "Unicode), {type:\"key\",keys:\"ctrl+shift+t\"} (X keysym names or ctrl, alt, shift, "
			       "super, enter, esc, tab, up, f5...), {type:\"key_down\"|\"key_up\",keys} (hold keys across "
			       "actions and calls, release them), {type:\"wait\",ms}. Coordinates are in the last "
			       "screenshot's pixels (space:\"screen\" for real screen pixels). Returns once the X "
			       "server has processed the input; screenshot_after:true adds a screenshot taken when the "
			       "screen has settled.",
		.input_schema = "{\"type\":\"object\",\"properties\":{" SESSION_ARG ","
				"\"actions\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"type\":\"object\",\"properties\":{"
				"\"type\":{\"type\":\"string\",\"enum\":[\"move\",\"click\",\"down\",\"up\",\"drag\",\"scroll\",\"type\",\"key\",\"key_down\",\"key_up\",\"wait\"]},"
				"\"x\":{\"type\":\"number\"},\"y\":{\"type\":\"number\"},"
				"\"button\":{\"type\":\"string\",\"enum\":[\"left\",\"middle\",\"right\"]},"
				"\"count\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10},"
				"\"from\":" POINT ",\"to\":" POINT ","
				"\"dx\":{\"type\":\"integer\"},\"dy\":{\"type\":\"integer\"},"
				"\"text\":{\"type\":\"string\"},\"keys\":{\"type\":\"string\"},"
				"\"ms\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":10000}},"
				"\"required\":[\"type\"]}},"
				"\"space\":{\"type\":\"string\",\"enum\":[\"screenshot\",\"screen\"],\"description\":\"Coordinate space (default: the last screenshot's).\"},"
				"\"screenshot_after\":{\"type\":\"boolean\",\"description\":\"Also return a screenshot once the screen is quiet.\"},"
				SHOT_ARGS "},\"required\":[\"actions\"],\"additionalProperties\":false}",
		.destructive = true,
		.run = input_run,
	},
	{ 0 },
};
