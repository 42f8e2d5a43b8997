/*
 * mcpbox — one program that gives each AI agent session a computer of its own.
 *
 *   mcpbox stdio [--data DIR] [--config FILE]          MCP over stdin/stdout
 *   mcpbox serve [--listen HOST:PORT] [--auth key|none] MCP over HTTP and WebSocket
 *   mcpbox key create|list|revoke                      API keys for serve
 *   mcpbox user add|list|passwd|disable                users who log in for JWTs
 *   mcpbox version
 *
 * Start-up order matters: the zygote is forked before anything creates a
 * thread (libuv's pool starts lazily), so sandboxes are cloned from a small
 * single-threaded process and never from the server.
 */
#include "alerts.h"
#include "auth.h"
#include "jwt.h"
#include "login.h"
#include "services.h"
#include "users.h"
#include "base/buf.h"
#include "base/common.h"
#include "base/config.h"
#include "base/log.h"
#include "mcp.h"
#include "base/metrics.h"
#include "base/offload.h"
#include "base/pool.h"
#include "records.h"
#include "store.h"
#include "../sessions/instance.h"
#include "../sessions/netns.h"
#include "../sessions/quota.h"
#include "../sessions/sandbox.h"
#include "grants.h"
#include "../sessions/session.h"
#include "../sessions/trash.h"
#include "../sessions/snapshot.h"
#include "../sessions/watch.h"
#include "../sessions/workspace.h"
#include "../transport/tp.h"
#include "../vnc/display.h"
#include "../vnc/agent.h"
#include "../kernel/agent.h"
#include "../kernel/kernel.h"
#include "../tools/kernel_tools.h"
#include "../vnc/web.h"
#include "../proxy/browser.h"
#include "../proxy/proxy.h"
#include "rest/rest.h"
#include "base/banned.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define SHUTDOWN_GRACE_MS 1500

struct server {
	uv_loop_t *loop;
	struct srv_config cfg;
	struct sess_zygote *zygote;
	struct sess_registry *sessions;
	struct tool_env env;
	struct srv_store *store;
	struct srv_auth *auth;
	struct srv_users *users;
	struct snap_store *snapshots;
	struct sess_instance *instance;	/* our claim on the (maybe shared) data directory */
	unsigned long nofile;		/* RLIMIT_NOFILE once raised (0: unknown); bounds connections and executions */
	uv_timer_t repack_timer;
	bool repacking;
	bool serving_http;
	uv_signal_t sig[3];
	uv_timer_t shutdown_timer;
	uint64_t shutdown_started;
	bool shutting_down;
	bool draining;		/* serve: letting running calls finish */
	bool finished;
};

static struct server srv;

static void usage(FILE *f)
{
	fputs("usage: mcpbox <command> [options]\n"
	      "\n"
	      "commands:\n"
	      "  stdio                serve MCP over stdin/stdout (Cursor, Claude Desktop, Claude Code)\n"
	      "  serve                serve MCP over Streamable HTTP and WebSocket at /mcp\n"
	      "  key create [--name N] [--admin] | key list | key revoke ID\n"
	      "                       API keys for serve (shown once, stored as hashes)\n"
	      "  user add NAME [--admin | --role ROLE] --password-stdin | user list |\n"
	      "  user passwd NAME --password-stdin | user disable NAME | user enable NAME |\n"
	      "  user role NAME user|admin|super_admin\n"
	      "                       users who log in (POST /auth/login) for tokens used like keys\n"
	      "  version              print the version\n"
	      "\n"
	      "options:\n"
	      "  --data DIR           data directory (default $MCPBOX_DATA, else $XDG_DATA_HOME/mcpbox,\n"
	      "                       else ~/.local/share/mcpbox)\n"
	      "  --config FILE        JSON configuration (default DATA/config.json when it exists)\n"
	      "  --log-level L        debug, info, warning, error (default info; logs go to stderr)\n"
	      "  -q, --quiet          the same as --log-level warning\n"
	      "  --listen HOST:PORT   serve: address to listen on (default 127.0.0.1:8080)\n"
	      "  --auth key|none      serve: require API keys (default) or not (loopback only)\n"
	      "  --admin-user NAME    serve: make an administrator NAME (role super_admin) with a random\n"
	      "                       password, printed once, unless that user exists\n"
	      "  --fixtures conformance  also serve the fixture tools, resources and prompts of the\n"
	      "                       MCP conformance suite (for testing the protocol engine)\n",
	      f);
}

