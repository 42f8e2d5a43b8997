/*
 * kernel.c — kernels per session: start the agent in the sandbox, send it
 * cells, take what it sends (checked by chan.c), keep every wait bounded.
 *
 * Nothing here blocks: the channel is non-blocking both ways, what the agent
 * sends is read into a buffer no larger than one message can be, and a
 * message that breaks the protocol stops that kernel (the agent is as
 * hostile as its sandbox), nothing else.
 */
#include "kernel.h"
#include "proto.h"
#include "../sessions/quota.h"
#include "../sessions/run.h"
#include "../sessions/sandbox.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "../server/base/banned.h"

#define SWEEP_MS 1000
#define READ_CHUNK ((size_t)64 << 10)
#define READ_BUDGET ((size_t)4 << 20)	/* per wake-up, then the loop serves others */

enum kern_state { K_STARTING, K_READY, K_GONE };

struct kern {
	LIST_ENTRY(kern) link;		/* K.head, or K.pool while its sandbox waits in the warm pool */
	struct sess_session *s;		/* held; NULL in the pool */
	struct sess_worker *worker;	/* the sandbox the agent runs in */
	struct sess_worker *sandbox;	/* in the pool: its sandbox (the agent's when one runs) */
	struct sess_limits limits;	/* in the pool: the sandbox's */
	bool ahead;			/* started ahead in the pool; no cell has used it yet */
	uint64_t taken_ms;		/* when a session took it from the pool */
	char lang[16];
	enum kern_state state;
	int chan;
	uv_poll_t *poll;		/* heap: closes asynchronously */
	uv_timer_t *start_timer;
	struct buf in, out;
	bool out_armed;
	uint64_t exec_id, gen;
	uint32_t seq;
	uint64_t start_ms, ready_ms;
	char info[KERN_TEXT_MAX + 1];
	char *died;			/* why the last kernel ended, for the next call (NULL: told) */
	TAILQ_HEAD(, kern_cell) cells;	/* the first one runs (once sent) */
	unsigned ncells;
	unsigned refs;
};

struct kern_cell {
	TAILQ_ENTRY(kern_cell) link;
	struct kern *k;
	uint32_t seq;			/* 0 until sent */
	char *code;			/* code, then its stdin */
	size_t len, input_len;
	const struct kern_cell_ops *ops;
	void *arg;
	uv_timer_t *timer;		/* its timeout, then the grace after an interrupt */
	uint64_t timeout_ms, call_ms;
	bool interrupted, timed_out, interrupt_sent, started, ahead;
	uint64_t start_ms;
	char *previous;
};

/* the languages with a kernel (langs.h) */
static const char *const langs[] = { KERN_LANG_LIST(KERN_LANG_NAME, KERN_LANG_COMMA) };

static struct {
	bool inited;
	bool shutting_down;	/* kern_shutdown runs: the cells it ends are told */
	uv_loop_t *loop;
	int exe_fd;
	uint64_t gen;
	uv_timer_t sweep;
	LIST_HEAD(, kern) head;
	/* kernels started ahead in warm-pool sandboxes (kern_pool_start) */
	LIST_HEAD(, kern) pool;
	struct sess_registry *reg;	/* NULL: none are */
	char **pool_envp;
	uint64_t ahead_idle_ms;		/* a kernel started ahead and not used by its session stops then (config pool_kernel_idle) */
	uint64_t last_cell_ms[ARRAY_SIZE(langs)];	/* per langs[]: its last kern_cell_run (kernels of it are in use) */
} K = { .exe_fd = -1 };


static void kern_stop(struct kern *k, const char *why, enum kern_end_how how, int wstatus);
static void chan_cb(uv_poll_t *h, int status, int events);

/* ---- helpers -------------------------------------------------------------------- */

static void handle_free(uv_handle_t *h)
{
	free(h);
}

static void timer_free(uv_timer_t **t)
{
	if (*t) {
		uv_timer_stop(*t);
		uv_close((uv_handle_t *)*t, handle_free);
		*t = NULL;
	}
}

static uv_timer_t *timer_new(void *data)
{
	uv_timer_t *t = xcalloc(1, sizeof(*t));
	uv_timer_init(K.loop, t);
	t->data = data;
	return t;
}

