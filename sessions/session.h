/**
 * session.h — the session registry: who owns which sandbox, its limits,
 * workspace and lifetime, and the warm pool of ready sandboxes.
 *
 * A session is created at once in state CREATING and becomes RUNNING when its
 * worker is ready (immediately when the warm pool had one). Callers that need
 * a running session wait with sess_when_ready().
 *
 * Ownership: the registry owns every session. Code that keeps a session
 * across loop iterations (an execution in flight) holds a reference with
 * sess_hold()/sess_put(); sess_destroy() removes the session from the
 * registry at once (so no new caller finds it), kills its sandbox and deletes
 * its workspace, and the memory goes when the last reference is put.
 *
 * Visibility: sess_find() only returns a session to its owner (or to an admin
 * when owner is NULL); everyone else gets NULL, exactly as for an unknown id.
 * Loop thread only.
 */
#ifndef MCPBOX_SESS_SESSION_H
#define MCPBOX_SESS_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/queue.h>
#include <uv.h>

#include "../server/base/buf.h"
#include "../server/base/config.h"
#include "../server/base/err.h"
#include "../server/base/rights.h"
#include "sandbox.h"

/*
 * The life of a session (checked in one place, sess_set_state):
 *
 *   creating ──▶ running ──▶ stopping ──▶ stopped ──▶ (creating: session_start)
 *      │            │                        │
 *      └──▶ failed ◀┘ (sandbox died)         │
 *   any state ──────────────────────────────────────▶ deleted
 */
enum sess_state {
	SESS_CREATING,
	SESS_RUNNING,
	SESS_STOPPING,
	SESS_STOPPED,
	SESS_FAILED,
	SESS_DELETED,
};

/** The least a directory entry counts for in a workspace's measured disk use (quota.c): a quota
    in bytes bounds the entries (inodes) too, and an empty file is not free. */
#define SESS_DISK_ENTRY_BYTES 4096u

/** Why a disk scan kills a session's running executions (quota.h, run.h). */
enum sess_over {
	SESS_OVER_KEY_DISK,	/* its key's workspaces take more than quota.disk */
	SESS_OVER_KEY_ENTRIES,	/* ... hold more entries than quota.inodes */
	SESS_OVER_SESSION_DISK,	/* its own workspace takes more than its disk limit (disk_mb) */
};

struct sess_registry;
struct sess_snap;

struct sess_session {
	char *id;
	char *owner;		/* principal that created it */
	bool implicit;		/* created for a connection; dies with it */
	char *name;		/* may be NULL */
	json_t *labels;		/* object of strings */
	json_t *env;		/* object of strings, added to every execution */
	bool network;
	struct sess_limits limits;
	uint64_t timeout_s;	/* default wall-clock timeout per execution */
	uint64_t created_at;	/* wall clock, ms */
	uint64_t last_active;	/* wall clock, ms */
	enum sess_state state;
	struct err *failure;	/* why it is FAILED */
	struct sess_worker *worker;
	char *workspace;	/* host path */
	char *source_snapshot;	/* snapshot it was created from, or NULL */
	char *overlay_lower;	/* commit of the tree its workspace overlays, or NULL */
	uint64_t started_at;	/* wall clock, ms: last start */
	uint64_t stopped_at;	/* wall clock, ms: last stop */
	uint64_t persisted_active; /* last_active as last saved */
	int wsfd;		/* O_DIRECTORY fd of the workspace, for openat2 */
	uint64_t executions;
	uint64_t cpu_ms;
	unsigned running;	/* executions in flight */
	uint64_t disk_bytes;	/* space its workspace takes, as last measured (quota.c): each entry at least
				   SESS_DISK_ENTRY_BYTES */
	uint64_t disk_hidden;	/* of it, bytes in files the measure cannot see (unnamed uploads) */
	uint64_t disk_entries;	/* files, directories, links... in its workspace, as last measured */
	uint64_t disk_limit;	/* the most its workspace may take (session_create {disk_mb}); 0: none */
	bool disk_dirty;	/* written since (an execution ended, a file written): measure it soon */
	bool disk_unmeasured;	/* the last walk could not see all of it (too deep, too many entries): over quota */
	char *last_snapshot;	/* commit of the newest snapshot taken of it (parent of the next) */
	bool snap_busy;		/* a snapshot or restore of its workspace is running */
	struct sess_run *runs;	/* those executions (run.c keeps the list) */
	struct sess_run *spare;	/* a program started ahead (run.h: prestarting) */
	uint64_t spare_shape;	/* the kind of the last start, and how often it repeated */
	unsigned spare_repeats;
	uint64_t last_end_ns;	/* when the last run finished (monotonic), 0: none yet */
	LIST_HEAD(, sess_job) jobs;	/* its background jobs, newest first (job.c keeps the list) */
	struct sess_ring *log;	/* every execution's output, bounded (run.c; made on first output) */
	LIST_HEAD(, sess_term) terms;	/* its terminals, newest first (term.c keeps the list) */
	LIST_HEAD(, sess_term) terms_closed;	/* closed ones whose program's end is not reported yet (term.c) */

