#include "auth.h"
#include "base/base64.h"
#include "base/common.h"
#include "base/log.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/banned.h"

#define KEY_PREFIX "mcpbox_"
#define KEY_PREFIX_LEN (sizeof(KEY_PREFIX) - 1)
#define KEY_RANDOM_BYTES 32
#define KEY_LEN (KEY_PREFIX_LEN + 43)	/* 32 bytes → 43 base64url characters */
#define TOUCH_INTERVAL_MS 60000
#define BOOTSTRAP_NAME "bootstrap admin"

struct cache_entry {
	struct cache_entry *next;
	struct cache_entry *next_id;	/* in the chain of its id's bucket */
	unsigned char hash[SRV_KEY_HASH_LEN];
	struct srv_principal p;
	int64_t last_used_at;	/* as last written to (or read from) the store */
};

struct srv_auth {
	struct srv_store *st;
	uint64_t gen;		/* store generation the cache is valid for; 0: none yet */
	struct cache_entry **buckets;	/* by hash */
	struct cache_entry **id_buckets;	/* the same entries by id */
	size_t nbuckets;	/* a power of two, of each */
	size_t n;
	uint64_t keys_max;	/* keys one owner may hold (quota.keys); 0: no bound */
};

static int key_hash(const char *key, size_t len, unsigned char out[SRV_KEY_HASH_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(key, len, out, &n, EVP_sha256(), NULL) != 1 || n != SRV_KEY_HASH_LEN)
		return -1;
	return 0;
}

static char *key_generate(void)
{
	unsigned char raw[KEY_RANDOM_BYTES];
	size_t n;
	char *b64, *key;

	srv_random_bytes(raw, sizeof(raw));
	b64 = base64_encode(raw, sizeof(raw), &n);
	explicit_bzero(raw, sizeof(raw));
	while (n > 0 && b64[n - 1] == '=')
		n--;
	assert(KEY_PREFIX_LEN + n == KEY_LEN);
	key = xmalloc(KEY_LEN + 1);
	memcpy(key, KEY_PREFIX, KEY_PREFIX_LEN);
	for (size_t i = 0; i < n; i++)
		key[KEY_PREFIX_LEN + i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	key[KEY_LEN] = '\0';
	explicit_bzero(b64, n);
	free(b64);
	return key;
}

void srv_auth_key_free(char *key)
{
	if (!key)
		return;
	explicit_bzero(key, strlen(key));
	free(key);
}

static int check_name(const char *name, struct err **errp)
{
	size_t len = name ? strlen(name) : 0;
	json_t *utf8;

	if (len == 0 || len > SRV_KEY_NAME_MAX)
		return err_set(errp, 0, "key name must be 1 to %d bytes", SRV_KEY_NAME_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return err_set(errp, 0, "key name must not contain control characters");
	/* names end up in JSON, which needs valid UTF-8 */
	utf8 = json_string(name);
	if (!utf8)
		return err_set(errp, 0, "key name must be valid UTF-8");
	json_decref(utf8);
	return 0;
}

static int check_description(const char *d, struct err **errp)
{
	size_t len = strlen(d);
	json_t *utf8;

	if (len > SRV_KEY_DESCRIPTION_MAX)
		return err_setc(errp, ERR_INVALID, 0, "a key description must be at most %d bytes", SRV_KEY_DESCRIPTION_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)d[i] < 0x20 || d[i] == 0x7f)
			return err_setc(errp, ERR_INVALID, 0, "a key description must not contain control characters");
	utf8 = json_string(d);
	if (!utf8)
		return err_setc(errp, ERR_INVALID, 0, "a key description must be valid UTF-8");
	json_decref(utf8);
	return 0;
}

/* "SID:LEVEL,..." for the store. */
static void grants_format(const struct srv_rights *r, char *out, size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < r->ngrants; i++) {
		int n = snprintf(out + used, cap - used, "%s%s:%s", i ? "," : "", r->grants[i].session_id,
				 srv_level_name(r->grants[i].level));
		assert(n > 0 && (size_t)n < cap - used);	/* sized for SRV_GRANTS_MAX of the longest */
		used += (size_t)n;
	}
}

