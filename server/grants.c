#include "grants.h"
#include "base/common.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

struct grant {
	char *id, *user, *sid, *by;
	enum srv_level level;
	int64_t at;		/* epoch ms */
};

/* Few (an administrator makes them one by one): an array, searched whole. */
static struct {
	struct srv_store *st;
	struct grant *v;
	size_t n;
	uint64_t gen;		/* the store's generation they were read at (srv_store_generation) */
} G;

static void grant_release(struct grant *g)
{
	free(g->id);
	free(g->user);
	free(g->sid);
	free(g->by);
}

static struct grant *grant_find(const char *user, size_t user_len, const char *sid)
{
	for (size_t i = 0; i < G.n; i++)
		if (strlen(G.v[i].user) == user_len && !memcmp(G.v[i].user, user, user_len) && !strcmp(G.v[i].sid, sid))
			return &G.v[i];
	return NULL;
}

static struct grant *grant_add(void)
{
	G.v = xrealloc(G.v, (G.n + 1) * sizeof(*G.v));
	memset(&G.v[G.n], 0, sizeof(G.v[0]));
	return &G.v[G.n++];
}

static void loaded(void *arg, const struct srv_record *r)
{
	json_t *doc = r->doc ? json_loads(r->doc, 0, NULL) : NULL;
	enum srv_level level = srv_level_parse(json_string_value(json_object_get(doc, "level")));
	(void)arg;

	if (r->id && r->owner && r->session_id && level != SRV_LEVEL_NONE) {
		struct grant *g = grant_add();
		g->id = xstrdup(r->id);
		g->user = xstrdup(r->owner);
		g->sid = xstrdup(r->session_id);
		g->by = xstrdup(json_string_value(json_object_get(doc, "granted_by")) ?: "");
		g->level = level;
		g->at = r->created_at;
	} else {
		log_warn("grants: an unreadable grant record was skipped");
	}
	json_decref(doc);
}

static void grants_drop(struct grant *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		grant_release(&v[i]);
	free(v);
}

/* Read every grant of the store anew; on failure what was there stays. */
static int grants_read(struct err **errp)
{
	struct grant *old = G.v;
	size_t oldn = G.n;
	uint64_t gen;

	G.v = NULL;
	G.n = 0;
	/* the generation first: a change made while they are read is read again next time */
	if (srv_store_generation(G.st, &gen, errp) < 0 || srv_store_grant_list(G.st, loaded, NULL, errp) < 0) {
		grants_drop(G.v, G.n);
		G.v = old;
		G.n = oldn;
		return -1;
	}
	grants_drop(old, oldn);
	G.gen = gen;
	return 0;
}

/*
 * Another process on the same store (a second server, a tool of the
 * operator's) may have granted or revoked since they were read: the store's
 * generation says so at the cost of a PRAGMA, no disk access.
 */
static void grants_fresh(void)
{
	auto_err struct err *err = NULL;
	uint64_t gen;

	if (!G.st)
		return;
	if (srv_store_generation(G.st, &gen, &err) < 0 || (gen != G.gen && grants_read(&err) < 0))
		log_warn("grants: cannot read them again (the ones read before count): %s", err_text(err));
}

int srv_grants_open(struct srv_store *st, struct err **errp)
{
	srv_grants_close();
	G.st = st;
	return grants_read(errp);
}

void srv_grants_close(void)
{
	grants_drop(G.v, G.n);
	G.v = NULL;
	G.n = 0;
	G.st = NULL;
}

enum srv_level srv_grants_level(const char *principal, const char *sid)
{
	size_t len;
	struct grant *g;

	if (!principal || !sid)
		return SRV_LEVEL_NONE;
	len = srv_principal_owner_len(principal);
	if (len > 6 && !strncmp(principal, "admin:", 6)) {
		principal += 6;
		len -= 6;
	}
	if (len <= 5 || strncmp(principal, "user:", 5))
		return SRV_LEVEL_NONE;
	grants_fresh();
	g = grant_find(principal + 5, len - 5, sid);
	return g ? g->level : SRV_LEVEL_NONE;
}

