/**
 * grants.h — levels (viewer, editor, owner) an administrator grants a user on
 * another principal's session (003's /users/{id}/permissions), kept in the
 * store (user_grants) and in memory.
 *
 * A grant adds to what a user reaches: the user (its logins and its unscoped
 * keys) sees that session in every transport and acts in it at most at the
 * granted level (base/rights.h: viewer reads, editor also writes and runs,
 * owner also destroys); a key scoped to other sessions still sees only those.
 * The sessions layer asks srv_grants_level through its share hook
 * (sess_set_share_hook), tools/registry.c caps each call's level with it.
 *
 * Grants made or removed by another process on the same store are seen at
 * the next lookup: every call first asks the store's generation
 * (srv_store_generation, a PRAGMA without disk access) and reads them all
 * again when it moved. Loop thread only.
 */
#ifndef MCPBOX_SRV_GRANTS_H
#define MCPBOX_SRV_GRANTS_H

#include <jansson.h>

#include "store.h"
#include "base/err.h"
#include "base/rights.h"

/** Load the grants of st (which must outlive them); -1 when the store cannot be read. */
int srv_grants_open(struct srv_store *st, struct err **errp);
/** Forget them (shutdown). */
void srv_grants_close(void);

/**
 * The level granted to principal's user on session sid: the owner part of
 * principal must be "user:NAME" or "admin:user:NAME"; anything else (keys of
 * the operator, stdio), or no grant: SRV_LEVEL_NONE. Any principal string.
 */
enum srv_level srv_grants_level(const char *principal, const char *sid);

/**
 * Grant user (a name) level on session sid, as by (a principal, kept as who
 * granted it), replacing a grant of the same pair (update: only an existing
 * one, else ERR_NOT_FOUND "permission not found"). *out: the grant as
 * srv_grants_list shows it (new reference).
 */
int srv_grants_set(const char *user, const char *sid, enum srv_level level, const char *by, bool update,
		   json_t **out, struct err **errp);
/** Remove user's grant on sid: 1 removed, 0 there was none, -1 error. */
int srv_grants_remove(const char *user, const char *sid, struct err **errp);
/** Session sid is gone: its grants go too (memory and store; a failure is logged). */
void srv_grants_forget_session(const char *sid);
/**
 * user's grants (NULL: everyone's), newest first, as a new array of
 * {id, user, session_id, level ("viewer", "editor", "owner"), granted_by, granted_at (epoch ms)}.
 */
json_t *srv_grants_list(const char *user);

#endif
