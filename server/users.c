#include "users.h"
#include "auth.h"
#include "jwt.h"
#include "base/buf.h"
#include "base/common.h"
#include "base/log.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/queue.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/banned.h"

#define SECRET_FILE "jwt.secret"
#define SECRET_LEN 32
#define FREE_FAILURES 5		/* per name and address */
#define FREE_SOURCE_FAILURES 50	/* per address, whatever the names */
#define MAX_BACKOFF_S 300
#define FAIL_FORGET_MS (15 * 60 * 1000)
#define FAIL_SLOTS 1024		/* a power of two */
#define FAIL_PROBE 8
#define MAX_HASHING 4		/* logins on the pool at once: each takes 64 MiB */
#define MAX_HASHING_SOURCE 2	/* of them, from one address */
#define TOKEN_SLOTS 64		/* tokens verified lately (direct-mapped) */

/*
 * What an unknown name's password is checked against, so that a login takes
 * as long whether or not the user exists. The password behind it is random
 * and was thrown away; the result is ignored anyway.
 */
static const char dummy_hash[] =
	"$argon2id$v=19$m=65536,t=2,p=1$3Jtdbd5quDXlvtSkJIolsw$BDT/FYu124fKUn125IusO5fIlDV312AMdp6W44DKFkY";

/*
 * Failed logins, counted per name and address (key "NAME\nSOURCE") and per
 * address alone (key "\nSOURCE": names never hold a newline), so that trying
 * many names from one address backs off too.
 */
struct fail_slot {
	char key[SRV_USER_NAME_MAX + 1 + 64];	/* "" free */
	unsigned fails;
	uint64_t last_ms, locked_until_ms;
};

/* A token that verified, and whose it was, while the store's generation stays the same. */
struct token_slot {
	char *token;		/* NULL: empty */
	size_t len;
	uint64_t gen;
	int64_t exp;
	char principal[SRV_USER_NAME_MAX + 16];
};

struct srv_users {
	uv_loop_t *loop;
	struct srv_store *st;
	unsigned char secret[SECRET_LEN];
	char issuer[32];
	uint64_t ttl_s;
	unsigned revoked_per_user;	/* logouts kept per user until their tokens expire (0: no bound) */
	unsigned hashing;
	struct fail_slot fails[FAIL_SLOTS];
	struct token_slot tokens[TOKEN_SLOTS];
	LIST_HEAD(, login) logins;	/* on the pool */
};

struct login {
	uv_work_t work;
	struct srv_users *u;		/* NULL: the server went away */
	srv_login_cb cb;
	void *arg;
	char name[SRV_USER_NAME_MAX + 1];
	char key[SRV_USER_NAME_MAX + 1 + 64];	/* name "\n" source */
	char hash[SRV_USER_HASH_MAX];
	char *pw;
	size_t len;
	char *new_pw;			/* a password change: the new password (NULL: a login) */
	size_t new_len;
	char new_hash[SRV_USER_HASH_MAX];
	bool known, match, hashed;
	LIST_ENTRY(login) link;
};

