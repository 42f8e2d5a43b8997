#include "store.h"
#include "base/buf.h"
#include "base/common.h"
#include "base/log.h"

#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/banned.h"

#define DB_FILE "mcpbox.db"
#define BUSY_TIMEOUT_MS 5000

/*
 * The schema, one migration per entry. Migration i (counting from 1) takes
 * the database from user_version i-1 to i. Never edit an entry once released:
 * add a new one.
 */
static const char *const migrations[] = {
	/* 1: API keys, stored by SHA-256 of the full key string. */
	"CREATE TABLE keys ("
	"  id           TEXT PRIMARY KEY,"
	"  name         TEXT NOT NULL,"
	"  hash         BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
	"  admin        INTEGER NOT NULL CHECK (admin IN (0, 1)),"
	"  created_at   INTEGER NOT NULL,"	/* epoch ms */
	"  revoked_at   INTEGER,"
	"  last_used_at INTEGER"
	");",
	/* 2: sessions, executions, snapshots and the audit trail. Columns that
	 * queries filter on are columns; the rest of a record is a JSON document. */
	"CREATE TABLE sessions ("
	"  id         TEXT PRIMARY KEY,"
	"  owner      TEXT NOT NULL,"
	"  status     TEXT NOT NULL,"
	"  implicit   INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  doc        TEXT NOT NULL"
	");"
	"CREATE INDEX sessions_status ON sessions (status);"
	"CREATE TABLE executions ("
	"  id          TEXT PRIMARY KEY,"
	"  session_id  TEXT NOT NULL,"
	"  status      TEXT NOT NULL,"
	"  created_at  INTEGER NOT NULL,"
	"  doc         TEXT NOT NULL"
	");"
	"CREATE INDEX executions_session ON executions (session_id, created_at);"
	"CREATE TABLE snapshots ("
	"  id          TEXT PRIMARY KEY,"
	"  owner       TEXT NOT NULL,"
	"  session_id  TEXT NOT NULL,"
	"  created_at  INTEGER NOT NULL,"
	"  deleted_at  INTEGER,"
	"  doc         TEXT NOT NULL"
	");"
	"CREATE TABLE audit ("
	"  seq       INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at        INTEGER NOT NULL,"
	"  principal TEXT NOT NULL,"
	"  action    TEXT NOT NULL,"
	"  object    TEXT NOT NULL,"
	"  detail    TEXT"
	");",
	/* 3: whether a key may ask for sessions with network (keys made before may). */
	"ALTER TABLE keys ADD COLUMN network INTEGER NOT NULL DEFAULT 1 CHECK (network IN (0, 1));",
	/* 4: background jobs (their output files are beside the executions'). */
	"CREATE TABLE jobs ("
	"  id         TEXT PRIMARY KEY,"
	"  session_id TEXT NOT NULL,"
	"  owner      TEXT NOT NULL,"
	"  status     TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  doc        TEXT NOT NULL"
	");"
	"CREATE INDEX jobs_session ON jobs (session_id, created_at);",
	/* 5: session templates made by tool (owner '' : everyone's, made by an administrator). */
	"CREATE TABLE templates ("
	"  owner      TEXT NOT NULL,"
	"  name       TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  doc        TEXT NOT NULL,"
	"  PRIMARY KEY (owner, name)"
	");",
	/* 6: users who log in with a password (argon2id string) and get JWTs; tokens issued
	 * before tokens_after (epoch s: a password change, a disable) are refused. */
	"CREATE TABLE users ("
	"  name         TEXT PRIMARY KEY,"
	"  hash         TEXT NOT NULL,"
	"  role         TEXT NOT NULL CHECK (role IN ('user', 'admin', 'super_admin')),"
	"  created_at   INTEGER NOT NULL,"
	"  disabled_at  INTEGER,"
	"  tokens_after INTEGER NOT NULL DEFAULT 0"
	");",
	/* 7: key rights (base/rights.h): a description, an expiry, the principal a key acts for and
	 * the one that made it, capabilities (bits: 1 execute, 2 sandbox_read, 4 sandbox_write) and
	 * per-session grants ("SID:LEVEL,..."). Keys made before keep every capability, for themselves. */
	"ALTER TABLE keys ADD COLUMN description TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE keys ADD COLUMN expires_at INTEGER;"
	"ALTER TABLE keys ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE keys ADD COLUMN created_by TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE keys ADD COLUMN caps INTEGER NOT NULL DEFAULT 7 CHECK (caps BETWEEN 1 AND 7);"
	"ALTER TABLE keys ADD COLUMN grants TEXT NOT NULL DEFAULT '';",
	/* 8: alerts fired by the rules on server metrics (server/alerts.h); the doc has value, threshold,
	 * message, acknowledgement and resolution. */
	"CREATE TABLE alerts ("
	"  id           TEXT PRIMARY KEY,"
	"  rule         TEXT NOT NULL,"
	"  severity     TEXT NOT NULL,"
	"  status       TEXT NOT NULL CHECK (status IN ('active', 'acknowledged', 'resolved')),"
	"  triggered_at INTEGER NOT NULL,"
	"  updated_at   INTEGER NOT NULL,"
	"  doc          TEXT NOT NULL"
	");"
	"CREATE INDEX alerts_status ON alerts (status, triggered_at);",
	/* 9: what a REST dialect keeps beyond the sessions (003's environment specs: labels,
	 * tolerations, ...), one JSON document per (dialect, id); id is usually a session's. */
	"CREATE TABLE rest_objects ("
	"  dialect    TEXT NOT NULL,"
	"  id         TEXT NOT NULL,"
	"  owner      TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  doc        TEXT NOT NULL,"
	"  PRIMARY KEY (dialect, id)"
	");",
	/* 10: login tokens (server/users.h) revoked before they expire (a logout), by SHA-256 of the
	 * whole token; a row is pruned once the token has expired (epoch s). */
	"CREATE TABLE revoked_tokens ("
	"  hash       BLOB PRIMARY KEY CHECK (length(hash) = 32),"
	"  expires_at INTEGER NOT NULL"
	");"
	"CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);",
	/* 11: levels (viewer, editor, owner) an administrator granted a user on another's session
	 * (server/grants.h); the doc has the level and who granted it. */
	"CREATE TABLE user_grants ("
	"  id         TEXT NOT NULL UNIQUE,"
	"  user       TEXT NOT NULL,"
	"  session_id TEXT NOT NULL,"
	"  granted_at INTEGER NOT NULL,"	/* epoch ms */
	"  doc        TEXT NOT NULL,"
	"  PRIMARY KEY (user, session_id)"
	");",
	/* 12: keys are counted per owner (quota.keys, server/auth.h) at every key_create. */
	"CREATE INDEX keys_owner ON keys (owner);",
	/* 13: retention (srv_store_audit_prune, srv_store_deleted_prune): the audit trail is kept per owner
	 * (the principal before its "#"), records of deleted snapshots are found by when they went. */
	"ALTER TABLE audit ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
	"UPDATE audit SET owner = CASE WHEN instr(principal, '#') > 0 "
	"  THEN substr(principal, 1, instr(principal, '#') - 1) ELSE principal END;"
	"CREATE INDEX audit_owner ON audit (owner, seq);"
	"CREATE INDEX snapshots_deleted ON snapshots (deleted_at);"
	/* dialects' objects of sessions deleted before srv_store_rest_forget existed */
	"DELETE FROM rest_objects WHERE id IN (SELECT id FROM sessions WHERE status = 'deleted');",
	/* 14: revoked tokens are counted per user (srv_store_token_revoke's max_per_user). */
	"ALTER TABLE revoked_tokens ADD COLUMN user TEXT NOT NULL DEFAULT '';"
	"CREATE INDEX revoked_tokens_user ON revoked_tokens (user);",
};

