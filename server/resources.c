/*
 * MCP resources over the tools: URIs name a session's files and screen;
 * reads are file_read and screenshot calls made by this module as their
 * caller, subscriptions are workspace watches (sessions/watch.h).
 */
#include "resources.h"
#include "base/base64.h"
#include "base/buf.h"
#include "base/common.h"
#include "base/json_out.h"
#include "base/mime.h"
#include "../fixtures/catalog.h"
#include "../sessions/watch.h"
#include "../sessions/workspace.h"
#include "../vnc/display.h"
#include "base/banned.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>

#define URI_PREFIX "mcpbox://sessions/"
#define PAGE 100		/* resources per resources/list page */
#define TOP_MAX 1000		/* entries of a workspace's top level read per listing */
#define SID_MAX 64

static const struct tool_env *env;

struct res_sub {
	char *uri;
	struct sess_watch *w;
	struct res_conn *rc;
	TAILQ_ENTRY(res_sub) link;
};

struct res_conn {
	struct srv_conn *c;
	TAILQ_HEAD(, res_sub) subs;
	unsigned n;
	TAILQ_ENTRY(res_conn) link;	/* conns */
};

/* The connections that used resources/ methods: they hear of changes to the list. */
static TAILQ_HEAD(, res_conn) conns = TAILQ_HEAD_INITIALIZER(conns);

/* A session came or went: the connections whose listing shows it (as sess_foreach decides: its owner's
 * keys, an admin's, an unauthenticated one's; one bound to it) are told. */
static void sessions_changed(void *arg, const struct sess_session *s)
{
	struct res_conn *rc;

	TAILQ_FOREACH(rc, &conns, link) {
		const char *who = srv_conn_principal(rc->c), *scope = srv_conn_scope(rc->c);
		if (srv_conn_closing(rc->c) || (scope && strcmp(scope, s->id) != 0) ||
		    !sess_principal_reaches(who, s) || !sess_principal_in_scope(who, s->id))
			continue;
		srv_conn_notify(rc->c, "notifications/resources/list_changed", NULL);
	}
}

void res_init(const struct tool_env *e)
{
	env = e;
	if (env->sessions)
		sess_set_list_hook(env->sessions, sessions_changed, NULL);
}

json_t *res_capability(void)
{
	return json_pack("{s:b, s:b}", "subscribe", 1, "listChanged", 1);
}

/* ---- URIs ------------------------------------------------------------------ */

struct res_uri {
	char sid[SID_MAX];
	bool screen;
	char *path;		/* files: the decoded path (malloc'd) */
};

/* Percent-decoding; NULL for a bad escape or an encoded NUL. */
static char *pct_decode(const char *s)
{
	struct buf b = BUF_INIT;
	for (; *s; s++) {
		if (*s != '%') {
			buf_add(&b, s, 1);
			continue;
		}
		int hi = srv_hex_value(s[1]), lo = hi < 0 ? -1 : srv_hex_value(s[2]);
		if (lo < 0 || (hi == 0 && lo == 0)) {
			buf_release(&b);
			return NULL;
		}
		char c = (char)(hi * 16 + lo);
		buf_add(&b, &c, 1);
		s += 2;
	}
	return buf_detach(&b);
}

/* Everything but unreserved characters and '/' as %XX. */
static void pct_encode(struct buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~/", *p))
			buf_add(b, (const char *)p, 1);
		else
			buf_addf(b, "%%%02X", *p);
	}
}

/* 1: one of ours (u filled), 0: not an mcpbox URI we know, -1: malformed (errp). */
static int uri_parse(const char *uri, struct res_uri *u, struct err **errp)
{
	memset(u, 0, sizeof(*u));
	if (strncmp(uri, URI_PREFIX, strlen(URI_PREFIX)))
		return 0;
	const char *sid = uri + strlen(URI_PREFIX), *slash = strchr(sid, '/');
	if (!slash || slash == sid || (size_t)(slash - sid) >= SID_MAX)
		return 0;
	memcpy(u->sid, sid, (size_t)(slash - sid));
	if (!strcmp(slash, "/screen")) {
		u->screen = true;
		return 1;
	}
	if (strncmp(slash, "/files/", 7))
		return 0;
	u->path = pct_decode(slash + 7);
	if (!u->path)
		return err_setc(errp, ERR_INVALID, 0, "%s: a bad percent-escape in the path", uri);
	if (!*u->path) {
		free(u->path);
		u->path = NULL;
		return err_setc(errp, ERR_INVALID, 0, "%s names the workspace itself, not a file", uri);
	}
	return 1;
}

