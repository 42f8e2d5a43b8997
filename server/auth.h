/**
 * auth.h — API keys for the network transports, and the `mcpbox key` CLI.
 *
 * A key is "mcpbox_" followed by the unpadded base64url encoding of 32
 * random bytes (50 characters in all). It is shown once, when created; the
 * store keeps only the SHA-256 of the full key string, an id ("key_" + 12
 * hex, safe to show and log), a name and whether the key is an admin key.
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
#include "store.h"

/** Who a valid key belongs to. */
struct srv_principal {
	char id[32];		/* the key id, "key_..." */
	char name[128];
	bool admin;
	bool no_network;	/* may not ask for sessions with network (key create --no-network) */
};

/** Longest key name accepted, in bytes. */
#define SRV_KEY_NAME_MAX 127

/** Flags of a new key. */
#define SRV_KEY_ADMIN 1u		/* sees and uses every principal's sessions */
#define SRV_KEY_NO_NETWORK 2u		/* may not ask for sessions with network */

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
 * {"id", "name", "admin", "created_at", "revoked_at"?, "last_used_at"?};
 * times are ISO 8601 UTC strings ("2024-05-01T12:34:56Z"), absent when unset.
 */
int srv_auth_key_list(struct srv_store *st, json_t **out, struct err **errp);

/** Set field of o to ms (epoch ms) as an ISO 8601 UTC string; nothing when ms is 0. 0 or -1. */
int srv_auth_json_time(json_t *o, const char *field, int64_t ms);

/**
 * Revoke key id. Fails with errnum ENOENT when no key has that id and
 * EALREADY when it is already revoked; the message says which.
 * Verifiers on any process notice on their next call.
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
struct srv_auth;

/** A verifier over st, which must outlive it. Never fails. */
struct srv_auth *srv_auth_new(struct srv_store *st);
void srv_auth_free(struct srv_auth *a);

/**
 * Check a presented key. Returns 1 and fills *p when the key exists and is
 * not revoked, 0 otherwise — for any input, including NULL, empty, overlong
 * or non-UTF-8 text, and also when the store fails (logged). Trailing spaces
 * and tabs are ignored (see tp_bearer_token, transport/http.h). Records last use in
 * the store at most once a minute per key.
 */
int srv_auth_verify(struct srv_auth *a, const char *key, struct srv_principal *p);

/**
 * `mcpbox key create [--name N] [--admin] | list | revoke ID`, with argv[0]
 * "key", on the store in data_dir. Output goes to stdout (the new key, alone,
 * or the table) and stderr (notes, errors). Returns the exit code: 0 ok,
 * 1 failure, 2 usage error.
 */
int srv_key_command(int argc, char **argv, const char *data_dir);

#endif
