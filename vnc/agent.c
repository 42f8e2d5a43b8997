/*
 * agent.c — the display agent: `mcpbox display-agent W H [DESKTOP]`, started by the
 * server through the session's worker, so it runs inside the sandbox (its
 * namespaces, uid, seccomp filter and cgroup) and is worth no more than the
 * sandbox's own code.
 *
 * It starts Xvfb with the shared buffer as its framebuffer file (so Xvfb
 * draws straight into it and nobody copies pixels on this side), is the
 * only process that speaks X (damage, the cursor's shape, XTest input, the
 * keyboard map), and tells the server what changed in small messages
 * (vnc/agent_proto.h). The server checks everything it sends.
 *
 * Single-threaded, one poll loop; blocking on the X server is fine here: a
 * stuck agent stalls its own display only, and the server times it out.
 */
#include "agent.h"
#include "agent_proto.h"
#include "desktop.h"
#include "../server/base/common.h"

#include <X11/keysym.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <xcb/damage.h>
#include <xcb/xcb.h>
#include <xcb/xcbext.h>
#include <xcb/xfixes.h>
#include <xcb/xtest.h>

#include "../server/base/banned.h"

#define XVFB_START_MS 9000
#define WM_START_MS 3000	/* the desktop is shown once its window manager runs, or after this */
#define FLUSH_EVERY_MS 5	/* damage is sent at most this often (a SYNC sends it at once) */
#define MAX_DAMAGE 64
#define NSPARE 8
#define BACKGROUND 0x2e3440	/* a plain dark grey-blue */
#define FBDIR "/run/mcpbox/display"

static struct {
	int chan;
	int w, h;
	uint8_t *shm;		/* Xvfb's framebuffer file, then the cursor slot */
	size_t shm_len;
	xcb_connection_t *c;
	xcb_window_t root;
	uint8_t damage_event, cursor_event;
	size_t fb_off;
	struct vnc_agent_rect dmg[MAX_DAMAGE];
	int ndmg;
	uint64_t last_flush_ms;
	/* keyboard */
	uint8_t min_kc, max_kc;
	int per;
	uint32_t *syms;
	uint8_t spare[NSPARE];
	int nspare, next_spare;
	uint8_t kc_shift;
} A = { .chan = -1 };

static void send_msg(const struct vnc_agent_msg *m)
{
	while (send(A.chan, m, sizeof(*m), MSG_NOSIGNAL) < 0) {
		if (errno == EINTR)
			continue;
		_exit(0);	/* the server went away: so do we (and Xvfb, by its death signal) */
	}
}

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	struct vnc_agent_msg m;
	va_list ap;

	memset(&m, 0, sizeof(m));
	m.type = VNC_AGENT_FAILED;
	va_start(ap, fmt);
	vsnprintf(m.u.text, sizeof(m.u.text), fmt, ap);
	va_end(ap);
	for (char *p = m.u.text; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	if (A.chan >= 0)
		send_msg(&m);
	_exit(1);
}

/* ---- start: Xvfb ------------------------------------------------------------ */

/* what the agent's children (Xvfb, the desktop) run with */
static const char *const child_env[] = {
	"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/workspace", "LANG=C.UTF-8", "TMPDIR=/tmp", NULL,
};