enum stmt_id {
	STMT_DATA_VERSION,
	STMT_KEY_INSERT,
	STMT_KEY_INSERT_IF_NONE_ACTIVE,
	STMT_KEY_BY_HASH,
	STMT_KEY_BY_ID,
	STMT_KEY_LIST,
	STMT_KEY_COUNT_ALL,
	STMT_KEY_COUNT_ACTIVE,
	STMT_KEY_COUNT_OWNER,
	STMT_KEY_PRUNE_OWNER,
	STMT_KEY_REVOKE,
	STMT_KEY_TOUCH,
	STMT_SESSION_PUT,
	STMT_SESSION_LIST,
	STMT_EXEC_PUT,
	STMT_EXEC_OLD,
	STMT_EXEC_DELETE_OLD,
	STMT_SNAP_PUT,
	STMT_SNAP_GET,
	STMT_SNAP_LIST,
	STMT_AUDIT,
	STMT_AUDIT_PRUNE_OWNER,
	STMT_AUDIT_PRUNE,
	STMT_SESSION_PRUNE_DELETED,
	STMT_SNAP_PRUNE_DELETED,
	STMT_JOB_PUT,
	STMT_JOB_DELETE,
	STMT_JOB_LIST,
	STMT_TMPL_PUT,
	STMT_TMPL_DELETE,
	STMT_TMPL_LIST,
	STMT_USER_INSERT,
	STMT_USER_GET,
	STMT_USER_LIST,
	STMT_USER_PASSWD,
	STMT_USER_DISABLE,
	STMT_USER_ENABLE,
	STMT_USER_ROLE,
	STMT_ALERT_PUT,
	STMT_ALERT_LIST,
	STMT_ALERT_PRUNE,
	STMT_ALERT_COUNT,
	STMT_REST_PUT,
	STMT_REST_DELETE,
	STMT_REST_LIST,
	STMT_REST_FORGET,
	STMT_TOKEN_REVOKE,
	STMT_TOKEN_REVOKED,
	STMT_TOKEN_PRUNE,
	STMT_TOKEN_COUNT_USER,
	STMT_USER_CUT_TOKENS,
	STMT_GRANT_PUT,
	STMT_GRANT_DELETE,
	STMT_GRANT_LIST,
	STMT__COUNT,
};

#define USER_COLUMNS "name, hash, role, created_at, disabled_at, tokens_after"
#define KEY_COLUMNS "id, name, hash, admin, created_at, revoked_at, last_used_at, network, " \
	"description, expires_at, owner, created_by, caps, grants"

