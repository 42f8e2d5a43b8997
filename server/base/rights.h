/**
 * rights.h — what a credential may do: capabilities, per-session grants,
 * and how a principal string says whose sessions it acts on.
 *
 * The model (docs/security.md "Keys and rights"):
 * - A credential (an API key, a login token, stdio) acts for an *owner*
 *   principal: the sessions, snapshots and templates it makes are the
 *   owner's, and it sees the owner's (an administrator's: everyone's).
 * - A key holds a set of capabilities: execute (run programs, open
 *   terminals, kernels, browsers), sandbox_read (look at sessions: read
 *   files, list, screenshots, logs), sandbox_write (change them: write
 *   files, input, restore, create and destroy sessions). Users, stdio and
 *   keys made without --permissions hold all three.
 * - A key may be *scoped*: a list of per-session grants, each with a level
 *   viewer < editor < owner (003's read, write and admin are synonyms). A
 *   scoped key sees and touches only those sessions, each at most at its
 *   level (viewer: read tools; editor: also write and execute; owner: also
 *   destroy), and cannot create sessions. An unscoped key reaches every
 *   session its owner reaches, at level owner.
 * - A tool needs one capability and one level; a call is allowed when the
 *   credential holds the capability and its level on the session is enough.
 * - Nothing grants more than its creator holds: srv_rights_derive().
 *
 * Principal strings (made only by the server, never chosen by a client):
 * "local" (stdio), "user:NAME", "admin:user:NAME" (logins), "key_ID",
 * "admin:key_ID", "nonet:key_ID" (keys that own their sessions, as made by
 * `mcpbox key create`), and OWNER "#" [admin: | nonet:] "key_ID" for a key
 * that acts for OWNER (made by a user or another key). The part before "#"
 * is the owner; the flags after it are the key's own (a non-admin key of
 * an administrator is not an administrator).
 *
 * Pure functions, no state: any thread.
 */
#ifndef MCPBOX_SRV_RIGHTS_H
#define MCPBOX_SRV_RIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/** Capabilities (a bit set). */
#define SRV_CAP_EXECUTE 1u
#define SRV_CAP_READ 2u		/* "sandbox_read" */
#define SRV_CAP_WRITE 4u	/* "sandbox_write" */
#define SRV_CAP_ALL 7u

/** Levels on one session, ordered. */
enum srv_level {
	SRV_LEVEL_NONE = 0,
	SRV_LEVEL_VIEWER,
	SRV_LEVEL_EDITOR,
	SRV_LEVEL_OWNER,
};

/** Grants per key, and the longest session id a grant names. */
#define SRV_GRANTS_MAX 16
#define SRV_GRANT_SID_MAX 63
/** Longest principal string, with its NUL. */
#define SRV_PRINCIPAL_MAX 128

struct srv_grant {
	char session_id[SRV_GRANT_SID_MAX + 1];
	enum srv_level level;
};

struct srv_rights {
	unsigned caps;			/* SRV_CAP_* */
	bool admin;			/* sees every principal's sessions */
	bool no_network;		/* may not ask for sessions with network */
	int64_t expires_at;		/* epoch ms; 0: never */
	unsigned ngrants;		/* 0: unscoped */
	struct srv_grant grants[SRV_GRANTS_MAX];
};

/** Everything: all capabilities, unscoped, no expiry. */
void srv_rights_full(struct srv_rights *r, bool admin, bool no_network);

/** "execute", "sandbox_read", "sandbox_write" (one bit), or NULL. */
const char *srv_cap_name(unsigned cap);
/** One name to its bit; 0 for an unknown name. */
unsigned srv_cap_parse(const char *name);
/** "execute,sandbox_read" style list (commas and spaces) into *caps; ERR_INVALID naming the bad word. */
int srv_caps_parse_list(const char *list, unsigned *caps, struct err **errp);
/** Append the names of caps, separated by sep, to out (cap bytes, NUL-terminated, cut if short). */
void srv_caps_format(unsigned caps, const char *sep, char *out, size_t cap);

