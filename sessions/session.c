#include "session.h"
#include "run.h"
#include "workspace.h"
#include "../server/buf.h"
#include "../server/common.h"
#include "../server/log.h"
#include "../server/banned.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

struct sess_waiter {
	sess_ready_cb cb;
	void *arg;
	struct sess_waiter *next;
};

/* A ready sandbox in the warm pool, with the id and workspace it was made for. */
struct pool_entry {
	char *id;
	char *workspace;
	struct sess_worker *worker;
	struct pool_entry *next;
};

struct sess_registry {
	uv_loop_t *loop;
	struct sess_zygote *zygote;
	const struct srv_config *cfg;
	char *ws_root;			/* DATA/workspaces */
	struct sess_session *head, *tail;
	size_t count;
	struct pool_entry *pool;	/* ready */
	unsigned pool_ready;
	unsigned pool_pending;		/* create requests in flight */
	struct pool_req *pending;	/* those requests, oldest first */
	bool shutting_down;
	uv_timer_t ttl_timer;
	unsigned *pending_alive;	/* shared with in-flight pool creations after free */
};

static const char *const state_names[] = { "creating", "running", "failed", "destroyed" };

const char *sess_state_name(enum sess_state st)
{
	return state_names[st];
}

const struct srv_config *sess_registry_config(const struct sess_registry *reg)
{
	return reg->cfg;
}

const struct sess_host_info *sess_registry_host(const struct sess_registry *reg)
{
	return sess_zygote_host(reg->zygote);
}

size_t sess_count(const struct sess_registry *reg)
{
	return reg->count;
}

static char *workspace_path(struct sess_registry *reg, const char *id)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/%s", reg->ws_root, id);
	return buf_detach(&b);
}

/* The default sandbox-wide limits derived from the config. */
static struct sess_limits default_limits(const struct srv_config *cfg)
{
	return (struct sess_limits){
		.memory_bytes = cfg->memory_bytes.def,
		.max_pids = (uint32_t)cfg->max_pids.def,
		.cpu_seconds = (uint32_t)cfg->cpu_s.def,
		.file_bytes = cfg->file_bytes.def,
		.open_files = (uint32_t)cfg->open_files.def,
	};
}

/* ---- warm pool ---------------------------------------------------------- */

struct pool_req {
	struct sess_registry *reg;
	unsigned *alive;	/* reg->pending_alive: 0 once the registry is gone */
	char *id;
	char *workspace;
	struct sess_session *claim;	/* a session waiting for this sandbox (held) */
	struct pool_req *next;
};

static void session_created(void *arg, struct sess_worker *w, struct err *err);

static void pool_created(void *arg, struct sess_worker *w, struct err *err)
{
	struct pool_req *pr = arg;
	struct sess_registry *reg = pr->reg;

	if (*pr->alive) {
		struct pool_req **pp = &reg->pending;
		while (*pp != pr)
			pp = &(*pp)->next;
		*pp = pr->next;
	}
	if (pr->claim) {
		/* a session_create found the pool empty and took this one over */
		struct sess_session *s = pr->claim;
		bool registry_alive = *pr->alive;
		if (registry_alive) {
			pr->alive[1]--;
			reg->pool_pending--;
		} else if (--pr->alive[1] == 0) {
			free(pr->alive);
		}
		free(pr);
		session_created(s, w, err); /* may free s */
		if (registry_alive)
			sess_pool_fill(reg);
		return;
	}

	if (!*pr->alive) {
		/* the registry went away while this was in flight */
		if (w)
			sess_worker_free(w);
		err_free(err);
		sess_ws_remove(pr->workspace);
		if (--pr->alive[1] == 0)
			free(pr->alive);
		free(pr->id);
		free(pr->workspace);
		free(pr);
		return;
	}
	pr->alive[1]--;
	reg->pool_pending--;
	if (!w) {
		log_warn("warm pool: cannot create a sandbox: %s", err->msg);
		err_free(err);
		sess_ws_remove(pr->workspace);
		free(pr->id);
		free(pr->workspace);
		free(pr);
		return; /* do not retry in a tight loop; the next take refills */
	}
	struct pool_entry *e = xcalloc(1, sizeof(*e));
	e->id = pr->id;
	e->workspace = pr->workspace;
	e->worker = w;
	e->next = reg->pool;
	reg->pool = e;
	reg->pool_ready++;
	free(pr);
}

