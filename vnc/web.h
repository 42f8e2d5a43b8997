/**
 * web.h — the displays' and terminals' routes on the HTTP port: noVNC and
 * xterm.js files, view pages, the VNC WebSocket (web.c) and the terminal
 * WebSocket (term_web.c). Register once before tp_http_start(). Loop thread
 * only.
 *
 * Who may look at a session's display or terminals: its owner (the key) or
 * a holder of one of its view tokens (read-only) or control tokens
 * (read-write; vnc_token_get). A key never goes into a URL.
 */
#ifndef MCPBOX_VNC_WEB_H
#define MCPBOX_VNC_WEB_H

#include <stdbool.h>

struct tp_req;

#define VNC_WEB_TOKEN_CAP 80
#define VNC_WEB_PRINCIPAL_CAP 128	/* SRV_PRINCIPAL_MAX */

void vnc_web_routes(void);
void vnc_term_web_routes(void);

/**
 * May the sender of r (its ?token= or its key) see session sid? The token
 * sent (or "") and the key's principal (or "") are written out; *control
 * says whether it may also type.
 */
bool vnc_web_access(struct tp_req *r, const char *sid, char token[VNC_WEB_TOKEN_CAP], char principal[VNC_WEB_PRINCIPAL_CAP],
		    bool *control);
/** A session or terminal id as made here: 1..63 letters, digits, '_' or '-' (safe in a URL and a page). */
bool vnc_web_id_valid(const char *id);

#endif
