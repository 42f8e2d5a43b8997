/*
 * mcpbox — one program that gives each AI agent session a computer of its own.
 *
 *   mcpbox stdio [--data DIR] [--config FILE]   MCP over stdin/stdout
 *   mcpbox version
 *
 * Start-up order matters: the zygote is forked before anything creates a
 * thread (libuv's pool starts lazily), so sandboxes are cloned from a small
 * single-threaded process and never from the server.
 */
#include "buf.h"
#include "common.h"
#include "config.h"
#include "log.h"
#include "mcp.h"
#include "../sessions/sandbox.h"
#include "../sessions/session.h"
#include "../sessions/workspace.h"
#include "../transport/tp.h"
#include "banned.h"

#include <getopt.h>
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
	uv_signal_t sig[3];
	uv_timer_t shutdown_timer;
	uint64_t shutdown_started;
	bool shutting_down;
	bool finished;
};

static struct server srv;

static void usage(FILE *f)
{
	fputs("usage: mcpbox <command> [options]\n"
	      "\n"
	      "commands:\n"
	      "  stdio      serve MCP over stdin/stdout (for Cursor, Claude Desktop, Claude Code)\n"
	      "  version    print the version\n"
	      "\n"
	      "options:\n"
	      "  --data DIR       data directory (default $MCPBOX_DATA, else $XDG_DATA_HOME/mcpbox,\n"
	      "                   else ~/.local/share/mcpbox)\n"
	      "  --config FILE    JSON configuration (default DATA/config.json when it exists)\n"
	      "  --log-level L    debug, info, warning, error (default info; logs go to stderr)\n",
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

static void finish_shutdown(void)
{
	if (srv.finished)
		return;
	srv.finished = true;
	uv_timer_stop(&srv.shutdown_timer);
	uv_close((uv_handle_t *)&srv.shutdown_timer, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(srv.sig); i++)
		uv_close((uv_handle_t *)&srv.sig[i], NULL);
	sess_registry_free(srv.sessions);
	srv.sessions = NULL;
	sess_zygote_free(srv.zygote);
	srv.zygote = NULL;
}

static void shutdown_tick(uv_timer_t *t)
{
	/* wait for the connections' killed executions to report, but not forever */
	if (mcp_connections() == 0 || now_ms() - srv.shutdown_started > SHUTDOWN_GRACE_MS)
		finish_shutdown();
}

static void begin_shutdown(void *arg)
{
	if (srv.shutting_down)
		return;
	srv.shutting_down = true;
	srv.shutdown_started = now_ms();
	tp_stdio_stop();
	uv_timer_start(&srv.shutdown_timer, shutdown_tick, 0, 5);
}

static void on_signal(uv_signal_t *h, int signum)
{
	log_info("signal %d: shutting down", signum);
	begin_shutdown(NULL);
}

static int cmd_stdio(void)
{
	auto_err struct err *err = NULL;
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };

	if (sess_zygote_start(&srv.zygote, &err) < 0) {
		log_error("cannot start the sandbox helper: %s", err->msg);
		return 1;
	}
	srv.loop = uv_default_loop();
	sess_zygote_attach(srv.zygote, srv.loop);
	sess_ws_init(srv.loop);
	if (sess_registry_new(&srv.sessions, srv.loop, srv.zygote, &srv.cfg, &err) < 0) {
		log_error("%s", err->msg);
		return 1;
	}
	srv.env.sessions = srv.sessions;
	srv.env.cfg = &srv.cfg;
	srv.env.log = mcp_req_log;
	mcp_init(&srv.env);
	uv_timer_init(srv.loop, &srv.shutdown_timer);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		uv_signal_init(srv.loop, &srv.sig[i]);
		uv_signal_start(&srv.sig[i], on_signal, sigs[i]);
	}
	if (tp_stdio_start(srv.loop, &mcp_app, srv.cfg.max_line_bytes, begin_shutdown, NULL, &err) < 0) {
		log_error("%s", err->msg);
		return 1;
	}
	sess_pool_fill(srv.sessions);
	uv_run(srv.loop, UV_RUN_DEFAULT);
	mcp_release();
	uv_loop_close(srv.loop);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	auto_err struct err *err = NULL;
	const char *data = NULL, *config = NULL;
	int c, rc;

	signal(SIGPIPE, SIG_IGN);
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
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'c': config = optarg; break;
		case 'l':
			if (log_level_parse(optarg) < 0) {
				fprintf(stderr, "mcpbox: unknown log level \"%s\"\n", optarg);
				return 2;
			}
			log_set_level((enum log_level)log_level_parse(optarg));
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mcpbox: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (strcmp(cmd, "stdio") != 0) {
		fprintf(stderr, "mcpbox: unknown command \"%s\"\n\n", cmd);
		usage(stderr);
		return 2;
	}

	srv.cfg.data_dir = data ? xstrdup(data) : default_data_dir();
	if (!config) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s/config.json", srv.cfg.data_dir);
		if (access(b.data, R_OK) == 0)
			config = b.data;
		if (config && srv_config_load_file(&srv.cfg, config, &err) < 0) {
			fprintf(stderr, "mcpbox: %s\n", err->msg);
			buf_release(&b);
			return 2;
		}
		buf_release(&b);
	} else if (srv_config_load_file(&srv.cfg, config, &err) < 0) {
		fprintf(stderr, "mcpbox: %s\n", err->msg);
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
	rc = cmd_stdio();
	srv_config_release(&srv.cfg);
	return rc;
}