static int start_sandbox(struct sess_registry *reg, const char *id, const char *workspace, bool network,
			 const struct sess_limits *lim, sess_created_cb cb, void *arg, struct err **errp)
{
	struct sess_sandbox_opts o = {
		.id = id,
		.workspace = workspace,
		.network = network,
		.limits = *lim,
	};
	if (sess_ws_create(workspace, errp) < 0)
		return -1;
	if (sess_zygote_create(reg->zygote, &o, cb, arg, errp) < 0) {
		sess_ws_remove(workspace);
		return -1;
	}
	return 0;
}

void sess_pool_fill(struct sess_registry *reg)
{
	struct sess_limits lim = default_limits(reg->cfg);

	while (!reg->shutting_down && reg->pool_ready + reg->pool_pending < reg->cfg->pool_size) {
		struct pool_req *pr = xcalloc(1, sizeof(*pr));
		auto_err struct err *err = NULL;
		pr->reg = reg;
		pr->alive = reg->pending_alive;
		pr->id = random_id("ses_", 12);
		pr->workspace = workspace_path(reg, pr->id);
		if (start_sandbox(reg, pr->id, pr->workspace, false, &lim, pool_created, pr, &err) < 0) {
			log_warn("warm pool: %s", err->msg);
			free(pr->id);
			free(pr->workspace);
			free(pr);
			return;
		}
		reg->pool_pending++;
		reg->pending_alive[1]++;
		struct pool_req **pp = &reg->pending;
		while (*pp)
			pp = &(*pp)->next;
		*pp = pr;
	}
}

/* The oldest pool creation no session has claimed yet, or NULL. */
static struct pool_req *unclaimed_pending(struct sess_registry *reg)
{
	for (struct pool_req *pr = reg->pending; pr; pr = pr->next)
		if (!pr->claim)
			return pr;
	return NULL;
}

/* ---- sessions ----------------------------------------------------------- */

static void link_session(struct sess_registry *reg, struct sess_session *s)
{
	s->prev = reg->tail;
	if (reg->tail)
		reg->tail->next = s;
	else
		reg->head = s;
	reg->tail = s;
	reg->count++;
}

static void unlink_session(struct sess_registry *reg, struct sess_session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		reg->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		reg->tail = s->prev;
	s->next = s->prev = NULL;
	reg->count--;
}

static void session_free(struct sess_session *s)
{
	free(s->id);
	free(s->owner);
	free(s->name);
	json_decref(s->labels);
	json_decref(s->env);
	err_free(s->failure);
	free(s->workspace);
	free(s);
}

void sess_hold(struct sess_session *s)
{
	s->refs++;
}

void sess_put(struct sess_session *s)
{
	if (--s->refs == 0 && s->state == SESS_DESTROYED)
		session_free(s);
}

void sess_touch(struct sess_session *s)
{
	s->last_active = wall_ms();
}

static void run_waiters(struct sess_session *s)
{
	struct sess_waiter *w = s->waiters;

	s->waiters = NULL;
	sess_hold(s);
	while (w) {
		struct sess_waiter *next = w->next;
		struct err *err = NULL;
		if (s->state != SESS_RUNNING)
			err_set(&err, 0, "session %s %s", s->id,
				s->state == SESS_FAILED && s->failure ? s->failure->msg : "was destroyed");
		w->cb(w->arg, s, err);
		free(w);
		w = next;
	}
	sess_put(s);
}

static void worker_died(void *arg)
{
	struct sess_session *s = arg;

	log_warn("session %s: its sandbox died", s->id);
	s->worker = NULL; /* freed by its own death path */
	s->state = SESS_FAILED;
	err_free(s->failure);
	s->failure = NULL;
	err_set(&s->failure, 0, "sandbox died");
}

static void attach_worker(struct sess_session *s, struct sess_worker *w)
{
	s->worker = w;
	s->state = SESS_RUNNING;
	sess_worker_on_death(w, worker_died, s);
}

