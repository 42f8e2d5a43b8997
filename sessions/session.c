#include "session.h"
#include "btrfs.h"
#include "catalog.h"
#include "job.h"
#include "quota.h"
#include "run.h"
#include "term.h"
#include "watch.h"
#include "trash.h"
#include "workspace.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "proto.h"
#include "../server/base/banned.h"

#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mount.h>
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
	char *pool_root;		/* where pool workspaces wait (sess_registry_new) */
	struct sess_session *head, *tail;
	size_t count;
	struct pool_entry *pool;	/* ready */
	unsigned pool_ready;
	unsigned pool_pending;		/* create requests in flight */
	struct pool_req *pending;	/* those requests, oldest first */
	bool shutting_down;
	struct sess_persist persist;
	struct sess_snap *snaps;	/* catalog.c */
	uv_timer_t ttl_timer;
	uv_check_t fill_check;		/* refills the pool once this loop turn's replies are out */
	int open_handles;		/* while closing: the two above */
	unsigned *pending_alive;	/* shared with in-flight pool creations after free */
	struct sess_pool_hooks hooks;	/* sess_pool_set_hooks */
	void (*list_hook)(void *arg, const struct sess_session *s);	/* sess_set_list_hook */
	void *list_arg;
};

static const char *const state_names[] = { "creating", "running", "stopping", "stopped", "failed", "deleted" };

/* allowed[from] is a bit set of the states one may go to from `from` */
#define TO(st) (1u << (st))
static const unsigned allowed[] = {
	[SESS_CREATING] = TO(SESS_RUNNING) | TO(SESS_FAILED) | TO(SESS_DELETED),
	[SESS_RUNNING] = TO(SESS_STOPPING) | TO(SESS_FAILED) | TO(SESS_DELETED),
	[SESS_STOPPING] = TO(SESS_STOPPED) | TO(SESS_DELETED),
	[SESS_STOPPED] = TO(SESS_CREATING) | TO(SESS_DELETED),
	[SESS_FAILED] = TO(SESS_CREATING) | TO(SESS_STOPPED) | TO(SESS_DELETED),
	[SESS_DELETED] = 0,
};

const char *sess_state_name(enum sess_state st)
{
	return state_names[st];
}

struct sess_snap **sess_registry_snaps(struct sess_registry *reg)
{
	return &reg->snaps;
}

const struct sess_persist *sess_registry_persist(const struct sess_registry *reg)
{
	return &reg->persist;
}

void sess_registry_set_persist(struct sess_registry *reg, const struct sess_persist *p)
{
	reg->persist = *p;
}

void sess_audit(struct sess_registry *reg, const char *principal, const char *action, const char *object,
		const char *detail)
{
	if (reg->persist.audit)
		reg->persist.audit(reg->persist.arg, principal, action, object, detail);
}

void sess_record_execution(struct sess_session *s, const char *exec_id, json_t *summary, const struct buf *out,
			   const struct buf *err)
{
	struct sess_registry *reg = s->reg;
	if (reg->persist.execution)
		reg->persist.execution(reg->persist.arg, s, exec_id, summary, out, err);
}

static void save(struct sess_session *s)
{
	struct sess_registry *reg = s->reg;
	bool linked = s->prev || s->next || reg->head == s;
	/* a session being created is saved once, when it joins the registry */
	if (reg->persist.save && (linked || s->state == SESS_DELETED || s->state == SESS_STOPPED)) {
		s->persisted_active = s->last_active;
		reg->persist.save(reg->persist.arg, s);
	}
}

int sess_set_state(struct sess_session *s, enum sess_state to, struct err **errp)
{
	if (!(allowed[s->state] & TO(to)))
		return err_setc(errp, ERR_CONFLICT, 0, "session %s is %s and cannot become %s", s->id, state_names[s->state],
			       state_names[to]);
	s->state = to;
	if (to == SESS_RUNNING)
		s->started_at = wall_ms();
	else if (to == SESS_STOPPED)
		s->stopped_at = wall_ms();
	save(s);
	return 0;
}

/* A transition the code guarantees is valid (a failure is a bug). */
static void must_set_state(struct sess_session *s, enum sess_state to)
{
	auto_err struct err *err = NULL;
	if (sess_set_state(s, to, &err) < 0) {
		log_error("%s", err_text(err));
		abort();
	}
}

const struct srv_config *sess_registry_config(const struct sess_registry *reg)
{
	return reg->cfg;
}

const struct sess_host_info *sess_registry_host(const struct sess_registry *reg)
{
	return sess_zygote_host(reg->zygote);
}

const struct sess_zygote *sess_registry_zygote(const struct sess_registry *reg)
{
	return reg->zygote;
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

static char *pool_path(struct sess_registry *reg, const char *id)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/%s", reg->pool_root, id);
	return buf_detach(&b);
}