static int mkdir_p(const char *path, mode_t mode)
{
	auto_free char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static char *default_data_dir(void)
{
	struct buf b = BUF_INIT;
	const char *v;

	if ((v = getenv("MCPBOX_DATA")) && *v)
		buf_adds(&b, v);
	else if ((v = getenv("XDG_DATA_HOME")) && *v)
		buf_addf(&b, "%s/mcpbox", v);
	else if ((v = getenv("HOME")) && *v)
		buf_addf(&b, "%s/.local/share/mcpbox", v);
	else
		buf_adds(&b, "/tmp/mcpbox");
	return buf_detach(&b);
}

/* ---- shutdown ----------------------------------------------------------- */

static void finish_shutdown(void)
{
	if (srv.finished)
		return;
	srv.finished = true;
	uv_timer_stop(&srv.repack_timer);
	uv_close((uv_handle_t *)&srv.repack_timer, NULL);
	uv_timer_stop(&srv.shutdown_timer);
	uv_close((uv_handle_t *)&srv.shutdown_timer, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(srv.sig); i++)
		uv_close((uv_handle_t *)&srv.sig[i], NULL);
	sess_quota_stop();
	srv_alerts_stop();
	kern_shutdown(); /* kernels hold their sessions and agents: before the sessions go */
	px_browser_shutdown(); /* browsers run on displays */
	vnc_shutdown(); /* displays hold their sessions' agents and handles: before the sessions go */
	sess_trash_stop(); /* the workspaces that go now, and any still in the trash, wait for the next start */
	sess_registry_free(srv.sessions);
	srv.sessions = NULL;
	sess_watch_shutdown(); /* every watch went with its session */
	srv_records_close(); /* the stops just recorded, then no more writes */
	sess_zygote_free(srv.zygote);
	srv.zygote = NULL;
}

static void shutdown_tick(uv_timer_t *t)
{
	uint64_t now = now_ms();

	if (srv.draining) {
		/* serve: running calls may finish within the grace; then cancel the rest */
		if (tp_http_busy() && now - srv.shutdown_started < srv.cfg.shutdown_grace_s * 1000)
			return;
		srv.draining = false;
		srv.shutdown_started = now;
		tp_http_stop();
	}
	/* wait for the connections' killed executions to report, but not forever */
	if ((mcp_connections() == 0 && rest_calls() == 0) || now - srv.shutdown_started > SHUTDOWN_GRACE_MS)
		finish_shutdown();
}

static void begin_shutdown(void *arg)
{
	if (srv.shutting_down)
		return;
	srv.shutting_down = true;
	srv.shutdown_started = now_ms();
	if (srv.serving_http) {
		tp_http_drain();
		srv.draining = true;
	} else {
		tp_stdio_stop();
	}
	uv_timer_start(&srv.shutdown_timer, shutdown_tick, 0, 5);
}

static void on_signal(uv_signal_t *h, int signum)
{
	if (srv.shutting_down && srv.draining) {
		log_info("signal %d again: cancelling what still runs", signum);
		srv.cfg.shutdown_grace_s = 0;
		return;
	}
	log_info("signal %d: shutting down", signum);
	begin_shutdown(NULL);
}

/* ---- snapshot store upkeep ----------------------------------------------- */

#define REPACK_EVERY_MS (15 * 60 * 1000)

struct repack_job {
	uv_work_t req;
	struct err *err;
};

/* The snapshot store, opened on first use (loop thread). */
static struct snap_store *snapshot_store(struct err **errp)
{
	if (!srv.snapshots && snap_store_open(&srv.snapshots, srv.cfg.data_dir, errp) < 0)
		return NULL;
	return srv.snapshots;
}

static void repack_run(uv_work_t *req)
{
	struct repack_job *j = req->data;
	snap_gc(srv.snapshots, &j->err);
}

static void repack_done(uv_work_t *req, int status)
{
	struct repack_job *j = req->data;
	if (j->err)
		log_warn("snapshots: repack: %s", err_text(j->err));
	err_free(j->err);
	free(j);
	srv.repacking = false;
}

static void busy_snapshot(void *arg, struct sess_session *s)
{
	if (s->snap_busy)
		*(bool *)arg = true;
}

/* Unreferenced objects go at a periodic repack, never while a snapshot is taken. */
static void repack_tick(uv_timer_t *t)
{
	bool busy = false;
	if (srv.repacking || srv.shutting_down || !srv.snapshots)
		return; /* nothing to repack before the first snapshot */
	sess_foreach(srv.sessions, NULL, busy_snapshot, &busy);
	if (busy)
		return; /* next time */
	struct repack_job *j = xcalloc(1, sizeof(*j));
	j->req.data = j;
	srv.repacking = true;
	if (uv_queue_work(srv.loop, &j->req, repack_run, repack_done) < 0) {
		free(j);
		srv.repacking = false;
	}
}

/* ---- the parts both transports share ------------------------------------ */

/*
 * Large texts parsed, answers written and trees freed off the loop (an 8 MiB
 * file_read, a 30 MB request; MCP's and the REST dialects': base/offload.h)
 * go through the fair queue (base/pool.h) in their principal's turn, ahead of
 * its waiting tool jobs: one key's many large texts hold at most its share of
 * the pool's threads, and another key's listings and searches do not wait
 * behind them.
 */
struct offload_job {
	uv_work_t w;
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
};

static void offload_run(uv_work_t *w)
{
	struct offload_job *j = w->data;
	j->work(j->arg);
}

static void offload_after(uv_work_t *w, int status)
{
	struct offload_job *j = w->data;
	(void)status; /* never cancelled */
	j->done(j->arg);
	free(j);
}

static void offload_queue(const char *principal, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	struct offload_job *j = xcalloc(1, sizeof(*j));
	j->w.data = j;
	j->work = work;
	j->done = done;
	j->arg = arg;
	srv_pool_queue_first(principal, &j->w, offload_run, offload_after);
}

static int core_start(void)
{
	auto_err struct err *err = NULL;
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };

	/* every execution holds up to five pipe ends in the server: keep them within the fds we have */
	if (srv.nofile && (!srv.cfg.quota.server_executions || srv.cfg.quota.server_executions > srv.nofile / 8)) {
		srv.cfg.quota.server_executions = srv.nofile / 8;
		log_info("at most %llu executions at once (RLIMIT_NOFILE %lu)",
			 (unsigned long long)srv.cfg.quota.server_executions, srv.nofile);
	}
	/* and every terminal its pty's master (or, while it opens, the socket it comes through) */
	if (srv.nofile && (!srv.cfg.quota.server_terminals || srv.cfg.quota.server_terminals > srv.nofile / 16)) {
		srv.cfg.quota.server_terminals = srv.nofile / 16;
		log_info("at most %llu terminals at once (RLIMIT_NOFILE %lu)",
			 (unsigned long long)srv.cfg.quota.server_terminals, srv.nofile);
	}
	/* what network sessions may reach: read by every sandbox the zygote makes */
	if (sess_net_set_egress((const char *const *)srv.cfg.egress_allow, srv.cfg.n_egress_allow, &err) < 0) {
		log_error("config: %s", err_text(err));
		return -1;
	}
	if (sess_zygote_start(&srv.zygote, &err) < 0) {
		log_error("cannot start the sandbox helper: %s", err_text(err));
		return -1;
	}
	srv.loop = uv_default_loop();
	sess_zygote_attach(srv.zygote, srv.loop);
	sess_watch_init(srv.loop);
	if (sess_instance_open(&srv.instance, srv.cfg.data_dir, &err) < 0) {
		log_error("%s", err_text(err));
		return -1;
	}
	sess_instance_sweep(srv.instance); /* what processes that are gone left */
	if (sess_trash_open(srv.loop, srv.cfg.data_dir, srv.instance, &err) < 0) { /* and their trash, in the background */
		log_error("%s", err_text(err));
		return -1;
	}
	sess_instance_sweep_legacy_displays((const char *const[]){ "/dev/shm", "/tmp", NULL });
	if (sess_registry_new(&srv.sessions, srv.loop, srv.zygote, &srv.cfg, sess_instance_dir(srv.instance),
			      &err) < 0) {
		log_error("%s", err_text(err));
		return -1;
	}
	if (!srv.store && srv_store_open(&srv.store, srv.cfg.data_dir, &err) < 0) {
		log_error("%s", err_text(err));
		return -1;
	}
	if (srv_records_init(srv.store, srv.sessions, &srv.cfg, srv.instance, &err) < 0) {
		log_error("%s", err_text(err));
		return -1;
	}
	sess_quota_start(srv.sessions, srv.loop); /* disk use of workspaces, for quota.disk */
	if (srv.cfg.pool_kernels && srv.cfg.pool_size)
		tool_kernel_pool_init(srv.sessions, srv.cfg.pool_kernel_idle_s * 1000);
	srv.env.snapshots = snapshot_store; /* libgit2 starts on first use, not at every start */
	{
		/* stat caches of the workspaces' snapshots */
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s/snapshots/index", srv.cfg.data_dir);
		if (mkdir_p(b.data, 0700) < 0)
			log_warn("mkdir %s: %s", b.data, strerror(errno));
		buf_reset(&b);
		/* materialized snapshot trees: the lower layers of overlay workspaces */
		buf_addf(&b, "%s/snapshots/trees", srv.cfg.data_dir);
		if (mkdir_p(b.data, 0711) < 0)
			log_warn("mkdir %s: %s", b.data, strerror(errno));
		buf_release(&b);
	}
	uv_timer_init(srv.loop, &srv.repack_timer);
	srv.repack_timer.data = &srv;
	uv_timer_start(&srv.repack_timer, repack_tick, REPACK_EVERY_MS, REPACK_EVERY_MS);
	uv_unref((uv_handle_t *)&srv.repack_timer);
	srv.env.sessions = srv.sessions;
	srv.env.cfg = &srv.cfg;
	srv.env.templates = srv_records_templates();
	if (srv_alerts_start(srv.loop, srv.store, srv.sessions, &srv.cfg, &err) < 0) {
		log_error("%s", err_text(err));
		return -1;
	}
	srv.env.alerts = srv_alerts_tools();
	if (tool_tmpl_config_check(&srv.cfg, &err) < 0) {
		log_error("%s", err_text(err));
		return -1;
	}
	srv_offload_set(offload_queue);
	mcp_init(&srv.env);
	uv_timer_init(srv.loop, &srv.shutdown_timer);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		uv_signal_init(srv.loop, &srv.sig[i]);
		uv_signal_start(&srv.sig[i], on_signal, sigs[i]);
	}
	return 0;
}

