/* Unit tests of multipart/form-data parsing (server/rest/multipart.c): curl's and browsers' bodies, boundaries, refusals. */
#include "tap.h"
#include "server/rest/multipart.h"

#include <string.h>

#define CT "multipart/form-data; boundary=------------------------abc123"
#define B "--------------------------abc123"

int main(void)
{
	char bd[80];
	struct rest_mp_part p[4];
	const char *why = NULL;

	ok(rest_mp_boundary(CT, bd, sizeof(bd)) == 0 && !strcmp(bd, "------------------------abc123"), "curl's boundary");
	ok(rest_mp_boundary("multipart/form-data; boundary=\"a b\"; charset=x", bd, sizeof(bd)) == 0 && !strcmp(bd, "a b"),
	   "a quoted boundary");
	ok(rest_mp_boundary("Multipart/Form-Data;BOUNDARY=xyz", bd, sizeof(bd)) == 0 && !strcmp(bd, "xyz"), "any case");
	ok(rest_mp_boundary("application/json", bd, sizeof(bd)) < 0, "not multipart");
	ok(rest_mp_boundary("multipart/form-data", bd, sizeof(bd)) < 0, "no boundary");
	ok(rest_mp_boundary("multipart/form-data; boundary=", bd, sizeof(bd)) < 0, "an empty boundary");

	const char body[] = B "\r\nContent-Disposition: form-data; name=\"sandbox_id\"\r\n\r\nsb_1\r\n"
			    B "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"script.py\"\r\n"
			    "Content-Type: application/octet-stream\r\n\r\nprint(1)\r\n\x00\xff\r\n"
			    B "--\r\n";
	int n = rest_mp_parse(body, sizeof(body) - 1, "------------------------abc123", p, 4, &why);
	ok(n == 2, "two parts (%s)", why ? why : "");
	ok(n == 2 && !strcmp(p[0].name, "sandbox_id") && !p[0].has_filename && p[0].len == 4 && !memcmp(p[0].data, "sb_1", 4),
	   "a text field");
	ok(n == 2 && !strcmp(p[1].name, "file") && p[1].has_filename && !strcmp(p[1].filename, "script.py") &&
	   p[1].len == 12 && !memcmp(p[1].data, "print(1)\r\n\x00\xff", 12), "a file with binary data, CRLF inside kept");
	ok(rest_mp_parse(body, sizeof(body) - 1, "------------------------abc123", p, 1, &why) < 0, "more parts than max");

	const char preamble[] = "ignored\r\n--x\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--x--";
	ok(rest_mp_parse(preamble, sizeof(preamble) - 1, "x", p, 4, &why) == 1 && p[0].len == 1, "a preamble, an unquoted name");
	const char *bad[] = {
		"no boundary at all",
		"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nnever ends",
		"--x\r\nContent-Type: text/plain\r\n\r\nv\r\n--x--",
		"--x\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--x--",
		"--x\r\nContent-Disposition: form-data; filename=\"f\"\r\n\r\nv\r\n--x--",
		"--xgarbage",
		"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ok(rest_mp_parse(bad[i], strlen(bad[i]), "x", p, 4, &why) < 0 && why, "bad body %zu refused (%s)", i,
		   why ? why : "no reason");
	}
	char longb[80];
	memset(longb, 'b', 71);
	longb[71] = '\0';
	why = NULL;
	ok(rest_mp_parse("--x", 3, longb, p, 4, &why) < 0 && why, "a boundary over 70 characters is refused (the fuzzer found the overflow)");
	return tap_done();
}
