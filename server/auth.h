/**
 * auth.h — API keys for the network transports, and the `mcpbox key` CLI.
 *
 * A key is "mcpbox_" followed by the unpadded base64url encoding of 32
 * random bytes (50 characters in all). It is shown once, when created; the
 * store keeps only the SHA-256 of the full key string, an id ("key_" + 12
 * hex, safe to show and log), a name, a description and its rights.
 *
 * The rights model (base/rights.h, docs/security.md):
 * - A key is a credential OF a principal, its owner: a key made by user
 *   alice ("user:alice") acts on alice's sessions, and the principal string
 *   its requests carry is "user:alice#key_ID" (owner, then the key). Keys
 *   made by the CLI (`mcpbox key create`) own themselves ("key_ID",
 *   "admin:key_ID"), as before. A key made by a key belongs to that key's
 *   owner.
 * - It holds capabilities {execute, sandbox_read, sandbox_write}, by default
 *   all its creator holds; optionally per-session grants (viewer, editor,
 *   owner; 003's read, write, admin), which confine it to those sessions at
 *   most at those levels (a scoped key cannot create sessions); an optional
 *   expiry after which it is refused; last_used_at (recorded at most once a
 *   minute).
 * - A key of a user works while the user is enabled and keeps the role it
 *   had when the key was made (a disabled or demoted user's keys stop).
 * - It never holds more than its creator: srv_rights_derive() refuses
 *   (ERR_DENIED, naming what) an admin key from a non-administrator, a
 *   capability, session or level the creator lacks, a longer life than the
 *   creator's. The CLI is the operator and may make any key.
 * - Enforcement: every tool call checks the rights of its principal
 *   (srv_auth_rights, tools/registry.c), whatever transport it came by.
 *
 * Verification (srv_auth_verify) is meant to run on every request: it
 * answers from an in-memory cache of the keys already seen, and asks the
 * store on every call whether anything changed since (a revocation by
 * another process such as `mcpbox key revoke`), flushing the cache if so.
 *
 * Threads: everything here uses a struct srv_store, so it runs on the thread
 * that owns that store (the server's loop thread).
 */
#ifndef MCPBOX_SRV_AUTH_H
#define MCPBOX_SRV_AUTH_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"
#include "base/rights.h"
#include "store.h"

struct srv_auth;

/** Who a valid key belongs to, and what it may do. */
struct srv_principal {
	char id[32];		/* the key id, "key_..." */
	char name[128];
	bool admin;		/* rights.admin */
	bool no_network;	/* rights.no_network: may not ask for sessions with network */
	char owner[SRV_PRINCIPAL_MAX];	/* the principal it acts for; "": itself (a CLI key) */
	struct srv_rights rights;
};

/** The principal string of a verified key (see the top of this file), into out (cap bytes). 0, or -1 if too long. */
int srv_principal_format(const struct srv_principal *p, char *out, size_t cap);

/** Longest key name and description accepted, in bytes. */
#define SRV_KEY_NAME_MAX 127
#define SRV_KEY_DESCRIPTION_MAX 255

/** Flags of a new key. */
#define SRV_KEY_ADMIN 1u		/* sees and uses every principal's sessions */
#define SRV_KEY_NO_NETWORK 2u		/* may not ask for sessions with network */

/** What a new key is to be. Strings are borrowed. */
struct srv_key_spec {
	const char *name;		/* NULL or "": "unnamed" */
	const char *description;	/* NULL: "" */
	bool caps_set;			/* rights.caps was asked; otherwise the creator's */
	struct srv_rights rights;	/* admin, no_network, caps, expires_at (epoch ms), grants asked */
};

/** A key just made: the secret (shown once; free with srv_auth_key_free) and its listing entry. */
struct srv_key_made {
	char *key;
	char id[32];
	json_t *info;			/* as one element of srv_auth_key_list (owned) */
};
void srv_key_made_release(struct srv_key_made *m);

/**
 * At most keys_max keys (0: no bound) per owner made by anyone but the
 * operator and administrators: a key's keys, and theirs, count against the
 * key's owner, whose revoked and expired keys are deleted when it is full.
 * Loop thread, before any key is made.
 */
void srv_auth_set_key_quota(struct srv_auth *a, uint64_t keys_max);

/**
 * Make a key as principal (a string authenticate made; NULL: the operator,
 * who may make any key, owned by itself). The key belongs to principal's
 * owner and gets rights derived from principal's (srv_rights_derive; reach
 * tells the level at which principal reaches a session, NULL: do not check). Fails
 * ERR_DENIED when spec asks more than principal holds or principal's key was
 * revoked, ERR_INVALID for a bad name, description, grant or expiry, ERR_LIMIT past
 * the owner's quota of keys (srv_auth_set_key_quota).
 */