static void kern_put(struct kern *k)
{
	if (--k->refs)
		return;
	buf_release(&k->in);
	buf_release(&k->out);
	free(k->died);
	free(k);
}

static void kern_remove(struct kern *k)
{
	LIST_REMOVE(k, link);
	sess_put(k->s);
	k->s = NULL;
	kern_put(k);
}

static const char *kname(const struct kern *k)
{
	return k->s ? k->s->id : "(warm pool)";
}

static const char *wait_text(int st, char *b, size_t n)
{
	if (WIFSIGNALED(st))
		snprintf(b, n, "killed by signal %d (%s)", WTERMSIG(st), sigabbrev_np(WTERMSIG(st)) ?: "?");
	else if (WIFEXITED(st))
		snprintf(b, n, "exited with status %d", WEXITSTATUS(st));
	else
		snprintf(b, n, "ended (status %d)", st);
	return b;
}

/* ---- cells ---------------------------------------------------------------------- */

static void cell_end(struct kern_cell *c, enum kern_end_how how, enum kern_status status, uint32_t count,
		     int wstatus, const char *why)
{
	struct kern *k = c->k;
	struct kern_end e = {
		.how = how, .status = status, .count = count, .wstatus = wstatus, .why = why,
		.timed_out = c->timed_out, .interrupted = c->interrupted, .previous = c->previous,
		.server_ending = K.shutting_down,
		.kernel = k->info, .started = c->started, .ahead = c->ahead, .start_ms = c->start_ms,
		.duration_ms = now_ms() - c->call_ms,
	};

	TAILQ_REMOVE(&k->cells, c, link);
	k->ncells--;
	timer_free(&c->timer);
	if (k->s)
		k->s->running--;
	if (c->seq && k->s) {
		k->s->executions++;
		k->s->disk_dirty = true;	/* what the cell wrote is measured by the next busy scan */
		sess_touch(k->s);
	}
	c->ops->done(c->arg, &e);
	free(c->previous);
	free(c->code);
	free(c);
}

static void poll_update(struct kern *k);

/* Send the first cell if the kernel is ready and idle. */
static void cell_next(struct kern *k)
{
	struct kern_cell *c = TAILQ_FIRST(&k->cells);

	if (k->state != K_READY || !c || c->seq)
		return;
	c->seq = ++k->seq;
	const void *ptrs[] = { c->code, c->code + c->len };
	size_t lens[] = { c->len, c->input_len };
	kern_chan_put(&k->out, KERN_EXECUTE, c->seq, 2, ptrs, lens);
	free(c->code);
	c->code = NULL;
	poll_update(k);	/* sent from the loop: a broken channel never ends a cell inside its caller */
}

static void grace_passed(uv_timer_t *t)
{
	struct kern_cell *c = t->data;
	struct kern *k = c->k;

	k->refs++;
	kern_stop(k, c->timed_out ? "the cell did not stop within 3 s of the interrupt after its timeout: the "
				    "kernel was killed" : "the cell did not stop within 3 s of the interrupt: the "
				    "kernel was killed", KERN_END_DIED, -1);
	kern_put(k);
}

static void cell_interrupt(struct kern_cell *c)
{
	struct kern *k = c->k;

	if (!c->seq) {	/* not sent yet: it just does not run */
		cell_end(c, KERN_END_FAILED, KERN_ABORTED, 0, -1,
			 c->timed_out ? "timed out before the kernel could run it" : "cancelled before it ran");
		return;
	}
	if (c->interrupt_sent)
		return;
	c->interrupt_sent = true;
	kern_chan_put(&k->out, KERN_INTERRUPT, c->seq, 0, NULL, NULL);
	timer_free(&c->timer);
	c->timer = timer_new(c);
	uv_timer_start(c->timer, grace_passed, KERN_GRACE_MS, 0);
	poll_update(k);
}

static void cell_timeout(uv_timer_t *t)
{
	struct kern_cell *c = t->data;
	struct kern *k = c->k;

	k->refs++;
	c->timed_out = true;
	cell_interrupt(c);
	cell_next(k);
	kern_put(k);
}