static int sodium_ready(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

bool srv_user_role_valid(const char *role)
{
	return role && (!strcmp(role, "user") || !strcmp(role, "admin") || !strcmp(role, "super_admin"));
}

static bool name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > SRV_USER_NAME_MAX || !isalnum((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._@-", name[i]))
			return false;
	return true;
}

int srv_user_hash_password(const char *pw, size_t len, char out[SRV_USER_HASH_MAX], struct err **errp)
{
	char h[crypto_pwhash_STRBYTES];

	if (len < SRV_USER_PASSWORD_MIN || len > SRV_USER_PASSWORD_MAX)
		return err_setc(errp, ERR_INVALID, 0, "a password must be %d to %d bytes", SRV_USER_PASSWORD_MIN,
				SRV_USER_PASSWORD_MAX);
	_Static_assert(crypto_pwhash_STRBYTES <= SRV_USER_HASH_MAX, "hash string fits");
	if (sodium_ready() < 0 || crypto_pwhash_str(h, pw, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
						   crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return err_setc(errp, ERR_UNAVAILABLE, ENOMEM, "hash the password");
	memcpy(out, h, sizeof(h));
	return 0;
}

bool srv_user_password_ok(const char *hash, const char *pw, size_t len)
{
	if (sodium_ready() < 0 || !hash || strnlen(hash, SRV_USER_HASH_MAX) >= SRV_USER_HASH_MAX)
		return false;
	return crypto_pwhash_str_verify(hash, pw, len) == 0;
}

int srv_user_add_hashed(struct srv_store *st, const char *name, const char *role, const char *hash,
			struct err **errp)
{
	struct srv_user_row row = { 0 };
	int rc;

	if (!name_valid(name))
		return err_setc(errp, ERR_INVALID, 0, "a user name is 1 to %d of A-Z a-z 0-9 . _ @ -, starting with a "
				"letter or digit", SRV_USER_NAME_MAX);
	if (!srv_user_role_valid(role))
		return err_setc(errp, ERR_INVALID, 0, "a role is user, admin or super_admin");
	snprintf(row.name, sizeof(row.name), "%s", name);
	snprintf(row.role, sizeof(row.role), "%s", role);
	snprintf(row.hash, sizeof(row.hash), "%s", hash);
	row.created_at = (int64_t)wall_ms();
	rc = srv_store_user_insert(st, &row, errp);
	explicit_bzero(row.hash, sizeof(row.hash));
	if (rc < 0)
		return err_wrap(errp, "add user %s", name);
	if (rc == 0)
		return err_setc(errp, ERR_CONFLICT, 0, "a user named \"%s\" exists already", name);
	return 0;
}

int srv_user_add(struct srv_store *st, const char *name, const char *role, const char *pw, size_t len,
		 struct err **errp)
{
	char hash[SRV_USER_HASH_MAX];
	int rc;

	if (!name_valid(name) || !srv_user_role_valid(role))
		return srv_user_add_hashed(st, name, role, "", errp); /* says what is wrong */
	if (srv_user_hash_password(pw, len, hash, errp) < 0)
		return -1;
	rc = srv_user_add_hashed(st, name, role, hash, errp);
	explicit_bzero(hash, sizeof(hash));
	return rc;
}

int srv_user_bootstrap(struct srv_store *st, const char *name, char **password_out, struct err **errp)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	struct srv_user_row row;
	unsigned char raw[24];
	struct err *e = NULL;
	char *pw;
	int rc;

	rc = name_valid(name) ? srv_store_user_get(st, name, &row, errp) : 0;
	if (rc != 0) {
		explicit_bzero(row.hash, sizeof(row.hash));
		return rc < 0 ? -1 : 0;
	}
	srv_random_bytes(raw, sizeof(raw));
	pw = xmalloc(sizeof(raw) / 3 * 4 + 1);
	for (size_t i = 0, o = 0; i < sizeof(raw); i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		for (int k = 3; k >= 0; k--)
			pw[o++] = a[(v >> (6 * k)) & 63];
		pw[o] = '\0';
	}
	explicit_bzero(raw, sizeof(raw));
	if (srv_user_add(st, name, "super_admin", pw, strlen(pw), &e) < 0) {
		srv_user_password_free(pw);
		/* another server starting beside this one made it first */
		if (e->cls == ERR_CONFLICT) {
			err_free(e);
			return 0;
		}
		*errp = e;
		return -1;
	}
	log_info("users: made the administrator %s (serve --admin-user)", name);
	*password_out = pw;
	return 1;
}

void srv_user_password_free(char *pw)
{
	if (pw) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
}

static int no_user(const char *name, struct err **errp)
{
	return err_setc(errp, ERR_NOT_FOUND, 0, "no user named \"%.*s\"", SRV_USER_NAME_MAX, name ? name : "");
}

int srv_user_passwd_hashed(struct srv_store *st, const char *name, const char *hash, struct err **errp)
{
	int rc;

	if (!name_valid(name))
		return no_user(name, errp);
	/* tokens issued in this very second are older too (iat has a resolution of 1 s) */
	rc = srv_store_user_passwd(st, name, hash, (int64_t)(wall_ms() / 1000) + 1, errp);
	if (rc < 0)
		return err_wrap(errp, "set the password of %s", name);
	return rc == 0 ? no_user(name, errp) : 0;
}

int srv_user_passwd(struct srv_store *st, const char *name, const char *pw, size_t len, struct err **errp)
{
	char hash[SRV_USER_HASH_MAX];
	int rc;

	if (!name_valid(name))
		return no_user(name, errp);
	if (srv_user_hash_password(pw, len, hash, errp) < 0)
		return -1;
	rc = srv_user_passwd_hashed(st, name, hash, errp);
	explicit_bzero(hash, sizeof(hash));
	return rc;
}

/*
 * The end of a change the store made (rc 1) or did not (rc 0: no such user,
 * or nothing to change, which *unchanged says in words, with the name's %s).
 */
static int changed(struct srv_store *st, const char *name, int rc, const char *what, const char *unchanged,
		   struct err **errp)
{
	struct srv_user_row row;

	if (rc < 0)
		return err_wrap(errp, "%s %s", what, name);
	if (rc == 1)
		return 0;
	rc = srv_store_user_get(st, name, &row, errp);
	explicit_bzero(row.hash, sizeof(row.hash));
	if (rc < 0)
		return -1;
	return rc == 0 ? no_user(name, errp) : err_setc(errp, ERR_CONFLICT, 0, unchanged, name);
}

int srv_user_disable(struct srv_store *st, const char *name, struct err **errp)
{
	if (!name_valid(name))
		return no_user(name, errp);
	return changed(st, name, srv_store_user_disable(st, name, (int64_t)wall_ms(), errp), "disable",
		       "%s is disabled already", errp);
}

int srv_user_enable(struct srv_store *st, const char *name, struct err **errp)
{
	if (!name_valid(name))
		return no_user(name, errp);
	return changed(st, name, srv_store_user_enable(st, name, errp), "enable", "%s is not disabled", errp);
}

int srv_user_set_role(struct srv_store *st, const char *name, const char *role, struct err **errp)
{
	if (!name_valid(name))
		return no_user(name, errp);
	if (!srv_user_role_valid(role))
		return err_setc(errp, ERR_INVALID, 0, "a role is user, admin or super_admin");
	return changed(st, name, srv_store_user_role(st, name, role, errp), "set the role of",
		       "%s has that role already", errp);
}

static json_t *user_json(struct srv_user_row *row)
{
	json_t *o = json_object(), *name = json_string(row->name);

	json_object_set_new(o, "name", name ? name : json_string("?"));
	json_object_set_new(o, "role", json_string(srv_user_role_valid(row->role) ? row->role : "?"));
	srv_auth_json_time(o, "created_at", row->created_at ? row->created_at : 1);
	srv_auth_json_time(o, "disabled_at", row->disabled_at);
	explicit_bzero(row->hash, sizeof(row->hash));
	return o;
}

int srv_user_list(struct srv_store *st, json_t **out, struct err **errp)
{
	struct srv_user_row *rows;
	size_t n;
	json_t *arr;

	if (srv_store_user_list(st, &rows, &n, errp) < 0)
		return -1;
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, user_json(&rows[i]));
	free(rows);
	*out = arr;
	return 0;
}

int srv_user_get(struct srv_store *st, const char *name, json_t **out, struct err **errp)
{
	struct srv_user_row row;
	int rc = name_valid(name) ? srv_store_user_get(st, name, &row, errp) : 0;

	if (rc == 1)
		*out = user_json(&row);
	return rc;
}

/* ---- the secret ---- */

static int read_secret(const char *path, unsigned char *out, struct err **errp)
{
	auto_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	unsigned char extra;
	struct stat sb;
	ssize_t n;

	if (fd < 0)
		return err_set(errp, errno, "open %s", path);
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 077))
		log_warn("%s is mode %04o: other users of this host could forge logins (chmod 0600 it)", path,
			 (unsigned)(sb.st_mode & 07777));
	n = read(fd, out, SECRET_LEN);
	if (n != SECRET_LEN || read(fd, &extra, 1) != 0)
		return err_setc(errp, ERR_INTERNAL, 0, "%s must hold exactly %d bytes (delete it to make a new one: "
				"every token issued so far stops working)", path, SECRET_LEN);
	return 0;
}