/* The rights a stored key holds (a grant the store holds that does not parse is dropped, logged). */
static void row_rights(const struct srv_key_row *row, struct srv_rights *r)
{
	const char *p = row->grants;

	srv_rights_full(r, row->admin, row->no_network);
	r->caps = row->caps ? row->caps : SRV_CAP_ALL;
	r->expires_at = row->expires_at;
	while (*p) {
		char one[SRV_GRANT_SID_MAX + 16];
		size_t n = strcspn(p, ",");
		struct err *e = NULL;

		snprintf(one, sizeof(one), "%.*s", (int)n, p);
		if (srv_rights_parse_grant(r, one, &e) < 0) {
			log_warn("auth: key %s: %s", row->id, err_text(e));
			err_free(e);
		}
		p += n + (p[n] == ',');
	}
	/* a scoped key whose grants all failed to parse must not become unscoped */
	if (row->grants[0] && !r->ngrants)
		r->caps = 0;
}

/* Build a row for a new key; the secret goes to *key_out. */
static int key_new_row(const char *name, const char *description, const struct srv_rights *r, const char *owner,
		       const char *created_by, struct srv_key_row *row, char **key_out, struct err **errp)
{
	char *id, *key;

	if (check_name(name, errp) < 0)
		return -1;
	if (check_description(description, errp) < 0)
		return -1;
	memset(row, 0, sizeof(*row));
	if (strlen(owner) >= sizeof(row->owner) || strlen(created_by) >= sizeof(row->created_by))
		return err_setc(errp, ERR_INVALID, 0, "principal too long to own a key");
	id = random_id("key_", 6);
	snprintf(row->id, sizeof(row->id), "%s", id);
	free(id);
	snprintf(row->name, sizeof(row->name), "%s", name);
	snprintf(row->description, sizeof(row->description), "%s", description);
	snprintf(row->owner, sizeof(row->owner), "%s", owner);
	snprintf(row->created_by, sizeof(row->created_by), "%s", created_by);
	row->admin = r->admin;
	row->no_network = r->no_network;
	row->caps = r->caps;
	row->expires_at = r->expires_at;
	grants_format(r, row->grants, sizeof(row->grants));
	row->created_at = (int64_t)wall_ms();
	key = key_generate();
	if (key_hash(key, strlen(key), row->hash) < 0) {
		srv_auth_key_free(key);
		return err_set(errp, 0, "SHA-256 failed");
	}
	*key_out = key;
	return 0;
}

int srv_auth_key_create(struct srv_store *st, const char *name, unsigned flags, char **key_out, char **id_out,
			struct err **errp)
{
	struct srv_key_row row;
	struct srv_rights r;
	char *key;

	srv_rights_full(&r, flags & SRV_KEY_ADMIN, flags & SRV_KEY_NO_NETWORK);
	if (key_new_row(name, "", &r, "", "", &row, &key, errp) < 0)
		return -1;
	if (srv_store_key_insert(st, &row, false, errp) < 0) {
		srv_auth_key_free(key);
		return err_wrap(errp, "create key");
	}
	*key_out = key;
	*id_out = xstrdup(row.id);
	return 0;
}

int srv_auth_bootstrap(struct srv_store *st, char **key_out, struct err **errp)
{
	struct srv_key_row row;
	char *key;
	int rc;

	struct srv_rights r;

	srv_rights_full(&r, true, false);
	if (key_new_row(BOOTSTRAP_NAME, "", &r, "", "", &row, &key, errp) < 0)
		return -1;
	rc = srv_store_key_insert(st, &row, true, errp);
	if (rc <= 0) {
		srv_auth_key_free(key);
		return rc < 0 ? err_wrap(errp, "create bootstrap key") : 0;
	}
	log_info("auth: created admin key %s (no active key existed)", row.id);
	*key_out = key;
	return 1;
}

