/* Unit tests of the store (server/store.c), API keys (server/auth.c) and `mcpbox key` (server/keycmd.c). */
#include "tap.h"
#include "transport/http.h"
#include "server/auth.h"
#include "server/base/common.h"
#include "server/store.h"
#include "server/users.h"
#include "server/jwt.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <sys/stat.h>

static char *path_in(const char *dir, const char *file)
{
	size_t n = strlen(dir) + strlen(file) + 2;
	char *p = xmalloc(n);

	snprintf(p, n, "%s/%s", dir, file);
	return p;
}

/* Append the whole file to *data; a missing file adds nothing. */
static void slurp(const char *path, char **data, size_t *len)
{
	char chunk[65536];
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	while ((r = read(fd, chunk, sizeof(chunk))) > 0) {
		*data = xrealloc(*data, *len + (size_t)r);
		memcpy(*data + *len, chunk, (size_t)r);
		*len += (size_t)r;
	}
	close(fd);
}

/* Every byte the database has on disk: the main file and the write-ahead log. */
static char *db_bytes(const char *dir, size_t *len)
{
	const char *files[] = { "mcpbox.db", "mcpbox.db-wal" };
	char *data = NULL;

	*len = 0;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char *p = path_in(dir, files[i]);
		slurp(p, &data, len);
		free(p);
	}
	return data;
}

static bool contains(const char *hay, size_t n, const void *needle, size_t m)
{
	return hay && memmem(hay, n, needle, m) != NULL;
}

/* A side connection, as a curious operator with the sqlite3 shell would have. */
static sqlite3 *raw_open(const char *dir)
{
	char *p = path_in(dir, "mcpbox.db");
	sqlite3 *db = NULL;

	if (sqlite3_open(p, &db) != SQLITE_OK) {
		printf("# raw open: %s\n", sqlite3_errmsg(db));
		exit(1);
	}
	sqlite3_busy_timeout(db, 5000);
	free(p);
	return db;
}

