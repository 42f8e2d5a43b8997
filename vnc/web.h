/**
 * web.h — the displays' routes on the HTTP port (noVNC files, view pages,
 * the VNC WebSocket). Call once before tp_http_start(). Loop thread only.
 */
#ifndef MCPBOX_VNC_WEB_H
#define MCPBOX_VNC_WEB_H

void vnc_web_routes(void);

#endif