static void xvfb_start(void)
{
	const char *const *envp = child_env;
	char geom[64], buf[32];
	size_t got = 0;
	int p[2];
	pid_t pid;
	uint64_t deadline = now_ms() + XVFB_START_MS;

	snprintf(geom, sizeof(geom), "%dx%dx24", A.w, A.h);
	const char *argv[] = {
		"/usr/bin/Xvfb", ":0", "-screen", "0", geom, "-fbdir", FBDIR, "-nolisten", "tcp",
		"-nolisten", "local",	/* no abstract socket: a network session shares the host namespace */
		"-ac", "-noreset", "-extension", "GLX", "-displayfd", "3", NULL,
	};
	/* Xvfb opens FBDIR/Xvfb_screen0 without O_TRUNC and writes within its
	   size: through this link it opens the shared buffer (its fd 4) */
	unlink(FBDIR "/Xvfb_screen0");
	if (symlink("/proc/self/fd/4", FBDIR "/Xvfb_screen0") < 0)
		fail("cannot link the framebuffer file: %s", strerror(errno));
	if (pipe2(p, O_CLOEXEC) < 0)
		fail("cannot make a pipe");
	pid = fork();
	if (pid < 0)
		fail("cannot start Xvfb (fork: %s)", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(p[1], 3) < 0 || fcntl(VNC_AGENT_FD_SHM, F_SETFD, 0) < 0)
			_exit(127);
		close_range(5, ~0U, 0);
		execve(argv[0], (char *const *)argv, (char *const *)envp);
		_exit(127);
	}
	close(p[1]);
	/* -displayfd: Xvfb writes the display number once it accepts clients */
	while (!memchr(buf, '\n', got)) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		uint64_t now = now_ms();
		if (now >= deadline)
			fail("Xvfb did not become ready in time");
		int n = poll(&pf, 1, (int)(deadline - now));
		if (n < 0 && errno == EINTR)
			continue;
		ssize_t r = n > 0 ? read(p[0], buf + got, sizeof(buf) - got) : 0;
		if (n > 0 && r <= 0)
			fail("Xvfb did not start (is the xvfb package installed?)");
		if (r > 0)
			got += (size_t)r;
		if (got == sizeof(buf))
			fail("Xvfb said too much on -displayfd");
	}
	close(p[0]);
}

/* ---- connecting ------------------------------------------------------------- */

static void keymap_read(void)
{
	xcb_generic_error_t *e = NULL;
	int count = A.max_kc - A.min_kc + 1;

	if (A.max_kc < A.min_kc)
		fail("bad keycode range");
	xcb_get_keyboard_mapping_reply_t *km =
		xcb_get_keyboard_mapping_reply(A.c, xcb_get_keyboard_mapping(A.c, A.min_kc, (uint8_t)count), &e);
	free(e);
	if (!km)
		fail("cannot read the keyboard map");
	A.per = km->keysyms_per_keycode;
	/* exactly what was asked for, or nothing */
	if (A.per < 1 || xcb_get_keyboard_mapping_keysyms_length(km) != count * A.per) {
		free(km);
		fail("bad keyboard map");
	}
	A.syms = xcalloc((size_t)count * (size_t)A.per, sizeof(uint32_t));
	memcpy(A.syms, xcb_get_keyboard_mapping_keysyms(km), (size_t)count * (size_t)A.per * sizeof(uint32_t));
	free(km);
}

static int keycode_for(uint32_t sym, bool *shift)
{
	int n = A.max_kc - A.min_kc + 1;

	for (int col = 0; col < 2 && col < A.per; col++) {
		for (int i = 0; i < n; i++) {
			if (A.syms[i * A.per + col] == sym) {
				*shift = col == 1;
				return A.min_kc + i;
			}
		}
	}
	*shift = false;
	return 0;
}

static void find_spares(void)
{
	A.nspare = 0;
	for (int kc = A.max_kc; kc >= A.min_kc && A.nspare < NSPARE; kc--) {
		bool empty = true;
		for (int i = 0; i < A.per; i++)
			if (A.syms[(kc - A.min_kc) * A.per + i])
				empty = false;
		if (empty)
			A.spare[A.nspare++] = (uint8_t)kc;
	}
}

/* Check the XWD header Xvfb wrote at the start of the shared buffer. */
static void fb_check(void)
{
	uint32_t hd[25];

	memcpy(hd, A.shm, sizeof(hd));
	for (int i = 0; i < 25; i++)
		hd[i] = ntohl(hd[i]);
	/* header_size, ..., [4] width, [5] height, [7] byte order, [11] bpp,
	   [12] bytes per line, [14..16] masks, [19] ncolors */
	if (hd[11] != 32 || hd[4] != (uint32_t)A.w || hd[5] != (uint32_t)A.h || hd[12] != hd[4] * 4 || hd[7] != 0 ||
	    hd[14] != 0xff0000 || hd[15] != 0xff00 || hd[16] != 0xff || hd[19] > 4096 || hd[0] > 4096)
		fail("unexpected framebuffer format (%u bpp, %ux%u)", hd[11], hd[4], hd[5]);
	A.fb_off = hd[0] + (size_t)hd[19] * 12;
	if (A.fb_off % 4 || A.fb_off > VNC_AGENT_HEADER_MAX)
		fail("unexpected framebuffer header of %zu bytes", A.fb_off);
}

