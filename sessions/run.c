#include "run.h"
#include "ring.h"
#include "workspace.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/banned.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/wait.h>

/* After the program exits, wait this long for its pipes to reach EOF. */
#define EOF_GRACE_MS 50

enum { P_OUT, P_ERR, P_RES, P_NREAD };

struct sess_run {
	struct sess_session *sess;
	uint64_t exec_id;
	struct sess_run_opts o;
	struct sess_run_result res;
	uint64_t started_ns;
	uint64_t res_cap;		/* bytes kept of fd 4 */

	uv_pipe_t rd[P_NREAD];		/* read ends */
	bool rd_open[P_NREAD];
	uv_pipe_t wr_in, wr_code;	/* stdin and fd 3 writers */
	bool wr_in_open, wr_code_open;
	uv_write_t wreq_code;
	bool input_held;		/* o.input is still borrowed: input_free is owed */
	size_t in_pending;		/* bytes written to stdin that the program has not taken yet */
	unsigned in_writes;		/* stdin writes in flight */
	bool in_eof;			/* close stdin once they are done */
	uv_timer_t timer;		/* timeout, then EOF grace */
	unsigned open_handles;

	bool exited;
	bool finished;			/* done() called */
	bool killed;
	struct sess_run *next, **pprev;	/* in sess->runs while not finished */

	/* Prestarting (run.h): what the program was started with, kept to start
	   the session's next one the same way, and a spare's writer fds. */
	bool held;			/* a spare: started, waiting for its code */
	bool dropping;			/* a spare being stopped: never taken */
	uint64_t shape;
	struct spawn_copy *copy;	/* NULL when prestarting is off */
	int held_in, held_code;		/* a spare's stdin and fd 3 write ends */
	uint64_t startup_fp;		/* a spare: its startup_paths as they were when it started */
};

/* A deep copy of what a program was started with. */
struct spawn_copy {
	char **argv, **envp, *cwd, **startup_paths;
	bool has_input, want_result;
	struct sess_limits limits;
};

static void run_maybe_finish(struct sess_run *r);
static void spare_after(struct sess_run *r);
static void spare_release(struct sess_run *r);
static bool spare_current(const struct sess_run *r);

/* Give the caller's input back: the program has it (but what its pipe holds), or never will. */
static void input_release(struct sess_run *r)
{
	if (!r->input_held)
		return;
	r->input_held = false;
	if (r->o.input_free)
		r->o.input_free(r->o.input_arg);
}

/* ---- prestarting ------------------------------------------------------------ */

#define SPARE_IDLE_MS (60 * 1000)	/* a spare nobody took by then is stopped */
/* Calls closer than this are back to back: the next program starts while the
   current one runs. Slower-paced calls start it once the current one ended,
   so that its start-up never takes CPU from the run a client waits for. */
#define BACK_TO_BACK_NS (10 * 1000000ull)

/* What makes two starts interchangeable: everything but the data. */
static uint64_t shape_of(const char *const *argv, const char *const *envp, const char *cwd, bool has_input,
			 bool want_result, const struct sess_limits *l)
{
	uint64_t h = FNV1A_INIT;
	for (size_t i = 0; argv && argv[i]; i++)
		h = fnv1a(h, argv[i], strlen(argv[i]) + 1);
	h = fnv1a(h, "|", 1);
	for (size_t i = 0; envp && envp[i]; i++)
		h = fnv1a(h, envp[i], strlen(envp[i]) + 1);
	h = fnv1a(h, "|", 1);
	if (cwd)
		h = fnv1a(h, cwd, strlen(cwd) + 1);
	h = fnv1a(h, &has_input, sizeof(has_input));
	h = fnv1a(h, &want_result, sizeof(want_result));
	/* field by field: the struct's padding is whatever the caller's stack held */
	h = fnv1a(h, &l->memory_bytes, sizeof(l->memory_bytes));
	h = fnv1a(h, &l->max_pids, sizeof(l->max_pids));
	h = fnv1a(h, &l->cpu_seconds, sizeof(l->cpu_seconds));
	h = fnv1a(h, &l->file_bytes, sizeof(l->file_bytes));
	return fnv1a(h, &l->open_files, sizeof(l->open_files));
}