void kern_cell_interrupt(struct kern_cell *c)
{
	struct kern *k = c->k;

	k->refs++;
	c->interrupted = true;
	cell_interrupt(c);
	cell_next(k);
	kern_put(k);
}

/* ---- the channel ------------------------------------------------------------------- */

static void poll_update(struct kern *k)
{
	if (!k->poll)
		return;
	k->out_armed = k->out.len > 0;
	uv_poll_start(k->poll, UV_READABLE | (k->out_armed ? UV_WRITABLE : 0), chan_cb);
}

static void out_flush(struct kern *k)
{
	while (k->chan >= 0 && k->out.len) {
		ssize_t n = send(k->chan, k->out.data, k->out.len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			kern_stop(k, "the kernel agent's channel broke", KERN_END_DIED, -1);
			return;
		}
		buf_consume(&k->out, (size_t)n);
	}
	if (k->out_armed != (k->out.len > 0))
		poll_update(k);
}

static void misbehaves(struct kern *k, const char *what)
{
	char why[300];

	log_warn("kernel of session %s: the kernel agent misbehaves (%s): stopping it", kname(k), what);
	snprintf(why, sizeof(why), "the kernel agent misbehaved (%s)", what);
	kern_stop(k, why, KERN_END_DIED, -1);
}

/* One checked message; false when the kernel stopped. */
static bool on_msg(struct kern *k, const struct kern_msg *m)
{
	struct kern_cell *c = TAILQ_FIRST(&k->cells);
	bool current = c && c->seq && m->seq == c->seq;
	char why[KERN_TEXT_MAX + 100];

	if (k->state == K_STARTING && m->type != KERN_READY && m->type != KERN_FAILED) {
		misbehaves(k, "a message before READY");
		return false;
	}
	switch (m->type) {
	case KERN_READY:
		if (k->state != K_STARTING) {
			misbehaves(k, "READY twice");
			return false;
		}
		memcpy(k->info, m->text.p, m->text.len);
		k->info[m->text.len] = 0;
		k->state = K_READY;
		k->ready_ms = now_ms();
		timer_free(&k->start_timer);
		log_info("kernel of session %s: %s ready in %llu ms", kname(k), k->info,
			 (unsigned long long)(k->ready_ms - k->start_ms));
		for (struct kern_cell *x = TAILQ_FIRST(&k->cells); x; x = TAILQ_NEXT(x, link))
			if (x->started || x->ahead)
				x->start_ms = k->ready_ms - k->start_ms;
		cell_next(k);
		return k->state == K_READY;
	case KERN_FAILED:
		snprintf(why, sizeof(why), "the kernel could not start: %.*s", (int)m->text.len, m->text.p);
		kern_stop(k, why, KERN_END_FAILED, -1);
		return false;
	case KERN_STREAM:
		if (k->s)	/* a kernel's output is the session's programs' output too */
			sess_log_add(k->s, m->stream == KERN_STDERR ? 2 : 1, k->exec_id, m->text.p, m->text.len);
		/* fall through */
	case KERN_DATA:
	case KERN_ERROR:
		if (current)
			c->ops->msg(c->arg, m);
		return true;
	case KERN_DONE:
		if (current) {
			cell_end(c, KERN_END_DONE, m->status, m->count, -1, NULL);
			cell_next(k);
		}
		return k->state == K_READY;
	case KERN_DIED: {
		char st[80];
		snprintf(why, sizeof(why), "the kernel died (%s)", wait_text(m->wstatus, st, sizeof(st)));
		kern_stop(k, why, KERN_END_DIED, m->wstatus);
		return false;
	}
	}
	return true;
}

