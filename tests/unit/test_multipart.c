/*
 * Unit tests of multipart/form-data parsing (server/rest/multipart.c), against the tests' own
 * in-place parser (multipart_oracle.h): curl's and browsers' bodies, boundaries, refusals.
 */
#include "tap.h"
#include "server/rest/multipart.h"
#include "tests/unit/multipart_oracle.h"

#include <stdlib.h>
#include <string.h>

#include "server/base/buf.h"

/* What a streamed parse told: one line per event, data as it came, joined. */
struct log {
	struct buf b;
	int stop_at;	/* stop (return -1) at this event; 0: never */
	int events;
};

static int ev(struct log *l)
{
	return ++l->events == l->stop_at ? -1 : 0;
}

static int on_field(void *arg, const char *name, const char *value, size_t len)
{
	struct log *l = arg;
	buf_addf(&l->b, "field %s=", name);
	buf_add(&l->b, value, len);
	buf_adds(&l->b, "|");
	return ev(l);
}

static int on_begin(void *arg, const struct rest_mp_part *pt)
{
	struct log *l = arg;
	buf_addf(&l->b, "file %s (%s):", pt->name, pt->filename);
	return ev(l);
}

static int on_data(void *arg, const char *data, size_t len)
{
	struct log *l = arg;
	for (size_t i = 0; i < len; i++) /* NUL shown as \\0: the log is a C string */
		buf_add(&l->b, data[i] ? &data[i] : "\\0", data[i] ? 1 : 2);
	return 0;
}

static int on_end(void *arg)
{
	struct log *l = arg;
	buf_adds(&l->b, "|end|");
	return ev(l);
}

static const struct rest_mp_ops log_ops = { on_field, on_begin, on_data, on_end };

