/*
 * term.c — terminals (term.h): the pty handed over by the sandbox, reading
 * its output with a budget, the write queue, libvterm's screen, idle
 * timeout and closing.
 */
#include "term.h"
#include "proto.h"
#include "quota.h"
#include "../server/base/common.h"
#include "../server/base/config.h"
#include "../server/base/log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>
#include <vterm.h>

#include "../server/base/banned.h"

#define COMMAND_KEPT 200

struct sess_term_io {
	struct sess_term *t;
	struct sess_worker *worker;	/* the sandbox it runs in (NULL once that is gone) */
	uint64_t exec_id;
	sess_term_opened_cb opened;	/* while OPENING */
	void *opened_arg;
	int sock;			/* while OPENING: where the pty's master comes from */
	uv_poll_t sock_poll;		/* on sock (open while sock_polling) */
	bool sock_polling;
	int master;
	uv_poll_t poll;			/* on master (initialized with it) */
	bool poll_inited, polling;
	int events;
	uv_timer_t timer;		/* the open deadline, then the idle check */
	struct buf wq;			/* bytes for the program, from wq_off on */
	size_t wq_off;
	VTerm *vt;
	VTermScreen *screen;
	bool exit_seen;			/* its exit was reported (or will never be) */
	bool closing;
	bool on_closed;			/* on its session's terms_closed, waiting for exit_seen */
	int handles;			/* open uv handles (poll, timer) */
};

const char *sess_term_state_name(enum sess_term_state st)
{
	static const char *const names[] = { "opening", "running", "exited" };
	return st < ARRAY_SIZE(names) ? names[st] : "?";
}

unsigned sess_term_count(const struct sess_session *s)
{
	unsigned n = 0;
	struct sess_term *t;
	LIST_FOREACH(t, &s->terms, link)
		n++;
	return n;
}

/* ---- freeing: once closed, handles closed and the exit seen ---- */

static void term_free(struct sess_term *t)
{
	struct sess_term_io *io = t->io;

	if (io->vt)
		vterm_free(io->vt);
	buf_release(&io->wq);
	sess_ring_release(&t->out);
	free(io);
	free(t->command);
	free(t->id);
	free(t);
}

static void maybe_free(struct sess_term *t)
{
	if (t->io->exit_seen && t->io->on_closed) {
		LIST_REMOVE(t, link);
		t->io->on_closed = false;
	}
	if (t->io->closing && !t->io->handles && t->io->exit_seen)
		term_free(t);
}

static void handle_closed(uv_handle_t *h)
{
	struct sess_term *t = h->data;
	t->io->handles--;
	maybe_free(t);
}

static void stop_poll(struct sess_term_io *io)
{
	if (io->polling) {
		uv_poll_stop(&io->poll);
		io->polling = false;
		io->events = 0;
	}
}

/* The hand-over socket is done with. */
static void stop_sock(struct sess_term_io *io)
{
	if (io->sock_polling) {
		uv_poll_stop(&io->sock_poll);
		uv_close((uv_handle_t *)&io->sock_poll, handle_closed);
		io->sock_polling = false;
	}
	if (io->sock >= 0)
		close(steal_fd(io->sock));
}

/* Tell the viewers that the size or the state changed (each may remove itself). */
static void viewers_changed(struct sess_term *t)
{
	struct sess_term_viewer *v, *next;

	for (v = LIST_FIRST(&t->viewers); v; v = next) {
		next = LIST_NEXT(v, link);
		if (v->changed)
			v->changed(v);
	}
}

/* The program's end, from the worker (also when the sandbox died: SIGKILL). */
static void term_exited(void *arg, uint64_t exec_id, const struct sess_exit *ex)
{
	struct sess_term *t = arg;

	t->io->exit_seen = true;
	t->exit = *ex;
	if (t->state == SESS_TERM_RUNNING) {
		t->state = SESS_TERM_EXITED;
		viewers_changed(t);
	}
	maybe_free(t);
}

static void finish_open(struct sess_term *t, struct err *err)
{
	struct sess_term_io *io = t->io;
	sess_term_opened_cb cb = io->opened;

	io->opened = NULL;
	if (cb)
		cb(io->opened_arg, err ? NULL : t, err);
	else
		err_free(err);
}

