/*
 * The fixture tools of `serve --fixtures conformance`: fixed names and
 * fixed answers that the official MCP conformance suite calls to exercise
 * the protocol engine (content types, logging, progress, errors, and
 * requests from the server to the client: sampling and elicitation).
 * They touch no session.
 */
#include "tool.h"
#include "../server/buf.h"
#include "../server/common.h"
#include "../server/fixtures.h"
#include "../server/log.h"
#include "../server/banned.h"

#include <string.h>

/* ---- a tiny "do this in N ms" on the loop ---- */

struct later {
	uv_timer_t t;
	void (*fn)(struct tool_call *call, int step);
	struct tool_call *call;
	int step;
};

static void later_closed(uv_handle_t *h)
{
	free(h->data);
}

static void later_fire(uv_timer_t *t)
{
	struct later *l = t->data;
	l->fn(l->call, l->step);
	uv_close((uv_handle_t *)&l->t, later_closed);
}

static void after_ms(unsigned ms, struct tool_call *call, int step, void (*fn)(struct tool_call *, int))
{
	struct later *l = xcalloc(1, sizeof(*l));
	l->fn = fn;
	l->call = call;
	l->step = step;
	uv_timer_init(uv_default_loop(), &l->t);
	l->t.data = l;
	uv_timer_start(&l->t, later_fire, ms, 0);
}

static json_t *text_block(const char *text)
{
	return json_pack("{s:s, s:s}", "type", "text", "text", text);
}

static void finish_content(struct tool_call *call, json_t *content)
{
	tool_finish(call, json_pack("{s:o}", "content", content));
}

/* ---- simple content ---- */

static void simple_text(struct tool_call *call)
{
	finish_content(call, json_pack("[o]", text_block("This is a simple text response for testing.")));
}

static void image_content(struct tool_call *call)
{
	finish_content(call, json_pack("[{s:s, s:s, s:s}]", "type", "image", "data", fixture_png_b64, "mimeType",
				       "image/png"));
}

static void audio_content(struct tool_call *call)
{
	finish_content(call, json_pack("[{s:s, s:s, s:s}]", "type", "audio", "data", fixture_wav_b64, "mimeType",
				       "audio/wav"));
}

static void embedded_resource(struct tool_call *call)
{
	finish_content(call, json_pack("[{s:s, s:{s:s, s:s, s:s}}]", "type", "resource", "resource", "uri",
				       "test://embedded-resource", "mimeType", "text/plain", "text",
				       "This is an embedded resource content."));
}

static void multiple_content(struct tool_call *call)
{
	finish_content(call, json_pack("[o, {s:s, s:s, s:s}, {s:s, s:{s:s, s:s, s:s}}]",
				       text_block("Multiple content types test:"), "type", "image", "data",
				       fixture_png_b64, "mimeType", "image/png", "type", "resource", "resource", "uri",
				       "test://mixed-content-resource", "mimeType", "application/json", "text",
				       "{\"test\":\"data\",\"value\":123}"));
}

static void error_handling(struct tool_call *call)
{
	tool_fail(call, "This tool intentionally returns an error for testing");
}

static void schema_tool(struct tool_call *call)
{
	finish_content(call, json_pack("[o]", text_block("JSON Schema 2020-12 tool called")));
}

/* ---- logging and progress, ~50 ms apart ---- */

static void logging_step(struct tool_call *call, int step)
{
	static const char *const msgs[] = { "Tool execution started", "Tool processing data",
					    "Tool execution completed" };
	tool_log(call, LOG_LVL_INFO, "%s", msgs[step]);
	if (step < 2)
		after_ms(50, call, step + 1, logging_step);
	else
		finish_content(call, json_pack("[o]", text_block("Tool with logging executed successfully")));
}

static void with_logging(struct tool_call *call)
{
	logging_step(call, 0);
}

static void progress_step(struct tool_call *call, int step)
{
	tool_progress(call, step * 50, 100, NULL);
	if (step < 2)
		after_ms(50, call, step + 1, progress_step);
	else
		finish_content(call, json_pack("[o]", text_block("Tool with progress executed successfully")));
}