static const char *const stmt_sql[STMT__COUNT] = {
	[STMT_DATA_VERSION] = "PRAGMA data_version",
	[STMT_KEY_INSERT] = "INSERT INTO keys (" KEY_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	/* one statement, so the check and the insert are atomic */
	[STMT_KEY_INSERT_IF_NONE_ACTIVE] = "INSERT INTO keys (" KEY_COLUMNS ") "
		"SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14 "
		"WHERE NOT EXISTS (SELECT 1 FROM keys WHERE revoked_at IS NULL)",
	[STMT_KEY_BY_HASH] = "SELECT " KEY_COLUMNS " FROM keys WHERE hash = ?1",
	[STMT_KEY_BY_ID] = "SELECT " KEY_COLUMNS " FROM keys WHERE id = ?1",
	[STMT_KEY_LIST] = "SELECT " KEY_COLUMNS " FROM keys ORDER BY created_at, id",
	[STMT_KEY_COUNT_ALL] = "SELECT count(*) FROM keys",
	[STMT_KEY_COUNT_ACTIVE] = "SELECT count(*) FROM keys WHERE revoked_at IS NULL",
	[STMT_KEY_COUNT_OWNER] = "SELECT count(*) FROM keys WHERE owner = ?1",
	[STMT_KEY_PRUNE_OWNER] = "DELETE FROM keys WHERE owner = ?1 AND (revoked_at IS NOT NULL OR expires_at <= ?2)",
	[STMT_KEY_REVOKE] = "UPDATE keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
	[STMT_KEY_TOUCH] = "UPDATE keys SET last_used_at = ?2 "
		"WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
	[STMT_SESSION_PUT] = "INSERT INTO sessions (id, owner, status, implicit, created_at, updated_at, doc) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET "
		"status = excluded.status, updated_at = excluded.updated_at, doc = excluded.doc",
	[STMT_SESSION_LIST] = "SELECT id, owner, status, implicit, created_at, doc FROM sessions "
		"WHERE status != 'deleted' ORDER BY created_at, id",
	[STMT_EXEC_PUT] = "INSERT OR REPLACE INTO executions (id, session_id, status, created_at, doc) "
		"VALUES (?1, ?2, ?3, ?4, ?5)",
	[STMT_EXEC_OLD] = "SELECT id FROM executions ORDER BY created_at DESC, id LIMIT -1 OFFSET ?1",
	[STMT_EXEC_DELETE_OLD] = "DELETE FROM executions WHERE id IN "
		"(SELECT id FROM executions ORDER BY created_at DESC, id LIMIT -1 OFFSET ?1)",
	[STMT_SNAP_PUT] = "INSERT INTO snapshots (id, owner, session_id, created_at, deleted_at, doc) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET "
		"deleted_at = excluded.deleted_at, doc = excluded.doc",
	[STMT_SNAP_GET] = "SELECT id, owner, session_id, created_at, doc FROM snapshots "
		"WHERE id = ?1 AND deleted_at IS NULL",
	[STMT_SNAP_LIST] = "SELECT id, owner, session_id, created_at, doc FROM snapshots "
		"WHERE deleted_at IS NULL ORDER BY created_at, id",
	[STMT_AUDIT] = "INSERT INTO audit (at, principal, action, object, detail, owner) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	/* both walk back keep entries of an index (owner, seq; the rowid), never the whole table */
	[STMT_AUDIT_PRUNE_OWNER] = "DELETE FROM audit WHERE owner = ?1 AND seq <= "
		"(SELECT seq FROM audit WHERE owner = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
	[STMT_AUDIT_PRUNE] = "DELETE FROM audit WHERE seq <= (SELECT seq FROM audit ORDER BY seq DESC LIMIT 1 OFFSET ?1)",
	[STMT_SESSION_PRUNE_DELETED] = "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE status = 'deleted' "
		"ORDER BY updated_at DESC, id LIMIT -1 OFFSET ?1)",
	[STMT_SNAP_PRUNE_DELETED] = "DELETE FROM snapshots WHERE id IN (SELECT id FROM snapshots WHERE deleted_at IS NOT NULL "
		"ORDER BY deleted_at DESC, id LIMIT -1 OFFSET ?1)",
	[STMT_JOB_PUT] = "INSERT INTO jobs (id, session_id, owner, status, created_at, updated_at, doc) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET "
		"status = excluded.status, updated_at = excluded.updated_at, doc = excluded.doc",
	[STMT_JOB_DELETE] = "DELETE FROM jobs WHERE id = ?1",
	[STMT_JOB_LIST] = "SELECT id, owner, status, 0, created_at, doc FROM jobs WHERE session_id = ?1 "
		"ORDER BY created_at, id",
	[STMT_TMPL_PUT] = "INSERT OR REPLACE INTO templates (owner, name, created_at, doc) VALUES (?1, ?2, ?3, ?4)",
	[STMT_TMPL_DELETE] = "DELETE FROM templates WHERE owner = ?1 AND name = ?2",
	[STMT_REST_PUT] = "INSERT OR REPLACE INTO rest_objects (dialect, id, owner, created_at, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
	[STMT_REST_DELETE] = "DELETE FROM rest_objects WHERE dialect = ?1 AND id = ?2",
	[STMT_REST_FORGET] = "DELETE FROM rest_objects WHERE id = ?1",
	[STMT_REST_LIST] = "SELECT id, owner, '', created_at, doc FROM rest_objects WHERE dialect = ?1 ORDER BY created_at, id",
	[STMT_TMPL_LIST] = "SELECT name, owner, '', created_at, doc FROM templates ORDER BY created_at, owner, name",
	[STMT_USER_INSERT] = "INSERT INTO users (name, hash, role, created_at, tokens_after) VALUES (?1, ?2, ?3, ?4, 0) "
		"ON CONFLICT (name) DO NOTHING",
	[STMT_USER_GET] = "SELECT " USER_COLUMNS " FROM users WHERE name = ?1",
	[STMT_USER_LIST] = "SELECT " USER_COLUMNS " FROM users ORDER BY created_at, name",
	/* tokens_after only moves on, past every token issued so far: two changes within
	   one second must not leave the tokens issued between them valid */
	[STMT_USER_PASSWD] = "UPDATE users SET hash = ?2, tokens_after = MAX(?3, tokens_after + 1) WHERE name = ?1",
	[STMT_USER_DISABLE] = "UPDATE users SET disabled_at = ?2, tokens_after = MAX(?3, tokens_after + 1) "
			      "WHERE name = ?1 AND disabled_at IS NULL",
	[STMT_USER_ENABLE] = "UPDATE users SET disabled_at = NULL WHERE name = ?1 AND disabled_at IS NOT NULL",
	[STMT_USER_ROLE] = "UPDATE users SET role = ?2 WHERE name = ?1 AND role <> ?2",
	[STMT_ALERT_PUT] = "INSERT INTO alerts (id, rule, severity, status, triggered_at, updated_at, doc) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET "
		"status = excluded.status, updated_at = excluded.updated_at, doc = excluded.doc",
	[STMT_ALERT_LIST] = "SELECT id, rule, severity, status, triggered_at, updated_at, doc FROM alerts "
		"WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR severity = ?2) AND (?3 IS NULL OR id = ?3) "
		"ORDER BY triggered_at DESC, id DESC LIMIT ?4",
	[STMT_ALERT_PRUNE] = "DELETE FROM alerts WHERE status = 'resolved' AND id NOT IN "
		"(SELECT id FROM alerts WHERE status = 'resolved' ORDER BY updated_at DESC, id LIMIT ?1)",
	[STMT_ALERT_COUNT] = "SELECT status, severity, count(*) FROM alerts GROUP BY status, severity",
	[STMT_TOKEN_REVOKE] = "INSERT INTO revoked_tokens (hash, expires_at, user) VALUES (?1, ?2, ?3) ON CONFLICT (hash) DO NOTHING",
	[STMT_TOKEN_COUNT_USER] = "SELECT count(*) FROM revoked_tokens WHERE user = ?1",
	[STMT_USER_CUT_TOKENS] = "UPDATE users SET tokens_after = MAX(?2, tokens_after + 1) WHERE name = ?1",
	[STMT_TOKEN_REVOKED] = "SELECT 1 FROM revoked_tokens WHERE hash = ?1",
	[STMT_TOKEN_PRUNE] = "DELETE FROM revoked_tokens WHERE expires_at < ?1",
	[STMT_GRANT_PUT] = "INSERT INTO user_grants (id, user, session_id, granted_at, doc) VALUES (?1, ?2, ?3, ?4, ?5) "
		"ON CONFLICT (user, session_id) DO UPDATE SET granted_at = excluded.granted_at, doc = excluded.doc",
	[STMT_GRANT_DELETE] = "DELETE FROM user_grants WHERE user = ?1 AND session_id = ?2",
	[STMT_GRANT_LIST] = "SELECT id, user, session_id, granted_at, doc FROM user_grants ORDER BY granted_at, id",
};

struct srv_store {
	sqlite3 *db;
	sqlite3_stmt *stmts[STMT__COUNT];
	int64_t data_version;	/* last value of PRAGMA data_version seen */
	bool data_version_known;
	uint64_t gen;		/* see srv_store_generation() */
};