/* The socket Xvfb made, by path: xcb_connect(":0") would try the abstract
   socket first, which in a session sharing the host's network namespace is
   the host's X server, if one runs (Xvfb itself runs with -nolisten local). */
static int x_socket(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/tmp/.X11-unix/X0" };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("cannot connect to Xvfb: %s", strerror(errno));
	return s;
}

static void x_connect(void)
{
	xcb_generic_error_t *e = NULL;

	A.c = xcb_connect_to_fd(x_socket(), NULL);
	if (xcb_connection_has_error(A.c))
		fail("X connection failed");
	const xcb_setup_t *setup = xcb_get_setup(A.c);
	xcb_screen_iterator_t it = xcb_setup_roots_iterator(setup);
	if (!it.rem)
		fail("the X server has no screen");
	if (it.data->width_in_pixels != A.w || it.data->height_in_pixels != A.h)
		fail("the X screen is %dx%d, not %dx%d", it.data->width_in_pixels, it.data->height_in_pixels, A.w,
		     A.h);
	A.root = it.data->root;
	A.min_kc = setup->min_keycode;
	A.max_kc = setup->max_keycode;

	xcb_xfixes_query_version_reply_t *xf =
		xcb_xfixes_query_version_reply(A.c, xcb_xfixes_query_version(A.c, 5, 0), &e);
	xcb_damage_query_version_reply_t *dm =
		xf ? xcb_damage_query_version_reply(A.c, xcb_damage_query_version(A.c, 1, 1), &e) : NULL;
	xcb_test_get_version_reply_t *xt = dm ? xcb_test_get_version_reply(A.c, xcb_test_get_version(A.c, 2, 2), &e)
					      : NULL;
	free(xf);
	free(dm);
	free(e);
	if (!xt)
		fail("Xvfb lacks XFIXES, DAMAGE or XTEST");
	free(xt);
	const xcb_query_extension_reply_t *ext = xcb_get_extension_data(A.c, &xcb_damage_id);
	if (!ext || !ext->present)
		fail("Xvfb lacks DAMAGE");
	A.damage_event = ext->first_event + XCB_DAMAGE_NOTIFY;
	xcb_damage_create(A.c, xcb_generate_id(A.c), A.root, XCB_DAMAGE_REPORT_LEVEL_RAW_RECTANGLES);
	/* the cursor's shape, for VNC clients that draw it themselves */
	ext = xcb_get_extension_data(A.c, &xcb_xfixes_id);
	if (!ext || !ext->present)
		fail("Xvfb lacks XFIXES");
	A.cursor_event = ext->first_event + XCB_XFIXES_CURSOR_NOTIFY;
	xcb_xfixes_select_cursor_input(A.c, A.root, XCB_XFIXES_CURSOR_NOTIFY_MASK_DISPLAY_CURSOR);

	/* a plain background and an arrow cursor instead of X's weave and cross */
	uint32_t bg = BACKGROUND;
	xcb_change_window_attributes(A.c, A.root, XCB_CW_BACK_PIXEL, &bg);
	xcb_font_t font = xcb_generate_id(A.c);
	xcb_cursor_t cur = xcb_generate_id(A.c);
	xcb_open_font(A.c, font, 6, "cursor");
	xcb_create_glyph_cursor(A.c, cur, font, font, 68, 69, 0, 0, 0, 0xffff, 0xffff, 0xffff); /* left_ptr */
	xcb_change_window_attributes(A.c, A.root, XCB_CW_CURSOR, &cur);
	xcb_free_cursor(A.c, cur);
	xcb_close_font(A.c, font);
	xcb_clear_area(A.c, 0, A.root, 0, 0, 0, 0);

	keymap_read();
	find_spares();
	bool sh;
	int kc = keycode_for(XK_Shift_L, &sh);
	A.kc_shift = kc > 0 ? (uint8_t)kc : 0;
	/* everything above has been processed once this answers */
	free(xcb_get_input_focus_reply(A.c, xcb_get_input_focus(A.c), NULL));
	if (xcb_connection_has_error(A.c))
		fail("X connection broke during set-up");
}

