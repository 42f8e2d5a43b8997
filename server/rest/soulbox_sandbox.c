/*
 * server/rest/soulbox_sandbox.c — SoulBox's sandboxes and templates (see
 * soulbox.h, docs/compat.md 004). A sandbox is an mcpbox session of the
 * caller's; a template is one of mcpbox's session templates.
 */
#include "soulbox.h"
#include "../base/buf.h"
#include "../base/common.h"

#include <ctype.h>
#include <string.h>

#include "../base/banned.h"

static const char *str(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

/* ---- templates ---- */

/* "basic-python" → "Basic Python". */
static json_t *template_title(const char *id)
{
	struct buf b = BUF_INIT;
	bool word = true;
	for (const char *p = id; *p; p++) {
		char ch = *p == '-' || *p == '_' ? ' ' : *p;
		buf_addf(&b, "%c", word ? toupper((unsigned char)ch) : ch);
		word = ch == ' ';
	}
	json_t *s = json_string(b.data);
	buf_release(&b);
	return s;
}

/*
 * The document's template from template_list/template_info's entry t.
 * mcpbox templates have no version and install nothing (the sandbox runs
 * the host's interpreters): version "1.0", packages [].
 */
static json_t *template_json(json_t *t, bool detail)
{
	const char *id = str(t, "name");
	const char *desc = str(t, "description");
	json_t *o = json_pack("{s:s, s:o, s:s, s:s, s:s, s:[]}", "template_id", id, "name", template_title(id),
			      "description", desc ? desc : "", "runtime", sb_runtime_of(str(t, "language")), "version",
			      "1.0", "packages");
	if (!detail)
		return o;
	json_t *env = json_object_get(t, "env");
	json_t *files = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(t, "files"), k, v)
		json_array_append_new(files, json_pack("{s:s, s:O}", "name", k, "content", v));
	json_object_set_new(o, "base_image", str(t, "image") ? json_string(str(t, "image")) : json_null());
	json_object_set_new(o, "environment", env ? json_incref(env) : json_object());
	json_object_set_new(o, "files", files);
	json_object_set_new(o, "source", json_string(str(t, "source") ? str(t, "source") : "builtin"));
	for (const char *const *f = (const char *const[]){ "memory_mb", "cpus", "timeout_s", "network", NULL }; *f; f++)
		if (json_object_get(t, *f))
			json_object_set(o, *f, json_object_get(t, *f));
	return o;
}

static void templates_listed(struct sb_call *c, json_t *data)
{
	struct sb_page *p = c->ext;
	json_t *items = json_array();
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(data, "templates"), i, t)
		json_array_append_new(items, template_json(t, false));
	sb_call_answer(c, 200, json_pack("{s:o}", "templates", sb_page_apply(c->r, p, items, NULL)));
}

static void template_list(struct tp_req *r, void *arg)
{
	(void)arg;
	char principal[SB_PRINCIPAL_MAX];
	struct sb_page page;
	if (sb_begin(r, SB_RATE_REQUESTS, principal) || sb_page_query(r, &page))
		return;
	struct sb_call *c = sb_call_new(r, principal, NULL);
	c->ext = xcalloc(1, sizeof(page));
	*(struct sb_page *)c->ext = page;
	c->ext_free = free;
	sb_call_tool(c, "template_list", json_object(), templates_listed);
}

static void template_got(struct sb_call *c, json_t *data)
{
	sb_call_answer(c, 200, template_json(data, true));
}

static void template_get(struct tp_req *r, void *arg)
{
	(void)arg;
	char principal[SB_PRINCIPAL_MAX];
	const char *id = tp_req_param(r, "template_id");
	if (sb_begin(r, SB_RATE_REQUESTS, principal))
		return;
	if (!id || !*id || strlen(id) > 200) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "template_id", "template_id must be 1 to 200 characters");
		return;
	}
	struct sb_call *c = sb_call_new(r, principal, NULL);
	sb_call_tool(c, "template_info", json_pack("{s:s}", "name", id), template_got);
}

/* ---- the part ---- */

static const struct rest_route routes[] = {
	{ TP_GET, "/api/templates", template_list },
	{ TP_GET, "/api/templates/{template_id}", template_get },
	{ 0, NULL, NULL },
};

const struct sb_part sb_part_sandbox = {
	.routes = routes,
};