static int db_fail(struct srv_store *st, struct err **errp, const char *what)
{
	return err_set(errp, 0, "store: %s: %s", what, sqlite3_errmsg(st->db));
}

/* A statement must be reset once used, or it keeps a read transaction open. */
static void stmt_donep(sqlite3_stmt **s)
{
	if (*s) {
		sqlite3_reset(*s);
		sqlite3_clear_bindings(*s);
	}
}
#define auto_stmt __attribute__((cleanup(stmt_donep)))

static sqlite3_stmt *stmt_get(struct srv_store *st, enum stmt_id id, struct err **errp)
{
	if (!st->stmts[id] &&
	    sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st->stmts[id], NULL) != SQLITE_OK) {
		db_fail(st, errp, "prepare");
		st->stmts[id] = NULL;
		return NULL;
	}
	return st->stmts[id];
}

static int exec_sql(struct srv_store *st, const char *sql, const char *what, struct err **errp)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(errp, 0, "store: %s: %s", what, msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Run a statement that returns one integer row (pragmas, counts). */
static int query_int(struct srv_store *st, const char *sql, int64_t *out, struct err **errp)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return db_fail(st, errp, sql);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			err_set(errp, 0, "store: %s: no result", sql);
		else
			db_fail(st, errp, sql);
		sqlite3_finalize(s);
		return -1;
	}
	*out = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return 0;
}