static void session_created(void *arg, struct sess_worker *w, struct err *err)
{
	struct sess_session *s = arg;

	if (s->state == SESS_DESTROYED) {
		if (w)
			sess_worker_free(w);
		err_free(err);
		sess_put(s);
		return;
	}
	if (w && sess_worker_set_limits(w, &s->limits, &err) < 0) {
		sess_worker_free(w);
		w = NULL;
	}
	if (!w) {
		s->state = SESS_FAILED;
		s->failure = err;
		log_warn("session %s: %s", s->id, err->msg);
	} else {
		attach_worker(s, w);
	}
	run_waiters(s);
	sess_put(s);
}

int sess_create(struct sess_registry *reg, const char *owner, bool implicit,
		const struct sess_request *rq, struct sess_session **out, struct err **errp)
{
	const struct srv_config *cfg = reg->cfg;
	struct sess_limits lim = default_limits(cfg);
	struct pool_req *pr;
	uint64_t mem, timeout;

	if (reg->shutting_down)
		return err_set(errp, 0, "the server is shutting down");
	if (srv_limit_pick(&cfg->memory_bytes, rq->memory_mb < 0 ? -1 : rq->memory_mb * 1024 * 1024,
			   16ull << 20, "memory_mb (in bytes)", &mem, errp) < 0)
		return -1;
	if (srv_limit_pick(&cfg->timeout_s, rq->timeout_s, 1, "timeout_s", &timeout, errp) < 0)
		return -1;
	lim.memory_bytes = mem;

	struct sess_session *s = xcalloc(1, sizeof(*s));
	s->owner = xstrdup(owner);
	s->implicit = implicit;
	s->name = rq->name ? xstrdup(rq->name) : NULL;
	s->labels = rq->labels ? json_deep_copy(rq->labels) : json_object();
	s->env = rq->env ? json_deep_copy(rq->env) : json_object();
	s->network = rq->network;
	s->limits = lim;
	s->timeout_s = timeout;
	s->created_at = s->last_active = wall_ms();
	s->wsfd = -1;
	s->reg = reg;
	s->refs = 1; /* the registry's */

	struct pool_entry *e = rq->network ? NULL : reg->pool;
	if (e) {
		reg->pool = e->next;
		reg->pool_ready--;
		s->id = e->id;
		s->workspace = e->workspace;
		if (sess_worker_set_limits(e->worker, &lim, errp) < 0) {
			sess_worker_free(e->worker);
			sess_ws_remove(e->workspace);
			free(e);
			session_free(s);
			return err_wrap(errp, "cannot apply the session's limits");
		}
		attach_worker(s, e->worker);
		free(e);
	} else if (!rq->network && (pr = unclaimed_pending(reg))) {
		/* The pool is empty but a sandbox for it is on its way: that one
		 * is ready sooner than a new request queued behind it. */
		s->id = steal_ptr(pr->id);
		s->workspace = steal_ptr(pr->workspace);
		s->state = SESS_CREATING;
		pr->claim = s;
		sess_hold(s); /* for session_created */
	} else {
		s->id = random_id("ses_", 12);
		s->workspace = workspace_path(reg, s->id);
		s->state = SESS_CREATING;
		if (start_sandbox(reg, s->id, s->workspace, s->network, &lim, session_created, s, errp) < 0) {
			session_free(s);
			return -1;
		}
		sess_hold(s); /* for session_created */
	}
	s->wsfd = open(s->workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->wsfd < 0) {
		err_set(errp, errno, "cannot open the session workspace");
		sess_destroy(s);
		return -1;
	}
	link_session(reg, s);
	sess_pool_fill(reg);
	*out = s;
	return 0;
}

void sess_when_ready(struct sess_session *s, sess_ready_cb cb, void *arg)
{
	if (s->state != SESS_CREATING) {
		struct err *err = NULL;
		if (s->state != SESS_RUNNING)
			err_set(&err, 0, "session %s %s", s->id,
				s->state == SESS_FAILED && s->failure ? s->failure->msg : "was destroyed");
		sess_hold(s);
		cb(arg, s, err);
		sess_put(s);
		return;
	}
	struct sess_waiter *w = xcalloc(1, sizeof(*w)), **pp = &s->waiters;
	w->cb = cb;
	w->arg = arg;
	while (*pp)
		pp = &(*pp)->next;
	*pp = w;
}