static void with_progress(struct tool_call *call)
{
	progress_step(call, 0);
}

/* ---- requests to the client ---- */

static bool client_can(struct tool_call *call, const char *cap)
{
	return json_object_get(call->conn->client_caps, cap) != NULL;
}

static void sampling_answer(void *arg, json_t *result, json_t *error)
{
	struct tool_call *call = arg;
	if (error) {
		tool_fail(call, "sampling failed: %s", json_string_value(json_object_get(error, "message")));
		return;
	}
	json_t *content = json_object_get(result, "content");
	const char *text = json_string_value(json_object_get(content, "text"));
	struct buf b = BUF_INIT;
	if (text) {
		buf_addf(&b, "LLM response: %s", text);
	} else {
		char *dump = json_dumps(content, JSON_COMPACT | JSON_ENCODE_ANY);
		buf_addf(&b, "LLM response: %s", dump ? dump : "");
		free(dump);
	}
	finish_content(call, json_pack("[o]", text_block(b.data)));
	buf_release(&b);
}

static void sampling(struct tool_call *call)
{
	if (!client_can(call, "sampling")) {
		tool_fail(call, "the client does not support sampling (no sampling capability)");
		return;
	}
	tool_ask(call, "sampling/createMessage",
		    json_pack("{s:[{s:s, s:{s:s, s:s}}], s:i}", "messages", "role", "user", "content", "type", "text",
			      "text", tool_arg_str(call, "prompt", ""), "maxTokens", 100),
		    sampling_answer, call);
}

static void elicitation_answer_common(struct tool_call *call, json_t *result, json_t *error, const char *lead)
{
	if (error) {
		tool_fail(call, "elicitation failed: %s", json_string_value(json_object_get(error, "message")));
		return;
	}
	char *content = json_dumps(json_object_get(result, "content") ? json_object_get(result, "content")
								      : json_object(),
				   JSON_COMPACT | JSON_ENCODE_ANY);
	const char *action = json_string_value(json_object_get(result, "action"));
	struct buf b = BUF_INIT;
	buf_addf(&b, "%saction=%s, content=%s", lead, action ? action : "?", content ? content : "{}");
	free(content);
	finish_content(call, json_pack("[o]", text_block(b.data)));
	buf_release(&b);
}

static void elicitation_answer(void *arg, json_t *result, json_t *error)
{
	elicitation_answer_common(arg, result, error, "User response: ");
}

static void elicitation_done(void *arg, json_t *result, json_t *error)
{
	elicitation_answer_common(arg, result, error, "Elicitation completed: ");
}

static bool need_elicitation(struct tool_call *call)
{
	if (client_can(call, "elicitation"))
		return true;
	tool_fail(call, "the client does not support elicitation (no elicitation capability)");
	return false;
}

static void elicitation(struct tool_call *call)
{
	if (!need_elicitation(call))
		return;
	tool_ask(call, "elicitation/create",
		    json_pack("{s:s, s:{s:s, s:{s:{s:s, s:s}, s:{s:s, s:s}}, s:[s, s]}}", "message",
			      tool_arg_str(call, "message", ""), "requestedSchema", "type", "object", "properties",
			      "username", "type", "string", "description", "User's response", "email", "type",
			      "string", "description", "User's email address", "required", "username", "email"),
		    elicitation_answer, call);
}

static void elicitation_defaults(struct tool_call *call)
{
	if (!need_elicitation(call))
		return;
	json_t *schema = json_loads(
		"{\"type\":\"object\",\"properties\":{"
		"\"name\":{\"type\":\"string\",\"default\":\"John Doe\"},"
		"\"age\":{\"type\":\"integer\",\"default\":30},"
		"\"score\":{\"type\":\"number\",\"default\":95.5},"
		"\"status\":{\"type\":\"string\",\"enum\":[\"active\",\"inactive\",\"pending\"],\"default\":\"active\"},"
		"\"verified\":{\"type\":\"boolean\",\"default\":true}}}", 0, NULL);
	tool_ask(call, "elicitation/create",
		    json_pack("{s:s, s:o}", "message", "Please review and update the form fields with defaults",
			      "requestedSchema", schema),
		    elicitation_done, call);
}