	/* private to session.c */
	unsigned refs;
	struct sess_registry *reg;
	struct sess_waiter *waiters;
	struct sess_session *next, *prev;
};

/**
 * Persistence: the registry reports every change of a session so that the
 * server can keep its record (the store lives above sessions/). Optional.
 */
struct sess_persist {
	void (*save)(void *arg, const struct sess_session *s);
	/* an audit event: who did what to which object */
	void (*audit)(void *arg, const char *principal, const char *action, const char *object, const char *detail);
	/* a snapshot record changed (deleted: it is gone) */
	void (*snapshot)(void *arg, const struct sess_snap *sn, bool deleted);
	/* a finished execution: summary (JSON object, borrowed) and its output */
	void (*execution)(void *arg, const struct sess_session *s, const char *exec_id, json_t *summary,
			  const struct buf *out, const struct buf *err);
	/* a job started, ended (output: its ring) or is forgotten (gone: pushed out, or its session destroyed) */
	void (*job)(void *arg, const struct sess_job *j, bool gone);
	void *arg;
};

/** Report a finished execution through the persistence hook (no-op without one). */
void sess_record_execution(struct sess_session *s, const char *exec_id, json_t *summary, const struct buf *out,
			   const struct buf *err);

/** A stored session, to bring back at start-up (all strings borrowed). */
struct sess_saved {
	const char *id, *owner, *name, *workspace, *source_snapshot, *overlay_lower;
	json_t *labels, *env;		/* borrowed */
	bool network, implicit;
	struct sess_limits limits;
	uint64_t disk_limit;
	uint64_t timeout_s;
	uint64_t created_at, last_active, started_at, stopped_at;
};

/** What session_create may ask for; negative numbers mean "the default". */
struct sess_request {
	bool network;
	int64_t memory_mb;
	double cpus;		/* CPU cap in CPUs (fractions allowed); 0: the config's default */
	int64_t timeout_s;
	int64_t disk_mb;	/* workspace limit; < 0: the config's default (limits.disk), 0: none */
	const char *name;
	json_t *labels;		/* borrowed */
	json_t *env;		/* borrowed */
	/* Start as an overlay on this materialized snapshot tree (root only; the
	 * cost does not grow with the tree) and remember lower_commit. */
	const char *lower;
	const char *lower_commit;
};

/**
 * pool_dir: where warm-pool sandboxes get their workspaces until a session
 * takes one and it moves to DATA/workspaces/<id> (the process's instance
 * directory, sessions/instance.h, so that nobody else mistakes them for
 * leftovers); NULL: DATA/workspaces itself.
 */
int sess_registry_new(struct sess_registry **out, uv_loop_t *loop, struct sess_zygote *z,
		      const struct srv_config *cfg, const char *pool_dir, struct err **errp);
/** Destroy every session and the pool; free the registry. */
void sess_registry_free(struct sess_registry *reg);
const struct srv_config *sess_registry_config(const struct sess_registry *reg);
const struct sess_host_info *sess_registry_host(const struct sess_registry *reg);
/** The zygote the registry makes sandboxes with (for what it can tell of every sandbox: sandbox.h). */
const struct sess_zygote *sess_registry_zygote(const struct sess_registry *reg);
/** Where the materialized tree of snapshot commit lives (malloc'd): DATA/snapshots/trees/<commit>. */
char *sess_tree_path(const struct sess_registry *reg, const char *commit);