static int core_run(void)
{
	sess_pool_fill(srv.sessions);
	uv_run(srv.loop, UV_RUN_DEFAULT);
	rest_stop();
	mcp_release();
	/* every handle must be closed by now: one left open is a module that did not shut down */
	uv_run(srv.loop, UV_RUN_NOWAIT); /* the close callbacks of mcp_release */
	int lc = uv_loop_close(srv.loop);
	if (lc < 0)
		log_error("exit: the event loop still has open handles (%s)", uv_strerror(lc));
	sess_trash_close();
	sess_instance_free(srv.instance); /* after the pool's workspaces went */
	srv.instance = NULL;
	return 0;
}

static int cmd_stdio(void)
{
	auto_err struct err *err = NULL;

	if (core_start() < 0)
		return 1;
	if (tp_stdio_start(srv.loop, &mcp_app, srv.cfg.max_line_bytes, srv.cfg.stdio_max_answer, begin_shutdown, NULL, &err) < 0) {
		log_error("%s", err_text(err));
		return 1;
	}
	int rc = core_run();
	snap_store_close(srv.snapshots);
	srv_store_close(srv.store);
	return rc;
}

static int authenticate(void *arg, const char *key, char *principal, size_t cap)
{
	struct srv_principal p;
	/* a login token (users.h); its principal is "user:NAME" or "admin:user:NAME" */
	if (srv_jwt_shaped(key))
		return srv_users_verify(srv.users, key, principal, cap);
	if (srv_auth_verify(srv.auth, key, &p) != 1)
		return 0;
	/* "key_ID" (flagged admin: or nonet:) for a key of its own, "OWNER#key_ID" for a key of a user
	   or of another key (base/rights.h); its rights are checked per call (tools/registry.c) */
	return srv_principal_format(&p, principal, cap) == 0;
}