/* The JSON-RPC code for a failure of this class. */
static int rpc_code(enum err_class cls)
{
	switch (cls) {
	case ERR_NOT_FOUND:
		return RPC_RESOURCE_NOT_FOUND;
	case ERR_INVALID:
	case ERR_DENIED:
	case ERR_CONFLICT:
	case ERR_LIMIT:
		return RPC_INVALID_PARAMS;
	default:
		return RPC_INTERNAL_ERROR;
	}
}

/* The session u names if the caller may use it through this connection, or NULL. */
static struct sess_session *uri_session(const struct res_uri *u, struct srv_req *req, const struct tool_conn *tc)
{
	if (tc->bound_session && strcmp(tc->bound_session, u->sid))
		return NULL;
	return sess_find(env->sessions, u->sid, srv_conn_principal(srv_req_conn(req)));
}

/* ---- types ------------------------------------------------------------------ */

/* ---- resources/read: a caller of file_read and screenshot -------------------- */

struct res_read {
	struct srv_req *req;
	char *uri;
	bool screen;
	const struct srv_mime *mime;
};

/* The first text block of a CallToolResult. */
static const char *result_text(json_t *result)
{
	json_t *c = json_array_get(json_object_get(result, "content"), 0);
	const char *t = json_string_value(json_object_get(c, "text"));
	return t ? t : "the call failed";
}

static json_t *screen_contents(struct res_read *rr, json_t *result)
{
	size_t i;
	json_t *block;
	json_array_foreach(json_object_get(result, "content"), i, block) {
		if (!strcmp(json_string_value(json_object_get(block, "type")) ?: "", "image"))
			return json_pack("[{s:s, s:O, s:O}]", "uri", rr->uri, "mimeType", json_object_get(block, "mimeType"),
					 "blob", json_object_get(block, "data"));
	}
	return NULL;
}

static json_t *file_contents(struct res_read *rr, json_t *sc, struct err **errp)
{
	json_t *content = json_object_get(sc, "content");
	if (json_is_true(json_object_get(sc, "truncated")))
		return err_setc(errp, ERR_LIMIT, 0, "%s is %lld bytes, more than one read returns here (%lld): read it "
				"in parts with the file_read tool (offset, length)", rr->uri,
				(long long)json_integer_value(json_object_get(sc, "size")),
				(long long)json_integer_value(json_object_get(sc, "bytes"))), NULL;
	if (rr->mime && !rr->mime->text)
		return json_pack("[{s:s, s:s, s:O}]", "uri", rr->uri, "mimeType", rr->mime->type, "blob", content);
	size_t n;
	auto_free char *data = base64_decode(json_string_value(content), json_string_length(content), &n);
	if (!data)
		return err_setc(errp, ERR_INTERNAL, 0, "%s: file_read returned no base64", rr->uri), NULL;
	if (srv_utf8_prefix(data, n) == n)
		return json_pack("[{s:s, s:s, s:s%}]", "uri", rr->uri, "mimeType", rr->mime ? rr->mime->type : "text/plain",
				 "text", data, n);
	return json_pack("[{s:s, s:s, s:O}]", "uri", rr->uri, "mimeType",
			 rr->mime ? rr->mime->type : "application/octet-stream", "blob", content);
}

static void read_finish(void *ctx, json_t *result, enum err_class cls)
{
	struct res_read *rr = ctx;
	auto_err struct err *err = NULL;

	if (json_is_true(json_object_get(result, "isError"))) {
		srv_req_error(rr->req, rpc_code(cls), "%s: %s", rr->uri, result_text(result));
	} else {
		json_t *contents = rr->screen ? screen_contents(rr, result)
					      : file_contents(rr, json_object_get(result, "structuredContent"), &err);
		if (contents)
			srv_req_result(rr->req, json_pack("{s:o}", "contents", contents));
		else if (err)
			srv_req_error(rr->req, rpc_code(err->cls), "%s", err_text(err));
		else
			srv_req_error(rr->req, RPC_INTERNAL_ERROR, "%s: the screenshot returned no image", rr->uri);
	}
	json_decref(result);
	free(rr->uri);
	free(rr);
}

static void read_on_cancel(void *ctx, void (*fn)(void *arg), void *arg)
{
	struct res_read *rr = ctx;
	srv_req_on_cancel(rr->req, fn, arg);
}

static const struct tool_caller_ops read_caller = {
	.finish = read_finish,
	.on_cancel = read_on_cancel,
};