static int migrate(struct srv_store *st, struct err **errp)
{
	const int known = (int)ARRAY_SIZE(migrations);
	int64_t v;

	if (query_int(st, "PRAGMA user_version", &v, errp) < 0)
		return -1;
	if (v == known)
		return 0;
	for (;;) {
		struct buf sql = BUF_INIT;

		/* IMMEDIATE: another process opening the store at the same time waits here. */
		if (exec_sql(st, "BEGIN IMMEDIATE", "begin migration", errp) < 0)
			return -1;
		if (query_int(st, "PRAGMA user_version", &v, errp) < 0)
			goto fail;
		if (v > known) {
			err_set(errp, 0, "store: " DB_FILE " has schema version %lld but this mcpbox knows only "
				"version %d: it was written by a newer mcpbox; upgrade mcpbox to use it",
				(long long)v, known);
			goto fail;
		}
		if (v == known || v < 0)
			break;
		buf_addf(&sql, "%s\nPRAGMA user_version = %lld;", migrations[v], (long long)v + 1);
		if (exec_sql(st, sql.data, "migration", errp) < 0) {
			buf_release(&sql);
			err_wrap(errp, "schema version %lld", (long long)v + 1);
			goto fail;
		}
		buf_release(&sql);
		if (exec_sql(st, "COMMIT", "commit migration", errp) < 0)
			goto fail;
		log_info("store: migrated " DB_FILE " to schema version %lld", (long long)v + 1);
	}
	if (v < 0) {
		err_set(errp, 0, "store: " DB_FILE " has an invalid schema version %lld", (long long)v);
		goto fail;
	}
	return exec_sql(st, "COMMIT", "commit", errp);
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int set_pragmas(struct srv_store *st, struct err **errp)
{
	sqlite3_stmt *s = NULL;
	bool wal;

	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK)
		return db_fail(st, errp, "set WAL mode");
	if (sqlite3_step(s) != SQLITE_ROW) {
		db_fail(st, errp, "set WAL mode");
		sqlite3_finalize(s);
		return -1;
	}
	/* SQLite answers with the mode now in force; a filesystem without shared memory keeps the old one. */
	wal = sqlite3_column_text(s, 0) && !strcmp((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	if (!wal)
		return err_set(errp, 0, "store: the filesystem of the data directory does not support WAL mode");
	return exec_sql(st, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;", "pragmas", errp);
}

/* Tenants' data at rest must not be readable by other host users: say so
   when an existing path is open wider than mode (we do not change an
   operator's choice behind their back). */
static void warn_if_wider(const char *dir, const char *name, mode_t mode)
{
	struct buf path = BUF_INIT;
	struct stat sb;

	buf_addf(&path, "%s%s%s", dir, name[0] ? "/" : "", name);
	if (lstat(path.data, &sb) == 0 && (sb.st_mode & 07777 & ~mode))
		log_warn("%s is mode %04o: other users of this host may read sessions' data "
			 "(chmod %04o it)", path.data, (unsigned)(sb.st_mode & 07777), (unsigned)mode);
	buf_release(&path);
}

int srv_store_open(struct srv_store **out, const char *data_dir, struct err **errp)
{
	struct srv_store *st;
	struct buf path = BUF_INIT;
	int fd, rc;

	if (mkdir(data_dir, 0700) < 0 && errno != EEXIST)
		return err_set(errp, errno, "store: create data directory");
	warn_if_wider(data_dir, "", 0700);
	warn_if_wider(data_dir, "snapshots.git", 0700);
	warn_if_wider(data_dir, DB_FILE, 0600);
	warn_if_wider(data_dir, DB_FILE "-wal", 0600);
	warn_if_wider(data_dir, DB_FILE "-shm", 0600);
	buf_addf(&path, "%s/" DB_FILE, data_dir);
	/* Create it ourselves so the database (and its -wal/-shm, which copy its mode) is private. */
	fd = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = errno;
		buf_release(&path);
		return err_set(errp, rc, "store: open " DB_FILE);
	}
	close(fd);

	st = xcalloc(1, sizeof(*st));
	st->gen = 1;
	rc = sqlite3_open_v2(path.data, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	buf_release(&path);
	if (rc != SQLITE_OK) {
		if (st->db)
			db_fail(st, errp, "open " DB_FILE);
		else
			err_set(errp, ENOMEM, "store: open " DB_FILE);
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	/* Refuse SQL that could corrupt the file even if a bug let one through. */
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	if (set_pragmas(st, errp) < 0 || migrate(st, errp) < 0)
		goto fail;
	*out = st;
	return 0;
fail:
	srv_store_close(st);
	return -1;
}

void srv_store_close(struct srv_store *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(st->stmts); i++)
		sqlite3_finalize(st->stmts[i]);
	if (st->db && sqlite3_close(st->db) != SQLITE_OK)
		log_warn("store: close: %s", sqlite3_errmsg(st->db));
	free(st);
}

int srv_store_schema_version(void)
{
	return (int)ARRAY_SIZE(migrations);
}

int srv_store_generation(struct srv_store *st, uint64_t *gen, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_DATA_VERSION, errp);
	int64_t v;

	if (!s)
		return -1;
	if (sqlite3_step(s) != SQLITE_ROW)
		return db_fail(st, errp, "data version");
	/* data_version changes only for commits made by other connections. */
	v = sqlite3_column_int64(s, 0);
	if (!st->data_version_known || v != st->data_version) {
		st->data_version = v;
		st->data_version_known = true;
		st->gen++;
	}
	*gen = st->gen;
	return 0;
}

static void copy_text(char *dst, size_t size, const unsigned char *src)
{
	snprintf(dst, size, "%s", src ? (const char *)src : "");
}

static void read_row(sqlite3_stmt *s, struct srv_key_row *row)
{
	const void *hash = sqlite3_column_blob(s, 2);
	int hlen = sqlite3_column_bytes(s, 2);

	memset(row, 0, sizeof(*row));
	copy_text(row->id, sizeof(row->id), sqlite3_column_text(s, 0));
	copy_text(row->name, sizeof(row->name), sqlite3_column_text(s, 1));
	if (hash && hlen == SRV_KEY_HASH_LEN)
		memcpy(row->hash, hash, SRV_KEY_HASH_LEN);
	row->admin = sqlite3_column_int(s, 3) != 0;
	row->created_at = sqlite3_column_int64(s, 4);
	/* any non-NULL revoked_at means revoked, as in the SQL above: keep it non-zero here too */
	if (sqlite3_column_type(s, 5) != SQLITE_NULL) {
		row->revoked_at = sqlite3_column_int64(s, 5);
		if (row->revoked_at <= 0)
			row->revoked_at = 1;
	}
	if (sqlite3_column_type(s, 6) != SQLITE_NULL)
		row->last_used_at = sqlite3_column_int64(s, 6);
	row->no_network = sqlite3_column_int(s, 7) == 0;
	copy_text(row->description, sizeof(row->description), sqlite3_column_text(s, 8));
	if (sqlite3_column_type(s, 9) != SQLITE_NULL)
		row->expires_at = sqlite3_column_int64(s, 9);
	copy_text(row->owner, sizeof(row->owner), sqlite3_column_text(s, 10));
	copy_text(row->created_by, sizeof(row->created_by), sqlite3_column_text(s, 11));
	row->caps = (unsigned)sqlite3_column_int(s, 12) & SRV_CAP_ALL;
	copy_text(row->grants, sizeof(row->grants), sqlite3_column_text(s, 13));
}

int srv_store_key_insert(struct srv_store *st, const struct srv_key_row *row, bool only_if_no_active,
			 struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, only_if_no_active ? STMT_KEY_INSERT_IF_NONE_ACTIVE : STMT_KEY_INSERT,
					     errp);

	if (!s)
		return -1;
	if (sqlite3_bind_text(s, 1, row->id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, row->name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 3, row->hash, SRV_KEY_HASH_LEN, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(s, 4, row->admin ? 1 : 0) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, row->created_at) != SQLITE_OK ||
	    (row->revoked_at ? sqlite3_bind_int64(s, 6, row->revoked_at) : sqlite3_bind_null(s, 6)) != SQLITE_OK ||
	    (row->last_used_at ? sqlite3_bind_int64(s, 7, row->last_used_at) : sqlite3_bind_null(s, 7)) != SQLITE_OK ||
	    sqlite3_bind_int(s, 8, row->no_network ? 0 : 1) != SQLITE_OK ||
	    sqlite3_bind_text(s, 9, row->description, -1, SQLITE_STATIC) != SQLITE_OK ||
	    (row->expires_at ? sqlite3_bind_int64(s, 10, row->expires_at) : sqlite3_bind_null(s, 10)) != SQLITE_OK ||
	    sqlite3_bind_text(s, 11, row->owner, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 12, row->created_by, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(s, 13, (int)(row->caps ? row->caps : SRV_CAP_ALL)) != SQLITE_OK ||
	    sqlite3_bind_text(s, 14, row->grants, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(st, errp, "insert key");
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_fail(st, errp, "insert key");
	if (sqlite3_changes(st->db) == 0)
		return 0;
	st->gen++;
	return 1;
}

static int find_one(struct srv_store *st, sqlite3_stmt *s, struct srv_key_row *row, struct err **errp)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return db_fail(st, errp, "find key");
	read_row(s, row);
	return 1;
}

int srv_store_key_find_hash(struct srv_store *st, const unsigned char hash[SRV_KEY_HASH_LEN],
			    struct srv_key_row *row, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_KEY_BY_HASH, errp);

	if (!s)
		return -1;
	if (sqlite3_bind_blob(s, 1, hash, SRV_KEY_HASH_LEN, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(st, errp, "find key");
	return find_one(st, s, row, errp);
}

int srv_store_key_find_id(struct srv_store *st, const char *id, struct srv_key_row *row, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_KEY_BY_ID, errp);

	if (!s)
		return -1;
	if (sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(st, errp, "find key");
	return find_one(st, s, row, errp);
}

/* Step s to the end, reading each row with read (size bytes each) into a malloc'd array. */
static int collect_rows(struct srv_store *st, sqlite3_stmt *s, size_t size, void (*read)(sqlite3_stmt *s, void *row),
			void **rows, size_t *n, const char *what, struct err **errp)
{
	char *v = NULL;
	size_t len = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? 2 * cap : 8;
			v = xrealloc(v, cap * size);
		}
		read(s, v + len++ * size);
	}
	if (rc != SQLITE_DONE) {
		free(v);
		return db_fail(st, errp, what);
	}
	*rows = v;
	*n = len;
	return 0;
}

static void read_key_any(sqlite3_stmt *s, void *row)
{
	read_row(s, row);
}

int srv_store_key_list(struct srv_store *st, struct srv_key_row **rows, size_t *n, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_KEY_LIST, errp);

	if (!s)
		return -1;
	return collect_rows(st, s, sizeof(**rows), read_key_any, (void **)rows, n, "list keys", errp);
}

int srv_store_key_count(struct srv_store *st, bool active_only, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, active_only ? STMT_KEY_COUNT_ACTIVE : STMT_KEY_COUNT_ALL, errp);
	int64_t v;

	if (!s)
		return -1;
	if (sqlite3_step(s) != SQLITE_ROW)
		return db_fail(st, errp, "count keys");
	v = sqlite3_column_int64(s, 0);
	return v > INT_MAX ? INT_MAX : (int)v;
}

int srv_store_key_count_owner(struct srv_store *st, const char *owner, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_KEY_COUNT_OWNER, errp);
	int64_t v;

	if (!s)
		return -1;
	if (sqlite3_bind_text(s, 1, owner, -1, SQLITE_STATIC) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW)
		return db_fail(st, errp, "count keys");
	v = sqlite3_column_int64(s, 0);
	return v > INT_MAX ? INT_MAX : (int)v;
}

