/* `mcpbox user ...`: manage users from the command line (see users.h). */
#include "users.h"
#include "base/common.h"
#include "cli.h"
#include "store.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/banned.h"

static void usage(FILE *f)
{
	fputs("usage: mcpbox user add NAME [--admin | --role user|admin|super_admin] --password-stdin\n"
	      "                                        add a user; the password is read from stdin\n"
	      "       mcpbox user list                 show all users\n"
	      "       mcpbox user passwd NAME --password-stdin\n"
	      "                                        set a new password (the user's tokens stop working)\n"
	      "       mcpbox user disable NAME         refuse the user's logins and tokens at once\n"
	      "       mcpbox user enable NAME          let a disabled user log in again\n"
	      "       mcpbox user role NAME user|admin|super_admin\n"
	      "                                        give a user another role (from its next request on)\n",
	      f);
}

/* One line from stdin into pw (cap bytes); the newline is dropped. Length, or -1. */
static long read_password(char *pw, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while (n < cap && (r = read(STDIN_FILENO, pw + n, cap - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		n += (size_t)r;
		if (memchr(pw, '\n', n))
			break;
	}
	char *nl = memchr(pw, '\n', n);
	if (nl)
		n = (size_t)(nl - pw);
	else if (n == cap)
		return -1;	/* longer than any password we take */
	if (n && pw[n - 1] == '\r')
		n--;
	if (memchr(pw, '\0', n))
		return -1;
	return (long)n;
}

static int with_password(struct srv_store *st, const char *name, const char *role)
{
	char pw[SRV_USER_PASSWORD_MAX + 2];
	struct err *e = NULL;
	long n;
	int rc;

	if (isatty(STDIN_FILENO))
		fprintf(stderr, "password for %s (then Enter): ", name);
	n = read_password(pw, sizeof(pw));
	if (n < 0) {
		fprintf(stderr, "mcpbox: cannot read a password from stdin (one line, at most %d bytes)\n",
			SRV_USER_PASSWORD_MAX);
		return 1;
	}
	rc = role ? srv_user_add(st, name, role, pw, (size_t)n, &e) : srv_user_passwd(st, name, pw, (size_t)n, &e);
	explicit_bzero(pw, sizeof(pw));
	if (rc < 0)
		return srv_cli_fail(e);
	if (role)
		fprintf(stderr, "mcpbox: added %s (role %s)\n", name, role);
	else
		fprintf(stderr, "mcpbox: %s has a new password; its tokens stopped working\n", name);
	return 0;
}

static int cmd_list(struct srv_store *st)
{
	struct err *e = NULL;
	json_t *users, *u;
	size_t i;

	if (srv_user_list(st, &users, &e) < 0)
		return srv_cli_fail(e);
	printf("%-*s  %-11s  %-20s  %s\n", SRV_USER_NAME_MAX / 2, "NAME", "ROLE", "CREATED", "DISABLED");
	json_array_foreach(users, i, u)
		printf("%-*s  %-11s  %-20s  %s\n", SRV_USER_NAME_MAX / 2, srv_cli_field(u, "name", "?"), srv_cli_field(u, "role", "?"),
		       srv_cli_field(u, "created_at", "?"), srv_cli_field(u, "disabled_at", "-"));
	if (json_array_size(users) == 0)
		fprintf(stderr, "mcpbox: no users yet; `mcpbox user add NAME --password-stdin` adds one\n");
	json_decref(users);
	return 0;
}

enum user_cmd { ADD, LIST, PASSWD, DISABLE, ENABLE, ROLE };
struct user_args {
	enum user_cmd cmd;
	const char *name, *role;
};

static int run(struct srv_store *st, void *ctx)
{
	const struct user_args *a = ctx;
	struct err *e = NULL;

	switch (a->cmd) {
	case ADD: return with_password(st, a->name, a->role);
	case PASSWD: return with_password(st, a->name, NULL);
	case LIST: return cmd_list(st);
	case DISABLE:
		if (srv_user_disable(st, a->name, &e) < 0)
			return srv_cli_fail(e);
		fprintf(stderr, "mcpbox: disabled %s; its tokens stopped working\n", a->name);
		return 0;
	case ENABLE:
		if (srv_user_enable(st, a->name, &e) < 0)
			return srv_cli_fail(e);
		fprintf(stderr, "mcpbox: enabled %s; it may log in again\n", a->name);
		return 0;
	case ROLE:
		if (srv_user_set_role(st, a->name, a->role, &e) < 0)
			return srv_cli_fail(e);
		fprintf(stderr, "mcpbox: %s is %s now\n", a->name, a->role);
		return 0;
	}
	return 2;
}

int srv_user_command(int argc, char **argv, const char *data_dir)
{
	enum user_cmd cmd;
	const char *name = NULL, *role = "user";
	bool stdin_pw = false;

	if (argc >= 2 && (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "list")) {
		cmd = LIST;
	} else if (argc == 3 && (!strcmp(argv[1], "disable") || !strcmp(argv[1], "enable"))) {
		cmd = !strcmp(argv[1], "disable") ? DISABLE : ENABLE;
		name = argv[2];
	} else if (argc == 4 && !strcmp(argv[1], "role")) {
		cmd = ROLE;
		name = argv[2];
		role = argv[3];
		if (!srv_user_role_valid(role)) {
			fprintf(stderr, "mcpbox user role: the role is user, admin or super_admin\n");
			return 2;
		}
	} else if (argc >= 3 && (!strcmp(argv[1], "add") || !strcmp(argv[1], "passwd"))) {
		cmd = !strcmp(argv[1], "add") ? ADD : PASSWD;
		name = argv[2];
		for (int i = 3; i < argc; i++) {
			if (!strcmp(argv[i], "--password-stdin")) {
				stdin_pw = true;
			} else if (cmd == ADD && !strcmp(argv[i], "--admin")) {
				role = "admin";
			} else if (cmd == ADD && !strcmp(argv[i], "--role") && i + 1 < argc) {
				role = argv[++i];
			} else {
				fprintf(stderr, "mcpbox user %s: unexpected argument \"%s\"\n", argv[1], argv[i]);
				usage(stderr);
				return 2;
			}
		}
		if (!stdin_pw) {
			fprintf(stderr, "mcpbox user %s: give --password-stdin (passwords never go on the command line)\n",
				argv[1]);
			return 2;
		}
		if (!srv_user_role_valid(role)) {
			fprintf(stderr, "mcpbox user add: --role is user, admin or super_admin\n");
			return 2;
		}
	} else {
		usage(stderr);
		return 2;
	}
	struct user_args args = { cmd, name, role };
	return srv_cli_with_store(data_dir, run, &args);
}