/* Parse body fed in pieces cut at cuts[0..ncuts) (increasing); the log, and the result ("ok" or why). */
static char *streamed(const char *body, size_t len, const char *boundary, const size_t *cuts, size_t ncuts,
		      size_t max_parts, size_t field_max)
{
	struct log l = { .b = BUF_INIT };
	const char *why = NULL;
	struct rest_mp_stream *m = rest_mp_stream_new(boundary, max_parts, field_max, &log_ops, &l);
	int rc = 0;
	size_t at = 0;
	for (size_t i = 0; i <= ncuts && rc == 0; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		rc = rest_mp_stream_feed(m, body + at, to - at, &why);
		at = to;
	}
	if (rc == 0)
		rc = rest_mp_stream_end(m, &why);
	buf_addf(&l.b, "=> %s", rc == 0 ? "ok" : why ? why : "stopped");
	rest_mp_stream_free(m);
	return buf_detach(&l.b);
}

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
	char *curl = streamed(body, sizeof(body) - 1, "------------------------abc123", NULL, 0, 4, 64);
	ok(!strcmp(curl, "field sandbox_id=sb_1|file file (script.py):print(1)\r\n\\0\xff|end|=> ok"),
	   "curl's body streamed: a text field, a file with binary data, CRLF inside kept (%s)", curl);
	free(curl);

	/* the tests' own in-place parser (multipart_oracle.h), checked before it is trusted as an oracle */
	int n = mp_parse_in_place(body, sizeof(body) - 1, "------------------------abc123", p, 4, &why);
	ok(n == 2, "two parts (%s)", why ? why : "");
	ok(n == 2 && !strcmp(p[0].name, "sandbox_id") && !p[0].has_filename && p[0].len == 4 && !memcmp(p[0].data, "sb_1", 4),
	   "a text field");
	ok(n == 2 && !strcmp(p[1].name, "file") && p[1].has_filename && !strcmp(p[1].filename, "script.py") &&
	   p[1].len == 12 && !memcmp(p[1].data, "print(1)\r\n\x00\xff", 12), "a file with binary data, CRLF inside kept");
	ok(mp_parse_in_place(body, sizeof(body) - 1, "------------------------abc123", p, 1, &why) < 0, "more parts than max");

	const char preamble[] = "ignored\r\n--x\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--x--";
	ok(mp_parse_in_place(preamble, sizeof(preamble) - 1, "x", p, 4, &why) == 1 && p[0].len == 1, "a preamble, an unquoted name");
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
		ok(mp_parse_in_place(bad[i], strlen(bad[i]), "x", p, 4, &why) < 0 && why, "bad body %zu refused (%s)", i,
		   why ? why : "no reason");
	}
	char longb[80];
	memset(longb, 'b', 71);
	longb[71] = '\0';
	why = NULL;
	ok(mp_parse_in_place("--x", 3, longb, p, 4, &why) < 0 && why, "a boundary over 70 characters is refused (the fuzzer found the overflow)");
	ok(rest_mp_stream_new(longb, 4, 64, &log_ops, NULL) == NULL, "and by the streamed parser");

	/* ---- streamed: the same body cut anywhere tells the same ---- */
	const char sbody[] = "preamble\r\n--zz\r\n"
			     "Content-Disposition: form-data; name=\"sandbox_id\"\r\n\r\nsb_1\r\n"
			     "--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
			     "Content-Type: application/octet-stream\r\n\r\n"
			     "\r\r\n-\r\n--\r\n--z\r\n--zy\x00\xff\r"
			     "\r\n--zz  \r\nContent-Disposition: form-data; name=\"path\"\r\n\r\n/workspace/d/\r\n"
			     "--zz--\r\nepilogue\r\n--zz\r\n";
	size_t slen = sizeof(sbody) - 1;
	const char *want = "field sandbox_id=sb_1|file file (a.bin):\r\r\n-\r\n--\r\n--z\r\n--zy\\0\xff\r|end|"
			   "field path=/workspace/d/|=> ok";
	char *whole = streamed(sbody, slen, "zz", NULL, 0, 8, 1024);
	ok(!strcmp(whole, want), "streamed whole: fields, file data with near-delimiters and NUL kept, epilogue dropped");
	size_t bad_cut = 0, bad_cut2 = 0;
	for (size_t i = 0; i <= slen; i++) {
		char *one = streamed(sbody, slen, "zz", &i, 1, 8, 1024);
		if (strcmp(one, whole) && !bad_cut)
			bad_cut = i + 1;
		free(one);
		for (size_t j = i; j <= slen && !bad_cut2; j += 7) {
			size_t cuts[2] = { i, j };
			char *two = streamed(sbody, slen, "zz", cuts, 2, 8, 1024);
			if (strcmp(two, whole))
				bad_cut2 = i + 1;
			free(two);
		}
	}
	ok(!bad_cut, "cut in two at every byte: the same (first difference at %zu)", bad_cut ? bad_cut - 1 : 0);
	ok(!bad_cut2, "cut in three: the same (first difference at %zu)", bad_cut2 ? bad_cut2 - 1 : 0);
	size_t every[sizeof(sbody)];
	for (size_t i = 0; i < slen; i++)
		every[i] = i;
	char *bytes = streamed(sbody, slen, "zz", every, slen, 8, 1024);
	ok(!strcmp(bytes, whole), "one byte at a time: the same");
	free(bytes);

	/* the in-place parser (the oracle) agrees on every part */
	struct rest_mp_part ip[8];
	ok(mp_parse_in_place(sbody, slen, "zz", ip, 8, &why) == 3 && ip[1].len == 22 && !memcmp(ip[1].data, "\r\r\n-", 4) &&
	   ip[2].len == 13, "the in-place parser reads the same three parts");

	/* refusals, streamed, whatever the cut */
	struct {
		const char *body, *why;
		size_t field_max, max_parts;
	} refused[] = {
		{ "no boundary at all", "no multipart boundary", 64, 8 },
		{ "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nnever ends", "does not end with", 64, 8 },
		{ "--x\r\nContent-Type: text/plain\r\n\r\nv\r\n--x--", "no Content-Disposition", 64, 8 },
		{ "--x\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--x--", "not form-data", 64, 8 },
		{ "--xgarbage", "not followed by a line end", 64, 8 },
		{ "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n", "headers do not end", 64, 8 },
		{ "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n0123456789\r\n--x--", "too long", 9, 8 },
		{ "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--x\r\n"
		  "Content-Disposition: form-data; name=\"b\"\r\n\r\nv\r\n--x--", "too many parts", 64, 1 },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		size_t rn = strlen(refused[i].body), diff = 0;
		char *w = streamed(refused[i].body, rn, "x", NULL, 0, refused[i].max_parts, refused[i].field_max);
		for (size_t c = 0; c <= rn; c++) {
			char *o = streamed(refused[i].body, rn, "x", &c, 1, refused[i].max_parts, refused[i].field_max);
			diff += strcmp(o, w) != 0;
			free(o);
		}
		ok(strstr(w, refused[i].why) && !diff, "streamed refusal %zu at every cut: %s", i, w);
		free(w);
	}
	char huge[9000];
	memset(huge, 'h', sizeof(huge));
	memcpy(huge, "--x\r\n", 5);
	char *hw = streamed(huge, sizeof(huge), "x", NULL, 0, 8, 64);
	ok(strstr(hw, "headers do not end") != NULL, "headers past 8 KiB refused");
	free(hw);

	/* a reader that stops: nothing more is told */
	struct log l = { .b = BUF_INIT, .stop_at = 2 };
	struct rest_mp_stream *m = rest_mp_stream_new("zz", 8, 1024, &log_ops, &l);
	why = "x";
	ok(rest_mp_stream_feed(m, sbody, slen, &why) < 0 && !why && l.events == 2, "a callback's -1 stops the parse (why NULL)");
	ok(rest_mp_stream_feed(m, "x", 1, &why) < 0, "and it takes nothing after");
	rest_mp_stream_free(m);
	buf_release(&l.b);
	ok(!rest_mp_stream_new("a\rb", 8, 64, &log_ops, &l) && !rest_mp_stream_new("", 8, 64, &log_ops, &l) &&
	   !rest_mp_stream_new(longb, 8, 64, &log_ops, &l), "boundaries with CR, empty or over 70 are refused");
	free(whole);
	return tap_done();
}