/* Made under a temporary name and linked into place, so nobody reads half a secret. */
static int load_secret(struct srv_users *u, const char *data_dir, struct err **errp)
{
	struct buf path = BUF_INIT, tmp = BUF_INIT;
	unsigned char s[SECRET_LEN];
	int rc = -1, fd;

	buf_addf(&path, "%s/" SECRET_FILE, data_dir);
	if (access(path.data, F_OK) != 0) {
		buf_addf(&tmp, "%s/" SECRET_FILE ".%d.tmp", data_dir, (int)getpid());
		fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			err_set(errp, errno, "create %s", tmp.data);
			goto out;
		}
		srv_random_bytes(s, sizeof(s));
		if (write(fd, s, sizeof(s)) != (ssize_t)sizeof(s) || fsync(fd) < 0) {
			err_set(errp, errno ? errno : EIO, "write %s", tmp.data);
			close(fd);
			unlink(tmp.data);
			goto out;
		}
		close(fd);
		if (link(tmp.data, path.data) == 0)
			log_info("users: made %s, the secret of login tokens", path.data);
		else if (errno != EEXIST)
			err_set(errp, errno, "create %s", path.data);
		unlink(tmp.data);
		explicit_bzero(s, sizeof(s));
		if (errp && *errp)
			goto out;
	}
	rc = read_secret(path.data, u->secret, errp);
