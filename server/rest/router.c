/*
 * server/rest/router.c — mounting the REST dialects and calling tools for
 * them (see rest.h).
 *
 * Mounting: every route of every enabled dialect is served at its documented
 * path and at /compat/<dialect><path>. Documented paths that several
 * dialects share (POST /execute, GET /health) become one transport route
 * whose request goes to the dialect whose claims() takes the body (the
 * first one of the table otherwise); a shared GET /health answers the union
 * of the dialects' health fields. Under the path prefixes dialects declare
 * (/api/v1, /v1), a path no route serves gets 404 (405 if it is served for
 * other methods) with the union of the declaring dialects' failure fields.
 *
 * Calling: a REST request's tool calls go through rest_caller (the tools'
 * struct tool_caller). Each call is on a list while it runs, so that a
 * client that leaves cancels every call made for its request, and shutdown
 * can wait for them (rest_calls).
 */
#include "rest.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/config.h"
#include "../base/json_out.h"
#include "../base/log.h"

#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "../base/banned.h"

/* The dialects, in the order shared paths prefer them. */
static const struct rest_dialect *const dialects[] = {
	&rest_manager,
	&rest_agentflow,
	&rest_executor,
	&rest_agentbox,
	&rest_soulbox,
	NULL,
};

static const struct rest_services *services;

void rest_set_services(const struct rest_services *s)
{
	services = s;
}

const struct rest_services *rest_services(void)
{
	return services;
}

/* ---- per-principal tool state ---- */

struct rest_conn {
	char *dialect;
	char *principal;
	struct tool_conn tc;
	LIST_ENTRY(rest_conn) link;
};
static LIST_HEAD(, rest_conn) conns = LIST_HEAD_INITIALIZER(conns);

struct tool_conn *rest_conn(const char *dialect, const char *principal)
{
	struct rest_conn *c;
	LIST_FOREACH(c, &conns, link)
		if (!strcmp(c->dialect, dialect) && !strcmp(c->principal, principal))
			return &c->tc;
	c = xcalloc(1, sizeof(*c));
	c->dialect = xstrdup(dialect);
	c->principal = xstrdup(principal);
	LIST_INSERT_HEAD(&conns, c, link);
	return &c->tc;
}

/* ---- the tools' caller for REST requests ---- */

struct rest_callctx {
	struct tp_req *r;		/* NULL: no request, or its client left */
	char *principal;
	rest_done_fn done;
	void *arg;
	void (*cancel)(void *arg);
	void *cancel_arg;
	LIST_ENTRY(rest_callctx) link;
};
static LIST_HEAD(, rest_callctx) calls = LIST_HEAD_INITIALIZER(calls);
static unsigned ncalls;

/* r's client left: cancel every call made for it. */
static void req_gone(void *arg)
{
	struct tp_req *r = arg;
	struct rest_callctx *c, *next;
	for (c = LIST_FIRST(&calls); c; c = next) {
		next = LIST_NEXT(c, link);
		if (c->r != r)
			continue;
		c->r = NULL;
		if (c->cancel) {
			void (*fn)(void *) = c->cancel;
			c->cancel = NULL;
			fn(c->cancel_arg);
		}
	}
}

static void caller_finish(void *ctx, json_t *result, enum err_class cls)
{
	struct rest_callctx *c = ctx, *o;
	bool others = false;

	LIST_REMOVE(c, link);
	ncalls--;
	if (c->r) {
		/* the last call of its request no longer needs to hear of the client leaving */
		LIST_FOREACH(o, &calls, link)
			others |= o->r == c->r;
		if (!others)
			tp_req_on_gone(c->r, NULL, NULL);
	}
	c->done(c->arg, result, cls);
	free(c->principal);
	free(c);
}

static void caller_on_cancel(void *ctx, void (*fn)(void *arg), void *arg)
{
	struct rest_callctx *c = ctx;
	c->cancel = fn;
	c->cancel_arg = arg;
}

/* Headers on every limited answer; a refusal is finished as ERR_LIMIT, and the request remembers it (tp_req_rate_refused) so the dialect answers 429. */
static bool caller_rate(void *ctx, const struct srv_rate_verdict *v)
{
	struct rest_callctx *c = ctx;
	if (c->r)
		tp_req_rate_headers(c->r, v);
	return false;
}

static const struct tool_caller_ops rest_caller_ops = {
	.finish = caller_finish,
	.rate = caller_rate,
	.on_cancel = caller_on_cancel,
};

void rest_call(struct tp_req *r, const char *principal, struct tool_conn *conn, const char *tool, json_t *args,
	       rest_done_fn done, void *arg)
{
	struct rest_callctx *c = xcalloc(1, sizeof(*c));
	c->r = r && !tp_req_gone(r) ? r : NULL;
	c->principal = xstrdup(principal);
	c->done = done;
	c->arg = arg;
	LIST_INSERT_HEAD(&calls, c, link);
	ncalls++;
	if (c->r)
		tp_req_on_gone(c->r, req_gone, c->r);
	struct tool_caller caller = { .ops = &rest_caller_ops, .ctx = c, .principal = c->principal, .conn = conn };
	tool_registry_call(&caller, tool, args);
	json_decref(args);
}

