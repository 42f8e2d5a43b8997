/* `mcpbox key ...`: manage API keys from the command line (see auth.h). */
#include "auth.h"
#include "base/common.h"
#include "cli.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

#include "base/banned.h"

#define DEFAULT_NAME "unnamed"

static void usage(FILE *f)
{
	fputs("usage: mcpbox key create [--name NAME] [--admin] [--no-network]\n"
	      "                                                    create a key and print it (once);\n"
	      "                                                    --no-network: its sessions get no network\n"
	      "       mcpbox key list                              show all keys\n"
	      "       mcpbox key revoke ID                         revoke a key at once, also for a running server\n",
	      f);
}

static int cmd_create(struct srv_store *st, const char *name, unsigned flags)
{
	struct err *e = NULL;
	char *key = NULL, *id = NULL;

	if (srv_auth_key_create(st, name, flags, &key, &id, &e) < 0)
		return srv_cli_fail(e);
	/* the key alone on stdout, so `KEY=$(mcpbox key create)` works */
	if (printf("%s\n", key) < 0 || fflush(stdout) != 0) {
		srv_auth_key_free(key);
		fprintf(stderr, "mcpbox: cannot write the key to stdout; revoking it\n");
		if (srv_auth_key_revoke(st, id, &e) < 0)
			srv_cli_fail(e);
		free(id);
		return 1;
	}
	srv_auth_key_free(key);
	fprintf(stderr, "mcpbox: created %skey %s (\"%s\"%s). The key above is shown only once: store it now.\n",
		flags & SRV_KEY_ADMIN ? "admin " : "", id, name, flags & SRV_KEY_NO_NETWORK ? ", no network" : "");
	free(id);
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
	printf("%-16s  %-*s  %-5s  %-7s  %-20s  %-20s  %s\n", "ID", wname, "NAME", "ADMIN", "NETWORK", "CREATED",
	       "REVOKED", "LAST USED");
	json_array_foreach(keys, i, k) {
		printf("%-16s  %-*s  %-5s  %-7s  %-20s  %-20s  %s\n", srv_cli_field(k, "id", "?"), wname, srv_cli_field(k, "name", "?"),
		       json_is_true(json_object_get(k, "admin")) ? "yes" : "no",
		       json_is_true(json_object_get(k, "network")) ? "yes" : "no", srv_cli_field(k, "created_at", "?"),
		       srv_cli_field(k, "revoked_at", "-"), srv_cli_field(k, "last_used_at", "never"));
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
	const char *name, *id;
	unsigned flags;
};

static int run(struct srv_store *st, void *ctx)
{
	const struct key_args *a = ctx;

	switch (a->cmd) {
	case CREATE: return cmd_create(st, a->name, a->flags);
	case LIST: return cmd_list(st);
	case REVOKE: return cmd_revoke(st, a->id);
	}
	return 2;
}

int srv_key_command(int argc, char **argv, const char *data_dir)
{
	enum key_cmd cmd;
	const char *name = DEFAULT_NAME, *id = NULL;
	unsigned flags = 0;
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
		cmd = CREATE;
		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "--admin")) {
				flags |= SRV_KEY_ADMIN;
			} else if (!strcmp(argv[i], "--no-network")) {
				flags |= SRV_KEY_NO_NETWORK;
			} else if (!strcmp(argv[i], "--name") && i + 1 < argc) {
				name = argv[++i];
			} else if (!strncmp(argv[i], "--name=", 7)) {
				name = argv[i] + 7;
			} else {
				fprintf(stderr, "mcpbox key create: unexpected argument \"%s\"\n", argv[i]);
				usage(stderr);
				return 2;
			}
		}
	} else if (!strcmp(argv[1], "list") && argc == 2) {
		cmd = LIST;
	} else if (!strcmp(argv[1], "revoke") && argc == 3) {
		cmd = REVOKE;
		id = argv[2];
	} else {
		usage(stderr);
		return 2;
	}

	struct key_args args = { cmd, name, id, flags };
	return srv_cli_with_store(data_dir, run, &args);
}