static void elicitation_enums(struct tool_call *call)
{
	if (!need_elicitation(call))
		return;
	json_t *schema = json_loads(
		"{\"type\":\"object\",\"properties\":{"
		"\"untitledSingle\":{\"type\":\"string\",\"enum\":[\"option1\",\"option2\",\"option3\"]},"
		"\"titledSingle\":{\"type\":\"string\",\"oneOf\":[{\"const\":\"value1\",\"title\":\"First Option\"},"
		"{\"const\":\"value2\",\"title\":\"Second Option\"},{\"const\":\"value3\",\"title\":\"Third Option\"}]},"
		"\"legacyEnum\":{\"type\":\"string\",\"enum\":[\"opt1\",\"opt2\",\"opt3\"],"
		"\"enumNames\":[\"Option One\",\"Option Two\",\"Option Three\"]},"
		"\"untitledMulti\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"enum\":[\"option1\",\"option2\",\"option3\"]}},"
		"\"titledMulti\":{\"type\":\"array\",\"items\":{\"anyOf\":[{\"const\":\"value1\",\"title\":\"First Choice\"},"
		"{\"const\":\"value2\",\"title\":\"Second Choice\"},{\"const\":\"value3\",\"title\":\"Third Choice\"}]}}}}",
		0, NULL);
	tool_ask(call, "elicitation/create",
		    json_pack("{s:s, s:o}", "message", "Please select options from the enum fields", "requestedSchema",
			      schema),
		    elicitation_done, call);
}

#define NO_ARGS "{\"type\":\"object\",\"properties\":{}}"
#define FIXTURE(n, d, fn) { .name = n, .title = n, .description = d, .input_schema = NO_ARGS, .read_only = true, .run = fn }

const struct tool_def tool_fixture_defs[] = {
	FIXTURE("test_simple_text", "Returns simple text content", simple_text),
	FIXTURE("test_image_content", "Returns image content", image_content),
	FIXTURE("test_audio_content", "Returns audio content", audio_content),
	FIXTURE("test_embedded_resource", "Returns an embedded resource", embedded_resource),
	FIXTURE("test_multiple_content_types", "Returns text, image and resource content", multiple_content),
	FIXTURE("test_tool_with_logging", "Sends three log messages while it runs", with_logging),
	FIXTURE("test_tool_with_progress", "Reports progress 0, 50, 100 of 100", with_progress),
	FIXTURE("test_error_handling", "Always fails", error_handling),
	{
		.name = "test_sampling",
		.title = "test_sampling",
		.description = "Asks the client's LLM (sampling/createMessage)",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"prompt\":{\"type\":\"string\"}},\"required\":[\"prompt\"]}",
		.run = sampling,
	},
	{
		.name = "test_elicitation",
		.title = "test_elicitation",
		.description = "Asks the user for input (elicitation/create)",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"message\":{\"type\":\"string\"}},\"required\":[\"message\"]}",
		.run = elicitation,
	},
	FIXTURE("test_elicitation_sep1034_defaults", "Elicitation with defaults of every primitive type", elicitation_defaults),
	FIXTURE("test_elicitation_sep1330_enums", "Elicitation with every enum form", elicitation_enums),
	{
		.name = "json_schema_2020_12_tool",
		.title = "json_schema_2020_12_tool",
		.description = "Tool with JSON Schema 2020-12 features",
		.input_schema = "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\","
				"\"$defs\":{\"address\":{\"type\":\"object\",\"properties\":{\"street\":{\"type\":\"string\"},"
				"\"city\":{\"type\":\"string\"}}}},\"properties\":{\"name\":{\"type\":\"string\"},"
				"\"address\":{\"$ref\":\"#/$defs/address\"}},\"additionalProperties\":false}",
		.read_only = true,
		.run = schema_tool,
	},
	{ 0 },
};
