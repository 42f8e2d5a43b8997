/**
 * users.h — people who log in with a name and a password, and the JWTs
 * (server/jwt.h) a login issues. Next to API keys (auth.h): a token is
 * accepted wherever a key is, and its principal is the user.
 *
 * Passwords are hashed with argon2id (libsodium crypto_pwhash_str, the
 * "interactive" limits: 2 passes over 64 MiB); only the hash is stored.
 * Roles: user, admin, super_admin; both admin roles get what admin keys
 * get (principal "admin:user:NAME"; others "user:NAME").
 *
 * The HMAC secret is DATA/jwt.secret (32 random bytes, mode 0600), made at
 * the first start. Tokens are refused when the user is disabled, when
 * they were issued before the user's last password change or disable, or
 * once revoked (srv_users_revoke: a logout).
 *
 * Threads: srv_user_hash_password and srv_user_password_ok run on any thread
 * (they take tens of milliseconds: never on the loop). Everything that takes
 * a struct srv_store or struct srv_users runs on the store's thread.
 */
#ifndef MCPBOX_SRV_USERS_H
#define MCPBOX_SRV_USERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "store.h"

/** Longest user name: 1..48 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit. */
#define SRV_USER_NAME_MAX 48
/** Password length bounds, in bytes. */
#define SRV_USER_PASSWORD_MIN 8
#define SRV_USER_PASSWORD_MAX 1024
/** Bytes of a password hash string, with its NUL. */
#define SRV_USER_HASH_MAX 128

/** Is role one of "user", "admin", "super_admin"? */
bool srv_user_role_valid(const char *role);

/** Hash a password (argon2id) into out. Fails on a bad length or out of memory. */
int srv_user_hash_password(const char *pw, size_t len, char out[SRV_USER_HASH_MAX], struct err **errp);
/** Does pw match hash? Constant time in the password; false for a malformed hash. */
bool srv_user_password_ok(const char *hash, const char *pw, size_t len);

/**
 * Users in the store. add: a new user (ERR_CONFLICT when the name exists,
 * ERR_INVALID for a bad name, role or password). passwd: a new password
 * (tokens issued before stop working). disable: the user's tokens stop
 * working and logins fail. Unknown names: ERR_NOT_FOUND.
 */
int srv_user_add(struct srv_store *st, const char *name, const char *role, const char *pw, size_t len,
		 struct err **errp);
int srv_user_passwd(struct srv_store *st, const char *name, const char *pw, size_t len, struct err **errp);
/** add and passwd with a hash made already (srv_user_hash_password, off the loop): the store's part only. */
int srv_user_add_hashed(struct srv_store *st, const char *name, const char *role, const char *hash,
			struct err **errp);
int srv_user_passwd_hashed(struct srv_store *st, const char *name, const char *hash, struct err **errp);
int srv_user_disable(struct srv_store *st, const char *name, struct err **errp);
/**
 * enable: a disabled user may log in again (tokens issued before the disable
 * stay refused). set_role: the new role applies to the user's next request,
 * tokens issued before included (its principal becomes "user:NAME" or
 * "admin:user:NAME" with it). ERR_CONFLICT when nothing would change.
 */
int srv_user_enable(struct srv_store *st, const char *name, struct err **errp);
int srv_user_set_role(struct srv_store *st, const char *name, const char *role, struct err **errp);
/**
 * `serve --admin-user NAME`: when no user NAME exists, make one with the role
 * super_admin and a random password (24 random bytes, base64url), put the
 * password in *password_out (shown once by the caller; free with
 * srv_user_password_free) and return 1. 0 when the user exists (nothing
 * changes), -1 on error. There is never a default user otherwise.
 */
