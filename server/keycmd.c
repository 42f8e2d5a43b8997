/* `mcpbox key ...`: manage API keys from the command line (see auth.h). */
#include "auth.h"
#include "base/buf.h"
#include "base/common.h"
#include "cli.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

#include "base/banned.h"

#define DEFAULT_NAME "unnamed"

static void usage(FILE *f)
{
	fputs("usage: mcpbox key create [--name NAME] [--admin] [--no-network] [--description TEXT]\n"
	      "                          [--expires 90d|12h|2026-12-31T23:59:59Z]\n"
	      "                          [--permissions execute,sandbox_read,sandbox_write]\n"
	      "                          [--session ID:viewer|editor|owner]...\n"
	      "                                                    create a key and print it (once);\n"
	      "                                                    --no-network: its sessions get no network;\n"
	      "                                                    --permissions: what it may do (default: all);\n"
	      "                                                    --session: only that session, at most at that\n"
	      "                                                    level (read, write, admin are synonyms)\n"
	      "       mcpbox key list                              show all keys\n"
	      "       mcpbox key revoke ID                         revoke a key at once, also for a running server\n",
	      f);
}

static int cmd_create(struct srv_store *st, const struct srv_key_spec *spec)
{
	struct srv_auth *a = srv_auth_new(st);
	struct srv_key_made m = { 0 };
	struct err *e = NULL;
	const struct srv_rights *r = &spec->rights;
	int rc;

	rc = srv_auth_key_make(a, NULL, spec, NULL, NULL, &m, &e);
	srv_auth_free(a);
	if (rc < 0)
		return srv_cli_fail(e);
	/* the key alone on stdout, so `KEY=$(mcpbox key create)` works */
	if (printf("%s\n", m.key) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "mcpbox: cannot write the key to stdout; revoking it\n");
		if (srv_auth_key_revoke(st, m.id, &e) < 0)
			srv_cli_fail(e);
		srv_key_made_release(&m);
		return 1;
	}
	fprintf(stderr, "mcpbox: created %skey %s (\"%s\"%s%s%s). The key above is shown only once: store it now.\n",
		r->admin ? "admin " : "", m.id, srv_cli_field(m.info, "name", "?"), r->no_network ? ", no network" : "",
		r->ngrants ? ", limited to its sessions" : "", r->expires_at ? ", expiring" : "");
	srv_key_made_release(&m);
	return 0;
}

static int cmd_list(struct srv_store *st)
{
	struct err *e = NULL;
	json_t *keys, *k;
	size_t i;
	int wname = (int)strlen("NAME");

	if (srv_auth_key_list(st, &keys, &e) < 0)
		return srv_cli_fail(e);
	json_array_foreach(keys, i, k) {
		int w = (int)strlen(srv_cli_field(k, "name", ""));

		if (w > wname)
			wname = w;
	}
	printf("%-16s  %-*s  %-5s  %-7s  %-34s  %-20s  %-20s  %-20s  %-20s  %-16s  %s\n", "ID", wname, "NAME", "ADMIN",
	       "NETWORK", "PERMISSIONS", "CREATED", "EXPIRES", "REVOKED", "LAST USED", "OWNER", "DESCRIPTION");
	json_array_foreach(keys, i, k) {
		struct buf perms = BUF_INIT;
		size_t j;
		json_t *v;

		json_array_foreach(json_object_get(k, "permissions"), j, v)
			buf_addf(&perms, "%s%s", j ? "," : "", json_string_value(v));
		json_array_foreach(json_object_get(k, "sessions"), j, v)
			buf_addf(&perms, " %s:%s", srv_cli_field(v, "session_id", "?"), srv_cli_field(v, "level", "?"));
		/* the owner of a key made by a user or another key (the operator's own themselves: "-") */
		const char *owner = srv_cli_field(k, "owner", "-");
		if (!strcmp(owner, srv_cli_field(k, "id", "?")))
			owner = "-";
		printf("%-16s  %-*s  %-5s  %-7s  %-34s  %-20s  %-20s  %-20s  %-20s  %-16s  %s\n", srv_cli_field(k, "id", "?"),
		       wname, srv_cli_field(k, "name", "?"), json_is_true(json_object_get(k, "admin")) ? "yes" : "no",
		       json_is_true(json_object_get(k, "network")) ? "yes" : "no", perms.data,
		       srv_cli_field(k, "created_at", "?"), srv_cli_field(k, "expires_at", "never"),
		       srv_cli_field(k, "revoked_at", "-"), srv_cli_field(k, "last_used_at", "never"), owner,
		       srv_cli_field(k, "description", ""));
		buf_release(&perms);
	}
	if (json_array_size(keys) == 0)
		fprintf(stderr, "mcpbox: no keys yet; `mcpbox key create` makes one\n");
	json_decref(keys);
	return 0;
}

