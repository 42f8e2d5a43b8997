/**
 * config.h — the server's configuration: data directory, pool size, session
 * TTL and the per-session limits (defaults and maxima).
 *
 * Sources, later ones winning: built-in defaults, the JSON file given with
 * --config (or DATA/config.json when it exists), command-line flags.
 * Sizes accept numbers of bytes or strings with a unit ("512M", "1G", "64k");
 * durations accept seconds or strings ("30s", "5m", "1h").
 */
#ifndef MCPBOX_SRV_CONFIG_H
#define MCPBOX_SRV_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "alert.h"
#include "err.h"

/** One limit: the default a session gets and the most it may ask for. */
struct srv_limit {
	uint64_t def;
	uint64_t max;
};

/** What one principal (API key) may hold at once; 0: no bound. Administrators and stdio have none. */
struct srv_quota {
	uint64_t sessions;		/* sessions it owns, in any state */
	uint64_t memory_bytes;		/* memory limits summed over its sessions that are not stopped */
	uint64_t executions;		/* executions running at once */
	uint64_t snapshots;		/* snapshots it owns */
	uint64_t snapshot_bytes;	/* apparent sizes of their files, each snapshot counted whole */
	uint64_t job_memory;		/* output its ended background jobs keep in the server's memory */
	uint64_t terminals;		/* terminals kept over its sessions (each a screen and its output) */
	uint64_t displays;		/* virtual displays running (each an Xvfb and a framebuffer) */
	uint64_t disk_bytes;		/* space its sessions' workspaces take on the host disk */
	uint64_t inodes;		/* entries (files, directories, links...) in its sessions' workspaces */
	uint64_t disk_scan_s;		/* how often workspaces are measured */
	uint64_t disk_scan_busy_s;	/* how often those being written (running executions) are */
	uint64_t server_executions;	/* executions running at once on the whole server, for everyone */
	uint64_t server_terminals;	/* terminals holding a pty in the server at once, for everyone */
	uint64_t keys;			/* API keys its owner's keys made (key_create), revoked ones too */
	uint64_t cpu_millis;		/* CPU its sessions together may use, thousandths of a CPU (0: no cap;
					   busy keys share the CPU equally whatever this is) */
	uint64_t templates;		/* session templates its owner made (template_create); administrators' too */
	uint64_t template_bytes;	/* their settings as stored (compact JSON), together; administrators' too */
	uint64_t code_bytes;		/* code of its executions that the server holds until their programs have it */
	uint64_t server_code_bytes;	/* the same on the whole server, for everyone */
};

/** Rate-limit categories: which calls share a bucket (server/base/rate.h). */
enum srv_rate_cat {
	SRV_RATE_EXECUTE,	/* execute (foreground or a background job), terminal_open */
	SRV_RATE_SESSIONS,	/* session_create, session_destroy */
	SRV_RATE_REQUESTS,	/* every other tool call */
	SRV_RATE_NCAT,
};

/** One category's bucket: refilled per_minute tokens a minute, holding at most burst; 0 in either: no limit. */
struct srv_rate_limit {
	uint64_t per_minute;
	uint64_t burst;
};

struct srv_rate_config {
	struct srv_rate_limit cat[SRV_RATE_NCAT];
	bool admins;		/* limit administrators' keys too (default: exempt) */
	bool local;		/* limit the stdio user too (default: exempt) */
	uint64_t principals;	/* principals whose buckets are kept (the least recently seen is forgotten) */
};