int srv_auth_json_time(json_t *o, const char *field, int64_t ms)
{
	char t[32];

	if (!ms)
		return 0;
	srv_time_iso(ms, false, t);
	return json_object_set_new(o, field, json_string(t));
}

static json_t *key_json(const struct srv_key_row *row, int64_t now)
{
	json_t *o = json_object(), *name = json_string(row->name), *desc = json_string(row->description);
	struct srv_rights r;

	row_rights(row, &r);
	json_object_set_new(o, "id", json_string(row->id));
	/* only a database edited by hand can hold a name that is not UTF-8 */
	json_object_set_new(o, "name", name ? name : json_string("?"));
	json_object_set_new(o, "description", desc ? desc : json_string("?"));
	json_object_set_new(o, "admin", json_boolean(row->admin));
	json_object_set_new(o, "network", json_boolean(!row->no_network));
	json_t *perms = json_array();
	for (unsigned c = 1; c <= SRV_CAP_ALL; c <<= 1)
		if (r.caps & c)
			json_array_append_new(perms, json_string(srv_cap_name(c)));
	json_object_set_new(o, "permissions", perms);
	if (r.ngrants) {
		json_t *g = json_array();
		for (unsigned i = 0; i < r.ngrants; i++)
			json_array_append_new(g, json_pack("{s:s, s:s}", "session_id", r.grants[i].session_id, "level",
							   srv_level_name(r.grants[i].level)));
		json_object_set_new(o, "sessions", g);
	}
	if (row->owner[0])
		json_object_set_new(o, "owner", json_string(row->owner));
	if (row->created_by[0])
		json_object_set_new(o, "created_by", json_string(row->created_by));
	srv_auth_json_time(o, "created_at", row->created_at ? row->created_at : 1);
	srv_auth_json_time(o, "expires_at", row->expires_at);
	srv_auth_json_time(o, "revoked_at", row->revoked_at);
	srv_auth_json_time(o, "last_used_at", row->last_used_at);
	json_object_set_new(o, "expired", json_boolean(srv_rights_expired(&r, now)));
	return o;
}

/* May principal (NULL: the operator) see and revoke the key in row? (auth.h: srv_auth_key_list_as) */
static bool key_visible(const char *principal, const struct srv_rights *pr, const struct srv_key_row *row)
{
	const char *kid;

	if (!principal || pr->admin)
		return true;
	kid = srv_principal_key_id(principal);
	if (kid && !strcmp(kid, row->id))
		return true;	/* itself */
	if (!strcmp(row->created_by, principal))
		return true;	/* made by it */
	/* a credential with every right of its owner speaks for the owner */
	return pr->caps == SRV_CAP_ALL && !pr->ngrants && srv_principal_owned_by(principal, row->owner);
}

static int list_filtered(struct srv_auth *a, struct srv_store *st, const char *principal, json_t **out,
			 struct err **errp)
{
	struct srv_key_row *rows;
	struct srv_rights pr = { 0 };
	size_t n;
	json_t *arr;
	int64_t now = (int64_t)wall_ms();

	if (principal && !srv_auth_rights(a, principal, &pr))
		return err_setc(errp, ERR_DENIED, 0, "the key making this request was revoked or has expired");
	if (srv_store_key_list(st, &rows, &n, errp) < 0)
		return -1;
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		if (key_visible(principal, &pr, &rows[i]))
			json_array_append_new(arr, key_json(&rows[i], now));
	free(rows);
	*out = arr;
	return 0;
}

int srv_auth_key_list(struct srv_store *st, json_t **out, struct err **errp)
{
	return list_filtered(NULL, st, NULL, out, errp);
}

int srv_auth_key_list_as(struct srv_auth *a, const char *principal, json_t **out, struct err **errp)
{
	return list_filtered(a, a->st, principal, out, errp);
}

/*
 * Revoke the active keys that key id made, and theirs in turn: a key's children must not outlive
 * it (a leaked key cannot leave keys behind). One walk of the list per generation of children.
 */