/** The registry's snapshot catalog (sessions/catalog.c). */
struct sess_snap **sess_registry_snaps(struct sess_registry *reg);
const struct sess_persist *sess_registry_persist(const struct sess_registry *reg);

/** Fill the warm pool: the requests go to the zygote after this loop turn. */
void sess_pool_fill(struct sess_registry *reg);

/**
 * What the warm pool tells a module that starts programs ahead in its
 * sandboxes (kernel/: a Jupyter kernel). ready: a sandbox joined the pool
 * (its worker, the default limits it was made with); taken: session s took
 * a pool sandbox (s->worker is that worker, s is RUNNING); dropped: a pool
 * sandbox is about to be freed without a session (w is still valid during
 * the call). Loop thread; NULL hooks stop the calls.
 */
struct sess_pool_hooks {
	void (*ready)(void *arg, struct sess_worker *w, const struct sess_limits *lim);
	void (*taken)(void *arg, struct sess_session *s);
	void (*dropped)(void *arg, struct sess_worker *w);
	void *arg;
};
void sess_pool_set_hooks(struct sess_registry *reg, const struct sess_pool_hooks *h);

/**
 * fn is called when a session is created or destroyed, so the set that
 * sess_foreach visits changed (MCP resources' list_changed). One hook; NULL
 * clears it. Loop thread.
 */
void sess_set_list_hook(struct sess_registry *reg, void (*fn)(void *arg, const struct sess_session *s), void *arg);
void sess_registry_set_persist(struct sess_registry *reg, const struct sess_persist *p);
/** Report an audit event through the persistence hook (no-op without one). */
void sess_audit(struct sess_registry *reg, const char *principal, const char *action, const char *object,
		const char *detail);

/**
 * Bring back a session stored by an earlier run as STOPPED (its workspace
 * kept; session_start gives it a new sandbox). Fails if the workspace is gone.
 */
int sess_adopt(struct sess_registry *reg, const struct sess_saved *saved, struct err **errp);

/** Move s to state to; an invalid transition is an error naming both states. */
int sess_set_state(struct sess_session *s, enum sess_state to, struct err **errp);
/** End the sandbox, keep the workspace and the record: running → stopped. */
int sess_stop(struct sess_session *s, struct err **errp);
/** A new sandbox on the kept workspace: stopped/failed → creating → running (wait with sess_when_ready). */
int sess_start(struct sess_session *s, struct err **errp);

/*
 * A session's environment in all (each variable's name and value, plus 2): it is stored in the
 * session's record, rewritten at every save, and sent with every program's start, which carries at
 * most SESS_PROTO_MAX_MSG (256 KiB) of arguments and environment: a larger one could start nothing.
 * Half of it leaves room for the call's own env and arguments.
 */
#define SESS_ENV_BYTES_MAX ((size_t)128 << 10)

/**
 * Change s's memory limit (memory_mb > 0; else kept), CPU cap (cpus > 0; else
 * kept), disk limit (disk_mb > 0; else kept: quota.h enforces it), environment and labels (env's and labels' entries over its own;
 * NULL: kept; both checked by the caller, the environment's whole size here:
 * SESS_ENV_BYTES_MAX, ERR_INVALID). Checked
 * as at creation (the config's maxima, a cpu controller, the owner's memory
 * quota); a running sandbox's cgroups get the limits at once (without
 * cgroups, programs started from now on get them as rlimits). Its /tmp and
 * /dev/shm keep the size they were made with.
 */
int sess_update(struct sess_session *s, int64_t memory_mb, double cpus, int64_t disk_mb, json_t *env, json_t *labels,
		struct err **errp);

/** Create a session for owner; checks the request against the config's maxima (and SESS_ENV_BYTES_MAX). */
int sess_create(struct sess_registry *reg, const char *owner, bool implicit,
		const struct sess_request *rq, struct sess_session **out, struct err **errp);

typedef void (*sess_ready_cb)(void *arg, struct sess_session *s, struct err *err);
/**
 * Call cb once s is RUNNING (now, if it is), or with an error if it failed or
 * was destroyed first (the callee owns err). s is held for the callback.
 */