static char **strv_dup(const char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	char **c = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c[i] = xstrdup(v[i]);
	return c;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void copy_free(struct spawn_copy *c)
{
	if (!c)
		return;
	strv_free(c->argv);
	strv_free(c->envp);
	strv_free(c->startup_paths);
	free(c->cwd);
	free(c);
}

static void handle_closed(uv_handle_t *h)
{
	struct sess_run *r = h->data;
	if (--r->open_handles == 0) {
		buf_release(&r->res.out);
		buf_release(&r->res.err);
		buf_release(&r->res.res);
		input_release(r);
		copy_free(r->copy);
		if (r->held_in >= 0)
			close(r->held_in);
		if (r->held_code >= 0)
			close(r->held_code);
		sess_put(r->sess);
		free(r);
	}
}

static void close_handle(struct sess_run *r, uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, handle_closed);
}

static struct buf *stream_buf(struct sess_run *r, int i, bool **trunc)
{
	switch (i) {
	case P_OUT:
		*trunc = &r->res.out_truncated;
		return &r->res.out;
	case P_ERR:
		*trunc = &r->res.err_truncated;
		return &r->res.err;
	default:
		*trunc = &r->res.res_truncated;
		return &r->res.res;
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	static char scratch[65536]; /* loop thread only; consumed before the next read */
	b->base = scratch;
	b->len = sizeof(scratch);
}

/* Chunks of one stream of one program closer than this in time are one log entry. */
#define LOG_MERGE_MS 100

/* The session log: every program's output, foreground, job or kernel, with its time and stream. */
void sess_log_add(struct sess_session *s, int stream, uint64_t exec_id, const char *data, size_t len)
{
	if (!s->log) {
		s->log = xmalloc(sizeof(*s->log));
		sess_ring_init(s->log, sess_registry_config(s->reg)->session_log_bytes, LOG_MERGE_MS);
	}
	sess_ring_add(s->log, stream, exec_id, wall_ms(), data, len);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct sess_run *r = s->data;
	int i = (int)((uv_pipe_t *)s - r->rd);
	bool *trunc;
	struct buf *out = stream_buf(r, i, &trunc);

	if (n > 0) {
		size_t keep = (size_t)n;
		uint64_t cap = i == P_RES ? r->res_cap : r->o.output_cap;
		if (out->len + keep > cap) {
			keep = out->len < cap ? (size_t)(cap - out->len) : 0;
			*trunc = true;
		}
		buf_add(out, b->base, keep);
		if (i != P_RES && !r->held)
			sess_log_add(r->sess, i + 1, r->exec_id, b->base, (size_t)n);
		if (r->o.on_output && i != P_RES && !r->finished)
			r->o.on_output(r->o.arg, i + 1, b->base, (size_t)n);
		return;
	}
	if (n == 0)
		return;
	/* EOF or error: this stream is done */
	uv_read_stop(s);
	r->rd_open[i] = false;
	close_handle(r, (uv_handle_t *)s);
	run_maybe_finish(r);
}

static void finish(struct sess_run *r)
{
	if (r->finished)
		return;
	r->finished = true;
	r->res.duration_ms = (now_ns() - r->started_ns) / 1000000;
	for (int i = 0; i < P_NREAD; i++) {
		if (r->rd_open[i]) {
			uv_read_stop((uv_stream_t *)&r->rd[i]);
			r->rd_open[i] = false;
			close_handle(r, (uv_handle_t *)&r->rd[i]);
		}
	}
	if (r->wr_in_open) {
		r->wr_in_open = false;
		close_handle(r, (uv_handle_t *)&r->wr_in);
	}
	if (r->wr_code_open) {
		r->wr_code_open = false;
		close_handle(r, (uv_handle_t *)&r->wr_code);
	}
	uv_timer_stop(&r->timer);
	*r->pprev = r->next;
	if (r->next)
		r->next->pprev = r->pprev;
	r->sess->running--;
	r->sess->executions++;
	r->sess->cpu_ms += r->res.exit.cpu_ms;
	r->sess->last_end_ns = now_ns();
	r->sess->disk_dirty = true;	/* what it wrote is measured by the next busy scan */
	sess_touch(r->sess);
	r->o.done(r->o.arg, &r->res);
	spare_after(r);
	close_handle(r, (uv_handle_t *)&r->timer);
}

/*
 * Read what the pipes hold now, without waiting (at most DRAIN_MAX per
 * stream). The loop runs due timers before it polls, so a loop that was
 * busy for longer than the grace finds the grace over while the program's
 * last output (or EOF) is still waiting in the pipe: read it before giving up.
 */
#define DRAIN_MAX (8u << 20)
static void drain_pipes(struct sess_run *r)
{
	static char scratch[65536];

	for (int i = 0; i < P_NREAD && !r->finished; i++) {
		uv_os_fd_t fd;
		size_t taken = 0;

		while (r->rd_open[i] && !r->finished && taken < DRAIN_MAX &&
		       uv_fileno((uv_handle_t *)&r->rd[i], &fd) == 0) {
			ssize_t n = read(fd, scratch, sizeof(scratch));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			uv_buf_t b = uv_buf_init(scratch, n > 0 ? (unsigned)n : 0);
			read_cb((uv_stream_t *)&r->rd[i], n > 0 ? n : n == 0 ? UV_EOF : uv_translate_sys_error(errno), &b);
			taken += n > 0 ? (size_t)n : 0;
		}
	}
}

const char *sess_run_outcome(const struct sess_run_result *res)
{
	int st = res->exit.status;

	return res->timed_out ? "timeout" : res->exit.oom_killed ? "oom"
	       : res->cancelled || res->session_ended ? "cancelled"
	       : !WIFEXITED(st) || WEXITSTATUS(st) ? "error" : "ok";
}

static void grace_cb(uv_timer_t *t)
{
	struct sess_run *r = t->data;

	drain_pipes(r);
	if (r->finished)
		return;	/* every pipe was at its end after all */

	/*
	 * The program exited but something still holds its output: children it
	 * left in its process group (a fork bomb, `cmd &` without redirection).
	 * They belong to this execution and end with it. A background process
	 * that redirected its output (nohup cmd > log 2>&1 &) is not touched.
	 */
	if (r->sess->worker) {
		auto_err struct err *err = NULL;
		sess_worker_kill(r->sess->worker, r->exec_id, SIGKILL, &err);
	}
	finish(r);
}

static void run_maybe_finish(struct sess_run *r)
{
	if (!r->exited || r->finished || r->held)
		return;
	for (int i = 0; i < P_NREAD; i++)
		if (r->rd_open[i])
			return;
	finish(r);
}

static void kill_group(struct sess_run *r)
{
	if (r->killed || r->exited || !r->sess->worker)
		return;
	r->killed = true;
	auto_err struct err *err = NULL;
	if (sess_worker_kill(r->sess->worker, r->exec_id, SIGKILL, &err) < 0)
		log_warn("session %s: kill: %s", r->sess->id, err_text(err));
}

static void timeout_cb(uv_timer_t *t)
{
	struct sess_run *r = t->data;
	r->res.timed_out = true;
	kill_group(r);
}

void sess_run_redirect(struct sess_run *r, void (*on_output)(void *, int, const char *, size_t),
		       void (*done)(void *, struct sess_run_result *), void *arg)
{
	r->o.on_output = on_output;
	r->o.done = done;
	r->o.arg = arg;
	r->o.output_cap = 0;
	buf_release(&r->res.out);
	buf_release(&r->res.err);
}

const struct sess_run_result *sess_run_so_far(const struct sess_run *r)
{
	return &r->res;
}

uint64_t sess_run_id(const struct sess_run *r)
{
	return r->exec_id;
}

uint64_t sess_run_elapsed_ms(const struct sess_run *r)
{
	return (now_ns() - r->started_ns) / 1000000;
}

void sess_run_cancel(struct sess_run *r)
{
	if (r->finished)
		return;
	r->res.cancelled = true;
	kill_group(r);
}

void sess_run_stop_over_quota(struct sess_session *s, enum sess_over why)
{
	for (struct sess_run *r = s->runs; r; r = r->next) {
		if (r->finished || r->exited)
			continue;
		if (why == SESS_OVER_SESSION_DISK)
			r->res.over_disk_limit = true;
		else
			r->res.over_quota = true;
		r->res.over_inodes = why == SESS_OVER_KEY_ENTRIES;
		kill_group(r);
	}
}

void sess_run_abort_all(struct sess_session *s)
{
	const char *why = s->state == SESS_DELETED ? "destroyed" : "stopped";

	if (s->spare) {
		struct sess_run *sp = s->spare;
		s->spare = NULL;
		spare_release(sp);	/* no exit report will come */
	}
	while (s->runs) {
		struct sess_run *r = s->runs;
		if (!r->exited) {
			r->exited = true;
			r->res.exit = (struct sess_exit){ .status = SIGKILL };
			r->res.session_ended = why;
		}
		finish(r); /* unlinks r */
	}
}

static void exit_cb(void *arg, uint64_t exec_id, const struct sess_exit *ex)
{
	struct sess_run *r = arg;

	if (r->held) {
		/* a spare ended before anyone took it (stopped, killed, or failed to start) */
		if (r->sess->spare == r)
			r->sess->spare = NULL;
		spare_release(r);
		return;
	}
	r->exited = true;
	r->res.exit = *ex;
	uv_timer_stop(&r->timer);
	for (int i = 0; i < P_NREAD; i++) {
		if (r->rd_open[i]) {
			uv_timer_start(&r->timer, grace_cb, EOF_GRACE_MS, 0);
			return;
		}
	}
	finish(r);
}

static void write_done(uv_write_t *req, int status)
{
	struct sess_run *r = req->data;

	/* EPIPE is normal: the program did not read all of it; ECANCELED: the run ended first */
	if (r->wr_code_open) {
		r->wr_code_open = false;
		close_handle(r, (uv_handle_t *)&r->wr_code);
	}
	input_release(r);
}

/* One write to stdin; the data follows the request. */
struct in_write {
	uv_write_t req;
	size_t len;
	char data[];
};

static void stdin_close_if_done(struct sess_run *r)
{
	if (r->wr_in_open && r->in_eof && !r->in_writes) {
		r->wr_in_open = false;
		close_handle(r, (uv_handle_t *)&r->wr_in);
	}
}

static void in_write_done(uv_write_t *req, int status)
{
	struct in_write *w = (struct in_write *)req;
	struct sess_run *r = req->data;

	r->in_pending -= w->len;
	r->in_writes--;
	free(w);
	if (status < 0 && r->wr_in_open) /* the program closed its stdin (EPIPE) or it is gone */
		r->in_eof = true;
	stdin_close_if_done(r);
}

int sess_run_write(struct sess_run *r, const char *data, size_t len, bool eof, struct err **errp)
{
	if (r->finished || !r->wr_in_open || r->in_eof)
		return err_setc(errp, ERR_CONFLICT, 0, "the program's standard input is closed");
	if (len > SESS_RUN_STDIN_QUEUE || r->in_pending + len > SESS_RUN_STDIN_QUEUE)
		return err_setc(errp, ERR_LIMIT, 0,
				"the program has not yet read %zu bytes written to its standard input; at most %u may wait",
				r->in_pending, SESS_RUN_STDIN_QUEUE);
	if (len) {
		struct in_write *w = xmalloc(sizeof(*w) + len);
		uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
		int e;
		memcpy(w->data, data, len);
		w->len = len;
		w->req.data = r;
		if ((e = uv_write(&w->req, (uv_stream_t *)&r->wr_in, &b, 1, in_write_done)) < 0) {
			free(w);
			r->in_eof = true;
			stdin_close_if_done(r);
			return err_setc(errp, ERR_CONFLICT, -e, "the program's standard input is closed");
		}
		r->in_pending += len;
		r->in_writes++;
	}
	if (eof) {
		r->in_eof = true;
		stdin_close_if_done(r);
	}
	return 0;
}

/* stdin: the data given at the start, then closed unless the caller keeps it open for sess_run_write. */
static int open_stdin(struct sess_run *r, int fd, const struct sess_run_opts *o, struct err **errp)
{
	int e;

	if (!o->stdin_open && !o->stdin_len) {
		close(fd); /* the program reads EOF at once */
		return 0;
	}
	uv_pipe_init(uv_default_loop(), &r->wr_in, 0);
	r->wr_in.data = r;
	r->open_handles++;
	r->wr_in_open = true;
	if ((e = uv_pipe_open(&r->wr_in, fd)) < 0) {
		close(fd);
		r->wr_in_open = false;
		close_handle(r, (uv_handle_t *)&r->wr_in);
		return err_set(errp, -e, "pipe");
	}
	return sess_run_write(r, o->stdin_data, o->stdin_len, !o->stdin_open, errp);
}

/* fd 3: the input is written from the caller's buffer (no copy), which is given back once written. */
static int open_writer(struct sess_run *r, int fd, struct err **errp)
{
	uv_buf_t b;
	int e;

	if (r->o.input_len == 0) {
		close(fd); /* the program reads EOF at once */
		return 0;
	}
	uv_pipe_init(uv_default_loop(), &r->wr_code, 0);
	r->wr_code.data = r;
	r->open_handles++;
	r->wr_code_open = true;
	if ((e = uv_pipe_open(&r->wr_code, fd)) < 0)
		close(fd);
	b = uv_buf_init((char *)r->o.input, (unsigned)r->o.input_len);
	r->wreq_code.data = r;
	if (e < 0 || (e = uv_write(&r->wreq_code, (uv_stream_t *)&r->wr_code, &b, 1, write_done)) < 0) {
		r->wr_code_open = false;
		close_handle(r, (uv_handle_t *)&r->wr_code);
		return err_set(errp, -e, "fd 3");
	}
	return 0;
}

/*
 * Make the pipes and start the program: the run is linked nowhere yet, its
 * readers run; the write ends of stdin (when stdin_pipe) and fd 3 (when
 * has_input) are left in *in_fd and *code_fd.
 */
static struct sess_run *spawn_run(struct sess_session *s, const char *const *argv, const char *const *envp,
				  const char *cwd, bool stdin_pipe, bool has_input, bool want_result,
				  const struct sess_limits *limits, int *in_fd, int *code_fd, struct err **errp)
{
	uv_loop_t *loop = uv_default_loop();
	int child[5] = { -1, -1, -1, -1, -1 };
	int ours[5] = { -1, -1, -1, -1, -1 };
	int nfds = want_result ? 5 : has_input ? 4 : 3;
	struct sess_run *r;

	/*
	 * Pipes belong to whoever makes them. Make them as the sandbox user so
	 * that programs can reopen them (/dev/stdin, /dev/fd/3, /proc/self/fd/1):
	 * a pipe owned by host root is an unmapped owner inside the sandbox.
	 */
	const struct sess_host_info *host = sess_registry_host(s->reg);
	if (host->root) {
		setfsgid(host->sandbox_gid);
		setfsuid(host->sandbox_uid);
	}
	/* child ends at the same index as the fd they become */
	for (int i = 0; i < nfds; i++) {
		int p[2];
		bool child_reads = (i == 0 || i == 3);
		if (i == 0 && !stdin_pipe)
			continue;
		if (pipe2(p, O_CLOEXEC) < 0) {
			err_set(errp, errno, "pipe");
			break;
		}
		child[i] = child_reads ? p[0] : p[1];
		ours[i] = child_reads ? p[1] : p[0];
	}
	if (host->root) {
		setfsuid(0);
		setfsgid(0);
	}
	if (errp && *errp)
		goto fail;

	struct sess_spawn sp = {
		.argv = argv,
		.envp = envp,
		.cwd = cwd,
		.nfds = nfds,
		.limits = *limits,
	};
	for (int i = 0; i < 8; i++)
		sp.fds[i] = i < nfds ? child[i] : -1;

	r = xcalloc(1, sizeof(*r));
	r->sess = s;
	r->held_in = r->held_code = -1;
	if (sess_worker_spawn(s->worker, &sp, exit_cb, r, &r->exec_id, errp) < 0) {
		free(r);
		goto fail;
	}
	for (int i = 0; i < 5; i++)
		if (child[i] >= 0)
			close(child[i]);
	sess_hold(s);
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	r->open_handles++;

	static const int read_fd[P_NREAD] = { 1, 2, 4 };
	for (int i = 0; i < P_NREAD; i++) {
		int fd = ours[read_fd[i]];
		if (fd < 0)
			continue;
		uv_pipe_init(loop, &r->rd[i], 0);
		r->rd[i].data = r;
		r->open_handles++;
		r->rd_open[i] = true;
		if (uv_pipe_open(&r->rd[i], fd) < 0 ||
		    uv_read_start((uv_stream_t *)&r->rd[i], alloc_cb, read_cb) < 0) {
			log_warn("session %s: cannot read a pipe", s->id);
			r->rd_open[i] = false;
			close_handle(r, (uv_handle_t *)&r->rd[i]);
		}
	}
	*in_fd = ours[0];
	*code_fd = ours[3];
	return r;

fail:
	for (int i = 0; i < 5; i++) {
		if (child[i] >= 0)
			close(child[i]);
		if (ours[i] >= 0)
			close(ours[i]);
	}
	return NULL;
}

/* The run becomes an execution: linked, timed, its input written. */
static void arm_run(struct sess_run *r, const struct sess_run_opts *o, int in_fd, int code_fd)
{
	struct sess_session *s = r->sess;

	r->o = *o;
	r->input_held = o->input != NULL;
	r->res_cap = o->result_cap ? o->result_cap : o->output_cap;
	r->started_ns = now_ns();
	s->running++;
	r->next = s->runs;
	if (r->next)
		r->next->pprev = &r->next;
	s->runs = r;
	r->pprev = &s->runs;
	if (o->timeout_ms)
		uv_timer_start(&r->timer, timeout_cb, o->timeout_ms, 0);
	/* writers: failures here only mean the program sees a short input */
	auto_err struct err *werr = NULL;
	if (in_fd >= 0 && open_stdin(r, in_fd, o, &werr) < 0)
		log_warn("session %s: stdin: %s", s->id, err_text(werr));
	if (code_fd >= 0 && open_writer(r, code_fd, &werr) < 0)
		log_warn("session %s: code: %s", s->id, err_text(werr));
	if (!r->wr_code_open)
		input_release(r);	/* nothing (more) of it will be written */
}

/* Count how often the same kind of start repeats (a spare only pays off then). */
static void note_shape(struct sess_session *s, uint64_t shape)
{
	if (s->spare_shape == shape) {
		s->spare_repeats++;
	} else {
		s->spare_shape = shape;
		s->spare_repeats = 1;
	}
}

int sess_run_start(struct sess_session *s, const struct sess_run_opts *o, struct sess_run **out,
		   struct err **errp)
{
	struct sess_run *r;
	int in_fd = -1, code_fd = -1;
	uint64_t shape;
	bool back_to_back;