/* ---- damage and the cursor ----------------------------------------------------- */

static void add_damage(int x, int y, int w, int h)
{
	if (x < 0) {
		w += x;
		x = 0;
	}
	if (y < 0) {
		h += y;
		y = 0;
	}
	if (x + w > A.w)
		w = A.w - x;
	if (y + h > A.h)
		h = A.h - y;
	if (w <= 0 || h <= 0)
		return;
	if (A.ndmg == MAX_DAMAGE) {
		/* too many: one bounding box */
		int x0 = x, y0 = y, x1 = x + w, y1 = y + h;
		for (int i = 0; i < A.ndmg; i++) {
			struct vnc_agent_rect *r = &A.dmg[i];
			if (r->x < x0) x0 = r->x;
			if (r->y < y0) y0 = r->y;
			if (r->x + r->w > x1) x1 = r->x + r->w;
			if (r->y + r->h > y1) y1 = r->y + r->h;
		}
		A.ndmg = 1;
		A.dmg[0] = (struct vnc_agent_rect){ (uint16_t)x0, (uint16_t)y0, (uint16_t)(x1 - x0), (uint16_t)(y1 - y0) };
		return;
	}
	A.dmg[A.ndmg++] = (struct vnc_agent_rect){ (uint16_t)x, (uint16_t)y, (uint16_t)w, (uint16_t)h };
}

/* Tell the server what changed (Xvfb drew it into the shared buffer already). */
static void damage_send(void)
{
	struct vnc_agent_msg m;
	int n = A.ndmg;

	if (!n)
		return;
	memset(&m, 0, sizeof(m));
	m.type = VNC_AGENT_DAMAGE;
	if (n > VNC_AGENT_RECTS) {
		/* one band of whole rows */
		int y0 = A.h, y1 = 0;
		for (int i = 0; i < n; i++) {
			if (A.dmg[i].y < y0)
				y0 = A.dmg[i].y;
			if (A.dmg[i].y + A.dmg[i].h > y1)
				y1 = A.dmg[i].y + A.dmg[i].h;
		}
		m.a = 1;
		m.u.rects[0] = (struct vnc_agent_rect){ 0, (uint16_t)y0, (uint16_t)A.w, (uint16_t)(y1 - y0) };
	} else {
		m.a = (uint32_t)n;
		memcpy(m.u.rects, A.dmg, sizeof(A.dmg[0]) * (size_t)n);
	}
	send_msg(&m);
	A.ndmg = 0;
	A.last_flush_ms = now_ms();
}

static void cursor_send(void)
{
	xcb_xfixes_get_cursor_image_reply_t *r =
		xcb_xfixes_get_cursor_image_reply(A.c, xcb_xfixes_get_cursor_image(A.c), NULL);
	struct vnc_agent_msg m;

	if (!r)
		return;
	int n = xcb_xfixes_get_cursor_image_cursor_image_length(r);
	if (r->width && r->height && r->width <= VNC_AGENT_CURSOR_MAX && r->height <= VNC_AGENT_CURSOR_MAX &&
	    n == r->width * r->height) {
		memcpy(A.shm + vnc_agent_cursor_offset(A.w, A.h), xcb_xfixes_get_cursor_image_cursor_image(r),
		       (size_t)n * 4);
		memset(&m, 0, sizeof(m));
		m.type = VNC_AGENT_CURSOR;
		m.a = r->width;
		m.b = r->height;
		m.c = r->xhot < r->width ? r->xhot : 0;
		m.d = r->yhot < r->height ? r->yhot : 0;
		send_msg(&m);
	}
	free(r);
}

/* Take every event XCB has or can read now. */
static void x_drain(void)
{
	xcb_generic_event_t *ev;
	bool cursor = false;

	while ((ev = xcb_poll_for_event(A.c))) {
		uint8_t type = ev->response_type & 0x7f;
		if (type == A.damage_event) {
			xcb_damage_notify_event_t *dn = (void *)ev;
			add_damage(dn->area.x, dn->area.y, dn->area.width, dn->area.height);
		} else if (type == A.cursor_event) {
			cursor = true;
		}
		free(ev);
	}
	if (xcb_connection_has_error(A.c))
		fail("the X connection broke");
	if (cursor)
		cursor_send();
}