int srv_auth_key_make(struct srv_auth *a, const char *principal, const struct srv_key_spec *spec,
		      enum srv_level (*reach)(void *arg, const char *sid), void *arg, struct srv_key_made *out,
		      struct err **errp);

/**
 * The keys principal may see (NULL or an administrator: all), oldest first,
 * as a new JSON array (see srv_auth_key_list). A principal sees the keys of
 * its owner; a key that does not hold every right of its owner sees only
 * the keys it made itself.
 */
int srv_auth_key_list_as(struct srv_auth *a, const char *principal, json_t **out, struct err **errp);

/** Revoke key id if principal may see it (srv_auth_key_list_as): else ERR_NOT_FOUND. */
int srv_auth_key_revoke_as(struct srv_auth *a, const char *principal, const char *id, struct err **errp);

/**
 * The rights of the credential behind principal, for a check: 1 with *out,
 * or 0 when principal names a key that is unknown, revoked or expired. A
 * principal without a key (a login, stdio) holds every right (admin by its
 * prefix). O(1): keys come from the verifier's cache.
 */
int srv_auth_rights(struct srv_auth *a, const char *principal, struct srv_rights *out);

/**
 * Create a key with flags (SRV_KEY_*). name: 1..SRV_KEY_NAME_MAX bytes
 * without control characters. On success *key_out is the secret (shown
 * once, never stored; free it with srv_auth_key_free) and *id_out its id
 * (free()). Fails on a bad name or a store error.
 */
int srv_auth_key_create(struct srv_store *st, const char *name, unsigned flags, char **key_out, char **id_out,
			struct err **errp);
/** Wipe and free a key string from srv_auth_key_create/bootstrap. NULL is fine. */
void srv_auth_key_free(char *key);

/**
 * All keys, oldest first, as a new JSON array (caller owns the reference) of
 * {"id", "name", "description", "admin", "network", "permissions" (capability
 * names), "sessions"? ([{session_id, level}] when scoped), "owner"? (the
 * principal it acts for, absent for a CLI key), "created_by"?, "created_at",
 * "expires_at"?, "revoked_at"?, "last_used_at"?, "expired" (bool)}; times are
 * ISO 8601 UTC strings ("2024-05-01T12:34:56Z"), absent when unset.
 */
int srv_auth_key_list(struct srv_store *st, json_t **out, struct err **errp);

/** Set field of o to ms (epoch ms) as an ISO 8601 UTC string; nothing when ms is 0. 0 or -1. */
int srv_auth_json_time(json_t *o, const char *field, int64_t ms);

/**
 * Revoke key id, and the keys it made (and theirs). Fails with errnum ENOENT
 * (ERR_NOT_FOUND) when no key has that id and EALREADY (ERR_CONFLICT) when it
 * is already revoked; the message says which. Verifiers on any process
 * notice on their next call.
 */
int srv_auth_key_revoke(struct srv_store *st, const char *id, struct err **errp);

/** Number of keys that are not revoked, or -1 on error. */
int srv_auth_active_keys(struct srv_store *st, struct err **errp);

/**
 * First start of `mcpbox serve`: when there is no active key (none at all,
 * or all revoked), create an admin key named "bootstrap admin", store the
 * secret in *key_out (free with srv_auth_key_free) and return 1 — the caller
 * prints it once. Return 0 (and leave *key_out alone) when an active key
 * exists; -1 on error. The check and the insert are one atomic statement,
 * so two servers starting together create at most one key.
 */
int srv_auth_bootstrap(struct srv_store *st, char **key_out, struct err **errp);

/** The verifier: a cache of valid keys over a store it does not own. */

/** A verifier over st, which must outlive it. Never fails. */
struct srv_auth *srv_auth_new(struct srv_store *st);
void srv_auth_free(struct srv_auth *a);

/**
 * Check a presented key. Returns 1 and fills *p when the key exists, is
 * not revoked and has not expired, 0 otherwise — for any input, including NULL, empty, overlong
 * or non-UTF-8 text, and also when the store fails (logged). Trailing spaces
 * and tabs are ignored (see tp_bearer_token, transport/http.h). Records last use in
 * the store at most once a minute per key.
 */
int srv_auth_verify(struct srv_auth *a, const char *key, struct srv_principal *p);

/**
 * `mcpbox key create [--name N] [--admin] [--no-network] [--description D]
 * [--expires WHEN] [--permissions LIST] [--session ID:LEVEL]... | list |
 * revoke ID`, with argv[0]
 * "key", on the store in data_dir. Output goes to stdout (the new key, alone,
 * or the table) and stderr (notes, errors). Returns the exit code: 0 ok,
 * 1 failure, 2 usage error.
 */
int srv_key_command(int argc, char **argv, const char *data_dir);

#endif