struct sess_session *sess_find(struct sess_registry *reg, const char *id, const char *owner)
{
	for (struct sess_session *s = reg->head; s; s = s->next)
		if (!strcmp(s->id, id))
			return !owner || !strcmp(owner, s->owner) ? s : NULL;
	return NULL;
}

void sess_foreach(struct sess_registry *reg, const char *owner,
		  void (*fn)(void *arg, struct sess_session *s), void *arg)
{
	struct sess_session *s, *next;
	for (s = reg->head; s; s = next) {
		next = s->next;
		if (!owner || !strcmp(owner, s->owner))
			fn(arg, s);
	}
}

void sess_destroy(struct sess_session *s)
{
	struct sess_registry *reg = s->reg;

	if (s->state == SESS_DESTROYED)
		return;
	if (s->next || s->prev || reg->head == s)
		unlink_session(reg, s);
	s->state = SESS_DESTROYED;
	sess_run_abort_all(s); /* before the worker goes: no exit report will come */
	if (s->worker) {
		struct sess_worker *w = s->worker;
		s->worker = NULL;
		sess_worker_free(w);
	}
	if (s->wsfd >= 0) {
		close(s->wsfd);
		s->wsfd = -1;
	}
	sess_ws_remove(s->workspace);
	run_waiters(s);
	sess_put(s); /* the registry's reference */
}

/* ---- idle TTL ----------------------------------------------------------- */

static void ttl_tick(uv_timer_t *t)
{
	struct sess_registry *reg = t->data;
	uint64_t now = wall_ms(), ttl = reg->cfg->idle_ttl_s * 1000;
	struct sess_session *s, *next;

	for (s = reg->head; s; s = next) {
		next = s->next;
		if (s->implicit || s->running || !ttl)
			continue;
		if (now - s->last_active >= ttl) {
			log_info("session %s: idle for %llus, destroying", s->id,
				 (unsigned long long)(now - s->last_active) / 1000);
			sess_destroy(s);
		}
	}
}

int sess_registry_new(struct sess_registry **out, uv_loop_t *loop, struct sess_zygote *z,
		      const struct srv_config *cfg, struct err **errp)
{
	struct sess_registry *reg = xcalloc(1, sizeof(*reg));
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s/workspaces", cfg->data_dir);
	reg->ws_root = buf_detach(&b);
	/* 0711: sandboxes (another uid when we are root) may traverse it to
	 * reach their own workspace but cannot list the others. */
	if (mkdir(reg->ws_root, 0711) < 0 && errno != EEXIST) {
		err_set(errp, errno, "mkdir %s", reg->ws_root);
		free(reg->ws_root);
		free(reg);
		return -1;
	}
	chmod(reg->ws_root, 0711);
	reg->loop = loop;
	reg->zygote = z;
	reg->cfg = cfg;
	reg->pending_alive = xcalloc(2, sizeof(unsigned));
	reg->pending_alive[0] = 1;
	uv_timer_init(loop, &reg->ttl_timer);
	reg->ttl_timer.data = reg;
	if (cfg->idle_ttl_s) {
		uint64_t every = cfg->idle_ttl_s * 1000 / 4;
		if (every > 60000)
			every = 60000;
		if (every < 100)
			every = 100;
		uv_timer_start(&reg->ttl_timer, ttl_tick, every, every);
	}
	uv_unref((uv_handle_t *)&reg->ttl_timer);
	*out = reg;
	return 0;
}

static void free_after_close(uv_handle_t *h)
{
	struct sess_registry *reg = h->data;
	free(reg->ws_root);
	free(reg);
}

void sess_registry_free(struct sess_registry *reg)
{
	reg->shutting_down = true;
	while (reg->head)
		sess_destroy(reg->head);
	while (reg->pool) {
		struct pool_entry *e = reg->pool;
		reg->pool = e->next;
		sess_worker_free(e->worker);
		sess_ws_remove(e->workspace);
		free(e->id);
		free(e->workspace);
		free(e);
	}
	/* creations still in flight clean up after themselves */
	reg->pending_alive[0] = 0;
	if (reg->pending_alive[1] == 0)
		free(reg->pending_alive);
	uv_close((uv_handle_t *)&reg->ttl_timer, free_after_close);
}
