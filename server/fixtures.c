#include "fixtures.h"
#include "buf.h"
#include "common.h"
#include "banned.h"

#include <string.h>

const char fixture_png_b64[] =
	"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";
const char fixture_wav_b64[] =
	"UklGRmQBAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YUABAADA4ODjAOcg6kDtYPCA86D2wfnh/AAAIAM/BmAJfwygD8AS"
	"4BUAGR8cwODg4wDnIOpA7WDwgPOg9sH54fwAACADPwZgCX8MoA/AEuAVABkfHMDg4OMA5yDqQO1g8IDzoPbB+eH8AAAgAz8GYAl/DKAP"
	"wBLgFQAZHxzA4ODjAOcg6kDtYPCA86D2wfnh/AAAIAM/BmAJfwygD8AS4BUAGR8cwODg4wDnIOpA7WDwgPOg9sH54fwAACADPwZgCX8M"
	"oA/AEuAVABkfHMDg4OMA5yDqQO1g8IDzoPbB+eH8AAAgAz8GYAl/DKAPwBLgFQAZHxzA4ODjAOcg6kDtYPCA86D2wfnh/AAAIAM/BmAJ"
	"fwygD8AS4BUAGR8cwODg4wDnIOpA7WDwgPOg9sH54fwAACADPwZgCX8MoA/AEuAVABkfHA==";

#define TEMPLATE_PREFIX "test://template/"
#define TEMPLATE_SUFFIX "/data"

static json_t *resource_list(void)
{
	return json_pack("[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]",
			 "uri", "test://static-text", "name", "static-text", "description",
			 "A static text resource", "mimeType", "text/plain",
			 "uri", "test://static-binary", "name", "static-binary", "description",
			 "A static binary resource (a PNG image)", "mimeType", "image/png",
			 "uri", "test://watched-resource", "name", "watched-resource", "description",
			 "A resource that can be subscribed to", "mimeType", "text/plain");
}

/* The contents of uri, or NULL when there is no such resource. */
static json_t *resource_read(const char *uri)
{
	if (!strcmp(uri, "test://static-text"))
		return json_pack("[{s:s, s:s, s:s}]", "uri", uri, "mimeType", "text/plain", "text",
				 "This is the content of the static text resource.");
	if (!strcmp(uri, "test://static-binary"))
		return json_pack("[{s:s, s:s, s:s}]", "uri", uri, "mimeType", "image/png", "blob", fixture_png_b64);
	if (!strcmp(uri, "test://watched-resource"))
		return json_pack("[{s:s, s:s, s:s}]", "uri", uri, "mimeType", "text/plain", "text",
				 "Watched resource content.");
	size_t n = strlen(uri), pl = strlen(TEMPLATE_PREFIX), sl = strlen(TEMPLATE_SUFFIX);
	if (n > pl + sl && !strncmp(uri, TEMPLATE_PREFIX, pl) && !strcmp(uri + n - sl, TEMPLATE_SUFFIX)) {
		auto_free char *id = xstrndup(uri + pl, n - pl - sl);
		if (strchr(id, '/'))
			return NULL;
		json_t *doc = json_pack("{s:s, s:b, s:s+}", "id", id, "templateTest", 1, "data", "Data for ID: ", id);
		char *text = json_dumps(doc, JSON_COMPACT);
		json_t *c = json_pack("[{s:s, s:s, s:s}]", "uri", uri, "mimeType", "application/json", "text", text);
		free(text);
		json_decref(doc);
		return c;
	}
	return NULL;
}

void fixtures_resources(struct srv_req *r, const char *method, json_t *params)
{
	const char *uri = json_string_value(json_object_get(params, "uri"));

	if (!strcmp(method, "resources/list")) {
		srv_req_result(r, json_pack("{s:o}", "resources", resource_list()));
	} else if (!strcmp(method, "resources/templates/list")) {
		srv_req_result(r, json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "resourceTemplates", "uriTemplate",
					    TEMPLATE_PREFIX "{id}" TEMPLATE_SUFFIX, "name", "template-data",
					    "description", "Data for an id", "mimeType", "application/json"));
	} else if (!uri) {
		srv_req_error(r, RPC_INVALID_PARAMS, "%s: params.uri (a string) is required", method);
	} else if (!strcmp(method, "resources/read")) {
		json_t *c = resource_read(uri);
		if (!c)
			srv_req_error(r, RPC_RESOURCE_NOT_FOUND, "Resource not found: %s", uri);
		else
			srv_req_result(r, json_pack("{s:o}", "contents", c));
	} else if (!strcmp(method, "resources/subscribe") || !strcmp(method, "resources/unsubscribe")) {
		/* nothing here ever changes, so a subscription never fires */
		srv_req_result(r, json_object());
	} else {
		srv_req_error(r, RPC_METHOD_NOT_FOUND, "Method not found: %s", method);
	}
}