/** viewer/editor/owner, or read/write/admin; SRV_LEVEL_NONE for anything else. */
enum srv_level srv_level_parse(const char *s);
/** "viewer", "editor", "owner" ("none" for SRV_LEVEL_NONE). */
const char *srv_level_name(enum srv_level l);

/**
 * Add a grant "SID:LEVEL" (or session sid at level) to r: ERR_INVALID for a
 * bad id or level, ERR_LIMIT past SRV_GRANTS_MAX. A second grant for the same
 * session replaces the first.
 */
int srv_rights_add_grant(struct srv_rights *r, const char *sid, enum srv_level level, struct err **errp);
int srv_rights_parse_grant(struct srv_rights *r, const char *spec, struct err **errp);

/** r's level on session sid: SRV_LEVEL_OWNER when unscoped, its grant's when scoped, else NONE. */
enum srv_level srv_rights_level(const struct srv_rights *r, const char *sid);
/** Has r expired at now_ms? (expires_at is the first instant it is refused) */
bool srv_rights_expired(const struct srv_rights *r, int64_t now_ms);

/**
 * What a tool call needs: one capability and a level on its session.
 * Returns true when r allows it on session sid (NULL: no session named,
 * e.g. a listing: only the capability counts). Otherwise false with a
 * message for people in why (at most why_cap bytes) naming the missing right.
 */
bool srv_rights_allow(const struct srv_rights *r, unsigned cap, enum srv_level level, const char *sid, char *why,
		      size_t why_cap);

/**
 * The rights of a new key made by a credential holding creator. want comes
 * in as asked (caps_set: caps was given; 0 caps or grants not given mean
 * "the creator's") and goes out as granted. Refused with ERR_DENIED and a
 * message naming what was asked beyond the creator: an admin key by a
 * non-administrator, a capability the creator lacks, a grant on a session
 * the creator cannot reach or at a higher level than its own (its grant
 * there, and at most reach(arg, sid): the level its owner holds on the
 * session, owner of its own, a shared user's grant on another's,
 * SRV_LEVEL_NONE for one it cannot see; reach NULL: any session exists, at
 * the creator's grant), an expiry later than the
 * creator's. A creator without network makes keys without network; a
 * scoped creator makes scoped keys (its grants when none are asked); an
 * expiring creator makes keys that expire no later (its expiry when none
 * is asked). ERR_INVALID for an empty capability set or a past expiry.
 */
int srv_rights_derive(const struct srv_rights *creator, bool caps_set, struct srv_rights *want, int64_t now_ms,
		      enum srv_level (*reach)(void *arg, const char *sid), void *arg, struct err **errp);

/**
 * An expiry as people write it, relative to now_ms: a duration "90d", "12h",
 * "30m", "45s" (a positive whole number and a unit), or an instant in ISO
 * 8601 UTC: "2026-12-31", "2026-12-31T23:59:59Z" (fractions of a second and
 * an offset "+02:00" accepted). *out: epoch ms. ERR_INVALID otherwise.
 */
int srv_expiry_parse(const char *s, int64_t now_ms, int64_t *out, struct err **errp);

/* ---- principal strings ---- */

/** Bytes of principal's owner part (all of it unless it contains "#"). */
size_t srv_principal_owner_len(const char *principal);
/** Is principal's owner owner? (principal "user:a#key_x" and owner "user:a": yes) */
bool srv_principal_owned_by(const char *principal, const char *owner);
/** Is principal an administrator? (its key's flags when it names a key of an owner) */
bool srv_principal_is_admin(const char *principal);
/** Is principal a key made without network? */
bool srv_principal_is_no_network(const char *principal);
/** The key id in principal ("key_" + hex), or NULL (a login, stdio): points into principal. */
const char *srv_principal_key_id(const char *principal);

#endif