	if (s->state != SESS_RUNNING || !s->worker)
		return err_setc(errp, ERR_CONFLICT, 0, "session %s is not running", s->id);
	if (o->input_len > UINT32_MAX)
		return err_setc(errp, ERR_LIMIT, 0, "input too large");
	/* all of it waits in the pipe and the server until the program reads it: no more than later writes */
	if (o->stdin_len > SESS_RUN_STDIN_QUEUE)
		return err_setc(errp, ERR_LIMIT, 0, "stdin is %zu bytes; a program is given at most %u at its start "
				"(a job takes more with job_write as it reads; or write a file)",
				o->stdin_len, SESS_RUN_STDIN_QUEUE);

	back_to_back = s->running > 0 || (s->last_end_ns && now_ns() - s->last_end_ns < BACK_TO_BACK_NS);
	shape = shape_of(o->argv, o->envp, o->cwd, o->input != NULL, o->want_result, &o->limits);
	note_shape(s, shape);
	if (s->spare && s->spare->shape != shape)
		sess_run_drop_spare(s);	/* the session moved on to another kind of program */
	else if (s->spare && !spare_current(s->spare))
		sess_run_drop_spare(s);	/* what it read at its start has changed since */
	if (s->spare && !s->spare->dropping && s->spare->shape == shape) {
		/* the same program was started ahead: it waits for its code */
		r = s->spare;
		s->spare = NULL;
		r->held = false;
		uv_timer_stop(&r->timer);
		in_fd = steal_fd(r->held_in);
		code_fd = steal_fd(r->held_code);
		if (s->worker)
			sess_worker_rebase(s->worker, r->exec_id);
	} else {
		r = spawn_run(s, o->argv, o->envp, o->cwd, o->stdin_data || o->stdin_open, o->input != NULL, o->want_result,
			      &o->limits, &in_fd, &code_fd, errp);
		if (!r)
			return -1;
	}
	r->shape = shape;
	if (!r->copy && sess_registry_config(s->reg)->prestart) {
		r->copy = xcalloc(1, sizeof(*r->copy));
		r->copy->argv = strv_dup(o->argv);
		r->copy->envp = strv_dup(o->envp);
		r->copy->cwd = o->cwd ? xstrdup(o->cwd) : NULL;
		r->copy->startup_paths = o->startup_paths ? strv_dup(o->startup_paths) : NULL;
		r->copy->has_input = o->input != NULL;
		r->copy->want_result = o->want_result;
		r->copy->limits = o->limits;
	}
	arm_run(r, o, in_fd, code_fd);
	if (back_to_back)
		spare_after(r);	/* else when this one has finished */
	if (out)
		*out = r;
	return 0;
}

/* ---- spares ------------------------------------------------------------------ */

/* Does the spare's view of its start-up files still hold? */
static bool spare_current(const struct sess_run *r)
{
	const struct spawn_copy *c = r->copy;
	return !c || !c->startup_paths ||
	       sess_ws_fingerprint(r->sess->wsfd, (const char *const *)c->startup_paths) == r->startup_fp;
}

/* Let go of a spare that never ran anything: its pipes, timer and memory. */
static void spare_release(struct sess_run *r)
{
	r->exited = true;
	r->finished = true;
	for (int i = 0; i < P_NREAD; i++) {
		if (r->rd_open[i]) {
			uv_read_stop((uv_stream_t *)&r->rd[i]);
			r->rd_open[i] = false;
			close_handle(r, (uv_handle_t *)&r->rd[i]);
		}
	}
	uv_timer_stop(&r->timer);
	close_handle(r, (uv_handle_t *)&r->timer);	/* the last handle frees r and its held fds */
}

void sess_run_drop_spare(struct sess_session *s)
{
	struct sess_run *r = s->spare;

	if (!r || r->dropping)
		return;
	/* it stays the session's spare (never taken) until its exit report releases it */
	r->dropping = true;
	auto_err struct err *err = NULL;
	if (s->worker && sess_worker_kill(s->worker, r->exec_id, SIGKILL, &err) < 0)
		log_warn("session %s: cannot stop its spare: %s", s->id, err_text(err));
}

static void spare_idle(uv_timer_t *t)
{
	struct sess_run *r = t->data;
	if (r->sess->spare == r)
		sess_run_drop_spare(r->sess);
}

/* A run started back to back with the last one, or finished: when its kind
   of start repeats and no spare waits, have the next one started now. */
static void spare_after(struct sess_run *done)
{
	struct sess_session *s = done->sess;
	struct spawn_copy *c = done->copy;
	struct err *err = NULL;
	struct sess_run *r;
	int in_fd, code_fd;
	uint64_t fp;

	if (!c || s->spare || s->spare_shape != done->shape || s->spare_repeats < 2 || s->state != SESS_RUNNING ||
	    !s->worker || !sess_registry_config(s->reg)->prestart)
		return;
	/* before the start: a change from here on makes the spare stale */
	fp = sess_ws_fingerprint(s->wsfd, (const char *const *)c->startup_paths);
	r = spawn_run(s, (const char *const *)c->argv, (const char *const *)c->envp, c->cwd, true, c->has_input,
		      c->want_result, &c->limits, &in_fd, &code_fd, &err);
	if (!r) {
		log_debug("session %s: no spare: %s", s->id, err_text(err));
		err_free(err);
		return;
	}
	r->held = true;
	r->startup_fp = fp;
	r->shape = done->shape;
	r->copy = steal_ptr(done->copy);
	r->held_in = in_fd;
	r->held_code = code_fd;
	uv_timer_start(&r->timer, spare_idle, SPARE_IDLE_MS, 0);
	s->spare = r;
}
