/* Unit tests of dialect 003's pure parts (server/rest/agentbox_valid.c): quantities, the twin's validator, label selectors, statuses, Go's bytes. */
#include "tap.h"
#include "server/rest/agentbox.h"

static json_t *body(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	if (!j)
		printf("# bad test JSON: %s\n", text);
	return j;
}

static const char *validate(const char *text)
{
	static char msg[512];
	json_t *j = body(text);
	int rc = ab_env_validate(j, msg, sizeof(msg));
	json_decref(j);
	return rc == 0 ? "" : msg;
}

static int sel(const char *s, const char *labels)
{
	char msg[256];
	json_t *l = body(labels);
	int r = ab_selector_match(s, l, msg, sizeof(msg));
	json_decref(l);
	return r;
}

#define RES "\"resources\":{\"cpu\":\"500m\",\"memory\":\"512Mi\",\"storage\":\"1Gi\"}"

int main(void)
{
	uint64_t v;
	char msg[256];

	/* quantities as the twin reads them: binary units for memory and storage, millicores for cpu */
	ok(ab_quantity_parse(AB_CPU, "500m", &v, msg, sizeof(msg)) == 0 && v == 500, "500m is 500 millicores");
	ok(ab_quantity_parse(AB_CPU, "2", &v, msg, sizeof(msg)) == 0 && v == 2000, "2 is 2000 millicores");
	ok(ab_quantity_parse(AB_CPU, "0.5", &v, msg, sizeof(msg)) < 0, "0.5 is refused, as the twin's ^\\d+m?$ does");
	is_str(msg, "invalid format (expected: 100m or 1)", "with its message");
	ok(ab_quantity_parse(AB_MEMORY, "512Mi", &v, msg, sizeof(msg)) == 0 && v == 512ull << 20, "512Mi");
	ok(ab_quantity_parse(AB_MEMORY, "1G", &v, msg, sizeof(msg)) == 0 && v == 1ull << 30, "G is binary in the twin");
	ok(ab_quantity_parse(AB_MEMORY, "64", &v, msg, sizeof(msg)) == 0 && v == 64, "no unit: bytes");
	ok(ab_quantity_parse(AB_MEMORY, "1Ti", &v, msg, sizeof(msg)) < 0, "Ti is storage only");
	ok(ab_quantity_parse(AB_STORAGE, "1Ti", &v, msg, sizeof(msg)) == 0 && v == 1ull << 40, "1Ti of storage");
	ok(ab_quantity_parse(AB_MEMORY, "99999999999999999999Gi", &v, msg, sizeof(msg)) < 0, "overflow is refused");
	ok(ab_quantity_parse(AB_MEMORY, "", &v, msg, sizeof(msg)) < 0 && ab_quantity_parse(AB_MEMORY, "Mi", &v, msg, sizeof(msg)) < 0,
	   "empty and unit-only are refused");

	/* the validator, in the twin's order */
	is_str(validate("{\"name\":\"ok-env\",\"image\":\"python:3.11-slim\"," RES "}"), "", "a valid request");
	is_str(validate("{\"image\":\"x\"," RES "}"), "name is required", "name first");
	is_str(validate("{\"name\":\"Bad\",\"image\":\"x\"," RES "}"), "name must be lowercase alphanumeric with hyphens",
	       "upper case");
	is_str(validate("{\"name\":\"a-\",\"image\":\"x\"," RES "}"), "name must be lowercase alphanumeric with hyphens",
	       "a trailing hyphen");
	is_str(validate("{\"name\":\"x\"," RES "}"), "image is required", "image");
	is_str(validate("{\"name\":\"x\",\"image\":\"x\",\"resources\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}"),
	       "invalid resources: storage is required", "storage has no default");
	is_str(validate("{\"name\":\"x\",\"image\":\"x\",\"resources\":{\"cpu\":\"10001m\",\"memory\":\"1Gi\",\"storage\":\"1Gi\"}}"),
	       "invalid resources: cpu exceeds maximum allowed (10000m)", "cpu maximum");
	is_str(validate("{\"name\":\"x\",\"image\":\"x\"," RES ",\"timeout\":86401}"),
	       "timeout exceeds maximum allowed (86400 seconds)", "timeout maximum");
	is_str(validate("{\"name\":\"x\",\"image\":\"x\"," RES ",\"tolerations\":[{\"operator\":\"Exists\",\"value\":\"v\"}]}"),
	       "toleration[0]: value must be empty when operator is 'Exists'", "tolerations");
	is_str(validate("{\"name\":\"x\",\"image\":\"x\"," RES ",\"isolation\":{\"network_policy\":{\"allowed_egress_cidrs\":[\"1.2.3.4/33x\"]}}}"),
	       "isolation.network_policy.allowed_egress_cidrs[0]: invalid CIDR format '1.2.3.4/33x'", "CIDR shape");
	is_str(validate("{\"name\":\"x\",\"image\":\"x\"," RES ",\"isolation\":{\"network_policy\":{\"allowed_egress_cidrs\":[\"10.0.0.0/8\"]}}}"),
	       "", "a CIDR of the right shape");
	is_str(validate("{\"name\":5,\"image\":\"x\"," RES "}"),
	       "json: cannot unmarshal number into Go struct field name of type string", "a wrong type is the decoder's");
	is_str(validate("{\"name\":\"x\",\"image\":\"x\"," RES ",\"env\":{\"A\":1}}"),
	       "json: cannot unmarshal object into Go struct field env of type map[string]string", "env values are strings");

	/* label selectors */
	const char *l = "{\"team\":\"x\",\"tier\":\"web\"}";
	ok(sel("", l) == 1, "an empty selector matches");
	ok(sel("team=x", l) == 1 && sel("team==x", l) == 1 && sel("team=y", l) == 0, "=");
	ok(sel("team!=y", l) == 1 && sel("team!=x", l) == 0 && sel("gone!=x", l) == 1, "!= (absent keys match)");
	ok(sel("team in (y, x)", l) == 1 && sel("team in (y)", l) == 0, "in");
	ok(sel("team notin (y)", l) == 1 && sel("team notin (x,y)", l) == 0 && sel("gone notin (x)", l) == 1, "notin");
	ok(sel("tier", l) == 1 && sel("gone", l) == 0 && sel("!gone", l) == 1 && sel("!tier", l) == 0, "exists, !exists");
	ok(sel("team=x, tier=web", l) == 1 && sel("team=x,tier=db", l) == 0, "requirements are ANDed");
	ok(sel("team in x", l) < 0 && sel("=x", l) < 0 && sel("team in (x", l) < 0 && sel("a b", l) < 0, "malformed");

	/* statuses and bytes */
	is_str(ab_env_status("creating"), "pending", "creating is pending");
	is_str(ab_env_status("stopping"), "terminating", "stopping is terminating");
	is_str(ab_env_status("stopped"), "terminated", "stopped is terminated");
	is_str(ab_env_status("failed"), "failed", "failed");
	ok(ab_env_status_valid("terminated") && !ab_env_status_valid("stopped"), "the document's vocabulary");
	char b[32];
	ab_bytes_string(256ull << 20, b, sizeof(b));
	is_str(b, "256Mi", "256Mi");

	struct buf out = BUF_INIT;
	json_t *j = json_pack("{s:s}", "m", "<a&b>");
	ab_go_json(&out, j);
	json_decref(j);
	is_str(out.data, "{\"m\":\"\\u003ca\\u0026b\\u003e\"}\n", "Go escapes <, > and & and ends with a newline");
	buf_release(&out);
	j = ab_time("2026-01-22T10:00:00.000Z");
	is_str(json_string_value(j), "2026-01-22T10:00:00Z", "whole seconds lose their fraction");
	json_decref(j);
	j = ab_time("2026-01-22T10:00:00.120Z");
	is_str(json_string_value(j), "2026-01-22T10:00:00.12Z", "trailing zeros go");
	json_decref(j);
	return tap_done();
}