/* The rights of a key's principal, for every tool call and token (sessions/session.h). */
static int key_rights(const char *principal, struct srv_rights *out)
{
	return srv_auth_rights(srv.auth, principal, out);
}

/* key_create may grant a session only if its creator can see it, at most at the level its owner holds there. */
static enum srv_level key_reach(void *arg, const char *sid)
{
	const char *principal = arg;
	struct sess_session *s = sess_find(srv.sessions, sid, principal);
	if (!s)
		return SRV_LEVEL_NONE;
	if (srv_principal_is_admin(principal) || srv_principal_owned_by(principal, s->owner))
		return SRV_LEVEL_OWNER;
	return sess_principal_shared(principal, sid);
}

static int keys_make(void *arg, const char *principal, const struct tool_key_request *rq, char **key, json_t **info,
		     struct err **errp)
{
	struct srv_key_spec spec = { rq->name, rq->description, rq->caps_set, rq->rights };
	struct srv_key_made m = { 0 };

	if (srv_auth_key_make(srv.auth, principal, &spec, key_reach, (void *)principal, &m, errp) < 0)
		return -1;
	*key = m.key;
	*info = m.info;
	return 0;
}

static int keys_list(void *arg, const char *principal, json_t **out, struct err **errp)
{
	return srv_auth_key_list_as(srv.auth, principal, out, errp);
}