unsigned rest_calls(void)
{
	return ncalls;
}

/* ---- results ---- */

json_t *rest_result_data(json_t *result)
{
	return json_object_get(result, "structuredContent");
}

const char *rest_result_text(json_t *result)
{
	size_t i;
	json_t *b;
	json_array_foreach(json_object_get(result, "content"), i, b)
		if (json_is_string(json_object_get(b, "text")))
			return json_string_value(json_object_get(b, "text"));
	return "";
}

const char *rest_message(const char *text)
{
	static const char args[] = "Invalid arguments for ";
	const char *name = strncmp(text, args, sizeof(args) - 1) ? text : text + sizeof(args) - 1;
	const char *q = strstr(name, ": ");
	char tool[64];

	if (!q || q - name >= (ptrdiff_t)sizeof(tool))
		return text;
	snprintf(tool, sizeof(tool), "%.*s", (int)(q - name), name);
	return tool_registry_has(NULL, tool) ? q + 2 : text;
}

bool rest_result_failed(json_t *result)
{
	return json_is_true(json_object_get(result, "isError"));
}

int rest_status_of(const struct tp_req *r, enum err_class cls)
{
	switch (cls) {
	case ERR_INVALID: return 400;
	case ERR_NOT_FOUND: return 404;
	case ERR_CONFLICT: return 409;
	case ERR_DENIED: return 403;
	case ERR_LIMIT: return r && tp_req_rate_refused(r) ? 429 : 403;
	case ERR_UNAVAILABLE: return 503;
	case ERR_TIMEOUT: return 504;
	case ERR_INTERNAL: break;
	}
	return 500;
}

json_t *rest_time(int64_t ms)
{
	return srv_json_time(ms, true);
}

json_t *rest_now(void)
{
	return srv_json_time((int64_t)wall_ms(), true);
}

/* ---- mounting ---- */

/* The dialects of one documented path that several serve. */
struct shared {
	char *path;
	unsigned methods;
	size_t n;
	const struct rest_dialect *d[ARRAY_SIZE(dialects)];
	const struct rest_route *rt[ARRAY_SIZE(dialects)];
	struct shared *next;
};
static struct shared *shareds;
static const struct rest_dialect *enabled[ARRAY_SIZE(dialects)];
static size_t nenabled;

static void shared_dispatch(struct tp_req *r, void *arg)
{
	struct shared *sh = arg;
	enum tp_method m = tp_req_method(r);

	if (m == TP_GET && !strcmp(sh->path, "/health")) {
		json_t *out = json_object();
		for (size_t i = 0; i < sh->n; i++)
			if (sh->d[i]->health)
				sh->d[i]->health(out);
		tp_req_json(r, 200, out);
		return;
	}
	size_t len;
	tp_req_body(r, &len);
	json_t *j = len ? tp_req_body_json(r, 0, NULL) : NULL;
	const struct rest_route *pick = NULL;
	for (size_t i = 0; i < sh->n && !pick; i++)
		if ((sh->rt[i]->methods & m) && sh->d[i]->claims && sh->d[i]->claims(sh->path, j))
			pick = sh->rt[i];
	for (size_t i = 0; i < sh->n && !pick; i++)
		if (sh->rt[i]->methods & m)
			pick = sh->rt[i];
	json_decref(j);
	pick->handle(r, NULL);
}

static void unrouted_dispatch(struct tp_req *r, void *arg)
{
	const struct rest_dialect *d = arg;
	d->unrouted(r, tp_req_path_known(r));
}

/* A path prefix several dialects' documented paths share, and those dialects. */
struct prefix {
	char *prefix;
	bool mounted;			/* its route is added (rest_start) */
	size_t n;
	const struct rest_dialect *d[ARRAY_SIZE(dialects)];
	struct prefix *next;
};
static struct prefix *prefixes;

/* Under a shared prefix, a path no route serves: every sharing dialect's failure fields at once. */
static void prefix_dispatch(struct tp_req *r, void *arg)
{
	struct prefix *p = arg;
	bool known = tp_req_path_known(r);
	int status = known ? 405 : 404;
	struct buf msg = BUF_INIT;
	json_t *out = json_object();

	if (known)
		buf_addf(&msg, "%s is not served for %s", tp_req_method_name(r), tp_req_path(r));
	else
		buf_addf(&msg, "no such endpoint: %s", tp_req_path(r));
	for (size_t i = 0; i < p->n; i++)
		p->d[i]->fail_fields(out, status, msg.data);
	buf_release(&msg);
	tp_req_json(r, status, out);
}