static int revoke_children(struct srv_store *st, const char *id, int64_t at, struct err **errp)
{
	struct srv_key_row *rows;
	size_t n, m = 1;
	char (*ids)[sizeof(rows->id)];	/* revoked here: id, then the children found */
	int rc = 0;

	if (srv_store_key_list(st, &rows, &n, errp) < 0)
		return -1;
	ids = xcalloc(n + 1, sizeof(*ids));
	snprintf(ids[0], sizeof(ids[0]), "%s", id);
	for (bool more = true; more && rc == 0;) {
		more = false;
		for (size_t i = 0; i < n && rc == 0; i++) {
			const char *parent = srv_principal_key_id(rows[i].created_by);
			bool of_revoked = false;

			for (size_t j = 0; parent && !rows[i].revoked_at && !of_revoked && j < m; j++)
				of_revoked = !strcmp(parent, ids[j]);
			if (!of_revoked)
				continue;
			if (srv_store_key_revoke(st, rows[i].id, at, errp) < 0) {
				rc = -1;
				break;
			}
			rows[i].revoked_at = at;
			snprintf(ids[m++], sizeof(ids[0]), "%s", rows[i].id);
			more = true;
			log_info("auth: revoked key %s (made by a revoked key)", rows[i].id);
		}
	}
	free(ids);
	free(rows);
	return rc;
}

int srv_auth_key_revoke(struct srv_store *st, const char *id, struct err **errp)
{
	struct srv_key_row row;
	int64_t now = (int64_t)wall_ms();
	char t[32];
	int rc;

	if (!id || !*id || strlen(id) >= sizeof(row.id))
		return err_setc(errp, ERR_NOT_FOUND, ENOENT, "no key with id \"%.40s\"", id ? id : "");
	rc = srv_store_key_revoke(st, id, now, errp);
	if (rc < 0)
		return err_wrap(errp, "revoke key %s", id);
	if (rc == 1) {
		log_info("auth: revoked key %s", id);
		if (revoke_children(st, id, now, errp) < 0)
			return err_wrap(errp, "revoke the keys key %s made", id);
		return 0;
	}
	rc = srv_store_key_find_id(st, id, &row, errp);
	if (rc < 0)
		return err_wrap(errp, "revoke key %s", id);
	if (rc == 0)
		return err_setc(errp, ERR_NOT_FOUND, ENOENT, "no key with id \"%s\"", id);
	srv_time_iso(row.revoked_at, false, t);
	return err_setc(errp, ERR_CONFLICT, EALREADY, "key %s is already revoked (since %s)", id, t);
}

int srv_auth_active_keys(struct srv_store *st, struct err **errp)
{
	return srv_store_key_count(st, true, errp);
}

/* ---- the verifier's cache ---- */

static size_t bucket_of(const struct srv_auth *a, const unsigned char *hash)
{
	uint64_t v;

	/* SHA-256 output is uniform: its first bytes are a good hash already */
	memcpy(&v, hash, sizeof(v));
	return (size_t)(v & (a->nbuckets - 1));
}

static size_t id_bucket_of(const struct srv_auth *a, const char *id)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return (size_t)(h & (a->nbuckets - 1));
}

static void cache_clear(struct srv_auth *a)
{
	for (size_t i = 0; i < a->nbuckets; i++) {
		struct cache_entry *e = a->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			explicit_bzero(e, sizeof(*e));
			free(e);
		}
		a->buckets[i] = NULL;
		a->id_buckets[i] = NULL;
	}
	a->n = 0;
}

static struct cache_entry *cache_find(struct srv_auth *a, const unsigned char *hash)
{
	for (struct cache_entry *e = a->buckets[bucket_of(a, hash)]; e; e = e->next)
		if (CRYPTO_memcmp(e->hash, hash, SRV_KEY_HASH_LEN) == 0)
			return e;
	return NULL;
}

static struct cache_entry *cache_find_id(struct srv_auth *a, const char *id)
{
	for (struct cache_entry *e = a->id_buckets[id_bucket_of(a, id)]; e; e = e->next_id)
		if (!strcmp(e->p.id, id))
			return e;
	return NULL;
}

