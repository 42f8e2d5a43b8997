/**
 * resources.h — MCP resources: the files of the caller's sessions and their
 * screens, as resources/list, resources/templates/list, resources/read and
 * resources/subscribe + unsubscribe.
 *
 *   mcpbox://sessions/{session_id}/files/{+path}   a file of the workspace
 *       (path relative to /workspace, percent-encoded): text when its type
 *       (by extension, or sniffed when there is none) is text and it is UTF-8,
 *       else base64 blob; at most the read limit of file_read
 *   mcpbox://sessions/{session_id}/screen           the display as a PNG
 *
 * Reads are calls of the tools file_read and screenshot (this module is
 * their caller, as a REST dialect is): the same confinement, ownership
 * (only the caller's sessions; a session-bound endpoint: only its session),
 * limits and quotas. resources/list is paged (100 per page) and shows, per
 * session, the screen while its display runs and the regular files at the
 * top of the workspace (the first 1,000 entries read); deeper files are
 * reached through the template. Subscriptions (at most RES_SUBS_MAX per
 * connection) are sessions/watch.h watches: notifications/resources/updated
 * at most every 100 ms per URI, one more when the session goes.
 * With the conformance fixtures on, their test:// resources come first.
 *
 * Errors: an unknown URI, a session that is not the caller's or a missing
 * file is -32002; a malformed URI or cursor, a path out of the workspace, a
 * directory, a file past the read limit or a limit reached is -32602.
 * Loop thread only.
 */
#ifndef MCPBOX_SRV_RESOURCES_H
#define MCPBOX_SRV_RESOURCES_H

#include <jansson.h>

#include "base/rpc.h"
#include "../tools/tool.h"

#define RES_SUBS_MAX 128

/** A connection's subscriptions; made on its first resources/ request. */
struct res_conn;

/** env outlives every connection. */
void res_init(const struct tool_env *env);
/** The "resources" capability of initialize. */
json_t *res_capability(void);
/**
 * Answer a resources/ method for the connection of req; *rcp is its state
 * (created when NULL), tc its tool state (implicit and bound session).
 */
void res_request(struct srv_req *req, struct res_conn **rcp, struct tool_conn *tc, const char *method,
		 json_t *params);
/** The connection is gone: drop its subscriptions, free rc (NULL: nothing). */
void res_conn_free(struct res_conn *rc);

#endif
