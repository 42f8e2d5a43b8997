/**
 * cli.h — what the `mcpbox key` and `mcpbox user` commands share. Main thread.
 */
#ifndef MCPBOX_SRV_CLI_H
#define MCPBOX_SRV_CLI_H

#include <jansson.h>

#include "base/err.h"
#include "store.h"

/** Print "mcpbox: <e>" on stderr, free e, and return exit code 1. */
int srv_cli_fail(struct err *e);
/** The string field name of o, or absent. */
const char *srv_cli_field(json_t *o, const char *name, const char *absent);

/** Open the store in data_dir, return fn(st, ctx) and close it (1 when it cannot be opened). */
int srv_cli_with_store(const char *data_dir, int (*fn)(struct srv_store *st, void *ctx), void *ctx);

#endif