int srv_store_key_prune_owner(struct srv_store *st, const char *owner, int64_t now_ms, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_KEY_PRUNE_OWNER, errp);
	int n;

	if (!s)
		return -1;
	if (sqlite3_bind_text(s, 1, owner, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, now_ms) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE)
		return db_fail(st, errp, "drop revoked keys");
	n = sqlite3_changes(st->db);
	if (n)
		st->gen++;
	return n;
}

int srv_store_key_revoke(struct srv_store *st, const char *id, int64_t at_ms, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_KEY_REVOKE, errp);

	if (!s)
		return -1;
	if (sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, at_ms) != SQLITE_OK)
		return db_fail(st, errp, "revoke key");
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_fail(st, errp, "revoke key");
	if (sqlite3_changes(st->db) == 0)
		return 0;
	st->gen++;
	return 1;
}

int srv_store_key_touch(struct srv_store *st, const char *id, int64_t at_ms, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_KEY_TOUCH, errp);

	if (!s)
		return -1;
	if (sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, at_ms) != SQLITE_OK)
		return db_fail(st, errp, "record key use");
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_fail(st, errp, "record key use");
	return 0;
}

/* ---- sessions, executions, snapshots, audit ------------------------------ */

int srv_store_begin(struct srv_store *st, struct err **errp)
{
	return exec_sql(st, "BEGIN IMMEDIATE", "begin", errp);
}

int srv_store_commit(struct srv_store *st, struct err **errp)
{
	if (exec_sql(st, "COMMIT", "commit", errp) < 0) {
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

static int step_done(struct srv_store *st, sqlite3_stmt *s, const char *what, struct err **errp)
{
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_fail(st, errp, what);
	return 0;
}

int srv_store_session_put(struct srv_store *st, const struct srv_record *r, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_SESSION_PUT, errp);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, r->status, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, r->flag);
	sqlite3_bind_int64(s, 5, r->created_at);
	sqlite3_bind_int64(s, 6, r->updated_at);
	sqlite3_bind_text(s, 7, r->doc, -1, SQLITE_STATIC);
	return step_done(st, s, "save session", errp);
}

/* Walk the rows of a SELECT (id, owner, status-or-session, flag/created, doc) into fn. */
static int walk(struct srv_store *st, sqlite3_stmt *s, bool snapshot_rows,
		void (*fn)(void *arg, const struct srv_record *r), void *arg, const char *what, struct err **errp)
{
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct srv_record r = { 0 };
		r.id = (const char *)sqlite3_column_text(s, 0);
		r.owner = (const char *)sqlite3_column_text(s, 1);
		if (snapshot_rows) {
			r.session_id = (const char *)sqlite3_column_text(s, 2);
			r.created_at = sqlite3_column_int64(s, 3);
			r.doc = (const char *)sqlite3_column_text(s, 4);
		} else {
			r.status = (const char *)sqlite3_column_text(s, 2);
			r.flag = sqlite3_column_int(s, 3);
			r.created_at = sqlite3_column_int64(s, 4);
			r.doc = (const char *)sqlite3_column_text(s, 5);
		}
		fn(arg, &r);
	}
	if (rc != SQLITE_DONE)
		return db_fail(st, errp, what);
	return 0;
}

int srv_store_session_list(struct srv_store *st, void (*fn)(void *arg, const struct srv_record *r), void *arg,
			   struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_SESSION_LIST, errp);
	if (!s)
		return -1;
	return walk(st, s, false, fn, arg, "list sessions", errp);
}

/* An upsert of the shape (4 texts, created, updated, doc) that jobs and alerts share. */
static int put_row(struct srv_store *st, enum stmt_id id, const char *const text[4], int64_t created,
		   int64_t updated, const char *doc, const char *what, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, id, errp);

	if (!s)
		return -1;
	for (int i = 0; i < 4; i++)
		sqlite3_bind_text(s, i + 1, text[i], -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, created);
	sqlite3_bind_int64(s, 6, updated);
	sqlite3_bind_text(s, 7, doc, -1, SQLITE_STATIC);
	return step_done(st, s, what, errp);
}

int srv_store_job_put(struct srv_store *st, const struct srv_record *r, struct err **errp)
{
	const char *const text[4] = { r->id, r->session_id, r->owner, r->status };
	return put_row(st, STMT_JOB_PUT, text, r->created_at, r->updated_at, r->doc, "save job", errp);
}

/* A delete by one key (a job's id, a session's). */
static int delete_one(struct srv_store *st, enum stmt_id id, const char *key, const char *what, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, id, errp);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	return step_done(st, s, what, errp);
}

int srv_store_job_delete(struct srv_store *st, const char *id, struct err **errp)
{
	return delete_one(st, STMT_JOB_DELETE, id, "delete job", errp);
}

int srv_store_job_list(struct srv_store *st, const char *session_id,
		       void (*fn)(void *arg, const struct srv_record *r), void *arg, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_JOB_LIST, errp);
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, session_id, -1, SQLITE_STATIC);
	return walk(st, s, false, fn, arg, "list jobs", errp);
}

int srv_store_execution_put(struct srv_store *st, const struct srv_record *r, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_EXEC_PUT, errp);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->session_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, r->status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, r->created_at);
	sqlite3_bind_text(s, 5, r->doc, -1, SQLITE_STATIC);
	return step_done(st, s, "save execution", errp);
}

int srv_store_execution_prune(struct srv_store *st, unsigned keep, void (*fn)(void *arg, const char *id),
			      void *arg, struct err **errp)
{
	{
		auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_EXEC_OLD, errp);
		int rc;
		if (!s)
			return -1;
		sqlite3_bind_int64(s, 1, keep);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			fn(arg, (const char *)sqlite3_column_text(s, 0));
		if (rc != SQLITE_DONE)
			return db_fail(st, errp, "old executions");
	}
	auto_stmt sqlite3_stmt *d = stmt_get(st, STMT_EXEC_DELETE_OLD, errp);
	if (!d)
		return -1;
	sqlite3_bind_int64(d, 1, keep);
	return step_done(st, d, "prune executions", errp);
}

int srv_store_snapshot_put(struct srv_store *st, const struct srv_record *r, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_SNAP_PUT, errp);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, r->session_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, r->created_at);
	if (r->deleted_at)
		sqlite3_bind_int64(s, 5, r->deleted_at);
	else
		sqlite3_bind_null(s, 5);
	sqlite3_bind_text(s, 6, r->doc, -1, SQLITE_STATIC);
	return step_done(st, s, "save snapshot", errp);
}