static void prefix_add(const struct rest_dialect *d, const char *name)
{
	struct prefix *p;

	for (p = prefixes; p && strcmp(p->prefix, name); p = p->next)
		;
	if (!p) {
		p = xcalloc(1, sizeof(*p));
		p->prefix = xstrdup(name);
		p->next = prefixes;
		prefixes = p;
	}
	p->d[p->n++] = d;
}

static bool dialect_on(const struct srv_config *cfg, const char *name)
{
	return !json_is_false(json_object_get(cfg->compat, name));
}

void rest_start(const struct srv_config *cfg)
{
	const char *k;
	json_t *v;

	json_object_foreach(cfg->compat, k, v) {
		size_t i;
		for (i = 0; dialects[i] && strcmp(dialects[i]->name, k); i++)
			;
		if (!dialects[i])
			log_warn("config: compat.%s: no such dialect (ignored)", k);
	}
	for (size_t i = 0; dialects[i]; i++) {
		const struct rest_dialect *d = dialects[i];
		if (!dialect_on(cfg, d->name))
			continue;
		enabled[nenabled++] = d;
		if (d->init)
			d->init(cfg);
		for (const struct rest_route *rt = d->routes; rt->path; rt++) {
			struct buf b = BUF_INIT;
			buf_addf(&b, "/compat/%s%s", d->name, strcmp(rt->path, "/") ? rt->path : "");
			(rt->methods & REST_STREAMED ? tp_http_route_streamed : tp_http_route)(rt->methods & TP_ANY, b.data,
											 rt->handle, NULL);
			buf_release(&b);
			/* the documented path: shared with another dialect's? */
			struct shared *sh;
			for (sh = shareds; sh && strcmp(sh->path, rt->path); sh = sh->next)
				;
			if (!sh) {
				sh = xcalloc(1, sizeof(*sh));
				sh->path = xstrdup(rt->path);
				sh->next = shareds;
				shareds = sh;
			}
			sh->methods |= rt->methods & TP_ANY;
			sh->d[sh->n] = d;
			sh->rt[sh->n++] = rt;
		}
		for (const char *const *p = d->prefixes; p && *p && d->fail_fields; p++)
			prefix_add(d, *p);
		if (d->unrouted) {
			/* after the dialect's routes: what they leave under its prefix */
			struct buf b = BUF_INIT;
			buf_addf(&b, "/compat/%s/{rest*}", d->name);
			tp_http_route(TP_ANY, b.data, unrouted_dispatch, (void *)d);
			buf_release(&b);
		}
	}
	for (struct shared *sh = shareds; sh; sh = sh->next) {
		if (sh->n == 1)
			(sh->rt[0]->methods & REST_STREAMED ? tp_http_route_streamed : tp_http_route)(
				sh->methods, sh->path, sh->rt[0]->handle, NULL);
		else
			tp_http_route(sh->methods, sh->path, shared_dispatch, sh); /* the body decides: never streamed */
	}
	/* documented paths asked with another method: the first dialect's 405 */
	for (struct shared *sh = shareds; sh; sh = sh->next) {
		for (size_t i = 0; i < sh->n; i++) {
			if (sh->d[i]->unrouted) {
				tp_http_route(TP_ANY, sh->path, unrouted_dispatch, (void *)sh->d[i]);
				break;
			}
		}
	}
	/*
	 * Last: what no documented path takes under a prefix dialects declare,
	 * the longest prefix first (routes match in the order they are added),
	 * so /api/v1/x is the /api/v1 dialects' and /api/x SoulBox's alone.
	 */
	size_t nprefix = 0;
	for (struct prefix *p = prefixes; p; p = p->next)
		nprefix++;
	for (size_t done = 0; done < nprefix; done++) {
		struct prefix *longest = NULL;
		for (struct prefix *p = prefixes; p; p = p->next)
			if (!p->mounted && (!longest || strlen(p->prefix) > strlen(longest->prefix)))
				longest = p;
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s/{rest*}", longest->prefix);
		tp_http_route(TP_ANY, b.data, prefix_dispatch, longest);
		longest->mounted = true;
		buf_release(&b);
	}
}

void rest_session_gone(const char *id)
{
	for (size_t i = 0; i < nenabled; i++)
		if (enabled[i]->session_gone)
			enabled[i]->session_gone(id);
}

void rest_stop(void)
{
	for (size_t i = 0; i < nenabled; i++)
		if (enabled[i]->release)
			enabled[i]->release();
	nenabled = 0;
	while (shareds) {
		struct shared *sh = shareds;
		shareds = sh->next;
		free(sh->path);
		free(sh);
	}
	while (prefixes) {
		struct prefix *p = prefixes;
		prefixes = p->next;
		free(p->prefix);
		free(p);
	}
	while (!LIST_EMPTY(&conns)) {
		struct rest_conn *c = LIST_FIRST(&conns);
		LIST_REMOVE(c, link);
		tool_conn_release(&c->tc);
		free(c->dialect);
		free(c->principal);
		free(c);
	}
}
