/**
 * template.h — session templates as data: what a named preset may hold, how
 * it is checked, and how it goes under session_create's own arguments.
 *
 * A template is a JSON object with any of: description, memory_mb, cpus,
 * disk_mb, timeout_s, network, env {NAME: value}, files {path: content}, snapshot_id,
 * language. The config's "templates" and the template tools (tools/
 * template_tools.c) use the same check, so a preset is valid wherever it
 * comes from. Pure functions: no state, any thread.
 */
#ifndef MCPBOX_SRV_TEMPLATE_H
#define MCPBOX_SRV_TEMPLATE_H

#include <jansson.h>

#include "err.h"

#define SRV_TMPL_FILES_MAX 64		/* files a template writes */
#define SRV_TMPL_FILE_BYTES (1u << 20)	/* their contents together */
#define SRV_TMPL_NAME_MAX 64

/** A template name: 1..64 of [A-Za-z0-9._:-], starting with a letter or digit. */
int srv_tmpl_name_check(const char *name, struct err **errp);

/**
 * Check t's settings (an object): only the known keys, each of its type and
 * within its bounds (memory_mb >= 16, 0 < cpus <= 4096, disk_mb >= 1, timeout_s 1..3600,
 * env: <= 256 names without '=', values <= 32 KiB; files: <= 64 relative
 * paths without "..", contents <= 1 MiB together; language a short word).
 * Errors name the template (name) and the key, class ERR_INVALID.
 */
int srv_tmpl_check(const char *name, json_t *t, struct err **errp);

/**
 * session_create's arguments with t's settings underneath (a new object):
 * memory_mb, cpus, disk_mb, timeout_s, network and snapshot_id from t unless args has
 * them; env merged name by name, args' values winning. files, language and
 * description are not session_create arguments and stay out.
 */
json_t *srv_tmpl_merge(json_t *t, json_t *args);

#endif