out:
	buf_release(&path);
	buf_release(&tmp);
	return rc;
}

int srv_users_open(struct srv_users **out, uv_loop_t *loop, struct srv_store *st, const char *data_dir,
		   uint64_t ttl_s, struct err **errp)
{
	struct srv_users *u = xcalloc(1, sizeof(*u));
	unsigned char d[32];
	unsigned int n = 0;

	if (sodium_ready() < 0) {
		free(u);
		return err_setc(errp, ERR_INTERNAL, 0, "libsodium failed to start");
	}
	u->loop = loop;
	u->st = st;
	u->ttl_s = ttl_s;
	LIST_INIT(&u->logins);
	if (load_secret(u, data_dir, errp) < 0) {
		free(u);
		return -1;
	}
	/* the issuer names this data directory's secret without revealing it */
	EVP_Digest(u->secret, sizeof(u->secret), d, &n, EVP_sha256(), NULL);
	snprintf(u->issuer, sizeof(u->issuer), "mcpbox:%02x%02x%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2], d[3],
		 d[4], d[5], d[6], d[7]);
	*out = u;
	return 0;
}

void srv_users_free(struct srv_users *u)
{
	struct login *l;

	if (!u)
		return;
	for (size_t i = 0; i < TOKEN_SLOTS; i++)
		free(u->tokens[i].token);
	while ((l = LIST_FIRST(&u->logins))) {
		LIST_REMOVE(l, link);
		l->u = NULL;
	}
	explicit_bzero(u, sizeof(*u));
	free(u);
}

