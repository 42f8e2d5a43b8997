/**
 * exec_input.h — the document an execution's program reads on fd 3 (its
 * code, or {"code":..., "event":...} for a handler), taken out of the call's
 * arguments when the call starts, so that the server holds it once and only
 * until the program has it: sessions/run.h writes it from here without a
 * copy and gives it back (tool_exec_input_free) once written.
 *
 * While held it is counted, per key with the keys it made (the principal's
 * owner, quota.code) and on the whole server for everyone
 * (quota.server_code): a call whose input would pass either is refused. A
 * program that does not read its code (bash reads a script as it runs it)
 * keeps it counted. Administrators and stdio count toward the server's
 * bound only. Loop thread only.
 */
#ifndef MCPBOX_TOOL_EXEC_INPUT_H
#define MCPBOX_TOOL_EXEC_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../server/base/err.h"

struct tool_call;
struct tool_exec_input;

/* Bytes of the code kept for listings (a job's command; sessions/job.c shows 200). */
#define TOOL_EXEC_HEAD 256

/**
 * Take "code" (with_event: "code" and "event", as the handler document)
 * out of call->args into *out, counted for call->principal; *head gets the
 * code's first TOOL_EXEC_HEAD bytes (malloc'd). -1 with ERR_LIMIT (the
 * key's bound) or EAGAIN's class (the server's), a message naming the
 * bound, when it would pass one; the arguments are then kept.
 */
int tool_exec_input_take(struct tool_call *call, bool with_event, char **head, struct tool_exec_input **out,
			 struct err **errp);
/** Its bytes (valid until tool_exec_input_free). */
const char *tool_exec_input_data(const struct tool_exec_input *in, size_t *len);
/** Uncount and free in (NULL: nothing); sess_run_opts.input_free's signature. */
void tool_exec_input_free(void *in);
/** Bytes held now for principal's owner, or (NULL) on the whole server. */
uint64_t tool_exec_input_held(const char *principal);

#endif