/* A session takes a pool workspace: move it to DATA/workspaces, where its
   record will name it (the sandbox's bind mount does not care). */
static int adopt_pool_workspace(const char *from, const char *to, struct err **errp)
{
	if (!strcmp(from, to))
		return 0;
	if (rename(from, to) < 0)
		return err_set(errp, errno, "cannot move a pool workspace into place");
	return 0;
}

/* The default sandbox-wide limits derived from the config (a CPU cap only
   where a cpu controller can enforce it: sess_registry_new warned). */
static struct sess_limits default_limits(const struct sess_registry *reg)
{
	const struct srv_config *cfg = reg->cfg;

	return (struct sess_limits){
		.memory_bytes = cfg->memory_bytes.def,
		.max_pids = (uint32_t)cfg->max_pids.def,
		.cpu_millis = sess_registry_host(reg)->cgroup_cpu ? (uint32_t)cfg->cpu_millis.def : 0,
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
		struct err *moved = NULL;
		if (s->state == SESS_DELETED)
			sess_trash_put(pr->workspace, NULL, 0, 0);
		else if (adopt_pool_workspace(pr->workspace, s->workspace, &moved) < 0 && w) {
			sess_worker_free(w);
			w = NULL;
			err = moved;
		} else {
			err_free(moved);
		}
		free(pr->workspace);
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
		sess_trash_put(pr->workspace, NULL, 0, 0);
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
		log_warn("warm pool: cannot create a sandbox: %s", err_text(err));
		err_free(err);
		sess_trash_put(pr->workspace, NULL, 0, 0);
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
	if (reg->hooks.ready) {
		struct sess_limits lim = default_limits(reg);
		reg->hooks.ready(reg->hooks.arg, w, &lim);
	}
}

void sess_pool_set_hooks(struct sess_registry *reg, const struct sess_pool_hooks *h)
{
	if (h)
		reg->hooks = *h;
	else
		memset(&reg->hooks, 0, sizeof(reg->hooks));
}

void sess_set_list_hook(struct sess_registry *reg, void (*fn)(void *arg, const struct sess_session *s), void *arg)
{
	reg->list_hook = fn;
	reg->list_arg = arg;
}

static void list_changed(struct sess_session *s)
{
	if (s->reg->list_hook)
		s->reg->list_hook(s->reg->list_arg, s);
}

/* A pool sandbox goes without a session. */
static void pool_entry_drop(struct sess_registry *reg, struct pool_entry *e)
{
	if (reg->hooks.dropped)
		reg->hooks.dropped(reg->hooks.arg, e->worker);
	sess_worker_free(e->worker);
	sess_trash_put(e->workspace, NULL, 0, 0);
	free(e->id);
	free(e->workspace);
	free(e);
}

static char *overlay_dir(const struct sess_registry *reg, const char *id)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/overlays/%s", reg->cfg->data_dir, id);
	return buf_detach(&b);
}

/* Throw away a workspace and, for an overlay, its writable layer (where its
   files are): charged to owner as last measured until removed (trash.h). */
static void trash_workspace(struct sess_registry *reg, const char *id, const char *workspace, bool overlay,
			    const char *owner, uint64_t bytes, uint64_t entries)
{
	if (overlay) {
		auto_free char *odir = overlay_dir(reg, id);
		sess_ws_detach(workspace);
		sess_trash_put(workspace, NULL, 0, 0);
		sess_trash_put(odir, owner, bytes, entries);
	} else {
		sess_trash_put(workspace, owner, bytes, entries);
	}
}

char *sess_tree_path(const struct sess_registry *reg, const char *commit)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/snapshots/trees/%s", reg->cfg->data_dir, commit);
	return buf_detach(&b);
}

/* Mount the overlay of an overlay session's workspace (at creation, or again after a reboot). */
static int mount_overlay(struct sess_registry *reg, const char *id, const char *workspace, const char *lower,
			 struct err **errp)
{
	const struct sess_host_info *host = sess_zygote_host(reg->zygote);
	auto_free char *odir = overlay_dir(reg, id);
	struct buf parent = BUF_INIT;

	buf_addf(&parent, "%s/overlays", reg->cfg->data_dir);
	if (mkdir(parent.data, 0700) < 0 && errno != EEXIST) {
		buf_release(&parent);
		return err_set(errp, errno, "cannot create the overlays directory");
	}
	buf_release(&parent);
	return sess_ws_overlay(workspace, lower, odir, host->sandbox_uid, host->sandbox_gid, errp);
}

/* The CPU cap of all of owner's sandboxes together (quota.cpus), where a cpu
   controller can keep it (sess_registry_new warned); 0: none. */
static uint32_t owner_cpus(const struct sess_registry *reg, const char *owner)
{
	if (!owner || !sess_quota_applies(owner) || !sess_registry_host(reg)->cgroup_cpu)
		return 0;
	return (uint32_t)reg->cfg->quota.cpu_millis;
}