static long long raw_int(const char *dir, const char *sql)
{
	sqlite3 *db = raw_open(dir);
	sqlite3_stmt *s = NULL;
	long long v = -12345;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static char *raw_text(const char *dir, const char *sql)
{
	sqlite3 *db = raw_open(dir);
	sqlite3_stmt *s = NULL;
	char *v = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_text(s, 0))
		v = xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void raw_exec(const char *dir, const char *sql)
{
	sqlite3 *db = raw_open(dir);

	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		printf("# raw exec %s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void rm_db(const char *dir)
{
	const char *files[] = { "mcpbox.db", "mcpbox.db-wal", "mcpbox.db-shm" };

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char *p = path_in(dir, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(dir);
}

static char *mktemp_dir(void)
{
	char tmpl[] = "/tmp/mcpbox-store-XXXXXX";

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		exit(1);
	}
	return xstrdup(tmpl);
}

/* Run `mcpbox key ...` in this process with stdout captured. */
static int run_cli(const char *dir, char **out, int argc, char **argv)
{
	char tmpl[] = "/tmp/mcpbox-cli-XXXXXX";
	int fd = mkstemp(tmpl), saved, rc;
	size_t len = 0;
	char *data = NULL;

	fflush(stdout);
	saved = dup(1);
	dup2(fd, 1);
	rc = srv_key_command(argc, argv, dir);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(fd);
	slurp(tmpl, &data, &len);
	unlink(tmpl);
	data = xrealloc(data, len + 1);
	data[len] = '\0';
	*out = data;
	return rc;
}

static bool key_well_formed(const char *key)
{
	if (!key || strlen(key) != 50 || strncmp(key, "mcpbox_", 7))
		return false;
	for (const char *c = key + 7; *c; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		      *c == '-' || *c == '_'))
			return false;
	return true;
}

static bool id_well_formed(const char *id)
{
	if (!id || strlen(id) != 16 || strncmp(id, "key_", 4))
		return false;
	for (const char *c = id + 4; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return false;
	return true;
}

static json_t *find_key(json_t *list, const char *id)
{
	size_t i;
	json_t *k;

	json_array_foreach(list, i, k)
		if (!strcmp(json_string_value(json_object_get(k, "id")), id))
			return k;
	return NULL;
}

static bool iso_utc(const char *s)
{
	/* 2024-05-01T12:34:56Z */
	return s && strlen(s) == 20 && s[4] == '-' && s[10] == 'T' && s[19] == 'Z';
}

static void test_migrations(void)
{
	char *dir = mktemp_dir(), *mode;
	struct srv_store *st = NULL;
	struct err *e = NULL;
	struct stat sb;

	ok(srv_store_open(&st, dir, &e) == 0, "open on a fresh directory");
	if (e)
		printf("#   %s\n", err_text(e));
	ok(srv_store_schema_version() >= 1, "at least one migration");
	ok(raw_int(dir, "PRAGMA user_version") == srv_store_schema_version(), "user_version records the migrations");
	ok(raw_int(dir, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'keys'") == 1,
	   "keys table exists");
	mode = raw_text(dir, "PRAGMA journal_mode");
	is_str(mode, "wal", "the database is in WAL mode");
	free(mode);
	char *p = path_in(dir, "mcpbox.db");
	ok(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600, "database file is private (0600)");
	free(p);
	srv_store_close(st);
	st = NULL;

	ok(srv_store_open(&st, dir, &e) == 0, "reopen is fine");
	ok(raw_int(dir, "PRAGMA user_version") == srv_store_schema_version(), "reopen leaves user_version alone");
	srv_store_close(st);
	st = NULL;

	raw_exec(dir, "PRAGMA user_version = 99");
	ok(srv_store_open(&st, dir, &e) < 0 && !st, "a database from a newer mcpbox is refused");
	ok(e && strstr(err_text(e), "newer") && strstr(err_text(e), "99"), "with a clear message: %s", e ? err_text(e) : "(none)");
	err_free(e);
	e = NULL;
	ok(raw_int(dir, "PRAGMA user_version") == 99, "and is left untouched");
	{
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", srv_store_schema_version());
		raw_exec(dir, sql);
	}
	ok(srv_store_open(&st, dir, &e) == 0, "opens again once the version is back");
	srv_store_close(st);
	st = NULL;
	rm_db(dir);
	free(dir);

	/* not a database at all */
	dir = mktemp_dir();
	p = path_in(dir, "mcpbox.db");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok(fd >= 0 && write(fd, "this is not sqlite, just text long enough to look like a header....\n", 68) == 68,
	   "wrote a garbage file");
	close(fd);
	free(p);
	ok(srv_store_open(&st, dir, &e) < 0 && e && err_text(e)[0], "garbage file refused: %s", e ? err_text(e) : "");
	err_free(e);
	e = NULL;
	rm_db(dir);
	free(dir);
}

static void test_header(void)
{
	const char *t;

	is_str(tp_bearer_token("Bearer abc"), "abc", "Bearer token");
	is_str(tp_bearer_token("  bEaReR \t abc"), "abc", "scheme case-insensitive, spaces skipped");
	t = tp_bearer_token("Bearer abc  ");
	ok(t && !strncmp(t, "abc", 3) && strspn(t + 3, " ") == strlen(t + 3), "trailing spaces left after the token");
	ok(!tp_bearer_token(NULL), "NULL header");
	ok(!tp_bearer_token("Basic abc"), "other scheme");
	ok(!tp_bearer_token("Bearer"), "no token");
	ok(!tp_bearer_token("Bearer   "), "blank token");
	ok(!tp_bearer_token("Bearerabc"), "no space after scheme");
	ok(!tp_bearer_token("Bearer a b"), "space inside the token");
	ok(!tp_bearer_token(""), "empty header");
}

static void test_keys(void)
{
	char *dir = mktemp_dir();
	struct srv_store *st = NULL, *st2 = NULL;
	struct srv_auth *a = NULL, *a2 = NULL;
	struct srv_principal p;
	struct err *e = NULL;
	char *key = NULL, *id = NULL, *key2 = NULL, *id2 = NULL, *k;
	char *secrets[64];
	size_t nsecrets = 0;
	json_t *list;

	ok(srv_store_open(&st, dir, &e) == 0, "open");
	a = srv_auth_new(st);
	ok(srv_auth_active_keys(st, &e) == 0, "no keys at first");

	ok(srv_auth_key_create(st, "alice", false, &key, &id, &e) == 0, "create a key");
	if (e)
		printf("#   %s\n", err_text(e));
	ok(key_well_formed(key), "key is mcpbox_ + 43 base64url chars: %s", key ? key : "");
	ok(id_well_formed(id), "id is key_ + 12 hex: %s", id ? id : "");
	secrets[nsecrets++] = xstrdup(key);

	memset(&p, 0, sizeof(p));
	ok(srv_auth_verify(a, key, &p) == 1, "the new key verifies");
	is_str(p.id, id, "principal id");
	is_str(p.name, "alice", "principal name");
	ok(!p.admin, "not admin");
	ok(srv_auth_verify(a, key, &p) == 1, "verifies again (from the cache)");

	/* Anything else is invalid, not an error. */
	ok(srv_auth_verify(a, NULL, &p) == 0, "NULL key invalid");
	ok(srv_auth_verify(a, "", &p) == 0, "empty key invalid");
	ok(srv_auth_verify(a, "mcpbox_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &p) == 0, "wrong key invalid");
	char *big = xmalloc(10241);
	memset(big, 'A', 10240);
	big[10240] = '\0';
	ok(srv_auth_verify(a, big, &p) == 0, "10 KB of garbage invalid");
	memcpy(big, key, strlen(key));
	ok(srv_auth_verify(a, big, &p) == 0, "the key followed by 10 KB of garbage invalid");
	free(big);
	size_t positions[] = { 0, 6, 7, 20, 49 };
	for (size_t i = 0; i < ARRAY_SIZE(positions); i++) {
		char *m = xstrdup(key);
		m[positions[i]] = m[positions[i]] == 'x' ? 'y' : 'x';
		ok(srv_auth_verify(a, m, &p) == 0, "one character changed at %zu: invalid", positions[i]);
		free(m);
	}
	char *shorter = xstrndup(key, 49);
	ok(srv_auth_verify(a, shorter, &p) == 0, "last character missing: invalid");
	free(shorter);
	size_t klen = strlen(key);
	char *spaced = xmalloc(klen + 4);
	snprintf(spaced, klen + 4, " %s", key);
	ok(srv_auth_verify(a, spaced, &p) == 0, "leading space: invalid");
	snprintf(spaced, klen + 4, "%s \t", key);
	ok(srv_auth_verify(a, spaced, &p) == 1, "trailing spaces (left by the header parser) ignored");
	free(spaced);
	char hdr[128];
	snprintf(hdr, sizeof(hdr), "Bearer %s", key);
	ok(srv_auth_verify(a, tp_bearer_token(hdr), &p) == 1, "header → verify");

	/* last use is written once, then not again within a minute */
	list = NULL;
	ok(srv_auth_key_list(st, &list, &e) == 0 && json_array_size(list) == 1, "list has the key");
	json_t *j = find_key(list, id);
	ok(j && json_is_false(json_object_get(j, "admin")) && iso_utc(json_string_value(json_object_get(j, "created_at"))),
	   "listed with admin false and an ISO 8601 created_at");
	ok(j && iso_utc(json_string_value(json_object_get(j, "last_used_at"))), "last_used_at recorded");
	ok(j && !json_object_get(j, "revoked_at"), "no revoked_at while active");
	json_decref(list);
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT last_used_at FROM keys WHERE id = '%s'", id);
	long long used = raw_int(dir, sql);
	ok(used > 0, "last_used_at is in the database");
	usleep(5000);
	ok(srv_auth_verify(a, key, &p) == 1 && raw_int(dir, sql) == used, "not rewritten on the next request");

	/* revocation in this process: immediate */
	ok(srv_auth_key_revoke(st, id, &e) == 0, "revoke");
	ok(srv_auth_verify(a, key, &p) == 0, "revoked key invalid at once (same process)");
	ok(srv_auth_key_revoke(st, id, &e) < 0 && e && strstr(err_text(e), "already revoked"),
	   "revoking twice says so: %s", e ? err_text(e) : "");
	err_free(e);
	e = NULL;
	ok(srv_auth_key_revoke(st, "key_000000000000", &e) < 0 && e && strstr(err_text(e), "no key"),
	   "unknown id: %s", e ? err_text(e) : "");
	err_free(e);
	e = NULL;
	ok(srv_auth_key_revoke(st, "", &e) < 0, "empty id refused");
	err_free(e);
	e = NULL;

	/* revocation by another process (the CLI): noticed on the next verify */
	ok(srv_auth_key_create(st, "bob", true, &key2, &id2, &e) == 0, "create an admin key");
	secrets[nsecrets++] = xstrdup(key2);
	ok(srv_auth_verify(a, key2, &p) == 1 && p.admin && !strcmp(p.name, "bob"), "admin principal");
	ok(srv_store_open(&st2, dir, &e) == 0, "a second store on the same database");
	a2 = srv_auth_new(st2);
	ok(srv_auth_verify(a2, key2, &p) == 1, "the second one sees the key");
	ok(srv_auth_key_revoke(st2, id2, &e) == 0, "revoke through the second store");
	ok(srv_auth_verify(a, key2, &p) == 0, "the first verifier notices on its next call");
	ok(srv_auth_verify(a2, key2, &p) == 0, "so does the second");

	/* keys created elsewhere are seen too */
	char *key3 = NULL, *id3 = NULL;
	ok(srv_auth_key_create(st2, "carol", false, &key3, &id3, &e) == 0, "create through the second store");
	secrets[nsecrets++] = xstrdup(key3);
	ok(srv_auth_verify(a, key3, &p) == 1 && !strcmp(p.id, id3), "the first verifier accepts it");

	ok(srv_auth_active_keys(st, &e) == 1, "one active key left");
	list = NULL;
	ok(srv_auth_key_list(st, &list, &e) == 0 && json_array_size(list) == 3, "list has three keys");
	j = find_key(list, id2);
	ok(j && iso_utc(json_string_value(json_object_get(j, "revoked_at"))) && json_is_true(json_object_get(j, "admin")),
	   "list shows revoked_at of the revoked key");
	ok(find_key(list, id3) && !json_object_get(find_key(list, id3), "revoked_at"), "and none for the active one");
	json_decref(list);

	/* names */
	char *kx = NULL, *ix = NULL;
	char longname[200];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	const char *bad_names[] = { "", longname, "a\nb", "\xff\xfe" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_names); i++) {
		ok(srv_auth_key_create(st, bad_names[i], false, &kx, &ix, &e) < 0 && !kx && !ix,
		   "bad name %zu refused: %s", i, e ? err_text(e) : "");
		err_free(e);
		e = NULL;
	}

	/* many keys: the cache grows and still finds every one */
	char *many[40];
	bool all = true;
	for (size_t i = 0; i < ARRAY_SIZE(many); i++) {
		char *mid = NULL;
		char nm[16];
		snprintf(nm, sizeof(nm), "k%zu", i);
		if (srv_auth_key_create(st, nm, false, &many[i], &mid, &e) < 0)
			all = false;
		free(mid);
	}
	for (size_t i = 0; i < ARRAY_SIZE(many); i++) {
		char nm[16];
		snprintf(nm, sizeof(nm), "k%zu", i);
		if (srv_auth_verify(a, many[i], &p) != 1 || strcmp(p.name, nm))
			all = false;
		secrets[nsecrets++] = xstrdup(many[i]);
		srv_auth_key_free(many[i]);
	}
	ok(all, "40 more keys all verify with their own names");

	/* bootstrap: only when no key is active */
	ok(srv_auth_bootstrap(st, &k, &e) == 0, "no bootstrap key while keys are active");

	/* reopen: same data */
	srv_auth_free(a2);
	srv_store_close(st2);
	srv_auth_free(a);
	srv_store_close(st);
	ok(srv_store_open(&st, dir, &e) == 0, "reopen");
	a = srv_auth_new(st);
	ok(srv_auth_verify(a, key3, &p) == 1 && srv_auth_verify(a, key2, &p) == 0, "keys and revocations persist");
	ok(raw_int(dir, "PRAGMA user_version") == srv_store_schema_version(), "still the same schema version");

	/* the secret is nowhere on disk, its hash is */
	size_t dlen;
	char *bytes = db_bytes(dir, &dlen);
	bool leak = false, hashes = true;
	ok(dlen > 0, "read %zu bytes of database and WAL", dlen);
	for (size_t i = 0; i < nsecrets; i++) {
		unsigned char h[32];
		unsigned int hl = 0;
		if (contains(bytes, dlen, secrets[i], strlen(secrets[i])) ||
		    contains(bytes, dlen, secrets[i] + 7, strlen(secrets[i]) - 7) ||
		    contains(bytes, dlen, secrets[i] + 7, 16))
			leak = true;
		EVP_Digest(secrets[i], strlen(secrets[i]), h, &hl, EVP_sha256(), NULL);
		if (!contains(bytes, dlen, h, sizeof(h)))
			hashes = false;
	}
	ok(!leak, "no key (nor part of one) appears in the database files");
	ok(hashes, "the SHA-256 of every key does");
	free(bytes);

	srv_auth_free(a);
	srv_store_close(st);
	for (size_t i = 0; i < nsecrets; i++)
		free(secrets[i]);
	srv_auth_key_free(key);
	srv_auth_key_free(key2);
	srv_auth_key_free(key3);
	free(id);
	free(id2);
	free(id3);
	rm_db(dir);
	free(dir);
}

static void test_bootstrap(void)
{
	char *dir = mktemp_dir();
	struct srv_store *st = NULL;
	struct srv_auth *a;
	struct srv_principal p;
	struct err *e = NULL;
	char *key = NULL, *again = NULL;

	ok(srv_store_open(&st, dir, &e) == 0, "open");
	a = srv_auth_new(st);
	ok(srv_auth_bootstrap(st, &key, &e) == 1 && key_well_formed(key), "bootstrap on an empty store creates a key");
	ok(srv_auth_verify(a, key, &p) == 1 && p.admin, "and it is an admin key (%s)", p.name);
	ok(srv_auth_bootstrap(st, &again, &e) == 0 && !again, "not a second time");
	ok(srv_auth_key_revoke(st, p.id, &e) == 0, "revoke it");
	ok(srv_auth_bootstrap(st, &again, &e) == 1 && again && strcmp(again, key), "no active key left: a new one");
	ok(srv_auth_active_keys(st, &e) == 1, "exactly one active key");
	srv_auth_key_free(key);
	srv_auth_key_free(again);
	srv_auth_free(a);
	srv_store_close(st);
	rm_db(dir);
	free(dir);
}

static void test_cli(void)
{
	char *dir = mktemp_dir(), *out = NULL, *key, *id;
	struct srv_store *st = NULL;
	struct srv_auth *a;
	struct srv_principal p;
	struct err *e = NULL;
	char *nl;

	ok(run_cli(dir, &out, 1, (char *[]){ "key", NULL }) == 2, "`key` alone: usage (2)");
	free(out);
	ok(run_cli(dir, &out, 2, (char *[]){ "key", "bogus", NULL }) == 2, "unknown subcommand: usage (2)");
	free(out);
	ok(run_cli(dir, &out, 3, (char *[]){ "key", "create", "--bogus", NULL }) == 2, "unknown option: usage (2)");
	free(out);
	ok(run_cli(dir, &out, 2, (char *[]){ "key", "revoke", NULL }) == 2, "revoke without id: usage (2)");
	free(out);
	char *db = path_in(dir, "mcpbox.db");
	ok(access(db, F_OK) < 0, "usage errors create no database");

	ok(run_cli(dir, &out, 5, (char *[]){ "key", "create", "--name", "ci runner", "--admin", NULL }) == 0,
	   "key create");
	nl = strchr(out, '\n');
	ok(nl && nl[1] == '\0', "stdout is one line");
	key = xstrndup(out, nl ? (size_t)(nl - out) : strlen(out));
	free(out);
	ok(key_well_formed(key), "and it is the key");

	ok(srv_store_open(&st, dir, &e) == 0, "open the store the CLI made");
	a = srv_auth_new(st);
	ok(srv_auth_verify(a, key, &p) == 1 && p.admin && !strcmp(p.name, "ci runner"), "the printed key verifies");
	id = xstrdup(p.id);

	ok(run_cli(dir, &out, 3, (char *[]){ "key", "create", "--name=plain", NULL }) == 0, "key create --name=");
	free(out);
	ok(run_cli(dir, &out, 2, (char *[]){ "key", "list", NULL }) == 0, "key list");
	ok(strstr(out, "ID") && strstr(out, id) && strstr(out, "ci runner") && strstr(out, "plain") &&
	   strstr(out, "yes") && !strstr(out, key), "table shows ids, names, admin, never keys");
	free(out);

	ok(run_cli(dir, &out, 3, (char *[]){ "key", "revoke", id, NULL }) == 0, "key revoke");
	free(out);
	ok(srv_auth_verify(a, key, &p) == 0, "a running verifier sees the CLI's revocation");
	ok(run_cli(dir, &out, 3, (char *[]){ "key", "revoke", id, NULL }) == 1, "revoking again fails (1)");
	free(out);
	ok(run_cli(dir, &out, 3, (char *[]){ "key", "revoke", "key_ffffffffffff", NULL }) == 1, "unknown id fails (1)");
	free(out);
	ok(run_cli(dir, &out, 2, (char *[]){ "key", "list", NULL }) == 0 && strstr(out, "Z  ") &&
	   strstr(out, "never"), "list shows the revocation time and unused keys");
	free(out);

	srv_auth_free(a);
	srv_store_close(st);
	srv_auth_key_free(key);
	free(id);
	free(db);
	rm_db(dir);
	free(dir);
}


static bool mode_is(const char *dir, const char *file, mode_t want)
{
	char *p = path_in(dir, file);
	struct stat sb;
	bool r = stat(p, &sb) == 0 && (sb.st_mode & 07777) == want;

	if (!r)
		printf("#   %s: mode %04o, want %04o\n", p, (unsigned)(sb.st_mode & 07777), (unsigned)want);
	free(p);
	return r;
}

/* Data at rest: private whatever the umask; wider existing paths are reported. */
static void test_private(void)
{
	char *top = mktemp_dir(), *dir = path_in(top, "data"), *snap = path_in(dir, "snapshots.git");
	char *logf = path_in(top, "log"), *log = NULL;
	struct srv_store *st = NULL;
	struct err *e = NULL;
	mode_t old = umask(0);
	size_t len = 0;
	int saved, fd;

	ok(srv_store_open(&st, dir, &e) == 0, "open with umask 0");
	ok(mode_is(top, "data", 0700) && mode_is(dir, "mcpbox.db", 0600) &&
	   mode_is(dir, "mcpbox.db-wal", 0600) && mode_is(dir, "mcpbox.db-shm", 0600),
	   "data directory 0700, database and its -wal/-shm 0600");
	srv_store_close(st);
	st = NULL;

	/* an operator (or an older mcpbox) left them open */
	chmod(dir, 0755);
	mkdir(snap, 0775);
	chmod(snap, 0775);
	{
		char *db = path_in(dir, "mcpbox.db");
		chmod(db, 0644);
		free(db);
	}
	fflush(stderr);
	saved = dup(2);
	fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	dup2(fd, 2);
	close(fd);
	ok(srv_store_open(&st, dir, &e) == 0, "open with wider modes still works");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	slurp(logf, &log, &len);
	log = xrealloc(log, len + 1);
	log[len] = '\0';
	ok(strstr(log, "/data is mode 0755") && strstr(log, "snapshots.git is mode 0775") &&
	   strstr(log, "mcpbox.db is mode 0644"), "each wider path is reported at start");
	if (!strstr(log, "snapshots.git is mode 0775"))
		printf("#   log: %s\n", log);
	srv_store_close(st);
	umask(old);
	free(log);
	free(logf);
	free(snap);
	free(dir);
	free(top);
}

/* Users (server/users.c over the store): add, duplicates, passwords, disable, list, generation. */
static void test_users(void)
{
	char *dir = mktemp_dir();
	struct srv_store *st = NULL;
	struct srv_user_row row;
	struct err *e = NULL;
	uint64_t g0, g1;
	json_t *list;

	ok(srv_store_open(&st, dir, &e) == 0, "open");
	ok(srv_user_add(st, "alice", "user", "password-1", 10, &e) == 0, "add alice");
	ok(srv_user_add(st, "alice", "admin", "password-2", 10, &e) < 0 && e->cls == ERR_CONFLICT, "a second alice: conflict");
	err_free(e);
	e = NULL;
	ok(srv_user_add(st, "../x", "user", "password-1", 10, &e) < 0 && e->cls == ERR_INVALID, "a bad name: invalid");
	err_free(e);
	e = NULL;
	ok(srv_user_add(st, "bob", "root", "password-1", 10, &e) < 0 && e->cls == ERR_INVALID, "a bad role: invalid");
	err_free(e);
	e = NULL;
	ok(srv_store_user_get(st, "alice", &row, &e) == 1 && !strcmp(row.role, "user") && !row.disabled_at &&
	   srv_user_password_ok(row.hash, "password-1", 10), "alice is stored with her hash");
	ok(!contains(row.hash, strlen(row.hash), "password-1", 10), "not the password itself");
	ok(srv_store_generation(st, &g0, &e) == 0, "generation");
	ok(srv_user_passwd(st, "alice", "password-3", 10, &e) == 0, "passwd");
	ok(srv_store_generation(st, &g1, &e) == 0 && g1 != g0, "a password change moves the generation");
	ok(srv_store_user_get(st, "alice", &row, &e) == 1 && srv_user_password_ok(row.hash, "password-3", 10) &&
	   !srv_user_password_ok(row.hash, "password-1", 10) && row.tokens_after > 0, "the new password, tokens_after set");
	ok(srv_user_passwd(st, "nobody", "password-3", 10, &e) < 0 && e->cls == ERR_NOT_FOUND, "passwd of nobody: not found");
	err_free(e);
	e = NULL;
	ok(srv_user_disable(st, "alice", &e) == 0, "disable");
	ok(srv_user_disable(st, "alice", &e) < 0 && e->cls == ERR_CONFLICT, "twice: conflict");
	err_free(e);
	e = NULL;
	ok(srv_store_user_get(st, "alice", &row, &e) == 1 && row.disabled_at > 0, "disabled_at set");
	ok(srv_user_add(st, "boss", "super_admin", "password-1", 10, &e) == 0, "add a super_admin");
	ok(srv_user_list(st, &list, &e) == 0 && json_array_size(list) == 2, "list: two users");
	is_str(json_string_value(json_object_get(json_array_get(list, 1), "role")), "super_admin", "with roles");
	ok(iso_utc(json_string_value(json_object_get(json_array_get(list, 0), "disabled_at"))), "and disabled_at");
	char *text = json_dumps(list, 0);
	ok(!strstr(text, "argon2"), "never hashes");
	free(text);
	json_decref(list);

	/* tokens: signed with the data directory's secret, checked (and remembered) by srv_users_verify */
	struct srv_users *u = NULL;
	unsigned char secret[32];
	char principal[80], *p = path_in(dir, "jwt.secret"), *data = NULL;
	size_t n = 0;
	ok(srv_users_open(&u, uv_default_loop(), st, dir, 3600, &e) == 0, "users open (makes the secret)");
	slurp(p, &data, &n);
	ok(n == 32, "a 32-byte secret");
	memcpy(secret, data, 32);
	free(data);
	free(p);
	ok(srv_user_add(st, "gina", "admin", "password-1", 10, &e) == 0, "add gina (admin)");
	int64_t now = (int64_t)(wall_ms() / 1000);
	unsigned char d[32];
	unsigned int dn = 0;
	char iss[32];
	EVP_Digest(secret, 32, d, &dn, EVP_sha256(), NULL);
	snprintf(iss, sizeof(iss), "mcpbox:%02x%02x%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]);
	struct srv_jwt_claims c = { .sub = "gina", .role = "user", .iat = now, .nbf = now, .exp = now + 60 };
	char *tok = srv_jwt_sign(secret, 32, iss, &c);
	ok(srv_users_verify(u, tok, principal, sizeof(principal)) == 1, "a token of gina's is accepted");
	is_str(principal, "admin:user:gina", "its principal, with the role from the store (not the token)");
	ok(srv_users_verify(u, tok, principal, sizeof(principal)) == 1, "again (remembered)");
	c.exp = now - SRV_JWT_SKEW_S + 2;
	char *old = srv_jwt_sign(secret, 32, iss, &c);
	ok(srv_users_verify(u, old, principal, sizeof(principal)) == 1, "a token within the skew of its expiry: accepted");
	sleep(3);
	ok(srv_users_verify(u, old, principal, sizeof(principal)) == 0, "three seconds later it has expired, remembered or not");
	/* two password changes within one second: a token issued between them (dated tokens_after) dies with the second */
	ok(srv_user_passwd(st, "gina", "password-2", 10, &e) == 0 && srv_store_user_get(st, "gina", &row, &e) == 1,
	   "gina changes her password");
	struct srv_jwt_claims mid = { .sub = "gina", .role = "user", .iat = row.tokens_after, .nbf = row.tokens_after,
				      .exp = row.tokens_after + 60 };
	char *between = srv_jwt_sign(secret, 32, iss, &mid);
	ok(srv_users_verify(u, between, principal, sizeof(principal)) == 1, "a token issued after the change is accepted");
	int64_t first = row.tokens_after;
	ok(srv_user_passwd(st, "gina", "password-3", 10, &e) == 0 && srv_store_user_get(st, "gina", &row, &e) == 1 &&
	   row.tokens_after > first, "a second change at once moves tokens_after on");
	ok(srv_users_verify(u, between, principal, sizeof(principal)) == 0, "and refuses the token issued between the two");
	free(between);
	ok(srv_user_disable(st, "gina", &e) == 0, "disable gina");
	ok(srv_users_verify(u, tok, principal, sizeof(principal)) == 0, "her remembered token is refused at once");
	c = (struct srv_jwt_claims){ .sub = "alice", .role = "user", .iat = now - 100, .nbf = now - 100, .exp = now + 60 };
	char *before = srv_jwt_sign(secret, 32, iss, &c);
	ok(srv_users_verify(u, before, principal, sizeof(principal)) == 0, "a token of a disabled user is refused");
	ok(srv_users_verify(u, "eyJ.eyJ.sig", principal, sizeof(principal)) == 0, "garbage is refused");
	free(tok);
	free(old);
	free(before);
	srv_users_free(u);
	srv_store_close(st);
	rm_db(dir);
	free(dir);
}

int main(void)
{
	test_migrations();
	test_private();
	test_header();
	test_keys();
	test_bootstrap();
	test_cli();
	test_users();
	return tap_done();
}