static void cache_link(struct srv_auth *a, struct cache_entry *e)
{
	size_t b = bucket_of(a, e->hash), ib = id_bucket_of(a, e->p.id);

	e->next = a->buckets[b];
	a->buckets[b] = e;
	e->next_id = a->id_buckets[ib];
	a->id_buckets[ib] = e;
}

static void cache_grow(struct srv_auth *a)
{
	struct cache_entry **old = a->buckets;
	size_t oldn = a->nbuckets;

	a->nbuckets *= 2;
	a->buckets = xcalloc(a->nbuckets, sizeof(*a->buckets));
	free(a->id_buckets);
	a->id_buckets = xcalloc(a->nbuckets, sizeof(*a->id_buckets));
	for (size_t i = 0; i < oldn; i++) {
		struct cache_entry *e = old[i], *next;

		for (; e; e = next) {
			next = e->next;
			cache_link(a, e);
		}
	}
	free(old);
}

static struct cache_entry *cache_add(struct srv_auth *a, const struct srv_key_row *row)
{
	struct cache_entry *e = xcalloc(1, sizeof(*e));

	if (a->n >= a->nbuckets)
		cache_grow(a);
	memcpy(e->hash, row->hash, SRV_KEY_HASH_LEN);
	snprintf(e->p.id, sizeof(e->p.id), "%s", row->id);
	snprintf(e->p.name, sizeof(e->p.name), "%s", row->name);
	snprintf(e->p.owner, sizeof(e->p.owner), "%s", row->owner);
	row_rights(row, &e->p.rights);
	e->p.admin = e->p.rights.admin;
	e->p.no_network = e->p.rights.no_network;
	e->last_used_at = row->last_used_at;
	cache_link(a, e);
	a->n++;
	return e;
}

struct srv_auth *srv_auth_new(struct srv_store *st)
{
	struct srv_auth *a = xcalloc(1, sizeof(*a));

	a->st = st;
	a->nbuckets = 16;
	a->buckets = xcalloc(a->nbuckets, sizeof(*a->buckets));
	a->id_buckets = xcalloc(a->nbuckets, sizeof(*a->id_buckets));
	return a;
}

void srv_auth_free(struct srv_auth *a)
{
	if (!a)
		return;
	cache_clear(a);
	free(a->buckets);
	free(a->id_buckets);
	free(a);
}

/* Length of a well-formed key in s (trailing spaces/tabs allowed), or 0. */
static size_t key_shape(const char *s)
{
	const char *tail;

	if (strnlen(s, KEY_LEN) != KEY_LEN || memcmp(s, KEY_PREFIX, KEY_PREFIX_LEN) != 0)
		return 0;
	for (tail = s + KEY_LEN; *tail == ' ' || *tail == '\t'; tail++)
		;
	return *tail ? 0 : KEY_LEN;
}

static void touch(struct srv_auth *a, struct cache_entry *e)
{
	int64_t now = (int64_t)wall_ms();
	struct err *err = NULL;

	if (now - e->last_used_at < TOUCH_INTERVAL_MS && now >= e->last_used_at)
		return;
	/* Remember the attempt even if it fails: a failing store is not retried on every request. */
	e->last_used_at = now;
	if (srv_store_key_touch(a->st, e->p.id, now, &err) < 0) {
		log_warn("auth: %s", err_text(err));
		err_free(err);
	}
}

/*
 * A key of a user counts while the user exists, is enabled and still has the role its owner string
 * names ("admin:user:NAME" for the admin roles): a disabled or demoted user's keys stop with the
 * user's tokens. Checked when a key enters the cache; user changes move the store's generation,
 * which empties the cache. Other owners (a CLI key, stdio's "local") have no row to check.
 */