void sess_term_close(struct sess_term *t)
{
	struct sess_term_io *io = t->io;
	struct sess_term_viewer *v;

	if (io->closing)
		return;
	io->closing = true;
	LIST_REMOVE(t, link);
	if (!io->exit_seen) {
		/* kept where the session's end finds it: a stop or destroy frees the
		   worker without reporting this program's end */
		LIST_INSERT_HEAD(&t->sess->terms_closed, t, link);
		io->on_closed = true;
	}
	if (io->worker) {
		auto_err struct err *err = NULL;
		if (sess_worker_kill_session(io->worker, io->exec_id, SIGKILL, &err) < 0)
			log_debug("terminal %s: %s", t->id, err_text(err));
	}
	stop_poll(io);
	stop_sock(io);
	if (io->master >= 0)
		close(steal_fd(io->master));
	uv_timer_stop(&io->timer);
	if (io->poll_inited)
		uv_close((uv_handle_t *)&io->poll, handle_closed);
	uv_close((uv_handle_t *)&io->timer, handle_closed);
	while ((v = LIST_FIRST(&t->viewers))) {
		LIST_REMOVE(v, link);
		v->closed(v);
	}
	if (io->opened) {
		struct err *err = NULL;
		err_setc(&err, ERR_UNAVAILABLE, 0, "the session ended while its terminal opened");
		finish_open(t, err);
	}
	log_debug("session %s: terminal %s closed", t->sess->id, t->id);
	maybe_free(t);
}

void sess_terms_close_all(struct sess_session *s)
{
	struct sess_term *t;

	while ((t = LIST_FIRST(&s->terms))) {
		t->io->worker = NULL;	/* the sandbox goes: nothing to kill, no report to wait for */
		t->io->exit_seen = true;
		sess_term_close(t);
	}
	/* closed before, their ends still to come: none will now */
	while ((t = LIST_FIRST(&s->terms_closed))) {
		t->io->worker = NULL;
		t->io->exit_seen = true;
		maybe_free(t);	/* off the list; freed now or when its handles have closed */
	}
}

/* ---- output and input on the master ---- */

static void term_poll_cb(uv_poll_t *h, int status, int events);

static void update_events(struct sess_term *t)
{
	struct sess_term_io *io = t->io;
	int ev;

	if (io->closing || io->master < 0)
		return;
	ev = UV_READABLE | (io->wq.len > io->wq_off ? UV_WRITABLE : 0);
	if (ev == io->events && io->polling)
		return;
	io->events = ev;
	io->polling = true;
	uv_poll_start(&io->poll, ev, term_poll_cb);
}

/* The slave side is closed by everyone (or broken): no more output. */
static void hung_up(struct sess_term *t)
{
	struct sess_term_io *io = t->io;

	stop_poll(io);
	if (io->master >= 0)
		close(steal_fd(io->master));
	io->wq.len = io->wq_off = 0;
}

static void deliver(struct sess_term *t, const char *data, size_t len)
{
	struct sess_term_viewer *v, *next;

	t->last_output = now_ms();
	sess_ring_add(&t->out, 1, t->io->exec_id, wall_ms(), data, len);
	vterm_input_write(t->io->vt, data, len);
	/* a viewer may remove itself from its callback */
	for (v = LIST_FIRST(&t->viewers); v; v = next) {
		next = LIST_NEXT(v, link);
		v->output(v, data, len);
	}
}

