/**
 * store.h — the server's persistent store: API keys, users, records of sessions and the rest.
 *
 * The interface speaks in rows and operations, never in SQL, so that another
 * backend (PostgreSQL for a shared deployment) can stand in for this SQLite
 * one behind the same functions. Everything SQLite-specific (pragmas, the
 * migration list, prepared statements) stays inside store.c.
 *
 * The SQLite backend keeps DATA/mcpbox.db in WAL mode, so one server and
 * short-lived CLI processes (`mcpbox key revoke`) can use it at the same
 * time; a writer waits up to 5 s for another one before failing.
 *
 * Schema changes are numbered migrations applied on open, each in its own
 * transaction. A database written by a newer mcpbox (more migrations than
 * this binary knows) is refused rather than misread.
 *
 * Threads: a store holds one connection and its cached statements; call it
 * from one thread only (the server's loop thread, or the CLI's main thread).
 * Errors: every function that can fail returns -1 and sets *errp; database
 * messages are carried in err_text(err) (errnum 0 unless a system call failed).
 */
#ifndef MCPBOX_SRV_STORE_H
#define MCPBOX_SRV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/rights.h"

#define SRV_KEY_HASH_LEN 32	/* SHA-256 */

struct srv_store;

/** One API key as stored: never the secret itself, only its hash. */
struct srv_key_row {
	char id[32];			/* "key_" + 12 hex */
	char name[128];			/* label chosen by the operator */
	unsigned char hash[SRV_KEY_HASH_LEN];
	bool admin;
	bool no_network;		/* may not ask for sessions with network */
	int64_t created_at;		/* epoch ms */
	int64_t revoked_at;		/* epoch ms; 0: active */
	int64_t last_used_at;		/* epoch ms; 0: never used */
	/* since schema 7 (rights.h); keys made before hold all capabilities, own themselves, never expire */
	char description[256];
	char owner[SRV_PRINCIPAL_MAX];	/* principal the key acts for; "": itself */
	char created_by[SRV_PRINCIPAL_MAX];	/* principal that made it; "": the CLI */
	int64_t expires_at;		/* epoch ms; 0: never */
	unsigned caps;			/* SRV_CAP_* */
	char grants[SRV_GRANTS_MAX * (SRV_GRANT_SID_MAX + 8)];	/* "SID:LEVEL,..."; "": unscoped */
};

/**
 * Open (creating if needed) the store in data_dir, which is created (one
 * level, mode 0700) when missing. Applies pending migrations. Fails when the
 * database cannot be opened, a migration fails, or the database is newer
 * than this binary. On success *out is a store the caller frees with
 * srv_store_close().
 */
int srv_store_open(struct srv_store **out, const char *data_dir, struct err **errp);
/** Finish cached statements and close the connection. NULL is fine. */
void srv_store_close(struct srv_store *st);

/** The schema version this binary migrates to (number of migrations). */
int srv_store_schema_version(void);

/**
 * A number that changes whenever keys may have been added or revoked, by this
 * store or by any other process using the same database. Cheap enough to call
 * on every request (SQLite: `PRAGMA data_version`, no disk access). Updates
 * of last_used_at made through this store do not change it.
 */
int srv_store_generation(struct srv_store *st, uint64_t *gen, struct err **errp);

/**
 * Insert a key. With only_if_no_active, the insert happens only when no
 * active (unrevoked) key exists, atomically with that check.
 * Returns 1 inserted, 0 not inserted (only_if_no_active and an active key
 * exists), -1 error (including a duplicate id or hash).
 */
int srv_store_key_insert(struct srv_store *st, const struct srv_key_row *row, bool only_if_no_active,
			 struct err **errp);
/** Look a key up by hash: 1 found (*row filled), 0 none, -1 error. */
int srv_store_key_find_hash(struct srv_store *st, const unsigned char hash[SRV_KEY_HASH_LEN],
			    struct srv_key_row *row, struct err **errp);
/** Look a key up by id: 1 found (*row filled), 0 none, -1 error. */
int srv_store_key_find_id(struct srv_store *st, const char *id, struct srv_key_row *row, struct err **errp);
/**
 * All keys, oldest first. *rows is a malloc'd array the caller frees (NULL
 * when *n is 0). Written only on success.
 */
int srv_store_key_list(struct srv_store *st, struct srv_key_row **rows, size_t *n, struct err **errp);
/** Count keys (active_only: unrevoked ones). Returns the count or -1. */
int srv_store_key_count(struct srv_store *st, bool active_only, struct err **errp);
/** Count the keys owned by owner (made by it or by its keys), revoked and expired ones too. The count or -1. */
int srv_store_key_count_owner(struct srv_store *st, const char *owner, struct err **errp);
/** Delete owner's keys that are revoked or expired at now_ms (they grant nothing). How many, or -1. */
int srv_store_key_prune_owner(struct srv_store *st, const char *owner, int64_t now_ms, struct err **errp);
/**
 * Mark key id revoked at at_ms. Returns 1 revoked now, 0 no active key has
 * that id (unknown or already revoked), -1 error.
 */