static uint64_t fnv(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

/* A token's record in the store: SHA-256 of the whole string (the token itself is never stored). */
static void token_hash(const char *token, unsigned char out[SRV_KEY_HASH_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(token, strlen(token), out, &n, EVP_sha256(), NULL) != 1 || n != SRV_KEY_HASH_LEN)
		abort(); /* SHA-256 of a bounded string cannot fail but for memory */
}

/* The full check: signature and claims, not revoked, then the user's row. */
static int verify_token(struct srv_users *u, const char *token, int64_t now, char *principal, size_t cap,
			int64_t *exp)
{
	unsigned char h[SRV_KEY_HASH_LEN];
	struct srv_jwt_claims c;
	struct srv_user_row row;
	struct err *err = NULL;
	enum srv_jwt_status s;
	int rc;

	s = srv_jwt_verify(u->secret, sizeof(u->secret), u->issuer, token, now, &c);
	if (s != SRV_JWT_OK) {
		log_debug("users: token refused: %s", srv_jwt_status_name(s));
		return 0;
	}
	token_hash(token, h);
	rc = srv_store_token_revoked(u->st, h, &err);
	if (rc != 0) {
		if (rc < 0)
			log_warn("users: cannot check a token: %s", err_text(err));
		err_free(err);
		return 0;
	}
	rc = srv_store_user_get(u->st, c.sub, &row, &err);
	if (rc < 0) {
		log_warn("users: cannot check a token: %s", err_text(err));
		err_free(err);
		return 0;
	}
	explicit_bzero(row.hash, sizeof(row.hash));
	if (rc == 0 || row.disabled_at || c.iat < row.tokens_after)
		return 0;
	rc = snprintf(principal, cap, "%suser:%s", strcmp(row.role, "user") ? "admin:" : "", row.name);
	*exp = c.exp;
	return rc > 0 && (size_t)rc < cap;
}

/*
 * Every request carries its token again: one that verified is remembered
 * (the whole string, compared in constant time) until it expires or the
 * store changes (a user added, disabled, given a new password, by this
 * process or another), so a request costs a hash of the token and the
 * store's generation check, as a key does.
 */
int srv_users_verify(struct srv_users *u, const char *token, char *principal, size_t cap)
{
	int64_t now = (int64_t)(wall_ms() / 1000), exp = 0;
	struct err *err = NULL;
	struct token_slot *t;
	uint64_t gen;
	size_t len;

	if (!srv_jwt_shaped(token))
		return 0;
	if (srv_store_generation(u->st, &gen, &err) < 0) {
		log_warn("users: cannot check a token: %s", err_text(err));
		err_free(err);
		return 0;
	}
	len = strlen(token);
	t = &u->tokens[fnv(token, len) & (TOKEN_SLOTS - 1)];
	if (t->token && t->len == len && t->gen == gen && now < t->exp + SRV_JWT_SKEW_S &&
	    CRYPTO_memcmp(t->token, token, len) == 0 && strlen(t->principal) < cap) {
		memcpy(principal, t->principal, strlen(t->principal) + 1);
		return 1;
	}
	if (!verify_token(u, token, now, principal, cap, &exp))
		return 0;
	free(t->token);
	t->token = xstrdup(token);
	t->len = len;
	t->gen = gen;
	t->exp = exp;
	snprintf(t->principal, sizeof(t->principal), "%s", principal);
	return 1;
}

void srv_users_set_revoked_max(struct srv_users *u, uint64_t per_user)
{
	u->revoked_per_user = per_user > UINT_MAX ? UINT_MAX : (unsigned)per_user;
}

int srv_users_revoke(struct srv_users *u, const char *token, struct err **errp)
{
	int64_t now = (int64_t)(wall_ms() / 1000), exp = 0;
	unsigned char h[SRV_KEY_HASH_LEN];
	char principal[128];

	if (!srv_jwt_shaped(token) || !verify_token(u, token, now, principal, sizeof(principal), &exp))
		return 0;
	/* "user:NAME" or "admin:user:NAME" (verify_token) */
	const char *name = strchr(principal, ':') + 1;
	if (!strncmp(principal, "admin:", 6))
		name = strchr(name, ':') + 1;
	token_hash(token, h);
	/* kept until no verifier would take it any more (exp and the skew allowed), then pruned */
	int rc = srv_store_token_revoke(u->st, h, name, exp + SRV_JWT_SKEW_S, now, u->revoked_per_user, errp);
	if (rc < 0)
		return -1;
	if (rc == 2) {
		/* logging in and out in a loop would keep a row per token for as long as jwt_ttl: past the
		   bound, every token of the user issued until now ends instead, as at a password change */
		if (srv_store_user_cut_tokens(u->st, name, now, errp) < 0)
			return -1;
		log_info("users: %s logged out with %u revoked tokens kept: every token of the user issued until now "
			 "is refused", principal, u->revoked_per_user);
		return 1;
	}
	log_info("users: a token of %s was revoked (logout)", principal);
	return 1;
}

/* ---- logins and their failures ---- */

/*
 * Is f a better slot to take than g? A free one first, then one that holds no
 * running lock (the least recently failed), then the lock that ends first:
 * flooding the table with new failures must not free an address's lock.
 */
static bool evict_before(const struct fail_slot *f, const struct fail_slot *g, uint64_t now)
{
	bool f_locked = f->locked_until_ms > now, g_locked = g->locked_until_ms > now;

	if (!g->key[0])
		return false;
	if (!f->key[0])
		return true;
	if (f_locked != g_locked)
		return !f_locked;
	return f_locked ? f->locked_until_ms < g->locked_until_ms : f->last_ms < g->last_ms;
}

static struct fail_slot *fail_find(struct srv_users *u, const char *key, bool make, uint64_t now)
{
	uint64_t h = fnv(key, strlen(key));
	struct fail_slot *oldest = NULL;

	for (unsigned i = 0; i < FAIL_PROBE; i++) {
		struct fail_slot *f = &u->fails[(h + i) & (FAIL_SLOTS - 1)];

		if (f->key[0] && now - f->last_ms > FAIL_FORGET_MS && now >= f->locked_until_ms)
			f->key[0] = '\0';
		if (f->key[0] && !strcmp(f->key, key))
			return f;
		if (!oldest || evict_before(f, oldest, now))
			oldest = f;
	}
	if (!make)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->key, sizeof(oldest->key), "%s", key);
	return oldest;
}