static int keys_revoke(void *arg, const char *principal, const char *id, struct err **errp)
{
	return srv_auth_key_revoke_as(srv.auth, principal, id, errp);
}

static const struct tool_keys key_tools = { keys_make, keys_list, keys_revoke, NULL };

/* A session-bound MCP endpoint's token (tools/bind.c). */
static int authenticate_scoped(void *arg, const char *scope, const char *token, char *principal, size_t cap)
{
	return tool_session_token_check(&srv.env, scope, token, principal, cap);
}

static void count_session(void *arg, struct sess_session *s)
{
	struct metrics_gauges *g = arg;
	if (s->state == SESS_CREATING)
		g->sessions_creating++;
	else if (s->state == SESS_RUNNING)
		g->sessions_running++;
	else if (s->state == SESS_FAILED)
		g->sessions_failed++;
	g->executions_running += s->running;
}

/* An administrator sees the whole server; any other key only its own sessions. */
static void render_metrics(void *arg, const char *principal, struct buf *out)
{
	struct metrics_gauges g = { 0 };
	bool all = sess_principal_admin(principal) || !strcmp(principal, "anonymous");
	sess_foreach(srv.sessions, all ? NULL : principal, count_session, &g);
	if (all)
		tp_http_counts(&g.http_sessions, &g.websockets);
	metrics_render(out, &g, all);
	srv_alerts_render(out); /* server-wide aggregates every key may see (tools/alert_tools.c) */
}