int srv_store_key_revoke(struct srv_store *st, const char *id, int64_t at_ms, struct err **errp);
/** Record that key id was used at at_ms. 0 or -1. */
int srv_store_key_touch(struct srv_store *st, const char *id, int64_t at_ms, struct err **errp);

/** A user who logs in with a password (server/users.h). */
struct srv_user_row {
	char name[64];
	char hash[128];			/* argon2id string (crypto_pwhash_str) */
	char role[16];			/* user, admin, super_admin */
	int64_t created_at;		/* epoch ms */
	int64_t disabled_at;		/* epoch ms; 0: enabled */
	int64_t tokens_after;		/* epoch s: tokens issued earlier are refused (the second after a change) */
};

/** Add a user: 1 added, 0 the name exists, -1 error. */
int srv_store_user_insert(struct srv_store *st, const struct srv_user_row *row, struct err **errp);
/** Look a user up: 1 found (*row filled), 0 none, -1 error. */
int srv_store_user_get(struct srv_store *st, const char *name, struct srv_user_row *row, struct err **errp);
/** All users, oldest first; *rows malloc'd (NULL when *n is 0), written only on success. */
int srv_store_user_list(struct srv_store *st, struct srv_user_row **rows, size_t *n, struct err **errp);
/** Replace a user's password hash and refuse tokens older than tokens_after: 1 done, 0 no such user, -1. */
int srv_store_user_passwd(struct srv_store *st, const char *name, const char *hash, int64_t tokens_after,
			  struct err **errp);
/** Disable a user at at_ms (its tokens stop working): 1 done, 0 no enabled user of that name, -1. */
int srv_store_user_disable(struct srv_store *st, const char *name, int64_t at_ms, struct err **errp);
/**
 * Enable a disabled user (tokens from before the disable stay refused): 1 done, 0 no disabled user of
 * that name, -1.
 */
int srv_store_user_enable(struct srv_store *st, const char *name, struct err **errp);
/** Give a user another role: 1 done, 0 no such user or the role is already that, -1. */
int srv_store_user_role(struct srv_store *st, const char *name, const char *role, struct err **errp);

/**
 * Revoke a login token of user (by SHA-256 of the whole token) until
 * expires_at (epoch s), and forget revocations of tokens expired before now:
 * 1 revoked now (the generation moves), 0 it already was, 2 user already has
 * max_per_user revocations kept (0: no bound) and nothing was stored (end
 * the user's tokens instead: srv_store_user_cut_tokens), -1 error.
 */
int srv_store_token_revoke(struct srv_store *st, const unsigned char hash[SRV_KEY_HASH_LEN], const char *user,
			   int64_t expires_at, int64_t now, unsigned max_per_user, struct err **errp);
/** Refuse every token of user issued up to now (epoch s), as a password change does: 1 done, 0 no such user, -1. */
int srv_store_user_cut_tokens(struct srv_store *st, const char *name, int64_t now, struct err **errp);
/** Was the token of this hash revoked (and not yet pruned)? 1, 0, -1 error. */
int srv_store_token_revoked(struct srv_store *st, const unsigned char hash[SRV_KEY_HASH_LEN], struct err **errp);

/**
 * A stored record of a session, execution or snapshot: the columns queries
 * filter on, and the rest as a JSON document (doc). Strings are borrowed.
 */
struct srv_record {
	const char *id;
	const char *owner;
	const char *status;		/* sessions, executions */
	const char *session_id;		/* executions, snapshots */
	int flag;			/* sessions: implicit */
	int64_t created_at;		/* epoch ms */
	int64_t updated_at;
	int64_t deleted_at;		/* snapshots: 0 = live */
	const char *doc;		/* JSON object */
};

/** Group the writes that follow into one transaction (one commit, one WAL append). */
int srv_store_begin(struct srv_store *st, struct err **errp);
int srv_store_commit(struct srv_store *st, struct err **errp);

/** Insert or update a session record. */
int srv_store_session_put(struct srv_store *st, const struct srv_record *r, struct err **errp);
/** Every session record not deleted, oldest first. */
int srv_store_session_list(struct srv_store *st, void (*fn)(void *arg, const struct srv_record *r), void *arg,
			   struct err **errp);
/** Record a finished execution. */
int srv_store_execution_put(struct srv_store *st, const struct srv_record *r, struct err **errp);
/** Forget all but the newest keep executions; fn hears each id dropped (to delete its output files). */
int srv_store_execution_prune(struct srv_store *st, unsigned keep, void (*fn)(void *arg, const char *id),
			      void *arg, struct err **errp);
