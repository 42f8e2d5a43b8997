#include "cli.h"

#include <stdio.h>

#include "base/banned.h"

int srv_cli_fail(struct err *e)
{
	fprintf(stderr, "mcpbox: %s\n", e ? err_text(e) : "failed");
	err_free(e);
	return 1;
}

const char *srv_cli_field(json_t *o, const char *name, const char *absent)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s ? s : absent;
}

int srv_cli_with_store(const char *data_dir, int (*fn)(struct srv_store *st, void *ctx), void *ctx)
{
	struct srv_store *st = NULL;
	struct err *e = NULL;
	int rc;

	if (srv_store_open(&st, data_dir, &e) < 0)
		return srv_cli_fail(e);
	rc = fn(st, ctx);
	srv_store_close(st);
	return rc;
}