/* ---- input --------------------------------------------------------------------- */

/* A keycode that types sym, mapping a spare one when the keymap has none. */
static int keycode_map(uint32_t sym, bool *shift)
{
	int kc = keycode_for(sym, shift);

	if (kc || !A.nspare)
		return kc;
	kc = A.spare[A.next_spare];
	A.next_spare = (A.next_spare + 1) % A.nspare;
	uint32_t *row = &A.syms[(kc - A.min_kc) * A.per];
	for (int i = 0; i < A.per; i++)
		row[i] = i < 2 ? sym : 0;
	xcb_change_keyboard_mapping(A.c, 1, (xcb_keycode_t)kc, (uint8_t)A.per, row);
	*shift = false;
	return kc;
}

static void fake(uint8_t type, uint8_t detail, int x, int y)
{
	xcb_test_fake_input(A.c, type, detail, XCB_CURRENT_TIME, A.root, (int16_t)x, (int16_t)y, 0);
}

static void key(uint32_t sym, bool down, bool with_shift)
{
	bool shift;
	int kc = keycode_map(sym, &shift);

	if (!kc)
		return;
	if (with_shift && shift && A.kc_shift && down)
		fake(XCB_KEY_PRESS, A.kc_shift, 0, 0);
	fake(down ? XCB_KEY_PRESS : XCB_KEY_RELEASE, (uint8_t)kc, 0, 0);
	if (with_shift && shift && A.kc_shift && !down)
		fake(XCB_KEY_RELEASE, A.kc_shift, 0, 0);
}

static void command(const struct vnc_agent_cmd *c)
{
	struct vnc_agent_msg m;
	bool down = c->flags & VNC_AGENT_DOWN;

	switch (c->type) {
	case VNC_AGENT_MOTION:
		if (c->x >= 0 && c->y >= 0 && c->x < A.w && c->y < A.h)
			fake(XCB_MOTION_NOTIFY, 0, c->x, c->y);
		break;
	case VNC_AGENT_BUTTON:
		if (c->code >= 1 && c->code <= 31)
			fake(down ? XCB_BUTTON_PRESS : XCB_BUTTON_RELEASE, (uint8_t)c->code, 0, 0);
		break;
	case VNC_AGENT_KEY:
		key(c->code, down, c->flags & VNC_AGENT_WITH_SHIFT);
		break;
	case VNC_AGENT_SYNC:
		if (c->flags & VNC_AGENT_WITH_DAMAGE) {
			/* once GetInputFocus answers, X has processed everything
			   before it and sent the damage it caused before the reply */
			free(xcb_get_input_focus_reply(A.c, xcb_get_input_focus(A.c), NULL));
			x_drain();
			damage_send();
		} else {
			/* input: done once X has it. X runs one connection's
			   requests in order, so whatever is asked of the display
			   after this (a screenshot syncs above) sees its effect */
			if (xcb_flush(A.c) <= 0)
				fail("the X connection broke");
		}
		memset(&m, 0, sizeof(m));
		m.type = VNC_AGENT_SYNCED;
		m.a = c->code;
		send_msg(&m);
		break;
	default:
		fail("unknown command %u", c->type);
	}
}

static void commands_read(void)
{
	struct vnc_agent_cmd c;
	ssize_t n;

	while ((n = recv(A.chan, &c, sizeof(c), MSG_DONTWAIT)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			_exit(0);
		}
		if ((size_t)n != sizeof(c))
			fail("command of %zd bytes", n);
		command(&c);
	}
	if (n == 0)
		_exit(0);	/* the server closed the channel */
	xcb_flush(A.c);
}

/* ---- main ------------------------------------------------------------------------ */

/* Until a window manager runs (it holds SubstructureRedirect on the root
   window), so that the first screenshot shows the desktop; at most
   WM_START_MS (one that is not installed or does not start is left out). */
