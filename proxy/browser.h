/**
 * browser.h — one Chromium per session, inside its sandbox and on its
 * display (so people watch it over VNC), with DevTools listening on
 * 127.0.0.1:PX_BROWSER_PORT of the sandbox's own network namespace; CDP
 * clients reach it through /sessions/{id}/cdp (proxy.h), never directly.
 *
 * Chromium runs as the session's user with --no-sandbox: its own sandbox
 * (user namespaces, seccomp) cannot nest inside mcpbox's, which replaces it
 * (docs/security.md). It is the session's process, counted against its
 * limits, and dies with the session. Start: the display first
 * (vnc_display_ensure), then the browser, ready once its /json/version
 * answers (at most PX_BROWSER_START_MS). Loop thread only.
 */
#ifndef MCPBOX_PX_BROWSER_H
#define MCPBOX_PX_BROWSER_H

#include <jansson.h>
#include <stdbool.h>

#include "../server/base/err.h"
#include "../sessions/session.h"

#define PX_BROWSER_PORT 9222
#define PX_BROWSER_START_MS 30000

/** cb once s's browser runs (err NULL) or failed to start (err owned by cb). */
typedef void (*px_browser_cb)(void *arg, struct err *err);
/**
 * Start s's browser if it does not run (on url, when given), or open url in
 * a new tab of the running one; then cb (from inside this call when the
 * browser runs already).
 */
void px_browser_ensure(struct sess_session *s, const char *url, px_browser_cb cb, void *arg);
/** Stop every browser and forget them (at server shutdown, before the sessions go). */
void px_browser_shutdown(void);
/** Forget the waits of arg (its owner goes away): its cb will not run. */
void px_browser_cancel(void *arg);
/** Is port the DevTools port of s's browser (which previews may not reach)? */
bool px_browser_port_is(struct sess_session *s, unsigned port);
/** The DevTools WebSocket path of s's running browser ("/devtools/browser/…"), or NULL. */
const char *px_browser_ws_path(struct sess_session *s);
/** cdp_url for s's owner (with a control token), or NULL without an HTTP base. Static storage. */
const char *px_browser_cdp_url(struct sess_session *s);
/** What session_info shows of s's browser ({status}), or NULL when it never had one. */
json_t *px_browser_json(struct sess_session *s);

#endif