static json_t *text_message(const char *text)
{
	return json_pack("{s:s, s:{s:s, s:s}}", "role", "user", "content", "type", "text", "text", text);
}

void fixtures_prompts(struct srv_req *r, const char *method, json_t *params)
{
	if (!strcmp(method, "prompts/list")) {
		srv_req_result(r, json_pack(
			"{s:[{s:s, s:s}, {s:s, s:s, s:[{s:s, s:s, s:b}, {s:s, s:s, s:b}]},"
			" {s:s, s:s, s:[{s:s, s:s, s:b}]}, {s:s, s:s}]}",
			"prompts",
			"name", "test_simple_prompt", "description", "A simple prompt without arguments",
			"name", "test_prompt_with_arguments", "description", "A prompt with arguments", "arguments",
			"name", "arg1", "description", "First test argument", "required", 1,
			"name", "arg2", "description", "Second test argument", "required", 1,
			"name", "test_prompt_with_embedded_resource", "description", "A prompt with an embedded resource",
			"arguments", "name", "resourceUri", "description", "URI of the resource to embed", "required", 1,
			"name", "test_prompt_with_image", "description", "A prompt with an image"));
		return;
	}
	if (strcmp(method, "prompts/get") != 0) {
		srv_req_error(r, RPC_METHOD_NOT_FOUND, "Method not found: %s", method);
		return;
	}
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t *args = json_object_get(params, "arguments");
	if (!name) {
		srv_req_error(r, RPC_INVALID_PARAMS, "prompts/get: params.name (a string) is required");
	} else if (!strcmp(name, "test_simple_prompt")) {
		srv_req_result(r, json_pack("{s:[o]}", "messages", text_message("This is a simple prompt for testing.")));
	} else if (!strcmp(name, "test_prompt_with_arguments")) {
		const char *a1 = json_string_value(json_object_get(args, "arg1"));
		const char *a2 = json_string_value(json_object_get(args, "arg2"));
		if (!a1 || !a2) {
			srv_req_error(r, RPC_INVALID_PARAMS, "prompts/get: arguments arg1 and arg2 are required");
			return;
		}
		struct buf b = BUF_INIT;
		buf_addf(&b, "Prompt with arguments: arg1='%s', arg2='%s'", a1, a2);
		srv_req_result(r, json_pack("{s:[o]}", "messages", text_message(b.data)));
		buf_release(&b);
	} else if (!strcmp(name, "test_prompt_with_embedded_resource")) {
		const char *uri = json_string_value(json_object_get(args, "resourceUri"));
		if (!uri) {
			srv_req_error(r, RPC_INVALID_PARAMS, "prompts/get: argument resourceUri is required");
			return;
		}
		srv_req_result(r, json_pack("{s:[{s:s, s:{s:s, s:{s:s, s:s, s:s}}}, o]}", "messages", "role", "user",
					    "content", "type", "resource", "resource", "uri", uri, "mimeType",
					    "text/plain", "text", "Embedded resource content for testing.",
					    text_message("Please process the embedded resource above.")));
	} else if (!strcmp(name, "test_prompt_with_image")) {
		srv_req_result(r, json_pack("{s:[{s:s, s:{s:s, s:s, s:s}}, o]}", "messages", "role", "user", "content",
					    "type", "image", "data", fixture_png_b64, "mimeType", "image/png",
					    text_message("Please analyze the image above.")));
	} else {
		srv_req_error(r, RPC_INVALID_PARAMS, "Unknown prompt: %s", name);
	}
}

void fixtures_complete(struct srv_req *r, json_t *params)
{
	static const char *const words[] = { "paris", "park", "party", "hello", "help", "world" };
	json_t *ref = json_object_get(params, "ref");
	const char *prefix = json_string_value(json_object_get(json_object_get(params, "argument"), "value"));
	json_t *values = json_array();

	if (!json_is_object(ref) || !json_is_string(json_object_get(ref, "type"))) {
		json_decref(values);
		srv_req_error(r, RPC_INVALID_PARAMS, "completion/complete: params.ref is required");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (!prefix || !strncmp(words[i], prefix, strlen(prefix)))
			json_array_append_new(values, json_string(words[i]));
	srv_req_result(r, json_pack("{s:{s:o, s:I, s:b}}", "completion", "values", values, "total",
				    (json_int_t)json_array_size(values), "hasMore", 0));
}