static void do_read(struct srv_req *req, struct tool_conn *tc, const char *uri, const struct res_uri *u)
{
	if (!uri_session(u, req, tc)) {
		srv_req_error(req, RPC_RESOURCE_NOT_FOUND, "Resource not found: %s (no session %s of yours)", uri, u->sid);
		return;
	}
	struct res_read *rr = xcalloc(1, sizeof(*rr));
	rr->req = req;
	rr->uri = xstrdup(uri);
	rr->screen = u->screen;
	json_t *args;
	if (u->screen) {
		args = json_pack("{s:s}", "session_id", u->sid);
	} else {
		rr->mime = srv_mime_of(u->path);
		args = json_pack("{s:s, s:s, s:s}", "session_id", u->sid, "path", u->path, "encoding", "base64");
	}
	struct tool_caller caller = {
		.ops = &read_caller, .ctx = rr, .principal = srv_conn_principal(srv_req_conn(req)), .conn = tc,
	};
	tool_registry_call(&caller, u->screen ? "screenshot" : "file_read", args);
	json_decref(args);
}

/* ---- resources/list ------------------------------------------------------------ */

struct lister {
	struct srv_req *req;
	const struct tool_conn *tc;
	struct sess_session **v;
	size_t n, cap;
};

static void collect(void *arg, struct sess_session *s)
{
	struct lister *l = arg;
	if (s->wsfd < 0 || (l->tc->bound_session && strcmp(l->tc->bound_session, s->id)))
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = s;
}