/** Insert or update a snapshot record (deleted_at set: deleted). */
/** Background jobs: insert or update (status, updated_at, doc); forget one; a session's, oldest first (flag 0). */
int srv_store_job_put(struct srv_store *st, const struct srv_record *r, struct err **errp);
int srv_store_job_delete(struct srv_store *st, const char *id, struct err **errp);
int srv_store_job_list(struct srv_store *st, const char *session_id,
		       void (*fn)(void *arg, const struct srv_record *r), void *arg, struct err **errp);
int srv_store_snapshot_put(struct srv_store *st, const struct srv_record *r, struct err **errp);
/** Every live snapshot record, oldest first. */
int srv_store_snapshot_list(struct srv_store *st, void (*fn)(void *arg, const struct srv_record *r), void *arg,
			    struct err **errp);
/** Append to the audit trail: who did what to which object (kept under principal's owner, before its "#"). */
int srv_store_audit(struct srv_store *st, int64_t at, const char *principal, const char *action,
		    const char *object, const char *detail, struct err **errp);
/**
 * Forget all but the newest keep audit rows of owner (a principal's owner
 * part: "user:alice" for "user:alice#key_x"), or of everyone when owner is
 * NULL. Costs a walk of keep index entries. The rows deleted, or -1.
 */
int srv_store_audit_prune(struct srv_store *st, const char *owner, unsigned keep, struct err **errp);
/**
 * Forget the records of deleted sessions and of deleted snapshots but the
 * keep most recently deleted of each (live ones stay). The rows deleted, or -1.
 */
int srv_store_deleted_prune(struct srv_store *st, unsigned keep, struct err **errp);

/**
 * Session templates made by tool: id is the name, owner the principal ("" for
 * everyone's), doc the settings (JSON). Put replaces one of the same owner and name.
 */
int srv_store_template_put(struct srv_store *st, const struct srv_record *r, struct err **errp);
int srv_store_template_delete(struct srv_store *st, const char *owner, const char *name, struct err **errp);
/** Every stored template, oldest first (r->id: name, r->owner, r->created_at, r->doc). */
int srv_store_template_list(struct srv_store *st, void (*fn)(void *arg, const struct srv_record *r), void *arg,
			    struct err **errp);

/**
 * Alerts (server/alerts.h): the columns listings filter on, the rest a JSON
 * document. Strings are borrowed.
 */
struct srv_alert_row {
	const char *id;
	const char *rule;
	const char *severity;		/* info, warning, critical, emergency */
	const char *status;		/* active, acknowledged, resolved */
	int64_t triggered_at;		/* epoch ms */
	int64_t updated_at;
	const char *doc;		/* JSON object */
};
/** Insert or update (status, updated_at, doc) an alert. */
int srv_store_alert_put(struct srv_store *st, const struct srv_alert_row *r, struct err **errp);
/** Alerts newest first, at most limit, filtered by status, severity and id (each NULL: any). */
int srv_store_alert_list(struct srv_store *st, const char *status, const char *severity, const char *id,
			 unsigned limit, void (*fn)(void *arg, const struct srv_alert_row *r), void *arg,
			 struct err **errp);
/** How many alerts are kept, by status and severity: fn once per pair that has any. */
int srv_store_alert_counts(struct srv_store *st, void (*fn)(void *arg, const char *status, const char *severity,
							     uint64_t n),
			   void *arg, struct err **errp);
/** Forget all but the keep most recently resolved alerts (open ones stay). */
int srv_store_alert_prune(struct srv_store *st, unsigned keep, struct err **errp);

/**
 * What a REST dialect keeps beyond the sessions (server/rest/rest.h's
 * objects): one document per (dialect, id) with r->owner, r->created_at,
 * r->doc. Put replaces; list is oldest first.
 */
int srv_store_rest_put(struct srv_store *st, const char *dialect, const struct srv_record *r, struct err **errp);
int srv_store_rest_delete(struct srv_store *st, const char *dialect, const char *id, struct err **errp);
int srv_store_rest_list(struct srv_store *st, const char *dialect, void (*fn)(void *arg, const struct srv_record *r),
			void *arg, struct err **errp);
/** Forget every dialect's object whose id is id (a session that was deleted). */
int srv_store_rest_forget(struct srv_store *st, const char *id, struct err **errp);
/**
 * Users' grants on sessions (server/grants.h): put adds or replaces the grant
 * of (r->owner: the user, r->session_id) with r->id, r->created_at (when
 * granted) and r->doc ({level, granted_by}); a replaced grant keeps its id.
 * list gives them oldest first, as put (records with session_id).
 */
int srv_store_grant_put(struct srv_store *st, const struct srv_record *r, struct err **errp);
int srv_store_grant_delete(struct srv_store *st, const char *user, const char *session_id, struct err **errp);
int srv_store_grant_list(struct srv_store *st, void (*fn)(void *arg, const struct srv_record *r), void *arg,
			 struct err **errp);

#endif