static void wm_wait(void)
{
	uint64_t deadline = now_ms() + WM_START_MS, now;

	while ((now = now_ms()) < deadline) {
		xcb_get_window_attributes_cookie_t ck = xcb_get_window_attributes(A.c, A.root);
		xcb_get_window_attributes_reply_t *a = NULL;
		xcb_generic_error_t *e = NULL;
		xcb_flush(A.c);
		/* never block past the deadline, whatever the X server does */
		while (!xcb_poll_for_reply(A.c, ck.sequence, (void **)&a, &e) && (now = now_ms()) < deadline) {
			struct pollfd p = { .fd = xcb_get_file_descriptor(A.c), .events = POLLIN };
			if (xcb_connection_has_error(A.c) || (poll(&p, 1, (int)(deadline - now)) < 0 && errno != EINTR))
				break;
		}
		bool managed = a && (a->all_event_masks & XCB_EVENT_MASK_SUBSTRUCTURE_REDIRECT);
		free(a);
		free(e);
		if (managed || xcb_connection_has_error(A.c))
			return;
		poll(NULL, 0, 5);
	}
}

static void agent_loop(void)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = xcb_get_file_descriptor(A.c), .events = POLLIN },
			{ .fd = A.chan, .events = POLLIN },
		};
		int timeout = -1;
		if (A.ndmg) {
			uint64_t due = A.last_flush_ms + FLUSH_EVERY_MS, now = now_ms();
			timeout = due > now ? (int)(due - now) : 0;
		}
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			fail("poll: %s", strerror(errno));
		if (p[1].revents & (POLLHUP | POLLERR))
			_exit(0);
		if (p[1].revents & POLLIN)
			commands_read();
		x_drain();
		if (A.ndmg && now_ms() >= A.last_flush_ms + FLUSH_EVERY_MS)
			damage_send();
	}
}

int vnc_agent_main(int argc, char **argv)
{
	struct stat st;
	struct vnc_agent_msg m;

	prctl(PR_SET_NAME, "mcpbox-display", 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	A.chan = VNC_AGENT_FD_CHAN;
	close(VNC_AGENT_FD_EXE);
	fd_set_cloexec(A.chan);
	fd_set_cloexec(VNC_AGENT_FD_SHM);
	if ((argc != 4 && argc != 5) || fstat(A.chan, &st) < 0 || !S_ISSOCK(st.st_mode))
		fail("usage: mcpbox display-agent WIDTH HEIGHT [standard|bare] (started by the server)");
	bool desktop = argc == 4 || !strcmp(argv[4], VNC_DESKTOP_STANDARD);
	if (!desktop && strcmp(argv[4], VNC_DESKTOP_BARE))
		fail("unknown desktop \"%s\"", argv[4]);
	A.w = atoi(argv[2]);
	A.h = atoi(argv[3]);
	if (A.w < 1 || A.h < 1 || A.w > 65535 || A.h > 65535)
		fail("bad size");
	A.shm_len = vnc_agent_shm_size(A.w, A.h);
	if (fstat(VNC_AGENT_FD_SHM, &st) < 0 || (size_t)st.st_size < A.shm_len)
		fail("shared buffer too small");
	A.shm = mmap(NULL, A.shm_len, PROT_READ | PROT_WRITE, MAP_SHARED, VNC_AGENT_FD_SHM, 0);
	if (A.shm == MAP_FAILED)
		fail("cannot map the shared buffer: %s", strerror(errno));

	xvfb_start();	/* Xvfb keeps the buffer open: we need not */
	close(VNC_AGENT_FD_SHM);
	x_connect();
	fb_check();
	if (desktop) {
		signal(SIGCHLD, SIG_IGN);	/* its programs are reaped by the kernel */
		vnc_desktop_start(FBDIR, child_env);
		wm_wait();
	}
	memset(&m, 0, sizeof(m));
	m.type = VNC_AGENT_READY;
	m.a = (uint32_t)A.w;
	m.b = (uint32_t)A.h;
	m.c = (uint32_t)A.fb_off;
	m.d = (uint32_t)A.w * 4;
	send_msg(&m);
	cursor_send();
	x_drain();
	A.ndmg = 0;	/* the whole screen was just read */
	agent_loop();
	return 0;
}