struct srv_config {
	char *data_dir;
	unsigned pool_size;		/* warm sandboxes kept ready */
	uint64_t idle_ttl_s;		/* explicit sessions die after this long idle */
	uint64_t http_session_idle_s;	/* an MCP HTTP session with no request and no stream this long ends */
	uint64_t client_stall_s;	/* a WebSocket client that reads none of its replies this long is closed */
	uint64_t max_connections;	/* serve: open client connections (also bounded by RLIMIT_NOFILE / 4) */
	uint64_t max_unauthenticated;	/* serve: of those, ones that have not shown a key yet */
	uint64_t header_timeout_s;	/* serve: a new connection sends its request headers within this */
	uint64_t max_receiving;		/* serve: bytes of unfinished requests of all clients together */
	uint64_t max_line_bytes;	/* longest accepted message (stdio line, HTTP body, WebSocket message) */
	uint64_t stdio_max_answer;	/* stdio: longest answer sent in one line (0: no bound) */
	uint64_t max_upload_bytes;	/* serve: largest body of a route that streams it to disk (an upload) */
	uint64_t shutdown_grace_s;	/* serve: SIGTERM lets running calls finish this long */
	uint64_t workspace_bytes;	/* largest workspace a snapshot accepts */
	uint64_t diff_memory;		/* what one file's line diff in snapshot_diff may take (sessions/snapshot.h) */
	/* what the store keeps of the past (server/records.h; 0: no bound) */
	uint64_t audit_keep;		/* audit rows, everyone's: the newest */
	uint64_t audit_keep_per_key;	/* audit rows of one owner (a key and the keys it made, a user): the newest */
	uint64_t deleted_keep;		/* records of deleted sessions, and of deleted snapshots: the newest of each */
	bool prestart;			/* start a session's next interpreter ahead (sessions/run.h) */
	bool pool_kernels;		/* start kernels ahead in warm-pool sandboxes while kernels are in use */
	uint64_t pool_kernel_idle_s;	/* stop such a kernel its session has not used this long after the take */
	/* background jobs (sessions/job.h) */
	uint64_t jobs_per_session;	/* jobs a session keeps (running or finished) */
	uint64_t job_output_bytes;	/* output kept per job (oldest dropped beyond) */
	uint64_t wait_s;		/* a foreground execute still running this long becomes a job */
	uint64_t session_log_bytes;	/* a session's log of every execution's output */
	/* terminals (sessions/term.h) */
	uint64_t terminals_per_session;	/* terminals a session keeps open at once */
	uint64_t terminal_idle_s;	/* close a terminal with no call and no viewer this long (0: never) */
	uint64_t terminal_output_bytes;	/* raw output kept per terminal (oldest dropped beyond) */
	struct srv_limit memory_bytes;
	struct srv_limit max_pids;
	struct srv_limit cpu_s;
	struct srv_limit cpu_millis;	/* session CPU cap in thousandths of a CPU: default 0 = none,
					   max 0 = the host's CPU count */
	struct srv_limit file_bytes;
	struct srv_limit open_files;
	struct srv_limit timeout_s;	/* wall clock per execution */
	struct srv_limit output_bytes;	/* captured per stream per execution */
	struct srv_limit read_bytes;	/* file_read cap */
	struct srv_limit disk_bytes;	/* a session's workspace on the host disk (session_create {disk_mb};
					   0: none, the key's quota.disk still holds); measured as quota.disk */
	struct srv_quota quota;		/* per principal */
	struct srv_rate_config rate;	/* config "rate_limits" */
	/*
	 * Session presets (config "templates"): {"<name>": {memory_mb, cpus, ...}}
	 * checked with srv_tmpl_check (server/base/template.h). Owned; NULL: none.
	 */
	json_t *templates;
	char **egress_allow;		/* private destinations network sessions may reach ("CIDR[:port]") */
	size_t n_egress_allow;
	/* virtual displays (vnc/) */
	uint64_t display_idle_s;	/* stop a display unused this long (0: never) */
	uint64_t view_token_ttl_s;	/* lifetime of view/control tokens in view URLs */
	uint64_t jwt_ttl_s;		/* lifetime of the access tokens POST /auth/login issues */
	uint64_t revoked_tokens_per_user;	/* logouts kept per user until their tokens expire (0: no bound) */
	bool vnc_tcp;			/* a raw TCP VNC port per display */
	bool display_bare;		/* displays are a bare X server unless asked (else the standard desktop) */
	char *vnc_tcp_host;		/* its address (default 127.0.0.1) */
	char *vnc_password;		/* VNC password on the TCP port (NULL: none) */
	/*
	 * REST dialects (server/rest/): {"<dialect>": false | {settings}}; a
	 * dialect absent or given an object is served. Owned; NULL: all defaults.
	 */
	json_t *compat;
	/* alerts (server/alerts.h): config "alerts" replaces the default rules ([] : none) */
	struct srv_alert_rule *alert_rules;	/* owned; used only when alert_rules_set */
	size_t n_alert_rules;
	bool alert_rules_set;
	uint64_t alert_interval_s;	/* how often metrics are sampled and the rules evaluated */
};

/** Fill cfg with built-in defaults (data_dir NULL). */
void srv_config_defaults(struct srv_config *cfg);
/** Apply a JSON object of settings; unknown keys and bad values are errors. */
int srv_config_apply_json(struct srv_config *cfg, json_t *obj, struct err **errp);
int srv_config_load_file(struct srv_config *cfg, const char *path, struct err **errp);
void srv_config_release(struct srv_config *cfg);

/**
 * One rate limit as the config writes it (v, named what in errors): a number
 * a minute (a bucket as big), or {per_minute, burst} (burst absent: as big as
 * per_minute), each 0 to 1000000 (0: no limit). The core's rate_limits and
 * the dialects' compat.*.rate_limits read theirs with it.
 */
int srv_rate_limit_parse(json_t *v, const char *what, struct srv_rate_limit *out, struct err **errp);
/** "512M" → 536870912. Accepts k/K, m/M, g/G, t/T with optional "iB"/"B". */
int srv_parse_size(const char *s, uint64_t *out, struct err **errp);
/** "90s", "5m", "1h", "2d", or a plain number of seconds. */
int srv_parse_duration(const char *s, uint64_t *out, struct err **errp);

/**
 * Resolve a requested value against a limit: absent (requested < 0) gives the
 * default, above the maximum or below min is an error naming `what`.
 */
int srv_limit_pick(const struct srv_limit *l, int64_t requested, uint64_t min, const char *what,
		   uint64_t *out, struct err **errp);

#endif