static int cmd_revoke(struct srv_store *st, const char *id)
{
	struct err *e = NULL;

	if (srv_auth_key_revoke(st, id, &e) < 0)
		return srv_cli_fail(e);
	printf("revoked %s\n", id);
	return 0;
}

enum key_cmd { CREATE, LIST, REVOKE };
struct key_args {
	enum key_cmd cmd;
	const char *id;
	struct srv_key_spec spec;
};

static int run(struct srv_store *st, void *ctx)
{
	const struct key_args *a = ctx;

	switch (a->cmd) {
	case CREATE: return cmd_create(st, &a->spec);
	case LIST: return cmd_list(st);
	case REVOKE: return cmd_revoke(st, a->id);
	}
	return 2;
}

/* The value of option opt at argv[*i] ("--opt V" or "--opt=V"), advancing *i; NULL if argv[*i] is not opt. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt)
{
	size_t n = strlen(opt);

	if (!strcmp(argv[*i], opt) && *i + 1 < argc)
		return argv[++*i];
	if (!strncmp(argv[*i], opt, n) && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	return NULL;
}

/* Options of `key create` into spec: 0, 2 on a usage error (said on stderr). */
static int parse_create(int argc, char **argv, struct srv_key_spec *spec)
{
	struct srv_rights *r = &spec->rights;
	struct err *e = NULL;
	const char *v;

	spec->name = DEFAULT_NAME;
	srv_rights_full(r, false, false);
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--admin")) {
			r->admin = true;
		} else if (!strcmp(argv[i], "--no-network")) {
			r->no_network = true;
		} else if ((v = opt_value(argc, argv, &i, "--name"))) {
			spec->name = v;
		} else if ((v = opt_value(argc, argv, &i, "--description"))) {
			spec->description = v;
		} else if ((v = opt_value(argc, argv, &i, "--expires"))) {
			if (srv_expiry_parse(v, (int64_t)wall_ms(), &r->expires_at, &e) < 0)
				goto bad;
		} else if ((v = opt_value(argc, argv, &i, "--permissions"))) {
			if (srv_caps_parse_list(v, &r->caps, &e) < 0)
				goto bad;
			spec->caps_set = true;
		} else if ((v = opt_value(argc, argv, &i, "--session"))) {
			if (srv_rights_parse_grant(r, v, &e) < 0)
				goto bad;
		} else {
			fprintf(stderr, "mcpbox key create: unexpected argument \"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	return 0;
bad:
	fprintf(stderr, "mcpbox key create: %s\n", err_text(e));
	err_free(e);
	return 2;
}

int srv_key_command(int argc, char **argv, const char *data_dir)
{
	struct key_args args = { 0 };

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	/* parse everything before touching the store: a typo must not create a database */
	if (!strcmp(argv[1], "create")) {
		args.cmd = CREATE;
		if (parse_create(argc, argv, &args.spec))
			return 2;
	} else if (!strcmp(argv[1], "list") && argc == 2) {
		args.cmd = LIST;
	} else if (!strcmp(argv[1], "revoke") && argc == 3) {
		args.cmd = REVOKE;
		args.id = argv[2];
	} else {
		usage(stderr);
		return 2;
	}
	return srv_cli_with_store(data_dir, run, &args);
}
