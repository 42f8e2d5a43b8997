/**
 * tp.h — transports: framing only. Each turns its bytes into complete JSON
 * texts for srv_conn_receive() and sends what the engine gives it
 * (struct tp_ops in server/rpc.h). No transport knows about tools or sessions.
 */
#ifndef MCPBOX_TP_H
#define MCPBOX_TP_H

#include <stdint.h>
#include <uv.h>

#include "../server/err.h"
#include "../server/rpc.h"

/**
 * MCP over stdin/stdout: one JSON text per line ("\n", "\r\n" tolerated),
 * lines up to max_line bytes. stdin may be a pipe, a terminal, a socket or
 * a regular file (read through the loop's file I/O, since files cannot be
 * polled). on_eof runs once stdin ends (or fails); the connection is closed
 * by then. stdout carries nothing but protocol messages.
 */
int tp_stdio_start(uv_loop_t *loop, const struct srv_app *app, uint64_t max_line,
		   void (*on_eof)(void *arg), void *arg, struct err **errp);
/** Stop reading, flush what is queued for stdout, release handles. */
void tp_stdio_stop(void);

#endif
