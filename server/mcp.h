/**
 * mcp.h — the MCP layer on top of the JSON-RPC engine: lifecycle
 * (initialize with version negotiation, initialized, ping), tools/list,
 * tools/call, logging/setLevel with notifications/message, cancellation;
 * the resources methods through resources.h.
 *
 * Transports create connections with srv_conn_new(&mcp_app, ...).
 * Loop thread only.
 */
#ifndef MCPBOX_SRV_MCP_H
#define MCPBOX_SRV_MCP_H

#include "base/common.h"	/* MCPBOX_VERSION */
#include "base/rpc.h"
#include "../tools/tool.h"

extern const struct srv_app mcp_app;

/** Set up the tool registry; env must outlive every connection. */
void mcp_init(const struct tool_env *env);
void mcp_release(void);
/** Number of live MCP connections (shutdown waits for 0). */
unsigned mcp_connections(void);

/** Send notifications/message to c if its level admits lvl (enum log_level). */
void mcp_log(struct srv_conn *c, int lvl, const char *logger, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