int srv_user_bootstrap(struct srv_store *st, const char *name, char **password_out, struct err **errp);
void srv_user_password_free(char *pw);
/** All users as a new JSON array of {name, role, created_at, disabled_at?}. */
int srv_user_list(struct srv_store *st, json_t **out, struct err **errp);
/** One user as a new {name, role, created_at, disabled_at?}: 1 found, 0 no such user, -1 error. */
int srv_user_get(struct srv_store *st, const char *name, json_t **out, struct err **errp);

/** The server's side: the secret, the logins in progress and their failures. */
struct srv_users;

/**
 * Open over st (which must outlive it): read DATA/jwt.secret, or create it
 * (atomically: two servers starting together share one). ttl_s: lifetime of
 * the tokens issued. Fails when the secret cannot be read or made.
 */
int srv_users_open(struct srv_users **out, uv_loop_t *loop, struct srv_store *st, const char *data_dir,
		   uint64_t ttl_s, struct err **errp);
/**
 * Keep at most per_user revoked tokens of one user (config
 * revoked_tokens_per_user; 0, the default: no bound): a logout past it ends
 * every token of the user issued until then (srv_users_revoke).
 */
void srv_users_set_revoked_max(struct srv_users *u, uint64_t per_user);
/** Free; logins still hashing finish without calling back. NULL is fine. */
void srv_users_free(struct srv_users *u);

/**
 * Check a token: 1 and "user:NAME" / "admin:user:NAME" in principal (cap
 * bytes), or 0, for any input.
 */
int srv_users_verify(struct srv_users *u, const char *token, char *principal, size_t cap);

/**
 * Logout: token (one this server issued, valid now) is refused from now on,
 * by every process on this store, wherever tokens are accepted; a record
 * (SHA-256 of the token) is kept until it expires; past the user's bound
 * (srv_users_set_revoked_max) every token of the user issued until now is
 * refused instead. 1 revoked, 0 not a valid token (nothing to revoke:
 * expired, forged, already revoked), -1 error.
 */
int srv_users_revoke(struct srv_users *u, const char *token, struct err **errp);

/** The answer to a login. */
struct srv_login_result {
	bool ok;
	enum err_class cls;		/* when not ok: ERR_DENIED (wrong name or password: which is not said),
					   ERR_LIMIT (too many failures: retry_after_s), ERR_INTERNAL */
	const char *message;		/* for people; says nothing about whether the user exists */
	const char *token;		/* on success, valid during the callback */
	uint64_t expires_in;		/* seconds */
	unsigned retry_after_s;
};
typedef void (*srv_login_cb)(void *arg, const struct srv_login_result *res);

/**
 * Log name in with password from source (the client's address, for the
 * failure counter). The password is checked on libuv's pool; cb is called
 * once, on the loop, maybe before this returns. Failures per (name, source)
 * are counted: after 5, each further attempt waits 2^(n-5) s (at most 5 min).
 */
void srv_users_login(struct srv_users *u, const char *name, const char *password, size_t len, const char *source,
		     srv_login_cb cb, void *arg);

/**
 * A user's own password change: old is checked and new_pw hashed on libuv's
 * pool (never on the loop), then stored; tokens issued before stop working.
 * cb is called once, on the loop: ok; or ERR_INVALID (new_pw not 8..1024
 * bytes, said before anything is hashed), ERR_DENIED (old is wrong or the
 * user is disabled: counted as a failed login of name from source), ERR_LIMIT
 * (retry_after_s), ERR_INTERNAL.
 */
void srv_users_change_password(struct srv_users *u, const char *name, const char *old, size_t old_len,
			       const char *new_pw, size_t new_len, const char *source, srv_login_cb cb, void *arg);

/**
 * `mcpbox user add NAME [--admin | --role ROLE] --password-stdin | list |
 * passwd NAME --password-stdin | disable NAME`, argv[0] "user", on the store in
 * data_dir. The password is read from stdin (one line; a final newline is
 * dropped), never from the command line. Returns the exit code: 0, 1 failure, 2 usage.
 */
int srv_user_command(int argc, char **argv, const char *data_dir);

#endif