int srv_store_snapshot_list(struct srv_store *st, void (*fn)(void *arg, const struct srv_record *r), void *arg,
			    struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_SNAP_LIST, errp);
	if (!s)
		return -1;
	return walk(st, s, true, fn, arg, "list snapshots", errp);
}

int srv_store_audit(struct srv_store *st, int64_t at, const char *principal, const char *action,
		    const char *object, const char *detail, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_AUDIT, errp);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, at);
	sqlite3_bind_text(s, 2, principal ? principal : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, object ? object : "", -1, SQLITE_STATIC);
	if (detail)
		sqlite3_bind_text(s, 5, detail, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 5);
	sqlite3_bind_text(s, 6, principal ? principal : "", principal ? (int)srv_principal_owner_len(principal) : 0,
			  SQLITE_STATIC);
	return step_done(st, s, "audit", errp);
}

int srv_store_audit_prune(struct srv_store *st, const char *owner, unsigned keep, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, owner ? STMT_AUDIT_PRUNE_OWNER : STMT_AUDIT_PRUNE, errp);

	if (!s)
		return -1;
	if (owner) {
		sqlite3_bind_text(s, 1, owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, keep);
	} else {
		sqlite3_bind_int64(s, 1, keep);
	}
	if (step_done(st, s, "prune the audit trail", errp) < 0)
		return -1;
	return sqlite3_changes(st->db);
}

int srv_store_deleted_prune(struct srv_store *st, unsigned keep, struct err **errp)
{
	static const enum stmt_id ids[] = { STMT_SESSION_PRUNE_DELETED, STMT_SNAP_PRUNE_DELETED };
	int n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		auto_stmt sqlite3_stmt *s = stmt_get(st, ids[i], errp);
		if (!s)
			return -1;
		sqlite3_bind_int64(s, 1, keep);
		if (step_done(st, s, "prune records of deleted sessions and snapshots", errp) < 0)
			return -1;
		n += sqlite3_changes(st->db);
	}
	return n;
}

/* A delete by a pair of keys (owner and name, dialect and id, user and session). */
static int delete_pair(struct srv_store *st, enum stmt_id id, const char *a, const char *b, const char *what,
		       struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, id, errp);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, a, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, b, -1, SQLITE_STATIC);
	return step_done(st, s, what, errp);
}

/* A walk of records (snapshot-shaped rows: id, owner, session_id, created_at, doc), after binding key (if any). */
static int list_records(struct srv_store *st, enum stmt_id id, const char *key,
			void (*fn)(void *arg, const struct srv_record *r), void *arg, const char *what, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, id, errp);
	if (!s)
		return -1;
	if (key)
		sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	return walk(st, s, true, fn, arg, what, errp);
}

int srv_store_template_put(struct srv_store *st, const struct srv_record *r, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_TMPL_PUT, errp);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, r->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, r->created_at);
	sqlite3_bind_text(s, 4, r->doc, -1, SQLITE_STATIC);
	return step_done(st, s, "save template", errp);
}

int srv_store_template_delete(struct srv_store *st, const char *owner, const char *name, struct err **errp)
{
	return delete_pair(st, STMT_TMPL_DELETE, owner, name, "delete template", errp);
}

int srv_store_template_list(struct srv_store *st, void (*fn)(void *arg, const struct srv_record *r), void *arg,
			    struct err **errp)
{
	return list_records(st, STMT_TMPL_LIST, NULL, fn, arg, "list templates", errp);
}

int srv_store_rest_put(struct srv_store *st, const char *dialect, const struct srv_record *r, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_REST_PUT, errp);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, dialect, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, r->owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, r->created_at);
	sqlite3_bind_text(s, 5, r->doc, -1, SQLITE_STATIC);
	return step_done(st, s, "save a REST object", errp);
}

int srv_store_rest_delete(struct srv_store *st, const char *dialect, const char *id, struct err **errp)
{
	return delete_pair(st, STMT_REST_DELETE, dialect, id, "delete a REST object", errp);
}

int srv_store_rest_forget(struct srv_store *st, const char *id, struct err **errp)
{
	return delete_one(st, STMT_REST_FORGET, id, "forget a session's objects", errp);
}

int srv_store_rest_list(struct srv_store *st, const char *dialect, void (*fn)(void *arg, const struct srv_record *r),
			void *arg, struct err **errp)
{
	return list_records(st, STMT_REST_LIST, dialect, fn, arg, "list REST objects", errp);
}

int srv_store_grant_put(struct srv_store *st, const struct srv_record *r, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_GRANT_PUT, errp);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, r->session_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, r->created_at);
	sqlite3_bind_text(s, 5, r->doc, -1, SQLITE_STATIC);
	return step_done(st, s, "save a grant", errp);
}

int srv_store_grant_delete(struct srv_store *st, const char *user, const char *session_id, struct err **errp)
{
	return delete_pair(st, STMT_GRANT_DELETE, user, session_id, "delete a grant", errp);
}

int srv_store_grant_list(struct srv_store *st, void (*fn)(void *arg, const struct srv_record *r), void *arg,
			 struct err **errp)
{
	return list_records(st, STMT_GRANT_LIST, NULL, fn, arg, "list grants", errp);
}

/* ---- users ---------------------------------------------------------------- */

static void read_user(sqlite3_stmt *s, struct srv_user_row *row)
{
	memset(row, 0, sizeof(*row));
	copy_text(row->name, sizeof(row->name), sqlite3_column_text(s, 0));
	copy_text(row->hash, sizeof(row->hash), sqlite3_column_text(s, 1));
	copy_text(row->role, sizeof(row->role), sqlite3_column_text(s, 2));
	row->created_at = sqlite3_column_int64(s, 3);
	if (sqlite3_column_type(s, 4) != SQLITE_NULL)
		row->disabled_at = sqlite3_column_int64(s, 4) > 0 ? sqlite3_column_int64(s, 4) : 1;
	row->tokens_after = sqlite3_column_int64(s, 5);
}

/* Run a write; 1 when it changed a row (and then the generation moves), 0 when none. */
static int write_changed(struct srv_store *st, sqlite3_stmt *s, const char *what, struct err **errp)
{
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_fail(st, errp, what);
	if (sqlite3_changes(st->db) == 0)
		return 0;
	st->gen++;
	return 1;
}

