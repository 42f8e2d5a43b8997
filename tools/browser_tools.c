/*
 * tools/browser_tools.c — browser_open: Chromium on the session's display,
 * driven by agents over CDP through cdp_url (proxy/browser.h).
 */
#include "tool.h"
#include "../proxy/browser.h"
#include "../server/base/common.h"
#include "../vnc/display.h"

#include <string.h>

#include "../server/base/banned.h"

static void opened(void *arg, struct err *err)
{
	struct tool_call *call = arg;
	struct sess_session *s = sess_find(call->env->sessions, call->state, NULL);
	const char *url;
	json_t *o;

	if (err) {
		tool_fail_err(call, err, "browser_open");
		err_free(err);
		return;
	}
	if (!s) {
		tool_fail_as(call, ERR_NOT_FOUND, "browser_open: the session is gone");
		return;
	}
	o = json_pack("{s:s, s:s}", "session_id", s->id, "status", "running");
	if ((url = px_browser_cdp_url(s)))
		json_object_set_new(o, "cdp_url", json_string(url));
	json_t *d = vnc_display_info(s, s->owner, tool_may_control(call, s->id));
	if (d && json_object_get(d, "view_url"))
		json_object_set(o, "view_url", json_object_get(d, "view_url"));
	json_decref(d);
	tool_ok(call, o, NULL);
}

static void open_in_session(struct tool_call *call, struct sess_session *s)
{
	call->state = xstrdup(s->id);
	call->state_free = free;
	px_browser_ensure(s, tool_arg_str(call, "url", NULL), opened, call);
}

static void browser_open_run(struct tool_call *call)
{
	const char *url = tool_arg_str(call, "url", NULL);

	if (url && (strpbrk(url, " \t\r\n") || url[0] == '-' || !url[0])) {
		tool_fail(call, "argument \"url\" must be a URL (no spaces, not starting with '-')");
		return;
	}
	tool_with_session(call, open_in_session);
}

const struct tool_def tool_browser_defs[] = {
	{
		.name = "browser_open",
		.title = "Open a browser",
		.description = "Start Chromium on the session's screen (people watch it over VNC; screenshot and "
			       "input see it) and return cdp_url, a Chrome DevTools Protocol endpoint for Playwright's "
			       "connectOverCDP or Puppeteer's connect (browserWSEndpoint). With url: open that page (in "
			       "a new tab when the browser runs already). Sessions without network reach only what "
			       "is inside the sandbox: file:///workspace/... and servers started there "
			       "(http://localhost:PORT).",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"session_id\":{\"type\":\"string\",\"description\":\"Session; default: this connection's own session.\"},"
				"\"url\":{\"type\":\"string\",\"maxLength\":8192,\"description\":\"Page to open.\"}},"
				"\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"},"
				 "\"status\":{\"type\":\"string\"},\"cdp_url\":{\"type\":\"string\"},"
				 "\"view_url\":{\"type\":\"string\"}},\"required\":[\"session_id\",\"status\"]}",
		.open_world = true,
		.run = browser_open_run,
	},
	{ 0 },
};