/* Read what the agent sent, a bounded amount per call. */
static void chan_read(struct kern *k)
{
	size_t budget = READ_BUDGET;

	while (k->chan >= 0 && budget) {
		buf_grow(&k->in, READ_CHUNK);
		ssize_t n = recv(k->chan, k->in.data + k->in.len, READ_CHUNK, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			kern_stop(k, k->state == K_STARTING ? "the kernel agent exited before the kernel was ready"
							    : "the kernel agent went away", KERN_END_DIED, -1);
			return;
		}
		k->in.len += (size_t)n;
		budget -= (size_t)n > budget ? budget : (size_t)n;
		size_t off = 0;
		for (;;) {
			struct kern_msg m;
			auto_err struct err *e = NULL;
			ssize_t used = kern_chan_parse(k->in.data + off, k->in.len - off, &m, &e);
			if (used < 0) {
				misbehaves(k, err_text(e));
				return;
			}
			if (!used)
				break;
			off += (size_t)used;
			if (!on_msg(k, &m))
				return;
		}
		buf_consume(&k->in, off);
	}
	if (k->chan >= 0 && !budget)
		uv_poll_start(k->poll, UV_READABLE | (k->out_armed ? UV_WRITABLE : 0), chan_cb); /* again next turn */
}

static void chan_cb(uv_poll_t *h, int status, int events)
{
	struct kern *k = h->data;

	k->refs++;
	if (status < 0)
		kern_stop(k, "the kernel agent's channel broke", KERN_END_DIED, -1);
	if (k->chan >= 0 && (events & UV_WRITABLE))
		out_flush(k);
	if (k->chan >= 0 && (events & (UV_READABLE | UV_DISCONNECT)))
		chan_read(k);
	kern_put(k);
}

/* ---- the agent ---------------------------------------------------------------------- */

static struct kern *find_gen(uint64_t gen)
{
	struct kern *k;

	LIST_FOREACH(k, &K.head, link)
		if (k->gen == gen)
			return k;
	LIST_FOREACH(k, &K.pool, link)
		if (k->gen == gen)
			return k;
	return NULL;
}

static void agent_exited(void *arg, uint64_t exec_id, const struct sess_exit *ex)
{
	struct kern *k = find_gen((uint64_t)(uintptr_t)arg);

	if (k && k->state != K_GONE) {
		k->refs++;
		chan_read(k);	/* what it said before it went (DIED, FAILED) is the better reason */
		if (k->state != K_GONE) {
			char why[120], st[80];
			snprintf(why, sizeof(why), "the kernel agent %s%s", wait_text(ex->status, st, sizeof(st)),
				 ex->oom_killed ? " (out of memory: the session's memory limit)" : "");
			kern_stop(k, why, KERN_END_DIED, ex->status);
		}
		kern_put(k);
	}
}

static void start_timeout(uv_timer_t *t)
{
	struct kern *k = t->data;

	k->refs++;
	kern_stop(k, "the kernel did not become ready within 30 s", KERN_END_FAILED, -1);
	kern_put(k);
}

static int agent_spawn(struct kern *k, struct sess_worker *w, const struct sess_limits *lim,
		       const char *const *envp, struct err **errp)
{
	char exe[32], as_bytes[24];
	int sv[2];

	if (K.exe_fd < 0)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "the kernel agent's program is not available");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return err_set(errp, errno, "socketpair");
	fd_set_nonblock(sv[1], false);	/* the agent may wait for us, never we for it */
	snprintf(exe, sizeof(exe), "/proc/self/fd/%d", KERN_AGENT_FD_EXE);
	const char *argv[] = { exe, "kernel-agent", k->lang, NULL, NULL };
	struct sess_spawn sp = {
		.argv = argv,
		.envp = envp,
		.cwd = "/workspace",
		.fds = { -1, -1, -1, sv[1], K.exe_fd, -1, -1, -1 },
		.nfds = 5,
		.limits = *lim,
	};
#if defined(__SANITIZE_ADDRESS__)
	/* ASan's shadow does not fit an RLIMIT_AS: the agent puts the bound on its kernel (not instrumented) */
	if (lim->memory_bytes && !sess_worker_memory_cgroup(w)) {
		snprintf(as_bytes, sizeof(as_bytes), "%llu", (unsigned long long)lim->memory_bytes);
		argv[3] = as_bytes;
	}
	sp.limits.memory_bytes = 0;
#else
	(void)as_bytes;