void sess_when_ready(struct sess_session *s, sess_ready_cb cb, void *arg);

/**
 * Principals are opaque strings made by the server (server/base/rights.h:
 * stdio's "local", a login's "user:NAME", a key's id, or OWNER "#" key id
 * for a key acting for OWNER). What a session records as its owner is the
 * owner part; administrators ("admin:", or a key of an owner flagged so)
 * see every session and snapshot. No client can choose its principal string.
 */
static inline bool sess_principal_admin(const char *principal)
{
	return srv_principal_is_admin(principal);
}

/** A key made with --no-network: its sessions may not have network. */
static inline bool sess_principal_no_network(const char *principal)
{
	return srv_principal_is_no_network(principal);
}

/** May principal (NULL: anyone) see a thing owned by owner? */
static inline bool sess_principal_sees(const char *principal, const char *owner)
{
	return !principal || sess_principal_admin(principal) || srv_principal_owned_by(principal, owner);
}

/** The owner part of principal, as a new string (what a session or snapshot records). */
char *sess_principal_owner(const char *principal);

/**
 * Where the rights of a key's principal come from (server/auth.c's
 * srv_auth_rights, set once at start-up): 1 with *out, 0 when the key is
 * revoked, expired or unknown. Without a hook every principal holds all.
 */
void sess_set_rights_hook(int (*fn)(const char *principal, struct srv_rights *out));
/**
 * Where grants on other principals' sessions come from (server/grants.c's
 * srv_grants_level, set once at start-up): the level an administrator
 * granted principal's user on session sid, SRV_LEVEL_NONE for none. A
 * session shared so is found and walked for principal like its own (scoped
 * keys still only see their grants); tools/registry.c caps each call's level
 * at the grant. Without a hook nothing is shared.
 */
void sess_set_share_hook(enum srv_level (*fn)(const char *principal, const char *sid));
/** The level granted to principal on session sid (SRV_LEVEL_NONE: none, or principal NULL). */
enum srv_level sess_principal_shared(const char *principal, const char *sid);
/** May principal see session s: its owner's, an administrator's, or shared with it (scope aside)? */
bool sess_principal_reaches(const char *principal, const struct sess_session *s);
/**
 * The rights of principal (NULL: the server itself, everything). 0 when its
 * key no longer counts: it then sees no session.
 */
int sess_principal_rights(const char *principal, struct srv_rights *out);
/**
 * May principal reach session sid at level (and hold caps)? Visibility,
 * rights and scope in one (vnc, proxy: what a token may be minted for).
 */
bool sess_principal_may(const char *principal, const char *sid, unsigned caps, enum srv_level level);
/*
 * What a principal's key limits it to, looked up once per find or walk (each
 * lookup asks the key store): no key, or an unscoped one, limits nothing
 * beyond ownership.
 */
struct sess_scope {
	bool none;			/* a key that no longer counts: nothing is in scope */
	bool scoped;			/* limited to r's grants */
	struct srv_rights r;
};
void sess_scope_of(const char *principal, struct sess_scope *sc);
/** Is session sid within scope sc? */
bool sess_scope_has(const struct sess_scope *sc, const char *sid);
/** Is session sid within what principal's key is limited to (always, for a principal without a scoped key)? */
bool sess_principal_in_scope(const char *principal, const char *sid);

/**
 * The session id, if owner may see it (owner NULL or an administrator: any
 * owner; a key limited to some sessions (base/rights.h): only those; a
 * revoked or expired key: none).
 */
struct sess_session *sess_find(struct sess_registry *reg, const char *id, const char *owner);
/** Visit the sessions owner may see, oldest first. */
void sess_foreach(struct sess_registry *reg, const char *owner,
		  void (*fn)(void *arg, struct sess_session *s), void *arg);
size_t sess_count(const struct sess_registry *reg);

void sess_hold(struct sess_session *s);
void sess_put(struct sess_session *s);
void sess_touch(struct sess_session *s);
/**
 * Kill the sandbox, forget the session and throw its workspace away: moved
 * into the trash at once (its id is free), removed in the background in its
 * owner's turn (trash.h).
 */
void sess_destroy(struct sess_session *s);
const char *sess_state_name(enum sess_state st);

#endif