static json_t *grant_json(const struct grant *g)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "id", g->id, "user", g->user, "session_id", g->sid, "level",
			 srv_level_name(g->level), "granted_by", g->by, "granted_at", (json_int_t)g->at);
}

static int grant_save(const struct grant *g, struct err **errp)
{
	json_t *doc = json_pack("{s:s, s:s}", "level", srv_level_name(g->level), "granted_by", g->by);
	char *text = json_dumps(doc, JSON_COMPACT);
	struct srv_record r = { .id = g->id, .owner = g->user, .session_id = g->sid, .created_at = g->at, .doc = text };
	int rc = srv_store_grant_put(G.st, &r, errp);

	free(text);
	json_decref(doc);
	return rc;
}

int srv_grants_set(const char *user, const char *sid, enum srv_level level, const char *by, bool update,
		   json_t **out, struct err **errp)
{
	struct grant *g;
	struct grant next;

	grants_fresh();
	g = grant_find(user, strlen(user), sid);
	if (!G.st)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "grants are not kept here (no store)");
	if (level == SRV_LEVEL_NONE)
		return err_setc(errp, ERR_INVALID, 0, "invalid permission level (must be viewer, editor, or owner)");
	if (!g && update)
		return err_setc(errp, ERR_NOT_FOUND, 0, "permission not found");
	/* the store first: memory changes only once the grant is kept */
	next = (struct grant){ .id = g ? g->id : random_id("perm_", 12), .user = (char *)user, .sid = (char *)sid,
			       .by = (char *)(by ? by : ""), .level = level, .at = (int64_t)wall_ms() };
	if (grant_save(&next, errp) < 0) {
		if (!g)
			free(next.id);
		return -1;
	}
	if (!g) {
		g = grant_add();
		g->id = next.id;
		g->user = xstrdup(user);
		g->sid = xstrdup(sid);
	} else {
		free(g->by);
	}
	g->by = xstrdup(next.by);
	g->level = level;
	g->at = next.at;
	*out = grant_json(g);
	return 0;
}

int srv_grants_remove(const char *user, const char *sid, struct err **errp)
{
	struct grant *g;

	grants_fresh();
	g = grant_find(user, strlen(user), sid);
	if (!g)
		return 0;
	if (srv_store_grant_delete(G.st, user, sid, errp) < 0)
		return -1;
	grant_release(g);
	*g = G.v[--G.n];
	return 1;
}

void srv_grants_forget_session(const char *sid)
{
	grants_fresh();
	for (size_t i = 0; i < G.n;) {
		auto_err struct err *err = NULL;
		if (strcmp(G.v[i].sid, sid)) {
			i++;
			continue;
		}
		if (G.st && srv_store_grant_delete(G.st, G.v[i].user, sid, &err) < 0)
			log_warn("grants: %s", err_text(err));
		grant_release(&G.v[i]);
		G.v[i] = G.v[--G.n];
	}
}

static int newest_first(const void *x, const void *y)
{
	const struct grant *a = *(const struct grant *const *)x, *b = *(const struct grant *const *)y;
	if (a->at != b->at)
		return a->at > b->at ? -1 : 1;
	return strcmp(a->id, b->id);
}

json_t *srv_grants_list(const char *user)
{
	grants_fresh();
	const struct grant **pick = xcalloc(G.n ? G.n : 1, sizeof(*pick));
	json_t *arr = json_array();
	size_t n = 0;

	for (size_t i = 0; i < G.n; i++)
		if (!user || !strcmp(G.v[i].user, user))
			pick[n++] = &G.v[i];
	qsort(pick, n, sizeof(*pick), newest_first);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, grant_json(pick[i]));
	free(pick);
	return arr;
}