#endif
	k->gen = ++K.gen;
	if (sess_worker_spawn(w, &sp, agent_exited, (void *)(uintptr_t)k->gen, &k->exec_id, errp) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	k->chan = sv[0];
	k->worker = w;
	k->state = K_STARTING;
	k->start_ms = now_ms();
	k->info[0] = 0;
	k->seq = 0;
	buf_reset(&k->in);
	buf_reset(&k->out);
	k->out_armed = false;
	k->poll = xcalloc(1, sizeof(*k->poll));
	uv_poll_init(K.loop, k->poll, k->chan);
	k->poll->data = k;
	uv_poll_start(k->poll, UV_READABLE, chan_cb);
	k->start_timer = timer_new(k);
	uv_timer_start(k->start_timer, start_timeout, KERN_START_MS, 0);
	return 0;
}

/* The kernel (and its agent) go; its cells end with why. The next call starts a new one. */
static void kern_stop(struct kern *k, const char *why, enum kern_end_how how, int wstatus)
{
	struct kern_cell *c;

	if (k->state == K_GONE)
		return;
	k->refs++;
	k->state = K_GONE;
	timer_free(&k->start_timer);
	if (k->poll) {
		uv_poll_stop(k->poll);
		uv_close((uv_handle_t *)k->poll, handle_free);
		k->poll = NULL;
	}
	if (k->chan >= 0) {
		close(k->chan);
		k->chan = -1;
	}
	/* the whole group: the kernel and whatever it started */
	if (k->worker && (k->s ? k->s->worker == k->worker : k->sandbox == k->worker))
		sess_worker_kill(k->worker, k->exec_id, SIGKILL, NULL);
	k->worker = NULL;
	free(k->died);
	/* a kernel started ahead that no cell used: nobody lost anything */
	k->died = k->ahead ? NULL : xstrdup(why);
	if (TAILQ_FIRST(&k->cells)) {	/* the cells learn of it: the next call need not */
		free(k->died);
		k->died = NULL;
		log_info("kernel of session %s: %s", kname(k), why);
	}
	while ((c = TAILQ_FIRST(&k->cells)))
		cell_end(c, how, KERN_ABORTED, 0, wstatus, why);
	kern_put(k);
}

static struct kern *kern_find(struct sess_session *s, const char *lang)
{
	struct kern *k;

	LIST_FOREACH(k, &K.head, link)
		if (k->s == s && !strcmp(k->lang, lang))
			return k;
	return NULL;
}

/* lang's index in langs[], or -1 */
static int lang_index(const char *lang)
{
	for (size_t i = 0; i < ARRAY_SIZE(langs); i++)
		if (!strcmp(langs[i], lang))
			return (int)i;
	return -1;
}

static bool lang_ok(const char *lang)
{
	return lang_index(lang) >= 0;
}