static int parse_listen(const char *s, char *host, size_t cap, int *port)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long p;

	if (!colon || colon == s || (size_t)(colon - s) >= cap)
		return -1;
	p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	*port = (int)p;
	return 0;
}

static bool is_loopback_host(const char *h)
{
	struct in_addr a;
	return !strcmp(h, "localhost") || (inet_pton(AF_INET, h, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127);
}

static int cmd_serve(const char *listen, const char *auth_mode, const char *admin_user)
{
	auto_err struct err *err = NULL;
	char host[256];
	int port;
	bool auth_none = !strcmp(auth_mode, "none");

	if (strcmp(auth_mode, "key") && !auth_none) {
		fprintf(stderr, "mcpbox: --auth must be \"key\" or \"none\"\n");
		return 2;
	}
	if (parse_listen(listen, host, sizeof(host), &port) < 0) {
		fprintf(stderr, "mcpbox: --listen must be HOST:PORT, e.g. 127.0.0.1:8080\n");
		return 2;
	}
	if (auth_none && !is_loopback_host(host)) {
		fprintf(stderr, "mcpbox: --auth none is only allowed on a loopback address (127.0.0.1, localhost)\n");
		return 2;
	}
	if (srv_store_open(&srv.store, srv.cfg.data_dir, &err) < 0) {
		fprintf(stderr, "mcpbox: %s\n", err_text(err));
		return 1;
	}
	srv.auth = srv_auth_new(srv.store);
	srv_auth_set_key_quota(srv.auth, srv.cfg.quota.keys);
	sess_set_rights_hook(key_rights);
	if (srv_grants_open(srv.store, &err) < 0) {
		fprintf(stderr, "mcpbox: %s\n", err_text(err));
		return 1;
	}
	sess_set_share_hook(srv_grants_level);
	srv.env.keys = &key_tools;
	char *first_key = NULL, *admin_pw = NULL;
	if (admin_user && srv_user_bootstrap(srv.store, admin_user, &admin_pw, &err) < 0) {
		fprintf(stderr, "mcpbox: --admin-user: %s\n", err_text(err));
		return 1;
	}
	if (!auth_none && srv_auth_bootstrap(srv.store, &first_key, &err) < 0) {
		fprintf(stderr, "mcpbox: %s\n", err_text(err));
		return 1;
	}
	if (core_start() < 0)
		return 1;
	if (srv_users_open(&srv.users, srv.loop, srv.store, srv.cfg.data_dir, srv.cfg.jwt_ttl_s, &err) < 0) {
		fprintf(stderr, "mcpbox: %s\n", err_text(err));
		return 1;
	}
	srv_users_set_revoked_max(srv.users, srv.cfg.revoked_tokens_per_user);
	/* connections may take at most a quarter of the fds: the rest is for sandboxes and executions */
	uint64_t max_conns = srv.cfg.max_connections;
	if (srv.nofile && max_conns > srv.nofile / 4)
		max_conns = srv.nofile / 4;
	struct tp_http_opts o = {
		.host = host,
		.port = port,
		.max_body = srv.cfg.max_line_bytes,
		.max_upload = srv.cfg.max_upload_bytes,
		.max_ws_message = srv.cfg.max_line_bytes,
		.max_inflight = 256,
		.session_idle_s = srv.cfg.http_session_idle_s,
		.stall_s = srv.cfg.client_stall_s,
		.max_connections = (unsigned)max_conns,
		.max_unauthenticated = (unsigned)(srv.cfg.max_unauthenticated < max_conns ? srv.cfg.max_unauthenticated
											: max_conns),
		.header_timeout_s = (unsigned)srv.cfg.header_timeout_s,
		.max_receiving = srv.cfg.max_receiving,
		.auth_none = auth_none,
		.authenticate = authenticate,
		.authenticate_scoped = authenticate_scoped,
		.metrics = render_metrics,
	};
	vnc_web_routes();
	vnc_term_web_routes();
	px_routes();
	srv_login_routes(srv.users);
	srv_services_start(srv.users, srv.store);
	srv_services_set_auth(srv.auth);
	rest_start(&srv.cfg);
	if (tp_http_start(srv.loop, &mcp_app, &o, &err) < 0) {
		log_error("%s", err_text(err));
		srv_auth_key_free(first_key);
		srv_user_password_free(admin_pw);
		return 1;
	}
	srv.serving_http = true;
	{
		/* what URLs in results (view pages, session endpoints) start with */
		const char *h = !strcmp(host, "0.0.0.0") || !strcmp(host, "::") ? "127.0.0.1" : host;
		bool v6 = strchr(h, ':') != NULL;
		snprintf(srv.env.http_base, sizeof(srv.env.http_base), "http://%s%s%s:%d", v6 ? "[" : "", h,
			 v6 ? "]" : "", tp_http_port());
		vnc_set_http_base(srv.env.http_base);
		px_set_http_base(srv.env.http_base);
	}
	printf("mcpbox %s serving MCP at http://%s:%d/mcp (Streamable HTTP and WebSocket)\n", MCPBOX_VERSION, host,
	       tp_http_port());
	if (first_key) {
		printf("\nA first admin API key was created. It is shown only this once:\n\n    %s\n\n"
		       "Use it as \"Authorization: Bearer KEY\". More keys: mcpbox key create --name NAME --data %s\n",
		       first_key, srv.cfg.data_dir);
		srv_auth_key_free(first_key);
	}
	if (admin_pw) {
		printf("\nThe administrator \"%s\" was created. Its password is shown only this once:\n\n"
		       "    password: %s\n\nLog in with POST /auth/login; change it with mcpbox user passwd %s --password-stdin "
		       "--data %s\n",
		       admin_user, admin_pw, admin_user, srv.cfg.data_dir);
		srv_user_password_free(admin_pw);
	}
	if (auth_none)
		printf("WARNING: --auth none: anyone who can reach %s:%d may use it\n", host, tp_http_port());
	fflush(stdout);
	int rc = core_run();
	snap_store_close(srv.snapshots);
	srv_users_free(srv.users);
	sess_set_rights_hook(NULL);
	sess_set_share_hook(NULL);
	srv_grants_close();
	srv_auth_free(srv.auth);
	srv_store_close(srv.store);
	return rc;
}

/* `mcpbox key|user ... [--data DIR]`: take --data out, hand the rest to fn. */
static int cli_command(int argc, char **argv, int (*fn)(int argc, char **argv, const char *data_dir))
{
	const char *data = NULL;
	int n = 0, rc;

	log_set_level(LOG_LVL_WARNING); /* the command's own output says what happened */
	char **rest = xcalloc((size_t)argc, sizeof(char *));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--data") && i + 1 < argc)
			data = argv[++i];
		else if (!strncmp(argv[i], "--data=", 7))
			data = argv[i] + 7;
		else
			rest[n++] = argv[i];
	}
	char *dir = data ? xstrdup(data) : default_data_dir();
	if (mkdir_p(dir, 0700) < 0) {
		fprintf(stderr, "mcpbox: cannot create data directory %s: %s\n", dir, strerror(errno));
		free(dir);
		free(rest);
		return 1;
	}
	rc = fn(n, rest, dir);
	free(dir);
	free(rest);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "listen", required_argument, NULL, 'L' },
		{ "auth", required_argument, NULL, 'a' },
		{ "admin-user", required_argument, NULL, 'U' },
		{ "fixtures", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	auto_err struct err *err = NULL;
	const char *data = NULL, *config = NULL, *listen = "127.0.0.1:8080", *auth_mode = "key", *admin_user = NULL;
	int c, rc;

	/* inside a sandbox, started by the server (vnc/agent.h): nothing else of the server runs */
	if (argc > 1 && !strcmp(argv[1], "display-agent"))
		return vnc_agent_main(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "kernel-agent"))
		return kern_agent_main(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	/* Buffers a client or a sandbox makes us allocate (messages up to max_message, their strings,
	   answers) go back to the system when freed: glibc's default threshold rises to the size of
	   the largest mapping freed (up to 32 MiB), after which such buffers come from the heap and
	   stay there (one key's burst of 30 MB requests left the server at 1.7 GB for good). A fixed
	   threshold keeps every allocation of 1 MiB or more its own mapping. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	srv.nofile = srv_raise_nofile();
	srv_config_defaults(&srv.cfg);
	if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("mcpbox %s\n", MCPBOX_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "key"))
		return cli_command(argc, argv, srv_key_command);
	if (!strcmp(cmd, "user"))
		return cli_command(argc, argv, srv_user_command);
	optind = 2;
	while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'c': config = optarg; break;
		case 'L': listen = optarg; break;
		case 'a': auth_mode = optarg; break;
		case 'U': admin_user = optarg; break;
		case 'f':
			if (strcmp(optarg, "conformance")) {
				fprintf(stderr, "mcpbox: --fixtures takes \"conformance\"\n");
				return 2;
			}
			srv.env.fixtures = true;
			break;
		case 'l':
			if (log_level_parse(optarg) < 0) {
				fprintf(stderr, "mcpbox: unknown log level \"%s\"\n", optarg);
				return 2;
			}
			log_set_level((enum log_level)log_level_parse(optarg));
			break;
		case 'q': log_set_level(LOG_LVL_WARNING); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mcpbox: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (strcmp(cmd, "stdio") && strcmp(cmd, "serve")) {
		fprintf(stderr, "mcpbox: unknown command \"%s\"\n\n", cmd);
		usage(stderr);
		return 2;
	}

	srv.cfg.data_dir = data ? xstrdup(data) : default_data_dir();
	if (!config) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s/config.json", srv.cfg.data_dir);
		if (access(b.data, R_OK) == 0 && srv_config_load_file(&srv.cfg, b.data, &err) < 0) {
			fprintf(stderr, "mcpbox: %s\n", err_text(err));
			buf_release(&b);
			return 2;
		}
		buf_release(&b);
	} else if (srv_config_load_file(&srv.cfg, config, &err) < 0) {
		fprintf(stderr, "mcpbox: %s\n", err_text(err));
		return 2;
	}
	if (data) {
		/* the command line wins over the file */
		free(srv.cfg.data_dir);
		srv.cfg.data_dir = xstrdup(data);
	}
	if (mkdir_p(srv.cfg.data_dir, 0700) < 0) {
		fprintf(stderr, "mcpbox: cannot create data directory %s: %s\n", srv.cfg.data_dir, strerror(errno));
		return 1;
	}
	/* every path below is derived from it: make it absolute once (a relative
	   one would mean another place to each process that changes directory) */
	char *abs = realpath(srv.cfg.data_dir, NULL);
	if (!abs) {
		fprintf(stderr, "mcpbox: data directory %s: %s\n", srv.cfg.data_dir, strerror(errno));
		return 1;
	}
	free(srv.cfg.data_dir);
	srv.cfg.data_dir = abs;
	rc = !strcmp(cmd, "stdio") ? cmd_stdio() : cmd_serve(listen, auth_mode, admin_user);
	srv_config_release(&srv.cfg);
	return rc;
}