/* owner NULL: a warm-pool sandbox, which gets its owner when a session takes it (fit_worker). */
static int start_sandbox(struct sess_registry *reg, const char *id, const char *workspace, const char *lower,
			 bool network, const struct sess_limits *lim, const char *owner, sess_created_cb cb, void *arg,
			 struct err **errp)
{
	struct sess_sandbox_opts o = {
		.id = id,
		.workspace = workspace,
		.network = network,
		.limits = *lim,
		.owner = owner,
		.owner_cpu_millis = owner_cpus(reg, owner),
	};
	if (sess_ws_create(workspace, lower != NULL, errp) < 0)
		return -1;
	if (lower && mount_overlay(reg, id, workspace, lower, errp) < 0) {
		trash_workspace(reg, id, workspace, true, NULL, 0, 0); /* and what the overlay made of its directory */
		return -1;
	}
	if (sess_zygote_create(reg->zygote, &o, cb, arg, errp) < 0) {
		trash_workspace(reg, id, workspace, lower != NULL, NULL, 0, 0);
		return -1;
	}
	return 0;
}

static void pool_fill_now(struct sess_registry *reg)
{
	struct sess_limits lim = default_limits(reg);

	while (!reg->shutting_down && reg->pool_ready + reg->pool_pending < reg->cfg->pool_size) {
		struct pool_req *pr = xcalloc(1, sizeof(*pr));
		auto_err struct err *err = NULL;
		pr->reg = reg;
		pr->alive = reg->pending_alive;
		pr->id = random_id("ses_", 12);
		pr->workspace = pool_path(reg, pr->id);
		if (start_sandbox(reg, pr->id, pr->workspace, NULL, false, &lim, NULL, pool_created, pr, &err) < 0) {
			log_warn("warm pool: %s", err_text(err));
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

static void fill_check_cb(uv_check_t *c)
{
	uv_check_stop(c);
	pool_fill_now(c->data);
}

/* The refill is sent at the end of this loop turn: the zygote, woken on this
 * CPU, would otherwise run its clone before the replies written during the
 * turn go out (stdio writes at once; libwebsockets writes on a later
 * writable callback, so over HTTP the refill still comes first). */
void sess_pool_fill(struct sess_registry *reg)
{
	if (!reg->shutting_down)
		uv_check_start(&reg->fill_check, fill_check_cb);
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
	assert(LIST_EMPTY(&s->terms)); /* closed with its sandbox (stop, destroy) */
	sess_jobs_free(s);
	if (s->log) {
		sess_ring_release(s->log);
		free(s->log);
	}
	free(s->overlay_lower);
	free(s->last_snapshot);
	free(s->source_snapshot);
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
	if (--s->refs == 0 && s->state == SESS_DELETED)
		session_free(s);
}

void sess_touch(struct sess_session *s)
{
	s->last_active = wall_ms();
	/* the record's last_active may lag a little: no write per call */
	if (s->last_active - s->persisted_active > 10000)
		save(s);
}

/* Why s cannot run code now, or NULL when it is running. */
static struct err *not_running(struct sess_session *s)
{
	struct err *err = NULL;
	switch (s->state) {
	case SESS_RUNNING:
		return NULL;
	case SESS_STOPPED:
	case SESS_STOPPING:
		err_setc(&err, ERR_CONFLICT, 0, "session %s is stopped; call session_start to run it again", s->id);
		break;
	case SESS_FAILED:
		err_setc(&err, ERR_UNAVAILABLE, 0, "session %s failed: %s (session_start tries again)", s->id,
			s->failure ? err_text(s->failure) : "its sandbox died");
		break;
	default:
		err_setc(&err, ERR_NOT_FOUND, 0, "session %s was destroyed", s->id);
	}
	return err;
}

static void run_waiters(struct sess_session *s)
{
	struct sess_waiter *w = s->waiters;

	s->waiters = NULL;
	sess_hold(s);
	while (w) {
		struct sess_waiter *next = w->next;
		w->cb(w->arg, s, not_running(s));
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
	sess_terms_close_all(s); /* their programs' ends were reported just before */
	err_free(s->failure);
	s->failure = NULL;
	err_set(&s->failure, 0, "sandbox died");
	must_set_state(s, SESS_FAILED);
}

static void attach_worker(struct sess_session *s, struct sess_worker *w)
{
	s->worker = w;
	sess_worker_on_death(w, worker_died, s);
	must_set_state(s, SESS_RUNNING);
}

/* w is to run s: in the cgroup group of s's owner (where a warm-pool sandbox
   moves now), with s's limits. */
static int fit_worker(struct sess_session *s, struct sess_worker *w, struct err **errp)
{
	if (sess_zygote_assign(s->reg->zygote, w, s->owner, owner_cpus(s->reg, s->owner), &s->limits, errp) < 0)
		return -1;
	return sess_worker_set_limits(w, &s->limits, errp);
}

static void session_created(void *arg, struct sess_worker *w, struct err *err)
{
	struct sess_session *s = arg;

	if (s->state == SESS_DELETED) {
		if (w)
			sess_worker_free(w);
		err_free(err);
		sess_put(s);
		return;
	}
	if (w && fit_worker(s, w, &err) < 0) {
		sess_worker_free(w);
		w = NULL;
	}
	if (!w) {
		err_free(s->failure);
		s->failure = err;
		log_warn("session %s: %s", s->id, err_text(err));
		must_set_state(s, SESS_FAILED);
	} else {
		attach_worker(s, w);
	}
	run_waiters(s);
	sess_put(s);
}

/*
 * The CPU cap a request asks for, in thousandths of a CPU: at least 0.01, at
 * most the config's maximum and the CPUs the server may use, and only where a
 * cpu cgroup can enforce it (a cap silently not kept would be worse than none).
 */
static int pick_cpus(const struct sess_registry *reg, double cpus, uint32_t *out, struct err **errp)
{
	const struct sess_host_info *host = sess_registry_host(reg);
	uint64_t max = (uint64_t)host->cpus * 1000, want;

	if (cpus == 0)
		return 0;
	if (!(cpus >= 0.01))
		return err_setc(errp, ERR_INVALID, 0, "cpus must be at least 0.01 (a number of CPUs, e.g. 0.5)");
	want = cpus > 1e9 ? UINT64_MAX : (uint64_t)(cpus * 1000 + 0.5);
	if (reg->cfg->cpu_millis.max && reg->cfg->cpu_millis.max < max) {
		if (want > reg->cfg->cpu_millis.max)
			return err_setc(errp, ERR_INVALID, 0, "cpus must be at most %g (the server's maximum)",
					(double)reg->cfg->cpu_millis.max / 1000);
	} else if (want > max) {
		return err_setc(errp, ERR_INVALID, 0, "cpus must be at most %u (the CPUs of this host)", host->cpus);
	}
	if (!host->cgroup_cpu)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "cpus: this server cannot limit a session's CPU (no usable "
				"cpu cgroup controller: run mcpbox as root or in a delegated cgroup v2 subtree with the "
				"cpu controller); create the session without cpus");
	*out = (uint32_t)want;
	return 0;
}

/* disk_mb (> 0) against the config's limits.disk maximum; < 0: its default. */
static int pick_disk(struct sess_registry *reg, int64_t disk_mb, uint64_t *out, struct err **errp)
{
	const struct srv_limit *l = &reg->cfg->disk_bytes;

	if (disk_mb < 0) {
		*out = l->def;
		return 0;
	}
	if (disk_mb == 0 || (l->max && (uint64_t)disk_mb > l->max >> 20))
		return err_setc(errp, ERR_INVALID, 0, "disk_mb must be from 1 to %" PRIu64 " (the server's maximum, "
				"limits.disk)", l->max ? l->max >> 20 : (uint64_t)INT64_MAX >> 20);
	*out = (uint64_t)disk_mb << 20;
	return 0;
}

/* What the kernel lets s's workspace take where it enforces disk limits
   (btrfs.h): its own disk limit, and never more than its key's whole
   quota.disk (shared by the key's sessions: the measured check keeps the sum). */
static void limit_workspace(struct sess_session *s)
{
	const struct srv_quota *q = &s->reg->cfg->quota;
	uint64_t bytes = s->disk_limit;
	auto_err struct err *err = NULL;

	if (sess_quota_applies(s->owner) && q->disk_bytes && (!bytes || q->disk_bytes < bytes))
		bytes = q->disk_bytes;
	/* an overlay session writes into its overlay's upper layer, not beneath the mount's root */
	int fd = s->wsfd, ofd = -1;
	if (s->overlay_lower) {
		auto_free char *odir = overlay_dir(s->reg, s->id);
		fd = ofd = open(odir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd >= 0 && sess_btrfs_limit(fd, bytes, &err) < 0)
		log_warn("session %s: %s", s->id, err_text(err));
	if (ofd >= 0)
		close(ofd);
}

_Static_assert(SESS_ENV_BYTES_MAX <= SESS_PROTO_MAX_MSG / 2, "a session's env leaves room for a program's start");

/* Does base with add's variables over its own stay within SESS_ENV_BYTES_MAX? (base may be NULL) */
static int env_size_check(const json_t *base, const json_t *add, struct err **errp)
{
	size_t total = 0;
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)base, k, v)
		if (!json_object_get(add, k))
			total += strlen(k) + json_string_length(v) + 2;
	json_object_foreach((json_t *)add, k, v)
		total += strlen(k) + json_string_length(v) + 2;
	if (total > SESS_ENV_BYTES_MAX)
		return err_setc(errp, ERR_INVALID, 0, "env: the session's variables would take %zu bytes (names and values); "
				"a session's take at most %zu (128 KiB: every program's start carries them)", total,
				SESS_ENV_BYTES_MAX);
	return 0;
}

int sess_update(struct sess_session *s, int64_t memory_mb, double cpus, int64_t disk_mb, json_t *env, json_t *labels,
		struct err **errp)
{
	struct sess_registry *reg = s->reg;
	struct sess_limits lim = s->limits;
	uint64_t mem = lim.memory_bytes, disk = s->disk_limit;

	if (s->state == SESS_DELETED)
		return err_setc(errp, ERR_NOT_FOUND, 0, "session %s is gone", s->id);
	if (env && env_size_check(s->env, env, errp) < 0)
		return -1;
	if (memory_mb > 0 && srv_limit_pick(&reg->cfg->memory_bytes, memory_mb * 1024 * 1024, 16ull << 20,
					    "memory_mb (in bytes)", &mem, errp) < 0)
		return -1;
	if (cpus > 0 && pick_cpus(reg, cpus, &lim.cpu_millis, errp) < 0)
		return -1;
	if (disk_mb > 0 && pick_disk(reg, disk_mb, &disk, errp) < 0)
		return -1;
	if (mem > lim.memory_bytes) {
		struct sess_held add = { .memory_bytes = mem - lim.memory_bytes };
		if (sess_quota_check(reg, s->owner, &add, errp) < 0)
			return -1;
	}
	lim.memory_bytes = mem;
	if (s->worker && s->state == SESS_RUNNING && sess_worker_set_limits(s->worker, &lim, errp) < 0)
		return err_wrap(errp, "session %s: cannot change its limits", s->id);
	s->limits = lim;
	s->disk_limit = disk;	/* a workspace now over it: refused writes at once, its programs killed at the next scan */
	limit_workspace(s);
	if (env)
		json_object_update(s->env, env);
	if (labels)
		json_object_update(s->labels, labels);
	save(s);
	return 0;
}

int sess_create(struct sess_registry *reg, const char *owner, bool implicit,
		const struct sess_request *rq, struct sess_session **out, struct err **errp)
{
	const struct srv_config *cfg = reg->cfg;
	struct sess_limits lim = default_limits(reg);
	struct pool_req *pr;
	const char *here = NULL;	/* where the workspace is now, if not yet at s->workspace */
	uint64_t mem, timeout;
	bool taken = false;

	if (reg->shutting_down)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "the server is shutting down");
	if (rq->env && env_size_check(NULL, rq->env, errp) < 0)
		return -1;
	if (srv_limit_pick(&cfg->memory_bytes, rq->memory_mb < 0 ? -1 : rq->memory_mb * 1024 * 1024,
			   16ull << 20, "memory_mb (in bytes)", &mem, errp) < 0)
		return -1;
	if (srv_limit_pick(&cfg->timeout_s, rq->timeout_s, 1, "timeout_s", &timeout, errp) < 0)
		return -1;
	if (pick_cpus(reg, rq->cpus, &lim.cpu_millis, errp) < 0)
		return -1;
	uint64_t disk;
	if (pick_disk(reg, rq->disk_mb, &disk, errp) < 0)
		return -1;
	lim.memory_bytes = mem;
	struct sess_held add = { .sessions = 1, .memory_bytes = mem };
	if (sess_quota_check(reg, owner, &add, errp) < 0)
		return -1;

	struct sess_session *s = xcalloc(1, sizeof(*s));
	s->owner = sess_principal_owner(owner);
	s->implicit = implicit;
	s->name = rq->name ? xstrdup(rq->name) : NULL;
	s->labels = rq->labels ? json_deep_copy(rq->labels) : json_object();
	s->env = rq->env ? json_deep_copy(rq->env) : json_object();
	s->network = rq->network;
	s->limits = lim;
	s->disk_limit = disk;
	s->timeout_s = timeout;
	s->created_at = s->last_active = wall_ms();
	s->wsfd = -1;
	s->reg = reg;
	s->refs = 1; /* the registry's */

	/* an overlay must be in place before the sandbox mounts the workspace: no pool;
	   nor for another memory limit: /tmp and /dev/shm are sized from it at creation */
	bool poolable = !rq->network && !rq->lower && mem == cfg->memory_bytes.def;
	struct pool_entry *e = poolable ? reg->pool : NULL;
	if (e) {
		reg->pool = e->next;
		reg->pool_ready--;
		s->id = e->id;
		s->workspace = workspace_path(reg, s->id);
		if (fit_worker(s, e->worker, errp) < 0 ||
		    adopt_pool_workspace(e->workspace, s->workspace, errp) < 0) {
			e->id = NULL;	/* s->id's now */
			pool_entry_drop(reg, e);
			session_free(s);
			return err_wrap(errp, "cannot take a sandbox from the warm pool");
		}
		attach_worker(s, e->worker);
		free(e->workspace);
		free(e);
		taken = true;
	} else if (poolable && (pr = unclaimed_pending(reg))) {
		/* The pool is empty but a sandbox for it is on its way: that one
		 * is ready sooner than a new request queued behind it. */
		s->id = steal_ptr(pr->id);
		s->workspace = workspace_path(reg, s->id); /* moved there once created */
		here = pr->workspace;
		s->state = SESS_CREATING;
		pr->claim = s;
		sess_hold(s); /* for session_created */
	} else {
		s->id = random_id("ses_", 12);
		s->workspace = workspace_path(reg, s->id);
		s->state = SESS_CREATING;
		if (start_sandbox(reg, s->id, s->workspace, rq->lower, s->network, &lim, s->owner, session_created, s,
				  errp) < 0) {
			session_free(s);
			return -1;
		}
		if (rq->lower)
			s->overlay_lower = xstrdup(rq->lower_commit);
		sess_hold(s); /* for session_created */
	}
	s->wsfd = open(here ? here : s->workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->wsfd < 0) {
		err_set(errp, errno, "cannot open the session workspace");
		sess_destroy(s);
		return -1;
	}
	limit_workspace(s);
	link_session(reg, s);
	save(s);
	sess_audit(reg, owner, "session.create", s->id, implicit ? "implicit" : NULL);
	sess_pool_fill(reg);
	list_changed(s);
	if (taken && reg->hooks.taken)
		reg->hooks.taken(reg->hooks.arg, s);
	*out = s;
	return 0;
}

int sess_stop(struct sess_session *s, struct err **errp)
{
	if (s->state == SESS_STOPPED)
		return err_setc(errp, ERR_CONFLICT, 0, "session %s is already stopped", s->id);
	if (sess_set_state(s, SESS_STOPPING, errp) < 0)
		return -1;
	sess_run_abort_all(s); /* their processes die with the sandbox */
	sess_terms_close_all(s);
	if (s->worker) {
		struct sess_worker *w = s->worker;
		s->worker = NULL;
		sess_worker_free(w);
	}
	return sess_set_state(s, SESS_STOPPED, errp);
}

int sess_start(struct sess_session *s, struct err **errp)
{
	struct sess_sandbox_opts o = {
		.id = s->id,
		.workspace = s->workspace,
		.network = s->network,
		.limits = s->limits,
		.owner = s->owner,
		.owner_cpu_millis = owner_cpus(s->reg, s->owner),
	};

	if (s->state == SESS_RUNNING || s->state == SESS_CREATING)
		return err_setc(errp, ERR_CONFLICT, 0, "session %s is already %s", s->id, state_names[s->state]);
	struct sess_held add = { .memory_bytes = s->limits.memory_bytes };
	if (s->state == SESS_STOPPED && sess_quota_check(s->reg, s->owner, &add, errp) < 0)
		return -1;
	if (s->state == SESS_FAILED && s->worker) {
		struct sess_worker *w = s->worker;
		s->worker = NULL;
		sess_worker_free(w);
	}
	if (sess_set_state(s, SESS_CREATING, errp) < 0)
		return -1;
	if (sess_zygote_create(s->reg->zygote, &o, session_created, s, errp) < 0) {
		err_wrap(errp, "cannot start session %s", s->id);
		must_set_state(s, SESS_FAILED);
		return -1;
	}
	sess_hold(s); /* for session_created */
	return 0;
}

int sess_adopt(struct sess_registry *reg, const struct sess_saved *sv, struct err **errp)
{
	struct sess_session *s;
	struct stat st;

	if (stat(sv->workspace, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(errp, errno, "session %s: its workspace is gone", sv->id);
	if (sv->overlay_lower && !sess_ws_is_mounted(sv->workspace)) {
		/* after a reboot: put the overlay back on its kept upper layer */
		auto_free char *lower = sess_tree_path(reg, sv->overlay_lower);
		if (mount_overlay(reg, sv->id, sv->workspace, lower, errp) < 0)
			return err_wrap(errp, "session %s", sv->id);
	}
	s = xcalloc(1, sizeof(*s));
	s->id = xstrdup(sv->id);
	s->owner = xstrdup(sv->owner);
	s->name = sv->name ? xstrdup(sv->name) : NULL;
	s->labels = sv->labels ? json_deep_copy(sv->labels) : json_object();
	s->env = sv->env ? json_deep_copy(sv->env) : json_object();
	s->network = sv->network;
	s->implicit = sv->implicit;
	s->limits = sv->limits;
	if (s->limits.cpu_millis && !sess_registry_host(reg)->cgroup_cpu) {
		log_warn("session %s: its CPU cap cannot be kept here (no cpu cgroup controller); it has none now",
			 s->id);
		s->limits.cpu_millis = 0;
	}
	s->timeout_s = sv->timeout_s;
	s->disk_limit = sv->disk_limit;
	s->created_at = sv->created_at;
	s->last_active = s->persisted_active = sv->last_active;
	s->started_at = sv->started_at;
	s->stopped_at = sv->stopped_at;
	s->workspace = xstrdup(sv->workspace);
	s->source_snapshot = sv->source_snapshot ? xstrdup(sv->source_snapshot) : NULL;
	s->overlay_lower = sv->overlay_lower ? xstrdup(sv->overlay_lower) : NULL;
	s->reg = reg;
	s->refs = 1;
	s->state = SESS_STOPPED;
	s->wsfd = open(s->workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->wsfd < 0) {
		err_set(errp, errno, "session %s: cannot open its workspace", s->id);
		session_free(s);
		return -1;
	}
	limit_workspace(s);	/* the config may have changed since */
	link_session(reg, s);
	save(s);
	return 0;
}

void sess_when_ready(struct sess_session *s, sess_ready_cb cb, void *arg)
{
	if (s->state != SESS_CREATING) {
		sess_hold(s);
		cb(arg, s, not_running(s));
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

char *sess_principal_owner(const char *principal)
{
	return xstrndup(principal, srv_principal_owner_len(principal));
}

static int (*rights_hook)(const char *principal, struct srv_rights *out);
static enum srv_level (*share_hook)(const char *principal, const char *sid);

void sess_set_share_hook(enum srv_level (*fn)(const char *principal, const char *sid))
{
	share_hook = fn;
}

enum srv_level sess_principal_shared(const char *principal, const char *sid)
{
	return principal && share_hook ? share_hook(principal, sid) : SRV_LEVEL_NONE;
}

bool sess_principal_reaches(const char *principal, const struct sess_session *s)
{
	return sess_principal_sees(principal, s->owner) || sess_principal_shared(principal, s->id) != SRV_LEVEL_NONE;
}

void sess_set_rights_hook(int (*fn)(const char *principal, struct srv_rights *out))
{
	rights_hook = fn;
}

int sess_principal_rights(const char *principal, struct srv_rights *out)
{
	if (!principal) {
		srv_rights_full(out, true, false);
		return 1;
	}
	if (!rights_hook || !srv_principal_key_id(principal)) {
		srv_rights_full(out, sess_principal_admin(principal), sess_principal_no_network(principal));
		return 1;
	}
	return rights_hook(principal, out);
}

void sess_scope_of(const char *principal, struct sess_scope *sc)
{
	sc->none = false;
	sc->scoped = false;
	if (!principal || !srv_principal_key_id(principal))
		return;
	if (!sess_principal_rights(principal, &sc->r)) {
		sc->none = true;
		return;
	}
	sc->scoped = sc->r.ngrants > 0;
}

bool sess_scope_has(const struct sess_scope *sc, const char *sid)
{
	return !sc->none && (!sc->scoped || srv_rights_level(&sc->r, sid) != SRV_LEVEL_NONE);
}

bool sess_principal_in_scope(const char *principal, const char *sid)
{
	struct sess_scope sc;

	sess_scope_of(principal, &sc);
	return sess_scope_has(&sc, sid);
}

bool sess_principal_may(const char *principal, const char *sid, unsigned caps, enum srv_level level)
{
	struct srv_rights r;
	char why[8];

	return sess_principal_rights(principal, &r) && srv_rights_allow(&r, caps, level, sid, why, sizeof(why));
}

struct sess_session *sess_find(struct sess_registry *reg, const char *id, const char *owner)
{
	for (struct sess_session *s = reg->head; s; s = s->next)
		if (!strcmp(s->id, id)) {
			struct sess_scope sc;

			if (!sess_principal_reaches(owner, s))
				return NULL;
			sess_scope_of(owner, &sc);
			return sess_scope_has(&sc, s->id) ? s : NULL;
		}
	return NULL;
}

void sess_foreach(struct sess_registry *reg, const char *owner,
		  void (*fn)(void *arg, struct sess_session *s), void *arg)
{
	struct sess_session *s, *next;
	struct sess_scope sc;

	sess_scope_of(owner, &sc);
	for (s = reg->head; s; s = next) {
		next = s->next;
		if (sess_principal_reaches(owner, s) && sess_scope_has(&sc, s->id))
			fn(arg, s);
	}
}

void sess_destroy(struct sess_session *s)
{
	struct sess_registry *reg = s->reg;

	if (s->state == SESS_DELETED)
		return;
	bool listed = s->next || s->prev || reg->head == s;
	if (listed)
		unlink_session(reg, s);
	must_set_state(s, SESS_DELETED);
	if (listed)
		list_changed(s);
	sess_watch_session_gone(s); /* before its workspace goes: no reports of its removal */
	sess_run_abort_all(s); /* before the worker goes: no exit report will come */
	sess_terms_close_all(s);
	sess_jobs_forget(s); /* their records go with the session; the memory with its last reference */
	if (s->worker) {
		struct sess_worker *w = s->worker;
		s->worker = NULL;
		sess_worker_free(w);
	}
	if (s->wsfd >= 0) {
		close(s->wsfd);
		s->wsfd = -1;
	}
	/* gone from its place at once; removed in the background, in its owner's turn */
	trash_workspace(reg, s->id, s->workspace, s->overlay_lower != NULL, s->owner, s->disk_bytes, s->disk_entries);
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
		if (s->implicit || s->running || !ttl || s->state == SESS_STOPPED)
			continue; /* a stopped session costs only disk: it stays until destroyed */
		if (now - s->last_active >= ttl) {
			log_info("session %s: idle for %llus, destroying", s->id,
				 (unsigned long long)(now - s->last_active) / 1000);
			sess_destroy(s);
		}
	}
}

int sess_registry_new(struct sess_registry **out, uv_loop_t *loop, struct sess_zygote *z,
		      const struct srv_config *cfg, const char *pool_dir, struct err **errp)
{
	struct sess_registry *reg = xcalloc(1, sizeof(*reg));
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s/workspaces", cfg->data_dir);
	reg->ws_root = buf_detach(&b);
	reg->pool_root = xstrdup(pool_dir ? pool_dir : reg->ws_root);
	/* 0711: sandboxes (another uid when we are root) may traverse it to
	 * reach their own workspace but cannot list the others. */
	if (mkdir(reg->ws_root, 0711) < 0 && errno != EEXIST) {
		err_set(errp, errno, "mkdir %s", reg->ws_root);
		free(reg->ws_root);
		free(reg->pool_root);
		free(reg);
		return -1;
	}
	chmod(reg->ws_root, 0711);
	sess_btrfs_init(reg->ws_root);
	reg->loop = loop;
	reg->zygote = z;
	reg->cfg = cfg;
	if (cfg->cpu_millis.def && !sess_zygote_host(z)->cgroup_cpu)
		log_warn("limits.cpus: no usable cpu cgroup controller here, so sessions get no CPU cap by default");
	if (cfg->quota.cpu_millis && !sess_zygote_host(z)->cgroup_cpu)
		log_warn("quota.cpus: no usable cpu cgroup controller here, so no key's sessions are capped together");
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
	uv_check_init(loop, &reg->fill_check);
	reg->fill_check.data = reg;
	*out = reg;
	return 0;
}

static void free_after_close(uv_handle_t *h)
{
	struct sess_registry *reg = h->data;
	if (--reg->open_handles)
		return;
	free(reg->ws_root);
	free(reg->pool_root);
	free(reg);
}

void sess_registry_free(struct sess_registry *reg)
{
	reg->shutting_down = true;
	while (reg->head) {
		struct sess_session *s = reg->head;
		if (s->implicit || !reg->persist.save) {
			sess_destroy(s); /* it dies with its connection, or nothing would remember it */
			continue;
		}
		/* an explicit session outlives the server: stopped, workspace and record kept */
		if (s->state != SESS_STOPPED && s->state != SESS_FAILED) {
			auto_err struct err *err = NULL;
			sess_jobs_lose(s);
			if (s->state == SESS_CREATING || sess_stop(s, &err) < 0)
				sess_set_state(s, SESS_FAILED, NULL);
		}
		if (s->worker) {
			sess_worker_free(s->worker);
			s->worker = NULL;
		}
		unlink_session(reg, s);
		sess_watch_session_gone(s);
		if (s->wsfd >= 0) {
			close(s->wsfd);
			s->wsfd = -1;
		}
		/* no mount outlives the server: sess_adopt puts the overlay back */
		if (s->overlay_lower && umount2(s->workspace, MNT_DETACH) < 0 && errno != EINVAL)
			log_warn("session %s: cannot detach its overlay: %s", s->id, strerror(errno));
		s->state = SESS_DELETED; /* in memory only: the record stays as saved */
		run_waiters(s);
		sess_put(s);
	}
	while (reg->pool) {
		struct pool_entry *e = reg->pool;
		reg->pool = e->next;
		pool_entry_drop(reg, e);
	}
	sess_snap_forget_all(reg);
	/* creations still in flight clean up after themselves */
	reg->pending_alive[0] = 0;
	if (reg->pending_alive[1] == 0)
		free(reg->pending_alive);
	reg->open_handles = 2;
	uv_close((uv_handle_t *)&reg->ttl_timer, free_after_close);
	uv_close((uv_handle_t *)&reg->fill_check, free_after_close);
}