/* One more failure for key; past free of them, each doubles the wait (up to MAX_BACKOFF_S). */
static void fail_count(struct srv_users *u, const char *key, unsigned free_failures, uint64_t now)
{
	struct fail_slot *f = fail_find(u, key, true, now);

	f->fails++;
	f->last_ms = now;
	if (f->fails >= free_failures) {
		unsigned shift = f->fails - free_failures;
		uint64_t wait = shift >= 9 ? MAX_BACKOFF_S : (1u << shift);

		f->locked_until_ms = now + (wait > MAX_BACKOFF_S ? MAX_BACKOFF_S : wait) * 1000;
	}
}

/* Is key (or its address alone) waiting out a backoff? The seconds left, or 0. */
static unsigned fail_locked(struct srv_users *u, const char *key, uint64_t now)
{
	struct fail_slot *f = fail_find(u, key, false, now), *s = fail_find(u, strchr(key, '\n'), false, now);
	uint64_t until = MAX(f ? f->locked_until_ms : 0, s ? s->locked_until_ms : 0);

	return until > now ? (unsigned)((until - now + 999) / 1000) : 0;
}

/* Logins of source (the part of key after the newline) on the pool now. */
static unsigned hashing_from(struct srv_users *u, const char *key)
{
	const char *source = strchr(key, '\n');
	struct login *l;
	unsigned n = 0;

	LIST_FOREACH(l, &u->logins, link)
		n += !strcmp(strchr(l->key, '\n'), source);
	return n;
}

static void login_answer(struct login *l, struct srv_login_result *res)
{
	if (l->pw) {
		explicit_bzero(l->pw, l->len);
		free(l->pw);
	}
	if (l->new_pw) {
		explicit_bzero(l->new_pw, l->new_len);
		free(l->new_pw);
	}
	explicit_bzero(l->hash, sizeof(l->hash));
	explicit_bzero(l->new_hash, sizeof(l->new_hash));
	l->cb(l->arg, res);
	free(l);
}

static void login_work(uv_work_t *w)
{
	struct login *l = w->data;

	l->match = srv_user_password_ok(l->known ? l->hash : dummy_hash, l->pw, l->len) && l->known;
	if (l->match && l->new_pw)
		l->hashed = srv_user_hash_password(l->new_pw, l->new_len, l->new_hash, NULL) == 0;
}