/* s's kernel for lang, running or starting (a new one when there is none or it died). */
static bool env_same(const char *const *a, char *const *b)
{
	size_t i;

	for (i = 0; a[i] && b[i]; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return !a[i] && !b[i];
}

static struct kern *kern_get(struct sess_session *s, const char *lang, const char *const *envp, bool *started,
			     bool *ahead, struct err **errp)
{
	struct kern *k = kern_find(s, lang);

	*started = *ahead = false;
	if (!s->worker || s->state != SESS_RUNNING) {
		err_setc(errp, ERR_UNAVAILABLE, 0, "the session's sandbox is not running");
		return NULL;
	}
	if (k && k->state != K_GONE && k->worker == s->worker && k->ahead) {
		/* started ahead with the environment of a session without env: the first call decides */
		if (envp && (!K.pool_envp || !env_same(envp, K.pool_envp))) {
			kern_stop(k, "started ahead with another environment", KERN_END_FAILED, -1);
		} else {
			k->ahead = false;
			*ahead = true;
			return k;
		}
	}
	if (k && k->state != K_GONE && k->worker == s->worker)
		return k;
	if (k && k->state != K_GONE)
		kern_stop(k, "the sandbox went away", KERN_END_FAILED, -1);
	if (!k) {
		k = xcalloc(1, sizeof(*k));
		k->s = s;
		sess_hold(s);
		snprintf(k->lang, sizeof(k->lang), "%s", lang);
		k->chan = -1;
		k->state = K_GONE;
		k->refs = 1;
		TAILQ_INIT(&k->cells);
		LIST_INSERT_HEAD(&K.head, k, link);
	}
	if (agent_spawn(k, s->worker, &s->limits, envp, errp) < 0)
		return NULL;
	k->ahead = false;
	*started = true;
	return k;
}

/* ---- the interface ------------------------------------------------------------------ */

static void pool_wake(const char *lang);

int kern_cell_run(struct sess_session *s, const struct kern_cell_opts *o, struct kern_cell **out,
		  struct err **errp)
{
	bool started, ahead;

	if (!lang_ok(o->lang))
		return err_setc(errp, ERR_INVALID, 0, "no kernel for language %s (kernels: " KERN_LANGS ")", o->lang);
	if (o->code_len > KERN_CODE_MAX)
		return err_setc(errp, ERR_INVALID, 0, "the code is %zu bytes (a cell takes at most %zu)", o->code_len,
				KERN_CODE_MAX);
	if (o->input_len > KERN_CODE_MAX)
		return err_setc(errp, ERR_INVALID, 0, "stdin is %zu bytes (a cell takes at most %zu)", o->input_len,
				KERN_CODE_MAX);
	struct kern *k = kern_find(s, o->lang);
	if (k && k->state != K_GONE && k->ncells >= KERN_QUEUE_MAX)
		return err_setc(errp, ERR_LIMIT, 0, "%u cells already wait for this kernel", k->ncells);
	char *previous = k && k->state == K_GONE && k->died ? steal_ptr(k->died) : NULL;
	pool_wake(o->lang);
	k = kern_get(s, o->lang, o->envp, &started, &ahead, errp);
	if (!k) {
		free(previous);
		return -1;
	}
	struct kern_cell *c = xcalloc(1, sizeof(*c));
	c->k = k;
	c->code = xmalloc(o->code_len + o->input_len + 1);
	memcpy(c->code, o->code, o->code_len);
	if (o->input_len)
		memcpy(c->code + o->code_len, o->input, o->input_len);
	c->len = o->code_len;
	c->input_len = o->input_len;
	c->ops = o->ops;
	c->arg = o->arg;
	c->call_ms = now_ms();
	c->started = started;
	c->ahead = ahead;
	if (ahead && k->state == K_READY)
		c->start_ms = k->ready_ms - k->start_ms;
	c->previous = previous;
	c->timeout_ms = o->timeout_ms;
	if (o->timeout_ms) {
		c->timer = timer_new(c);
		uv_timer_start(c->timer, cell_timeout, o->timeout_ms, 0);
	}
	TAILQ_INSERT_TAIL(&k->cells, c, link);
	k->ncells++;
	/* a running execution from its admission on (quota.executions, server_executions): waiting for
	   a kernel that starts, or behind another cell, it is no less admitted than a running one */
	s->running++;
	cell_next(k);
	*out = c;
	return 0;
}

int kern_restart(struct sess_session *s, const char *lang, const char *const *envp, bool *was,
		 struct err **errp)
{
	struct kern *k = kern_find(s, lang);
	bool started, ahead;

	if (!lang_ok(lang))
		return err_setc(errp, ERR_INVALID, 0, "no kernel for language %s (kernels: " KERN_LANGS ")", lang);
	*was = k && k->state != K_GONE;
	if (*was)
		kern_stop(k, "the kernel was restarted (kernel_restart)", KERN_END_FAILED, -1);
	if (k) {
		free(k->died);	/* asked for: nothing to tell the next call */
		k->died = NULL;
	}
	return kern_get(s, lang, envp, &started, &ahead, errp) ? 0 : -1;
}

json_t *kern_session_info(struct sess_session *s)
{
	static const char *const names[] = { "starting", "running", "stopped" };
	json_t *a = NULL;
	struct kern *k;

	LIST_FOREACH(k, &K.head, link) {
		if (k->s != s)
			continue;
		if (!a)
			a = json_array();
		json_t *o = json_pack("{s:s, s:s, s:s, s:i}", "language", k->lang, "state", names[k->state],
				      "kernel", k->info, "queued", (int)k->ncells);
		if (k->ahead)
			json_object_set_new(o, "started_ahead", json_true());
		if (k->state == K_GONE && k->died)
			json_object_set_new(o, "ended", json_string(k->died));
		json_array_append_new(a, o);
	}
	return a;
}

/* ---- module ----------------------------------------------------------------------------- */

/* ---- kernels started ahead in the warm pool -------------------------------------------- */

/* Kernels of lang (an index of langs[]) are in use: a cell of it ran within KERN_POOL_WANT_MS. */
static bool pool_wanted(int lang)
{
	return K.reg && K.last_cell_ms[lang] && now_ms() - K.last_cell_ms[lang] < KERN_POOL_WANT_MS;
}

static void pool_kernel_start(struct kern *k)
{
	auto_err struct err *e = NULL;

	if (agent_spawn(k, k->sandbox, &k->limits, (const char *const *)K.pool_envp, &e) < 0)
		log_warn("warm pool: cannot start a %s kernel ahead: %s", k->lang, err_text(e));
	else
		k->ahead = true;
}

/* A cell of lang is about to run: once its kernels are wanted again, the pool's sandboxes get theirs. */
static void pool_wake(const char *lang)
{
	int i = lang_index(lang);
	bool was = pool_wanted(i);
	struct kern *k;

	K.last_cell_ms[i] = now_ms();
	if (was || !K.reg)
		return;
	LIST_FOREACH(k, &K.pool, link)
		if (k->state == K_GONE && !strcmp(k->lang, lang))
			pool_kernel_start(k);
}

/* One of a sandbox's kernels in the pool (it has one per language), or NULL. */
static struct kern *pool_find(struct sess_worker *w)
{
	struct kern *k;

	LIST_FOREACH(k, &K.pool, link)
		if (k->sandbox == w)
			return k;
	return NULL;
}

static void pool_ready(void *arg, struct sess_worker *w, const struct sess_limits *lim)
{
	for (size_t i = 0; i < ARRAY_SIZE(langs); i++) {
		struct kern *k = xcalloc(1, sizeof(*k));
		k->sandbox = w;
		k->limits = *lim;	/* agent_spawn keeps RLIMIT_AS off an ASan agent */
		snprintf(k->lang, sizeof(k->lang), "%s", langs[i]);
		k->chan = -1;
		k->state = K_GONE;
		k->refs = 1;
		TAILQ_INIT(&k->cells);
		LIST_INSERT_HEAD(&K.pool, k, link);
		if (pool_wanted((int)i))
			pool_kernel_start(k);
	}
}

static void pool_drop(struct kern *k)
{
	kern_stop(k, "its sandbox left the warm pool", KERN_END_FAILED, -1);
	LIST_REMOVE(k, link);
	kern_put(k);
}

static void pool_dropped(void *arg, struct sess_worker *w)
{
	struct kern *k;

	while ((k = pool_find(w)))
		pool_drop(k);
}

/* The session that took the sandbox gets its kernels (starting or ready); the others go. */
static void pool_taken(void *arg, struct sess_session *s)
{
	struct kern *k;

	while ((k = pool_find(s->worker))) {
		if (k->state == K_GONE || kern_find(s, k->lang)) {
			pool_drop(k);
			continue;
		}
		LIST_REMOVE(k, link);
		k->s = s;
		sess_hold(s);
		k->sandbox = NULL;
		k->taken_ms = now_ms();
		LIST_INSERT_HEAD(&K.head, k, link);
	}
}

void kern_pool_start(struct sess_registry *reg, const char *const *envp, uint64_t idle_ms)
{
	static const struct sess_pool_hooks hooks = { .ready = pool_ready, .taken = pool_taken,
						      .dropped = pool_dropped };
	size_t n = 0;

	if (!K.inited || K.reg)
		return;
	while (envp[n])
		n++;
	K.pool_envp = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		K.pool_envp[i] = xstrdup(envp[i]);
	K.reg = reg;
	K.ahead_idle_ms = idle_ms;
	sess_pool_set_hooks(reg, &hooks);
}

static void pool_stop(void)
{
	if (!K.reg)
		return;
	sess_pool_set_hooks(K.reg, NULL);
	K.reg = NULL;
	while (!LIST_EMPTY(&K.pool))
		pool_drop(LIST_FIRST(&K.pool));
	for (char **e = K.pool_envp; e && *e; e++)
		free(*e);
	free(K.pool_envp);
	K.pool_envp = NULL;
}

/* ---- module ----------------------------------------------------------------------------- */

/* A disk scan kills s's running executions: its cells are, with their kernels (what they write
   goes on otherwise until their timeout, up to the server's longest). */
static void over_disk(struct sess_session *s, enum sess_over over)
{
	struct kern *k, *next;
	char why[192];

	if (over == SESS_OVER_KEY_ENTRIES)
		snprintf(why, sizeof(why), "killed: this key's workspaces went over its quota of %llu files and "
			 "directories (quota.inodes); delete files or sessions",
			 (unsigned long long)sess_registry_config(s->reg)->quota.inodes);
	else if (over == SESS_OVER_SESSION_DISK)
		snprintf(why, sizeof(why), "killed: the session's workspace went over its disk limit of %llu MiB "
			 "(disk_mb); delete files", (unsigned long long)(s->disk_limit >> 20));
	else
		snprintf(why, sizeof(why), "killed: this key's workspaces went over its disk quota of %llu MiB; delete "
			 "files or sessions", (unsigned long long)(sess_registry_config(s->reg)->quota.disk_bytes >> 20));
	for (k = LIST_FIRST(&K.head); k; k = next) {
		next = LIST_NEXT(k, link);
		if (k->s == s && !TAILQ_EMPTY(&k->cells))
			kern_stop(k, why, KERN_END_DIED, -1);
	}
}

static void sweep(uv_timer_t *t)
{
	struct kern *k, *next;
	uint64_t now = now_ms();

	for (k = LIST_FIRST(&K.head); k; k = next) {
		next = LIST_NEXT(k, link);
		if (!k->s || k->s->state == SESS_DELETED) {
			kern_stop(k, "the session ended", KERN_END_FAILED, -1);
			kern_remove(k);
		} else if (k->state != K_GONE && (k->s->state != SESS_RUNNING || k->s->worker != k->worker)) {
			kern_stop(k, "the sandbox stopped", KERN_END_FAILED, -1);
		} else if (k->ahead && now - k->taken_ms >= K.ahead_idle_ms) {
			/* its session runs no kernel cells: the memory is the session's */
			kern_stop(k, "started ahead and not used", KERN_END_FAILED, -1);
			kern_remove(k);
		}
	}
	LIST_FOREACH(k, &K.pool, link)
		if (k->state != K_GONE && !pool_wanted(lang_index(k->lang)))
			kern_stop(k, "kernels of its language are not in use", KERN_END_FAILED, -1);
}

void kern_init(uv_loop_t *loop)
{
	if (K.inited)
		return;
	K.loop = loop;
	K.inited = true;
	LIST_INIT(&K.head);
	LIST_INIT(&K.pool);
	/* the agent runs this very program inside the sandbox, which cannot see its path */
	K.exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (K.exe_fd < 0)
		log_warn("kernels: cannot open /proc/self/exe (%s): kernels will not start", strerror(errno));
	uv_timer_init(loop, &K.sweep);
	uv_timer_start(&K.sweep, sweep, SWEEP_MS, SWEEP_MS);
	uv_unref((uv_handle_t *)&K.sweep);
	sess_quota_set_over_hook(over_disk);
}

void kern_shutdown(void)
{
	if (!K.inited)
		return;
	pool_stop();
	sess_quota_set_over_hook(NULL);
	K.shutting_down = true;
	while (!LIST_EMPTY(&K.head)) {
		struct kern *k = LIST_FIRST(&K.head);
		kern_stop(k, "the server is shutting down", KERN_END_FAILED, -1);
		kern_remove(k);
	}
	uv_timer_stop(&K.sweep);
	uv_close((uv_handle_t *)&K.sweep, NULL);
	if (K.exe_fd >= 0)
		close(K.exe_fd);
	K.exe_fd = -1;
	K.shutting_down = false;
	K.inited = false;
}