static bool owner_valid(struct srv_store *st, const struct srv_key_row *row)
{
	struct srv_user_row u;
	struct err *err = NULL;
	bool admin = !strncmp(row->owner, "admin:user:", 11);
	const char *name = admin ? row->owner + 11 : !strncmp(row->owner, "user:", 5) ? row->owner + 5 : NULL;
	int rc;

	if (!name)
		return true;
	rc = srv_store_user_get(st, name, &u, &err);
	if (rc < 0) {
		log_warn("auth: cannot check the user of key %s: %s", row->id, err_text(err));
		err_free(err);
	}
	return rc == 1 && !u.disabled_at && admin == (strcmp(u.role, "user") != 0);
}

/* Flush the cache when keys may have changed (in any process). 0, or -1 when the store fails (logged). */
static int cache_fresh(struct srv_auth *a)
{
	struct err *err = NULL;
	uint64_t gen;

	if (srv_store_generation(a->st, &gen, &err) < 0) {
		log_warn("auth: cannot check a key: %s", err_text(err));
		err_free(err);
		return -1;
	}
	if (gen != a->gen) {
		cache_clear(a);
		a->gen = gen;
	}
	return 0;
}

int srv_auth_verify(struct srv_auth *a, const char *key, struct srv_principal *p)
{
	unsigned char hash[SRV_KEY_HASH_LEN];
	struct srv_key_row row;
	struct cache_entry *e;
	struct err *err = NULL;
	size_t len;
	int rc;

	if (!key || !(len = key_shape(key)))
		return 0;
	/* Another process (or this one) may have revoked a key since the cache was filled. */
	if (cache_fresh(a) < 0)
		return 0;
	if (key_hash(key, len, hash) < 0) {
		log_warn("auth: SHA-256 failed");
		return 0;
	}
	e = cache_find(a, hash);
	if (!e) {
		rc = srv_store_key_find_hash(a->st, hash, &row, &err);
		if (rc < 0) {
			log_warn("auth: cannot check a key: %s", err_text(err));
			err_free(err);
			return 0;
		}
		if (rc == 0 || row.revoked_at || CRYPTO_memcmp(row.hash, hash, SRV_KEY_HASH_LEN) != 0 ||
		    !owner_valid(a->st, &row))
			return 0;
		e = cache_add(a, &row);
	}
	if (srv_rights_expired(&e->p.rights, (int64_t)wall_ms()))
		return 0;
	touch(a, e);
	*p = e->p;
	return 1;
}

