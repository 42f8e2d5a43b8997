/* server/base: the one UTF-8 validator (srv_utf8_valid) and the one time formatter (srv_time_iso). */
#include "tap.h"
#include "server/base/common.h"
#include "server/base/json_out.h"

#include <string.h>

int main(void)
{
	char t[SRV_TIME_ISO_MAX];

	ok(srv_utf8_valid("h\xc3\xa9llo", 6), "é is UTF-8");
	ok(srv_utf8_valid("a\0b", 3), "NUL is allowed (the prefix function stops there, the validator does not)");
	ok(srv_utf8_prefix("a\0b", 3) == 1, "srv_utf8_prefix stops at NUL");
	ok(!srv_utf8_valid("\xc0\xaf", 2), "an overlong is refused");
	ok(!srv_utf8_valid("\xed\xa0\x80", 3), "a surrogate is refused");
	ok(!srv_utf8_valid("\xf4\x90\x80\x80", 4), "past U+10FFFF is refused");
	ok(!srv_utf8_valid("\xe2\x82", 2), "a cut sequence is refused");
	ok(srv_utf8_valid("\xf0\x9f\x98\x80", 4), "an emoji is UTF-8");

	srv_time_iso(1796612345678, false, t);
	ok(!strcmp(t, "2026-12-07T02:59:05Z"), "seconds: %s", t);
	srv_time_iso(1796612345678, true, t);
	ok(!strcmp(t, "2026-12-07T02:59:05.678Z"), "milliseconds: %s", t);
	srv_time_iso(5, true, t);
	ok(!strcmp(t, "1970-01-01T00:00:00.005Z"), "zero-padded milliseconds: %s", t);
	json_t *j = srv_json_time(1796612345678, false);
	ok(!strcmp(json_string_value(j), "2026-12-07T02:59:05Z"), "as JSON");
	json_decref(j);
	return tap_done();
}