/* A password change whose old password matched: store the new hash (tokens issued before stop working). */
static void change(struct srv_users *u, struct login *l, struct srv_login_result *res)
{
	struct srv_user_row row;
	struct err *err = NULL;
	int rc;

	/* read again: the user may have been disabled or changed while the passwords were hashed */
	rc = srv_store_user_get(u->st, l->name, &row, &err);
	if (rc == 1 && !row.disabled_at && !strcmp(row.hash, l->hash))
		/* as srv_user_passwd: tokens of this very second are older too */
		rc = srv_store_user_passwd(u->st, l->name, l->new_hash, (int64_t)(wall_ms() / 1000) + 1, &err);
	else if (rc == 1)
		rc = 0;
	explicit_bzero(row.hash, sizeof(row.hash));
	if (rc == 1) {
		*res = (struct srv_login_result){ .ok = true };
		log_info("users: %s changed the password", l->name);
		return;
	}
	if (err)
		log_warn("users: password change: %s", err_text(err));
	*res = (struct srv_login_result){ .cls = rc < 0 ? ERR_INTERNAL : ERR_DENIED,
					  .message = rc < 0 ? "cannot change the password now"
							    : "invalid username or password" };
	err_free(err);
}

static void issue(struct srv_users *u, struct login *l, struct srv_login_result *res)
{
	struct srv_jwt_claims c = { 0 };
	struct srv_user_row row;
	struct err *err = NULL;
	char *token;

	/* read again: the user may have been disabled or changed while the password was checked */
	if (srv_store_user_get(u->st, l->name, &row, &err) != 1 || row.disabled_at || strcmp(row.hash, l->hash)) {
		if (err)
			log_warn("users: login: %s", err_text(err));
		err_free(err);
		explicit_bzero(row.hash, sizeof(row.hash));
		*res = (struct srv_login_result){ .cls = ERR_DENIED, .message = "invalid username or password" };
		return;
	}
	explicit_bzero(row.hash, sizeof(row.hash));
	snprintf(c.sub, sizeof(c.sub), "%s", row.name);
	snprintf(c.role, sizeof(c.role), "%s", row.role);
	unsigned char id[8];
	randombytes_buf(id, sizeof(id));
	sodium_bin2hex(c.jti, sizeof(c.jti), id, sizeof(id));
	/*
	 * A token is valid from the second after the user's last password change
	 * or disable (tokens_after), so one issued in that very second, after
	 * the change, is dated then (within the verifier's skew allowance).
	 */
	c.iat = c.nbf = MAX((int64_t)(wall_ms() / 1000), row.tokens_after);
	c.exp = c.iat + (int64_t)u->ttl_s;
	token = srv_jwt_sign(u->secret, sizeof(u->secret), u->issuer, &c);
	if (!token) {
		*res = (struct srv_login_result){ .cls = ERR_INTERNAL, .message = "cannot make a token" };
		return;
	}
	*res = (struct srv_login_result){ .ok = true, .token = token, .expires_in = u->ttl_s };
	log_info("users: %s logged in", row.name);
}

static void login_done(uv_work_t *w, int status)
{
	struct login *l = w->data;
	struct srv_users *u = l->u;
	struct srv_login_result res = { .cls = ERR_DENIED, .message = "invalid username or password" };
	uint64_t now = now_ms();

	if (!u) {
		/* the server is going away: nobody to answer */
		l->cb = NULL;
		if (l->pw) {
			explicit_bzero(l->pw, l->len);
			free(l->pw);
		}
		if (l->new_pw) {
			explicit_bzero(l->new_pw, l->new_len);
			free(l->new_pw);
		}
		explicit_bzero(l->new_hash, sizeof(l->new_hash));
		free(l);
		return;
	}
	LIST_REMOVE(l, link);
	u->hashing--;
	if (status == 0 && l->match && l->new_pw && !l->hashed)
		res = (struct srv_login_result){ .cls = ERR_INTERNAL, .message = "cannot hash the new password now" };
	else if (status == 0 && l->match && l->new_pw)
		change(u, l, &res);
	else if (status == 0 && l->match)
		issue(u, l, &res);
	if (res.ok) {
		struct fail_slot *f = fail_find(u, l->key, false, now);

		if (f)
			f->key[0] = '\0';
	} else if (res.cls == ERR_DENIED) {
		fail_count(u, l->key, FREE_FAILURES, now);
		fail_count(u, strchr(l->key, '\n'), FREE_SOURCE_FAILURES, now);
	}
	login_answer(l, &res);
	free((char *)res.token);
}