static int cmp_session(const void *a, const void *b)
{
	return strcmp((*(struct sess_session *const *)a)->id, (*(struct sess_session *const *)b)->id);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files at the top of s's workspace (at most TOP_MAX entries read), sorted; *n of them. */
static char **top_files(struct sess_session *s, size_t *n)
{
	char **names = NULL;
	size_t cap = 0, read = 0;
	int fd = openat(s->wsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;

	*n = 0;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while (read < TOP_MAX && (de = readdir(d))) {
		read++;
		struct stat st;
		if (de->d_type == DT_UNKNOWN ? fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
						       !S_ISREG(st.st_mode)
					     : de->d_type != DT_REG)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 32;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (*n)
		qsort(names, *n, sizeof(*names), cmp_str);
	return names;
}

static json_t *screen_item(struct sess_session *s)
{
	struct buf uri = BUF_INIT, title = BUF_INIT;
	buf_addf(&uri, URI_PREFIX "%s/screen", s->id);
	buf_addf(&title, "Screen of session %s", s->id);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "uri", uri.data, "name", "screen", "title", title.data,
			      "description", "The session's display as a PNG (what the screenshot tool returns)",
			      "mimeType", "image/png");
	buf_release(&uri);
	buf_release(&title);
	return j;
}

static json_t *file_item(struct sess_session *s, const char *name)
{
	struct buf uri = BUF_INIT, desc = BUF_INIT;
	struct stat st;
	const struct srv_mime *m = srv_mime_of(name);

	buf_addf(&uri, URI_PREFIX "%s/files/", s->id);
	pct_encode(&uri, name);
	buf_addf(&desc, "/workspace/%s in session %s", name, s->id);
	json_t *j = json_pack("{s:s, s:o, s:o}", "uri", uri.data, "name", srv_json_text(name, strlen(name)),
			      "description", srv_json_text(desc.data, desc.len));
	if (m)
		json_object_set_new(j, "mimeType", json_string(m->type));
	if (fstatat(s->wsfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		json_object_set_new(j, "size", json_integer((json_int_t)st.st_size));
	buf_release(&uri);
	buf_release(&desc);
	return j;
}

/* A cursor: base64 of "<session id>\n<key>", the last item given (key "": the screen). */
static char *cursor_make(const char *sid, const char *key)
{
	struct buf b = BUF_INIT;
	size_t n;
	buf_addf(&b, "%s\n%s", sid, key);
	char *c = base64_encode(b.data, b.len, &n);
	buf_release(&b);
	return c;
}

static int cursor_parse(json_t *jc, char **sid, char **key)
{
	size_t n;
	if (!json_is_string(jc))
		return -1;
	auto_free char *raw = base64_decode(json_string_value(jc), json_string_length(jc), &n);
	char *nl = raw ? memchr(raw, '\n', n) : NULL;
	if (!nl || nl == raw || memchr(raw, '\0', n))
		return -1;
	*sid = xstrndup(raw, (size_t)(nl - raw));
	*key = xstrndup(nl + 1, n - (size_t)(nl - raw) - 1);
	return 0;
}

static void do_list(struct srv_req *req, const struct tool_conn *tc, json_t *params)
{
	json_t *jc = json_object_get(params, "cursor");
	auto_free char *csid = NULL, *ckey = NULL;
	struct lister l = { .req = req, .tc = tc };

	if (jc && cursor_parse(jc, &csid, &ckey) < 0) {
		srv_req_error(req, RPC_INVALID_PARAMS, "resources/list: invalid cursor");
		return;
	}
	json_t *items = !csid && env->fixtures ? fixtures_resource_list() : json_array();
	size_t given = 0;
	const char *last_sid = NULL; /* of the last item on this page, and its key */
	auto_free char *last_key = NULL;
	bool more = false;

	sess_foreach(env->sessions, srv_conn_principal(srv_req_conn(req)), collect, &l);
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_session);
	for (size_t i = 0; i < l.n && !more; i++) {
		struct sess_session *s = l.v[i];
		int c = csid ? strcmp(s->id, csid) : 1;
		if (c < 0)
			continue;
		struct vnc_display *d = vnc_display_find(s->id, NULL);
		if (c > 0 && d && vnc_display_running(d)) {
			if (given == PAGE) {
				more = true;
				break;
			}
			json_array_append_new(items, screen_item(s));
			given++;
			last_sid = s->id;
			free(last_key);
			last_key = xstrdup("");
		}
		size_t n;
		char **names = top_files(s, &n);
		for (size_t k = 0; k < n && !more; k++) {
			if (c == 0 && strcmp(names[k], ckey) <= 0)
				continue;
			if (given == PAGE) {
				more = true;
				break;
			}
			json_array_append_new(items, file_item(s, names[k]));
			given++;
			last_sid = s->id;
			free(last_key);
			last_key = xstrdup(names[k]);
		}
		for (size_t k = 0; k < n; k++)
			free(names[k]);
		free(names);
	}
	json_t *res = json_pack("{s:o}", "resources", items);
	if (more) {
		char *cur = cursor_make(last_sid, last_key);
		json_object_set_new(res, "nextCursor", json_string(cur));
		free(cur);
	}
	free(l.v);
	srv_req_result(req, res);
}

static json_t *templates(void)
{
	json_t *t = json_pack(
		"[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s}]",
		"uriTemplate", URI_PREFIX "{session_id}/files/{+path}", "name", "workspace-file", "title",
		"A file of a session's workspace", "description",
		"path is relative to /workspace (percent-encode what is not a letter, digit, '-', '.', '_', '~' or "
		"'/'). Text files come as text, others as base64 blobs; at most the file_read limit per read.",
		"uriTemplate", URI_PREFIX "{session_id}/screen", "name", "screen", "title", "The screen of a session",
		"description", "The session's display as a PNG, as the screenshot tool takes it (starting the display "
		"if it is not running)", "mimeType", "image/png");
	if (env->fixtures) {
		json_t *f = fixtures_resource_templates();
		json_array_extend(f, t);
		json_decref(t);
		t = f;
	}
	return t;
}

/* ---- subscriptions ------------------------------------------------------------- */

static void sub_free(struct res_sub *sub)
{
	TAILQ_REMOVE(&sub->rc->subs, sub, link);
	sub->rc->n--;
	free(sub->uri);
	free(sub);
}

static void sub_changed(void *arg, bool gone)
{
	struct res_sub *sub = arg;
	struct srv_conn *c = sub->rc->c;

	if (!srv_conn_closing(c))
		srv_conn_notify(c, "notifications/resources/updated", json_pack("{s:s}", "uri", sub->uri));
	if (gone)
		sub_free(sub); /* the watch is freed by its module */
}

static struct res_sub *sub_find(struct res_conn *rc, const char *uri)
{
	struct res_sub *sub;
	TAILQ_FOREACH(sub, &rc->subs, link)
		if (!strcmp(sub->uri, uri))
			return sub;
	return NULL;
}

static void do_subscribe(struct srv_req *req, struct res_conn *rc, struct tool_conn *tc, const char *uri,
			 const struct res_uri *u)
{
	auto_err struct err *err = NULL;
	auto_free char *rel = NULL;
	struct sess_session *s = uri_session(u, req, tc);

	if (!s) {
		srv_req_error(req, RPC_RESOURCE_NOT_FOUND, "Resource not found: %s (no session %s of yours)", uri, u->sid);
		return;
	}
	if (u->screen) {
		srv_req_error(req, RPC_INVALID_PARAMS, "%s: the screen changes with every frame and cannot be subscribed "
			      "to; read it (or call screenshot) when you need it", uri);
		return;
	}
	if (sub_find(rc, uri)) {
		srv_req_result(req, json_object());
		return;
	}
	if (rc->n >= RES_SUBS_MAX) {
		srv_req_error(req, RPC_INVALID_PARAMS, "resources/subscribe: this connection already has %d "
			      "subscriptions, the most it may have; unsubscribe from some first", RES_SUBS_MAX);
		return;
	}
	if (sess_ws_relpath(u->path, &rel, &err) < 0) {
		srv_req_error(req, rpc_code(err->cls), "%s: %s", uri, err_text(err));
		return;
	}
	if (!strcmp(rel, ".")) {
		srv_req_error(req, RPC_INVALID_PARAMS, "%s names the workspace itself, not a file", uri);
		return;
	}
	struct res_sub *sub = xcalloc(1, sizeof(*sub));
	sub->rc = rc;
	if (sess_watch_add(s, rel, u->path, sub_changed, sub, &sub->w, &err) < 0) {
		free(sub);
		srv_req_error(req, rpc_code(err->cls), "%s: %s", uri, err_text(err));
		return;
	}
	sub->uri = xstrdup(uri);
	TAILQ_INSERT_TAIL(&rc->subs, sub, link);
	rc->n++;
	srv_req_result(req, json_object());
}

static void do_unsubscribe(struct srv_req *req, struct res_conn *rc, const char *uri)
{
	struct res_sub *sub = sub_find(rc, uri);
	if (sub) {
		sess_watch_remove(sub->w);
		sub_free(sub);
	}
	srv_req_result(req, json_object()); /* not subscribed: nothing to stop */
}

void res_conn_free(struct res_conn *rc)
{
	struct res_sub *sub;

	if (!rc)
		return;
	while ((sub = TAILQ_FIRST(&rc->subs))) {
		sess_watch_remove(sub->w);
		sub_free(sub);
	}
	TAILQ_REMOVE(&conns, rc, link);
	free(rc);
}

/* ---- dispatch ------------------------------------------------------------------ */

void res_request(struct srv_req *req, struct res_conn **rcp, struct tool_conn *tc, const char *method,
		 json_t *params)
{
	auto_err struct err *err = NULL;
	struct res_uri u;

	if (!*rcp) {
		*rcp = xcalloc(1, sizeof(**rcp));
		(*rcp)->c = srv_req_conn(req);
		TAILQ_INIT(&(*rcp)->subs);
		TAILQ_INSERT_TAIL(&conns, *rcp, link);
	}
	if (!strcmp(method, "resources/list")) {
		do_list(req, tc, params);
		return;
	}
	if (!strcmp(method, "resources/templates/list")) {
		if (json_object_get(params, "cursor"))
			srv_req_error(req, RPC_INVALID_PARAMS, "resources/templates/list: invalid cursor");
		else
			srv_req_result(req, json_pack("{s:o}", "resourceTemplates", templates()));
		return;
	}
	bool read = !strcmp(method, "resources/read"), sub = !strcmp(method, "resources/subscribe"),
	     unsub = !strcmp(method, "resources/unsubscribe");
	if (!read && !sub && !unsub) {
		srv_req_error(req, RPC_METHOD_NOT_FOUND, "Method not found: %s", method);
		return;
	}
	const char *uri = json_string_value(json_object_get(params, "uri"));
	if (!uri) {
		srv_req_error(req, RPC_INVALID_PARAMS, "%s: params.uri (a string) is required", method);
		return;
	}
	if (unsub) {
		if (env->fixtures && !sub_find(*rcp, uri) && strncmp(uri, URI_PREFIX, strlen(URI_PREFIX)))
			fixtures_resources(req, method, params);
		else
			do_unsubscribe(req, *rcp, uri);
		return;
	}
	int r = uri_parse(uri, &u, &err);
	if (r < 0) {
		srv_req_error(req, RPC_INVALID_PARAMS, "%s", err_text(err));
	} else if (r == 0) {
		if (env->fixtures)
			fixtures_resources(req, method, params); /* its test:// URIs, or its not-found */
		else
			srv_req_error(req, RPC_RESOURCE_NOT_FOUND, "Resource not found: %s (resources are "
				      URI_PREFIX "{session_id}/files/{path} and " URI_PREFIX "{session_id}/screen)", uri);
	} else if (read) {
		do_read(req, tc, uri, &u);
	} else {
		do_subscribe(req, *rcp, tc, uri, &u);
	}
	free(u.path);
}
