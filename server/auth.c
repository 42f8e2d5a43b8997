#include "auth.h"
#include "base/base64.h"
#include "base/common.h"
#include "base/log.h"

#include <assert.h>
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
	unsigned char hash[SRV_KEY_HASH_LEN];
	struct srv_principal p;
	int64_t last_used_at;	/* as last written to (or read from) the store */
};

struct srv_auth {
	struct srv_store *st;
	uint64_t gen;		/* store generation the cache is valid for; 0: none yet */
	struct cache_entry **buckets;
	size_t nbuckets;	/* a power of two */
	size_t n;
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

static void iso_time(int64_t ms, char *out, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, size, "?");
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

/* Build a row for a new key; the secret goes to *key_out. */
static int key_new_row(const char *name, unsigned flags, struct srv_key_row *row, char **key_out, struct err **errp)
{
	char *id, *key;

	if (check_name(name, errp) < 0)
		return -1;
	memset(row, 0, sizeof(*row));
	id = random_id("key_", 6);
	snprintf(row->id, sizeof(row->id), "%s", id);
	free(id);
	snprintf(row->name, sizeof(row->name), "%s", name);
	row->admin = flags & SRV_KEY_ADMIN;
	row->no_network = flags & SRV_KEY_NO_NETWORK;
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
	char *key;

	if (key_new_row(name, flags, &row, &key, errp) < 0)
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

	if (key_new_row(BOOTSTRAP_NAME, SRV_KEY_ADMIN, &row, &key, errp) < 0)
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
	iso_time(ms, t, sizeof(t));
	return json_object_set_new(o, field, json_string(t));
}

int srv_auth_key_list(struct srv_store *st, json_t **out, struct err **errp)
{
	struct srv_key_row *rows;
	size_t n;
	json_t *arr;

	if (srv_store_key_list(st, &rows, &n, errp) < 0)
		return -1;
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object(), *name = json_string(rows[i].name);

		json_object_set_new(o, "id", json_string(rows[i].id));
		/* only a database edited by hand can hold a name that is not UTF-8 */
		json_object_set_new(o, "name", name ? name : json_string("?"));
		json_object_set_new(o, "admin", json_boolean(rows[i].admin));
		json_object_set_new(o, "network", json_boolean(!rows[i].no_network));
		srv_auth_json_time(o, "created_at", rows[i].created_at ? rows[i].created_at : 1);
		srv_auth_json_time(o, "revoked_at", rows[i].revoked_at);
		srv_auth_json_time(o, "last_used_at", rows[i].last_used_at);
		json_array_append_new(arr, o);
	}
	free(rows);
	*out = arr;
	return 0;
}

int srv_auth_key_revoke(struct srv_store *st, const char *id, struct err **errp)
{
	struct srv_key_row row;
	char t[32];
	int rc;

	if (!id || !*id || strlen(id) >= sizeof(row.id))
		return err_set(errp, 0, "no key with id \"%.40s\"", id ? id : "");
	rc = srv_store_key_revoke(st, id, (int64_t)wall_ms(), errp);
	if (rc < 0)
		return err_wrap(errp, "revoke key %s", id);
	if (rc == 1) {
		log_info("auth: revoked key %s", id);
		return 0;
	}
	rc = srv_store_key_find_id(st, id, &row, errp);
	if (rc < 0)
		return err_wrap(errp, "revoke key %s", id);
	if (rc == 0)
		return err_set(errp, 0, "no key with id \"%s\"", id);
	iso_time(row.revoked_at, t, sizeof(t));
	return err_set(errp, 0, "key %s is already revoked (since %s)", id, t);
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

static void cache_grow(struct srv_auth *a)
{
	struct cache_entry **old = a->buckets;
	size_t oldn = a->nbuckets;

	a->nbuckets *= 2;
	a->buckets = xcalloc(a->nbuckets, sizeof(*a->buckets));
	for (size_t i = 0; i < oldn; i++) {
		struct cache_entry *e = old[i], *next;

		for (; e; e = next) {
			size_t b = bucket_of(a, e->hash);

			next = e->next;
			e->next = a->buckets[b];
			a->buckets[b] = e;
		}
	}
	free(old);
}

static struct cache_entry *cache_add(struct srv_auth *a, const struct srv_key_row *row)
{
	struct cache_entry *e = xcalloc(1, sizeof(*e));
	size_t b;

	if (a->n >= a->nbuckets)
		cache_grow(a);
	memcpy(e->hash, row->hash, SRV_KEY_HASH_LEN);
	snprintf(e->p.id, sizeof(e->p.id), "%s", row->id);
	snprintf(e->p.name, sizeof(e->p.name), "%s", row->name);
	e->p.admin = row->admin;
	e->p.no_network = row->no_network;
	e->last_used_at = row->last_used_at;
	b = bucket_of(a, e->hash);
	e->next = a->buckets[b];
	a->buckets[b] = e;
	a->n++;
	return e;
}

struct srv_auth *srv_auth_new(struct srv_store *st)
{
	struct srv_auth *a = xcalloc(1, sizeof(*a));

	a->st = st;
	a->nbuckets = 16;
	a->buckets = xcalloc(a->nbuckets, sizeof(*a->buckets));
	return a;
}

void srv_auth_free(struct srv_auth *a)
{
	if (!a)
		return;
	cache_clear(a);
	free(a->buckets);
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

int srv_auth_verify(struct srv_auth *a, const char *key, struct srv_principal *p)
{
	unsigned char hash[SRV_KEY_HASH_LEN];
	struct srv_key_row row;
	struct cache_entry *e;
	struct err *err = NULL;
	uint64_t gen;
	size_t len;
	int rc;

	if (!key || !(len = key_shape(key)))
		return 0;
	/* Another process (or this one) may have revoked a key since the cache was filled. */
	if (srv_store_generation(a->st, &gen, &err) < 0)
		goto store_failed;
	if (gen != a->gen) {
		cache_clear(a);
		a->gen = gen;
	}
	if (key_hash(key, len, hash) < 0) {
		log_warn("auth: SHA-256 failed");
		return 0;
	}
	e = cache_find(a, hash);
	if (!e) {
		rc = srv_store_key_find_hash(a->st, hash, &row, &err);
		if (rc < 0)
			goto store_failed;
		if (rc == 0 || row.revoked_at || CRYPTO_memcmp(row.hash, hash, SRV_KEY_HASH_LEN) != 0)
			return 0;
		e = cache_add(a, &row);
	}
	touch(a, e);
	*p = e->p;
	return 1;
store_failed:
	log_warn("auth: cannot check a key: %s", err_text(err));
	err_free(err);
	return 0;
}

