/* Unit tests of dialect 000's mappers (server/rest/manager.c): specifications, statuses, envelopes, pages, times. */
#include "tap.h"
#include "server/rest/manager.h"

static char *dump(json_t *j)
{
	static char out[1024];
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	snprintf(out, sizeof(out), "%s", s ? s : "(null)");
	free(s);
	json_decref(j);
	return out;
}

static json_t *numbers(int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_integer(i));
	return a;
}

int main(void)
{
	struct mgr_spec sp;

	/* instanceSpecification: the twin's table, custom sizes, malformed ones */
	static const struct { const char *s, *type; unsigned cpus, gb; } good[] = {
		{ "1u1g", "t2.micro", 1, 1 }, { "1u2g", "t2.small", 1, 2 }, { "2u4g", "t2.medium", 2, 4 },
		{ "2u8g", "t2.large", 2, 8 }, { "4u16g", "t2.xlarge", 4, 16 }, { "8u32g", "t2.2xlarge", 8, 32 },
		{ "3u5g", "custom", 3, 5 }, { "2U4G", "t2.medium", 2, 4 }, { "64u1024g", "custom", 64, 1024 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&sp, 0, sizeof(sp));
		ok(mgr_spec_parse(good[i].s, &sp) == 0 && sp.cpus == good[i].cpus && sp.memory_gb == good[i].gb,
		   "%s parses to %u cpus, %u GB", good[i].s, good[i].cpus, good[i].gb);
		is_str(sp.instance_type, good[i].type, "%s is %s", good[i].s, good[i].type);
	}
	static const char *const bad[] = { "", "u1g", "1u", "1ug", "1g", "0u1g", "1u0g", "1u1", "1u1gb", " 1u1g",
					   "1u1g ", "-1u1g", "1.5u2g", "65u1g", "1u1025g", "99999999999u1g", "1x1g",
					   "1u1g\n", NULL };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp.cpus = 77;
		ok(mgr_spec_parse(bad[i], &sp) == -1 && sp.cpus == 77, "\"%s\" is refused, out untouched",
		   bad[i] ? bad[i] : "(null)");
	}

	/* statuses */
	is_str(mgr_sandbox_status("creating"), "PENDING", "creating → PENDING");
	is_str(mgr_sandbox_status("running"), "RUNNING", "running → RUNNING");
	is_str(mgr_sandbox_status("stopping"), "STOPPED", "stopping → STOPPED");
	is_str(mgr_sandbox_status("stopped"), "STOPPED", "stopped → STOPPED");
	is_str(mgr_sandbox_status("deleted"), "TERMINATED", "deleted → TERMINATED");
	is_str(mgr_sandbox_status("failed"), "ERROR", "failed → ERROR");
	is_str(mgr_sandbox_status("weird"), "ERROR", "unknown → ERROR");
	is_str(mgr_sandbox_status(NULL), "ERROR", "NULL → ERROR");
	is_str(mgr_status_message("RUNNING"), "沙盒运行中", "the document's RUNNING message");
	is_str(mgr_status_message("STOPPED"), "沙盒已停止", "the document's STOPPED message");
	ok(mgr_sandbox_status_valid("PENDING") && mgr_sandbox_status_valid("TERMINATED") &&
	   !mgr_sandbox_status_valid("running") && !mgr_sandbox_status_valid("AVAILABLE"),
	   "sandbox status filter vocabulary (uppercase, the document's five)");
	ok(mgr_image_status_valid("CREATING") && mgr_image_status_valid("AVAILABLE") && mgr_image_status_valid("FAILED") &&
	   !mgr_image_status_valid("RUNNING") && !mgr_image_status_valid("available"),
	   "image status filter vocabulary");

	/* envelopes */
	is_str(dump(mgr_envelope_ok(json_true(), 1625097600000ULL)), "{\"success\":true,\"data\":true,\"timestamp\":1625097600000}",
	       "success envelope: no error, ms timestamp");
	is_str(dump(mgr_envelope_ok(NULL, 5)), "{\"success\":true,\"data\":null,\"timestamp\":5}", "no data is null");
	is_str(dump(mgr_envelope_fail(404, "sandbox x not found", 7)),
	       "{\"success\":false,\"data\":null,\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"sandbox x not found\",\"details\":{}},\"timestamp\":7}",
	       "failure envelope");
	is_str(mgr_error_code(400), "BAD_REQUEST", "400");
	is_str(mgr_error_code(401), "UNAUTHORIZED", "401");
	is_str(mgr_error_code(403), "FORBIDDEN", "403");
	is_str(mgr_error_code(405), "METHOD_NOT_ALLOWED", "405");
	is_str(mgr_error_code(500), "INTERNAL_ERROR", "500");
	is_str(mgr_error_code(418), "INTERNAL_ERROR", "anything else");

	/* pages */
	is_str(dump(mgr_page(numbers(5), "items", 1, 2)), "{\"total\":5,\"pages\":3,\"currentPage\":1,\"items\":[0,1]}", "page 1 of 3");
	is_str(dump(mgr_page(numbers(5), "items", 3, 2)), "{\"total\":5,\"pages\":3,\"currentPage\":3,\"items\":[4]}", "the last, short page");
	is_str(dump(mgr_page(numbers(5), "items", 4, 2)), "{\"total\":5,\"pages\":3,\"currentPage\":4,\"items\":[]}", "past the end: empty");
	is_str(dump(mgr_page(numbers(0), "s", 1, 20)), "{\"total\":0,\"pages\":0,\"currentPage\":1,\"s\":[]}", "nothing");
	is_str(dump(mgr_page(numbers(3), "s", 1000000, 1000)), "{\"total\":3,\"pages\":1,\"currentPage\":1000000,\"s\":[]}", "large page numbers do not overflow");

	/* times */
	is_str(dump(mgr_time("2026-12-06T15:40:24.123Z", 1)), "\"2026-12-06T15:40:24Z\"", "createdAt: seconds and Z");
	is_str(dump(mgr_time("2026-12-06T15:40:24.123Z", 0)), "\"2026-12-06T15:40:24\"", "lastUpdated: no zone");
	is_str(dump(mgr_time("short", 0)), "null", "malformed: null");
	is_str(dump(mgr_time(NULL, 0)), "null", "none: null");
	ok(mgr_seconds_between("2026-12-06T15:00:00.000Z", "2026-12-06T16:00:01.999Z") == 3601, "uptime in seconds");
	ok(mgr_seconds_between("2026-12-06T16:00:00Z", "2026-12-06T15:00:00Z") == 0, "never negative");
	ok(mgr_seconds_between(NULL, "2026-12-06T15:00:00Z") == 0 && mgr_seconds_between("x", "y") == 0, "unknown: 0");
	return tap_done();
}