int srv_principal_format(const struct srv_principal *p, char *out, size_t cap)
{
	const char *flag = p->admin ? "admin:" : p->no_network ? "nonet:" : "";
	int n;

	if (p->owner[0])
		n = snprintf(out, cap, "%s#%s%s", p->owner, flag, p->id);
	else
		n = snprintf(out, cap, "%s%s", flag, p->id);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int srv_auth_rights(struct srv_auth *a, const char *principal, struct srv_rights *out)
{
	const char *kid = srv_principal_key_id(principal);
	struct cache_entry *e;

	if (!kid) {
		srv_rights_full(out, srv_principal_is_admin(principal), srv_principal_is_no_network(principal));
		return 1;
	}
	if (cache_fresh(a) < 0)
		return 0;
	e = cache_find_id(a, kid);
	if (!e) {
		struct srv_key_row row;
		struct err *err = NULL;
		int rc = srv_store_key_find_id(a->st, kid, &row, &err);

		if (rc < 0) {
			log_warn("auth: cannot check a key: %s", err_text(err));
			err_free(err);
		}
		if (rc <= 0 || row.revoked_at || !owner_valid(a->st, &row))
			return 0;
		e = cache_add(a, &row);
	}
	/* the string was made from this key (the server makes them): its owner part must agree */
	if (e->p.owner[0] ? !srv_principal_owned_by(principal, e->p.owner) : strchr(principal, '#') != NULL)
		return 0;
	if (srv_rights_expired(&e->p.rights, (int64_t)wall_ms()))
		return 0;
	*out = e->p.rights;
	return 1;
}

void srv_auth_set_key_quota(struct srv_auth *a, uint64_t keys_max)
{
	a->keys_max = keys_max;
}

/* Room for one more key of owner under quota.keys. A full owner's revoked and
   expired keys (they grant nothing) are dropped first, so revoking one makes
   room and create-and-revoke cannot grow the table without end. */
static int key_room(struct srv_auth *a, const char *owner, struct err **errp)
{
	int n = srv_store_key_count_owner(a->st, owner, errp), dropped;

	if (n >= 0 && (uint64_t)n >= a->keys_max) {
		if ((dropped = srv_store_key_prune_owner(a->st, owner, (int64_t)wall_ms(), errp)) < 0)
			return err_wrap(errp, "drop the revoked keys of %s", owner);
		if (dropped)
			n = srv_store_key_count_owner(a->st, owner, errp);
	}
	if (n < 0)
		return err_wrap(errp, "count the keys of %s", owner);
	if ((uint64_t)n >= a->keys_max)
		return err_setc(errp, ERR_LIMIT, 0, "quota: this key may hold %" PRIu64 " keys (with the keys they made) and "
			       "holds %d (revoke one, or ask the operator for a larger quota)", a->keys_max, n);
	return 0;
}

void srv_key_made_release(struct srv_key_made *m)
{
	srv_auth_key_free(m->key);
	m->key = NULL;
	json_decref(m->info);
	m->info = NULL;
}

int srv_auth_key_make(struct srv_auth *a, const char *principal, const struct srv_key_spec *spec,
		      enum srv_level (*reach)(void *arg, const char *sid), void *arg, struct srv_key_made *out,
		      struct err **errp)
{
	struct srv_rights creator, want = spec->rights;
	struct srv_key_row row;
	char owner[SRV_PRINCIPAL_MAX];
	char *key;

	if (!principal)
		srv_rights_full(&creator, true, false);
	else if (!srv_auth_rights(a, principal, &creator))
		return err_setc(errp, ERR_DENIED, 0, "the key making this request was revoked or has expired");
	if (srv_rights_derive(&creator, spec->caps_set, &want, (int64_t)wall_ms(), principal ? reach : NULL, arg,
			      errp) < 0)
		return -1;
	snprintf(owner, sizeof(owner), "%.*s", principal ? (int)srv_principal_owner_len(principal) : 0,
		 principal ? principal : "");
	/* a key's quotas are its owner's, so are its keys': none can mint more room for itself */
	if (principal && a->keys_max && !srv_principal_is_admin(principal) && key_room(a, owner, errp) < 0)
		return -1;
	if (key_new_row(spec->name && *spec->name ? spec->name : "unnamed", spec->description ? spec->description : "",
			&want, owner, principal ? principal : "", &row, &key, errp) < 0)
		return -1;
	if (srv_store_key_insert(a->st, &row, false, errp) < 0) {
		srv_auth_key_free(key);
		return err_wrap(errp, "create key");
	}
	log_info("auth: %s made key %s", principal ? principal : "the operator", row.id);
	out->key = key;
	snprintf(out->id, sizeof(out->id), "%s", row.id);
	out->info = key_json(&row, (int64_t)wall_ms());
	return 0;
}

int srv_auth_key_revoke_as(struct srv_auth *a, const char *principal, const char *id, struct err **errp)
{
	struct srv_key_row row;
	struct srv_rights pr = { 0 };
	int rc;

	if (principal && !srv_auth_rights(a, principal, &pr))
		return err_setc(errp, ERR_DENIED, 0, "the key making this request was revoked or has expired");
	if (!id || !*id || strlen(id) >= sizeof(row.id))
		return err_setc(errp, ERR_NOT_FOUND, 0, "no key with id \"%.40s\"", id ? id : "");
	rc = srv_store_key_find_id(a->st, id, &row, errp);
	if (rc < 0)
		return err_wrap(errp, "revoke key %s", id);
	if (rc == 0 || !key_visible(principal, &pr, &row))
		return err_setc(errp, ERR_NOT_FOUND, 0, "no key with id \"%s\"", id);
	if (srv_auth_key_revoke(a->st, id, errp) < 0)
		return -1;
	/* this process's cache must not keep it a moment longer (the generation moves too) */
	cache_clear(a);
	return 0;
}