int srv_store_user_insert(struct srv_store *st, const struct srv_user_row *row, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_USER_INSERT, errp);

	if (!s)
		return -1;
	if (sqlite3_bind_text(s, 1, row->name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, row->hash, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 3, row->role, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, row->created_at) != SQLITE_OK)
		return db_fail(st, errp, "insert user");
	return write_changed(st, s, "insert user", errp);
}

int srv_store_token_revoke(struct srv_store *st, const unsigned char hash[SRV_KEY_HASH_LEN], const char *user,
			   int64_t expires_at, int64_t now, unsigned max_per_user, struct err **errp)
{
	auto_stmt sqlite3_stmt *prune = stmt_get(st, STMT_TOKEN_PRUNE, errp);
	if (!prune)
		return -1;
	if (sqlite3_bind_int64(prune, 1, now) != SQLITE_OK || sqlite3_step(prune) != SQLITE_DONE)
		return db_fail(st, errp, "prune revoked tokens");
	int rc = srv_store_token_revoked(st, hash, errp);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (max_per_user) {
		auto_stmt sqlite3_stmt *c = stmt_get(st, STMT_TOKEN_COUNT_USER, errp);
		if (!c)
			return -1;
		sqlite3_bind_text(c, 1, user, -1, SQLITE_STATIC);
		if (sqlite3_step(c) != SQLITE_ROW)
			return db_fail(st, errp, "count revoked tokens");
		if (sqlite3_column_int64(c, 0) >= max_per_user)
			return 2;
	}
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_TOKEN_REVOKE, errp);
	if (!s)
		return -1;
	if (sqlite3_bind_blob(s, 1, hash, SRV_KEY_HASH_LEN, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, expires_at) != SQLITE_OK || sqlite3_bind_text(s, 3, user, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(st, errp, "revoke token");
	return write_changed(st, s, "revoke token", errp);
}

int srv_store_user_cut_tokens(struct srv_store *st, const char *name, int64_t now, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_USER_CUT_TOKENS, errp);

	if (!s)
		return -1;
	if (sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) != SQLITE_OK || sqlite3_bind_int64(s, 2, now + 1) != SQLITE_OK)
		return db_fail(st, errp, "end a user's tokens");
	return write_changed(st, s, "end a user's tokens", errp);
}

int srv_store_token_revoked(struct srv_store *st, const unsigned char hash[SRV_KEY_HASH_LEN], struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_TOKEN_REVOKED, errp);
	int rc;

	if (!s)
		return -1;
	if (sqlite3_bind_blob(s, 1, hash, SRV_KEY_HASH_LEN, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(st, errp, "check token");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		return db_fail(st, errp, "check token");
	return 0;
}

int srv_store_user_get(struct srv_store *st, const char *name, struct srv_user_row *row, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_USER_GET, errp);
	int rc;

	if (!s)
		return -1;
	if (sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(st, errp, "find user");
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return db_fail(st, errp, "find user");
	read_user(s, row);
	return 1;
}

static void read_user_any(sqlite3_stmt *s, void *row)
{
	read_user(s, row);
}

int srv_store_user_list(struct srv_store *st, struct srv_user_row **rows, size_t *n, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_USER_LIST, errp);

	if (!s)
		return -1;
	return collect_rows(st, s, sizeof(**rows), read_user_any, (void **)rows, n, "list users", errp);
}

int srv_store_user_passwd(struct srv_store *st, const char *name, const char *hash, int64_t tokens_after,
			  struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_USER_PASSWD, errp);

	if (!s)
		return -1;
	if (sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, hash, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, tokens_after) != SQLITE_OK)
		return db_fail(st, errp, "set password");
	return write_changed(st, s, "set password", errp);
}

int srv_store_user_disable(struct srv_store *st, const char *name, int64_t at_ms, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_USER_DISABLE, errp);

	if (!s)
		return -1;
	if (sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, at_ms) != SQLITE_OK || sqlite3_bind_int64(s, 3, at_ms / 1000 + 1) != SQLITE_OK)
		return db_fail(st, errp, "disable user");
	return write_changed(st, s, "disable user", errp);
}

int srv_store_user_enable(struct srv_store *st, const char *name, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_USER_ENABLE, errp);

	if (!s)
		return -1;
	if (sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(st, errp, "enable user");
	return write_changed(st, s, "enable user", errp);
}

int srv_store_user_role(struct srv_store *st, const char *name, const char *role, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_USER_ROLE, errp);

	if (!s)
		return -1;
	if (sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, role, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(st, errp, "set user role");
	return write_changed(st, s, "set user role", errp);
}

/* ---- alerts ---------------------------------------------------------------- */

static void bind_opt(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

int srv_store_alert_put(struct srv_store *st, const struct srv_alert_row *r, struct err **errp)
{
	const char *const text[4] = { r->id, r->rule, r->severity, r->status };
	return put_row(st, STMT_ALERT_PUT, text, r->triggered_at, r->updated_at, r->doc, "save alert", errp);
}

int srv_store_alert_list(struct srv_store *st, const char *status, const char *severity, const char *id,
			 unsigned limit, void (*fn)(void *arg, const struct srv_alert_row *r), void *arg,
			 struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_ALERT_LIST, errp);
	int rc;

	if (!s)
		return -1;
	bind_opt(s, 1, status);
	bind_opt(s, 2, severity);
	bind_opt(s, 3, id);
	sqlite3_bind_int64(s, 4, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct srv_alert_row r = {
			.id = (const char *)sqlite3_column_text(s, 0),
			.rule = (const char *)sqlite3_column_text(s, 1),
			.severity = (const char *)sqlite3_column_text(s, 2),
			.status = (const char *)sqlite3_column_text(s, 3),
			.triggered_at = sqlite3_column_int64(s, 4),
			.updated_at = sqlite3_column_int64(s, 5),
			.doc = (const char *)sqlite3_column_text(s, 6),
		};
		fn(arg, &r);
	}
	if (rc != SQLITE_DONE)
		return db_fail(st, errp, "list alerts");
	return 0;
}

int srv_store_alert_prune(struct srv_store *st, unsigned keep, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_ALERT_PRUNE, errp);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, keep);
	return step_done(st, s, "prune alerts", errp);
}

int srv_store_alert_counts(struct srv_store *st, void (*fn)(void *arg, const char *status, const char *severity,
							     uint64_t n),
			   void *arg, struct err **errp)
{
	auto_stmt sqlite3_stmt *s = stmt_get(st, STMT_ALERT_COUNT, errp);
	int rc;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
		   (uint64_t)sqlite3_column_int64(s, 2));
	if (rc != SQLITE_DONE)
		return db_fail(st, errp, "count alerts");
	return 0;
}
