/* `mcpbox key ...`: manage API keys from the command line (see auth.h). */
#include "auth.h"
#include "base/common.h"
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

static int fail(struct err *e)
{
	fprintf(stderr, "mcpbox: %s\n", e ? err_text(e) : "failed");
	err_free(e);
	return 1;
}

static int cmd_create(struct srv_store *st, const char *name, unsigned flags)
{
	struct err *e = NULL;
	char *key = NULL, *id = NULL;

	if (srv_auth_key_create(st, name, flags, &key, &id, &e) < 0)
		return fail(e);
	/* the key alone on stdout, so `KEY=$(mcpbox key create)` works */
	if (printf("%s\n", key) < 0 || fflush(stdout) != 0) {
		srv_auth_key_free(key);
		fprintf(stderr, "mcpbox: cannot write the key to stdout; revoking it\n");
		if (srv_auth_key_revoke(st, id, &e) < 0)
			fail(e);
		free(id);
		return 1;
	}
	srv_auth_key_free(key);
	fprintf(stderr, "mcpbox: created %skey %s (\"%s\"%s). The key above is shown only once: store it now.\n",
		flags & SRV_KEY_ADMIN ? "admin " : "", id, name, flags & SRV_KEY_NO_NETWORK ? ", no network" : "");
	free(id);
	return 0;
}

static const char *field(json_t *o, const char *name, const char *absent)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s ? s : absent;
}

static int cmd_list(struct srv_store *st)
{
	struct err *e = NULL;
	json_t *keys, *k;
	size_t i;
	int wname = (int)strlen("NAME");

	if (srv_auth_key_list(st, &keys, &e) < 0)
		return fail(e);
	json_array_foreach(keys, i, k) {
		int w = (int)strlen(field(k, "name", ""));

		if (w > wname)
			wname = w;
	}
	printf("%-16s  %-*s  %-5s  %-7s  %-20s  %-20s  %s\n", "ID", wname, "NAME", "ADMIN", "NETWORK", "CREATED",
	       "REVOKED", "LAST USED");
	json_array_foreach(keys, i, k) {
		printf("%-16s  %-*s  %-5s  %-7s  %-20s  %-20s  %s\n", field(k, "id", "?"), wname, field(k, "name", "?"),
		       json_is_true(json_object_get(k, "admin")) ? "yes" : "no",
		       json_is_true(json_object_get(k, "network")) ? "yes" : "no", field(k, "created_at", "?"),
		       field(k, "revoked_at", "-"), field(k, "last_used_at", "never"));
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
		return fail(e);
	printf("revoked %s\n", id);
	return 0;
}

int srv_key_command(int argc, char **argv, const char *data_dir)
{
	enum { CREATE, LIST, REVOKE } cmd;
	const char *name = DEFAULT_NAME, *id = NULL;
	unsigned flags = 0;
	struct srv_store *st = NULL;
	struct err *e = NULL;
	int rc;

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

	if (srv_store_open(&st, data_dir, &e) < 0)
		return fail(e);
	switch (cmd) {
	case CREATE: rc = cmd_create(st, name, flags); break;
	case LIST: rc = cmd_list(st); break;
	case REVOKE: rc = cmd_revoke(st, id); break;
	default: rc = 2; break;
	}
	srv_store_close(st);
	return rc;
}