static void login_start(struct srv_users *u, const char *name, const char *password, size_t len, const char *source,
			const char *new_pw, size_t new_len, srv_login_cb cb, void *arg)
{
	struct login *l = xcalloc(1, sizeof(*l));
	struct srv_login_result res = { .cls = ERR_DENIED, .message = "invalid username or password" };
	struct srv_user_row row;
	struct err *err = NULL;
	uint64_t now = now_ms();
	unsigned wait;
	int rc;

	l->cb = cb;
	l->arg = arg;
	if (!name || !*name || strlen(name) > SRV_USER_NAME_MAX || !password || len > SRV_USER_PASSWORD_MAX) {
		login_answer(l, &res);
		return;
	}
	snprintf(l->name, sizeof(l->name), "%s", name);
	snprintf(l->key, sizeof(l->key), "%s\n%.63s", name, source ? source : "");
	if ((wait = fail_locked(u, l->key, now))) {
		res = (struct srv_login_result){ .cls = ERR_LIMIT, .message = "too many failed logins: try again later",
						 .retry_after_s = wait };
		login_answer(l, &res);
		return;
	}
	if (u->hashing >= MAX_HASHING || hashing_from(u, l->key) >= MAX_HASHING_SOURCE) {
		res = (struct srv_login_result){ .cls = ERR_LIMIT, .message = "too many logins in progress: try again",
						 .retry_after_s = 1 };
		login_answer(l, &res);
		return;
	}
	rc = name_valid(name) ? srv_store_user_get(u->st, name, &row, &err) : 0;
	if (rc < 0) {
		log_warn("users: login: %s", err_text(err));
		err_free(err);
		res = (struct srv_login_result){ .cls = ERR_INTERNAL, .message = "cannot check the password now" };
		login_answer(l, &res);
		return;
	}
	/* a disabled user's password is still checked, so the answer takes as long and says as little */
	l->known = rc == 1 && !row.disabled_at;
	if (rc == 1)
		memcpy(l->hash, row.hash, sizeof(l->hash));
	explicit_bzero(row.hash, sizeof(row.hash));
	l->pw = xmalloc(len + 1);
	memcpy(l->pw, password, len);
	l->pw[len] = '\0';
	l->len = len;
	if (new_pw) {
		l->new_pw = xstrndup(new_pw, new_len);
		l->new_len = new_len;
	}
	l->u = u;
	l->work.data = l;
	if (uv_queue_work(u->loop, &l->work, login_work, login_done) != 0) {
		res = (struct srv_login_result){ .cls = ERR_INTERNAL, .message = "cannot check the password now" };
		login_answer(l, &res);
		return;
	}
	u->hashing++;
	LIST_INSERT_HEAD(&u->logins, l, link);
}

void srv_users_login(struct srv_users *u, const char *name, const char *password, size_t len, const char *source,
		     srv_login_cb cb, void *arg)
{
	login_start(u, name, password, len, source, NULL, 0, cb, arg);
}

void srv_users_change_password(struct srv_users *u, const char *name, const char *old, size_t old_len,
			       const char *new_pw, size_t new_len, const char *source, srv_login_cb cb, void *arg)
{
	struct srv_login_result res = { .cls = ERR_INVALID };

	if (new_len < SRV_USER_PASSWORD_MIN || new_len > SRV_USER_PASSWORD_MAX || memchr(new_pw, 0, new_len)) {
		res.message = "the new password must be 8 to 1024 bytes";
		cb(arg, &res);
		return;
	}
	login_start(u, name, old, old_len, source, new_pw, new_len, cb, arg);
}