static void read_some(struct sess_term *t)
{
	char chunk[16384];
	size_t got = 0;

	while (got < SESS_TERM_READ_BUDGET && t->io->master >= 0) {
		ssize_t n = read(t->io->master, chunk, sizeof(chunk));
		if (n > 0) {
			got += (size_t)n;
			deliver(t, chunk, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		hung_up(t);	/* EOF, or EIO: the last holder of the slave is gone */
	}
}

static void flush_writes(struct sess_term *t)
{
	struct sess_term_io *io = t->io;

	while (io->master >= 0 && io->wq.len > io->wq_off) {
		ssize_t n = write(io->master, io->wq.data + io->wq_off, io->wq.len - io->wq_off);
		if (n > 0) {
			io->wq_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		hung_up(t);
		return;
	}
	if (io->wq_off == io->wq.len) {
		io->wq.len = io->wq_off = 0;
	} else if (io->wq_off > SESS_TERM_QUEUE / 2) {
		memmove(io->wq.data, io->wq.data + io->wq_off, io->wq.len - io->wq_off);
		io->wq.len -= io->wq_off;
		io->wq_off = 0;
	}
}

static void term_poll_cb(uv_poll_t *h, int status, int events)
{
	struct sess_term *t = h->data;

	if (status < 0) {
		hung_up(t);
		return;
	}
	if (events & UV_WRITABLE)
		flush_writes(t);
	if (events & (UV_READABLE | UV_DISCONNECT))
		read_some(t);
	update_events(t);
}

/* Queue bytes for the program; false if they do not fit. */
static bool enqueue(struct sess_term *t, const char *data, size_t len)
{
	struct sess_term_io *io = t->io;

	if (io->wq.len - io->wq_off + len > SESS_TERM_QUEUE)
		return false;
	buf_add(&io->wq, data, len);
	return true;
}

/* What the emulator answers the program (cursor reports, device attributes) and key presses. */
static void vt_output(const char *s, size_t len, void *user)
{
	struct sess_term *t = user;
	if (t->io->master >= 0 && !enqueue(t, s, len))
		log_debug("terminal %s: its program reads no input; %zu bytes of answers dropped", t->id, len);
}

static int writable(struct sess_term *t, size_t len, struct err **errp)
{
	struct sess_term_io *io = t->io;

	if (t->state != SESS_TERM_RUNNING || io->master < 0)
		return err_setc(errp, ERR_CONFLICT, 0, "terminal %s: its program has ended", t->id);
	if (io->wq.len - io->wq_off + len > SESS_TERM_QUEUE)
		return err_setc(errp, ERR_LIMIT, 0,
				"terminal %s: its program does not read its input (%u bytes wait unread)", t->id,
				SESS_TERM_QUEUE);
	return 0;
}

int sess_term_write(struct sess_term *t, const char *data, size_t len, struct err **errp)
{
	if (writable(t, len, errp) < 0)
		return -1;
	t->input_at = t->out.end;
	enqueue(t, data, len);
	flush_writes(t);
	update_events(t);
	return 0;
}

int sess_term_key(struct sess_term *t, const char *name, struct err **errp)
{
	struct sess_term_keypress k;

	if (sess_term_key_parse(name, &k, errp) < 0)
		return -1;
	/* the longest encoding (a modified function key) is far below this */
	if (writable(t, 64, errp) < 0)
		return -1;
	t->input_at = t->out.end;
	if (k.key)
		vterm_keyboard_key(t->io->vt, (VTermKey)k.key, (VTermModifier)k.mods);
	else
		vterm_keyboard_unichar(t->io->vt, k.ch, (VTermModifier)k.mods);
	flush_writes(t);
	update_events(t);
	return 0;
}

static int check_size(int rows, int cols, struct err **errp)
{
	if (rows < 1 || rows > SESS_TERM_MAX_ROWS || cols < 1 || cols > SESS_TERM_MAX_COLS)
		return err_setc(errp, ERR_INVALID, 0, "a terminal has 1..%d rows and 1..%d columns", SESS_TERM_MAX_ROWS,
				SESS_TERM_MAX_COLS);
	return 0;
}

int sess_term_resize(struct sess_term *t, int rows, int cols, struct err **errp)
{
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };

	if (check_size(rows, cols, errp) < 0)
		return -1;
	if (t->io->master >= 0 && ioctl(t->io->master, TIOCSWINSZ, &ws) < 0)
		return err_set(errp, errno, "terminal %s: resize", t->id);
	vterm_set_size(t->io->vt, rows, cols);
	t->rows = rows;
	t->cols = cols;
	viewers_changed(t);
	return 0;
}

void sess_term_screen(const struct sess_term *t, struct buf *text, int *cursor_row, int *cursor_col)
{
	/* a cell holds at most VTERM_MAX_CHARS_PER_CELL code points of 4 bytes */
	size_t cap = (size_t)t->cols * 6 * 4 + 1;
	auto_free char *line = xmalloc(cap);
	size_t keep = text->len;
	VTermPos pos;

	for (int r = 0; r < t->rows; r++) {
		VTermRect rect = { .start_row = r, .end_row = r + 1, .start_col = 0, .end_col = t->cols };
		size_t n = vterm_screen_get_text(t->io->screen, line, cap - 1, rect);
		if (n > cap - 1)
			n = cap - 1;
		while (n && (line[n - 1] == ' ' || line[n - 1] == '\0'))
			n--;
		for (size_t i = 0; i < n; i++)	/* no NULs in text: a gap is a space */
			if (!line[i])
				line[i] = ' ';
		buf_add(text, line, n);
		if (n)
			keep = text->len;
		buf_addch(text, '\n');
	}
	text->len = keep;	/* drop the blank rows at the bottom */
	if (text->data)
		text->data[keep] = '\0';
	vterm_state_get_cursorpos(vterm_obtain_state(t->io->vt), &pos);
	*cursor_row = pos.row;
	*cursor_col = pos.col;
}

void sess_term_touch(struct sess_term *t)
{
	t->last_used = now_ms();
}

void sess_term_viewer_add(struct sess_term *t, struct sess_term_viewer *v)
{
	LIST_INSERT_HEAD(&t->viewers, v, link);
	sess_term_touch(t);
}

void sess_term_viewer_remove(struct sess_term_viewer *v)
{
	LIST_REMOVE(v, link);
}

/* ---- idle timeout ---- */

static void idle_check(uv_timer_t *h)
{
	struct sess_term *t = h->data;
	uint64_t idle = sess_registry_config(t->sess->reg)->terminal_idle_s * 1000, now = now_ms();

	if (!LIST_EMPTY(&t->viewers))
		t->last_used = now;
	if (now - t->last_used >= idle) {
		log_info("session %s: terminal %s idle for %llu s: closed", t->sess->id, t->id,
			 (unsigned long long)(idle / 1000));
		sess_term_close(t);
		return;
	}
	uv_timer_start(&t->io->timer, idle_check, t->last_used + idle - now, 0);
}

static void arm_idle(struct sess_term *t)
{
	uint64_t idle = sess_registry_config(t->sess->reg)->terminal_idle_s * 1000;
	if (idle)
		uv_timer_start(&t->io->timer, idle_check, idle, 0);
}

/* ---- opening: the master arrives from the sandbox ---- */

static int take_master(struct sess_term *t, struct err **errp)
{
	struct sess_term_io *io = t->io;
	struct sess_msg_pty rep;
	struct iovec iov = { &rep, sizeof(rep) };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	int fds[1] = { -1 };
	unsigned ptn;
	struct stat st;
	ssize_t n;

	do
		n = recvmsg(io->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 1;
	size_t nfds = n >= 0 ? sess_proto_take_fds(&mh, fds, 1) : 0;
	auto_close int fd = fds[0];
	if (n < 0)
		return err_set(errp, errno, "no terminal from the sandbox");
	if (n == 0)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "the sandbox could not start the terminal's program");
	if ((size_t)n != sizeof(rep) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return err_setc(errp, ERR_INTERNAL, 0, "malformed terminal hand-over from the sandbox");
	if (rep.error)
		return err_setc(errp, ERR_UNAVAILABLE, rep.error > 0 && rep.error < 4096 ? rep.error : EIO,
				"the sandbox could not make a pty");
	/* exactly one pty master: a character device that answers TIOCGPTN */
	if (nfds != 1 || fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || ioctl(fd, TIOCGPTN, &ptn) < 0)
		return err_setc(errp, ERR_INTERNAL, 0, "the sandbox handed over something that is not a pty");
	if (fcntl(fd, F_SETFL, O_RDWR | O_NONBLOCK) < 0)
		return err_set(errp, errno, "terminal");
	io->master = steal_fd(fd);
	return 0;
}

static void sock_poll_cb(uv_poll_t *h, int status, int events)
{
	struct sess_term *t = h->data;
	struct sess_term_io *io = t->io;
	struct err *err = NULL;
	int rc = status < 0 ? err_setc(&err, ERR_INTERNAL, 0, "terminal hand-over: %s", uv_strerror(status))
			    : take_master(t, &err);

	if (rc > 0)
		return;
	stop_sock(io);
	uv_timer_stop(&io->timer);
	if (rc < 0) {
		sess_term_opened_cb cb = io->opened;
		void *arg = io->opened_arg;
		io->opened = NULL;
		sess_term_close(t);
		cb(arg, NULL, err);
		return;
	}
	uv_poll_init(uv_default_loop(), &io->poll, io->master);
	io->poll.data = t;
	io->poll_inited = true;
	io->handles++;
	t->state = t->io->exit_seen ? SESS_TERM_EXITED : SESS_TERM_RUNNING;
	arm_idle(t);
	update_events(t);
	log_debug("session %s: terminal %s runs %s", t->sess->id, t->id, t->command);
	finish_open(t, NULL);
}

static void open_timeout(uv_timer_t *h)
{
	struct sess_term *t = h->data;
	struct sess_term_io *io = t->io;
	sess_term_opened_cb cb = io->opened;
	void *arg = io->opened_arg;

	struct err *err = NULL;

	io->opened = NULL;
	sess_term_close(t);
	err_setc(&err, ERR_TIMEOUT, 0, "the sandbox did not hand over a pty within %d s",
		 SESS_TERM_OPEN_TIMEOUT_MS / 1000);
	cb(arg, NULL, err);
}

/* A key's terminals: how many, and its oldest whose program ended. */
struct key_terms {
	const char *owner;
	uint64_t count;
	struct sess_term *oldest;
};

static void tally_terms(void *arg, struct sess_session *s)
{
	struct key_terms *k = arg;
	struct sess_term *t;

	if (strcmp(s->owner, k->owner))
		return;
	LIST_FOREACH(t, &s->terms, link) {
		k->count++;
		if (t->state == SESS_TERM_EXITED && (!k->oldest || t->opened_at < k->oldest->opened_at))
			k->oldest = t;
	}
}

/* Room for one more of s's key: each terminal holds its screen (up to 500 x 200 cells, twice) and
   terminal_output bytes, so a key keeps at most quota.terminals over its sessions; the oldest
   whose program ended goes when it is full. */
static int make_key_room(struct sess_session *s, struct err **errp)
{
	uint64_t max = sess_registry_config(s->reg)->quota.terminals;
	struct key_terms k = { s->owner, 0, NULL };

	if (!max || !sess_quota_applies(s->owner))
		return 0;
	sess_foreach(s->reg, NULL, tally_terms, &k);
	if (k.count < max)
		return 0;
	if (!k.oldest)
		return err_setc(errp, ERR_LIMIT, 0, "quota: this key may hold %llu terminals and holds %llu (close one "
				"with terminal_close)", (unsigned long long)max, (unsigned long long)k.count);
	sess_term_close(k.oldest);
	return 0;
}

static void tally_fds(void *arg, struct sess_session *s)
{
	uint64_t *n = arg;
	struct sess_term *t;

	LIST_FOREACH(t, &s->terms, link)
		*n += t->io->master >= 0 || t->io->sock >= 0;
}

/* Room on the server: each terminal holds a pty master (while it opens, the socket it comes through)
   in the server, so all keys' terminals together are kept within quota.server_terminals, which the
   server keeps within its RLIMIT_NOFILE beside executions and connections. */
static int server_room(struct sess_session *s, struct err **errp)
{
	uint64_t max = sess_registry_config(s->reg)->quota.server_terminals, held = 0;

	if (!max)
		return 0;
	sess_foreach(s->reg, NULL, tally_fds, &held);
	if (held < max)
		return 0;
	return err_setc(errp, err_class_of(EAGAIN), 0, "the server holds %llu terminals, its maximum (quota "
			"server_terminals: each holds a pty in the server); try again when one has closed",
			(unsigned long long)held);
}

/* Room for one more: the oldest terminal whose program ended goes when the session is full. */
static int make_room(struct sess_session *s, struct err **errp)
{
	uint64_t max = sess_registry_config(s->reg)->terminals_per_session;
	struct sess_term *t, *oldest = NULL;

	if (sess_term_count(s) < max)
		return 0;
	LIST_FOREACH(t, &s->terms, link) /* newest first */
		if (t->state == SESS_TERM_EXITED)
			oldest = t;
	if (!oldest)
		return err_setc(errp, ERR_LIMIT, 0,
				"session %s already has %llu open terminals (the most a session may keep); close one "
				"with terminal_close", s->id, (unsigned long long)max);
	sess_term_close(oldest);
	return 0;
}

static void command_of(struct buf *b, const char *const *argv)
{
	for (size_t i = 0; argv[i] && b->len < COMMAND_KEPT; i++)
		buf_addf(b, "%s%s", i ? " " : "", argv[i]);
	if (b->len > COMMAND_KEPT)
		b->len = COMMAND_KEPT;
	b->data[b->len] = '\0';
}

int sess_term_open(struct sess_session *s, const struct sess_term_opts *o, sess_term_opened_cb cb, void *arg,
		   struct err **errp)
{
	int sv[2];
	struct sess_term *t;
	struct sess_term_io *io;
	struct buf cmd = BUF_INIT;

	if (check_size(o->rows, o->cols, errp) < 0)
		return -1;
	if (!s->worker || s->state != SESS_RUNNING)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "session %s is not running", s->id);
	if (make_room(s, errp) < 0 || make_key_room(s, errp) < 0 || server_room(s, errp) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return err_set(errp, errno, "terminal: socketpair");
	auto_close int mine = sv[0];
	auto_close int theirs = sv[1];
	struct sess_spawn sp = {
		.argv = o->argv,
		.envp = o->envp,
		.cwd = o->cwd,
		.fds = { -1, -1, -1, theirs, -1, -1, -1, -1 },
		.nfds = 4,
		.limits = o->limits,
		.pty_rows = o->rows,
		.pty_cols = o->cols,
	};

	t = xcalloc(1, sizeof(*t));
	t->io = io = xcalloc(1, sizeof(*io));
	io->t = t;
	io->master = -1;
	io->sock = -1;
	if (sess_worker_spawn(s->worker, &sp, term_exited, t, &io->exec_id, errp) < 0) {
		free(io);
		free(t);
		return err_wrap(errp, "cannot open a terminal");
	}
	io->worker = s->worker;
	io->sock = steal_fd(mine);
	io->opened = cb;
	io->opened_arg = arg;
	t->id = random_id("term_", 8);
	t->sess = s;
	command_of(&cmd, o->argv);
	t->command = buf_detach(&cmd);
	t->rows = o->rows;
	t->cols = o->cols;
	t->state = SESS_TERM_OPENING;
	t->opened_at = wall_ms();
	t->last_used = now_ms();
	sess_ring_init(&t->out, sess_registry_config(s->reg)->terminal_output_bytes, 50);
	LIST_INIT(&t->viewers);
	io->vt = vterm_new(o->rows, o->cols);
	vterm_set_utf8(io->vt, 1);
	vterm_output_set_callback(io->vt, vt_output, t);
	io->screen = vterm_obtain_screen(io->vt);
	vterm_screen_enable_altscreen(io->screen, 1);
	vterm_screen_reset(io->screen, 1);
	uv_poll_init(uv_default_loop(), &io->sock_poll, io->sock);
	io->sock_poll.data = t;
	uv_timer_init(uv_default_loop(), &io->timer);
	io->timer.data = t;
	io->handles = 2;
	io->sock_polling = true;
	uv_poll_start(&io->sock_poll, UV_READABLE, sock_poll_cb);
	uv_timer_start(&io->timer, open_timeout, SESS_TERM_OPEN_TIMEOUT_MS, 0);
	LIST_INSERT_HEAD(&s->terms, t, link);
	return 0;
}

/* ---- finding ---- */

struct find {
	const char *id, *bound;
	struct sess_term *found;
};

static void find_in(void *arg, struct sess_session *s)
{
	struct find *f = arg;
	struct sess_term *t;

	if (f->found || (f->bound && strcmp(f->bound, s->id)))
		return;
	LIST_FOREACH(t, &s->terms, link)
		if (!strcmp(t->id, f->id)) {
			f->found = t;
			return;
		}
}

struct sess_term *sess_term_find(struct sess_registry *reg, const char *id, const char *owner, const char *bound)
{
	struct find f = { .id = id, .bound = bound };
	sess_foreach(reg, owner, find_in, &f);
	return f.found;
}
