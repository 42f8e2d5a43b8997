/*
 * libFuzzer target: multipart/form-data bodies (server/rest/multipart.c).
 * Input: boundary NUL body. Invariants: at most max parts; each part's
 * data lies inside the body; names and filenames are NUL-terminated within
 * their arrays; a refusal says why. Streamed (rest_mp_stream): the body fed
 * whole, cut in two where the input says and fed byte by byte tells the
 * same events and outcome; when both parsers accept, they read the same
 * parts; when one refuses, so does the other.
 */
#include "server/rest/multipart.h"
#include "tests/unit/multipart_oracle.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTS 8
#define FIELD_MAX 8192 /* past any input (-max_len=4096): fields are never too long here */

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* Events of a streamed parse, kept flat: kind byte, length, bytes. */
struct log {
	unsigned char *b;
	size_t len, cap;
};

static void put(struct log *l, char kind, const void *p, size_t n)
{
	if (l->len + n + 1 + sizeof(size_t) > l->cap) {
		l->cap = (l->len + n + 64) * 2;
		l->b = realloc(l->b, l->cap);
		if (!l->b)
			abort();
	}
	l->b[l->len++] = (unsigned char)kind;
	memcpy(l->b + l->len, &n, sizeof(n));
	l->len += sizeof(n);
	memcpy(l->b + l->len, p, n);
	l->len += n;
}

static int on_field(void *arg, const char *name, const char *value, size_t len)
{
	if (value[len] != '\0')
		abort();
	put(arg, 'n', name, strlen(name));
	put(arg, 'v', value, len);
	return 0;
}

static int on_begin(void *arg, const struct rest_mp_part *pt)
{
	if (!pt->has_filename || !memchr(pt->name, 0, sizeof(pt->name)) || !memchr(pt->filename, 0, sizeof(pt->filename)))
		abort();
	put(arg, 'f', pt->name, strlen(pt->name));
	return 0;
}

static int on_data(void *arg, const char *d, size_t len)
{
	if (!len)
		abort();
	/* data is joined: consecutive pieces compare equal however they were cut */
	struct log *l = arg;
	put(l, 'd', d, len);
	return 0;
}

static int on_end(void *arg)
{
	put(arg, 'e', "", 0);
	return 0;
}

static const struct rest_mp_ops ops = { on_field, on_begin, on_data, on_end };

/* Join consecutive 'd' events so that logs of different cuts compare. */
static void normalize(struct log *l, struct log *out)
{
	size_t i = 0;
	while (i < l->len) {
		char kind = (char)l->b[i];
		size_t n;
		memcpy(&n, l->b + i + 1, sizeof(n));
		const unsigned char *p = l->b + i + 1 + sizeof(n);
		i += 1 + sizeof(n) + n;
		if (kind == 'd') {
			size_t start = out->len;
			put(out, 'd', p, n);
			while (i < l->len && l->b[i] == 'd') {
				size_t m;
				memcpy(&m, l->b + i + 1, sizeof(m));
				size_t total;
				memcpy(&total, out->b + start + 1, sizeof(total));
				total += m;
				if (out->len + m > out->cap) {
					out->cap = (out->len + m) * 2;
					out->b = realloc(out->b, out->cap);
				}
				memcpy(out->b + out->len, l->b + i + 1 + sizeof(m), m);
				out->len += m;
				memcpy(out->b + start + 1, &total, sizeof(total));
				i += 1 + sizeof(m) + m;
			}
		} else {
			put(out, kind, p, n);
		}
	}
}

/* Parse body fed in pieces of step bytes (0: whole), the first piece cut at first. */
static int streamed(const char *boundary, const char *body, size_t len, size_t first, size_t step, struct log *out)
{
	struct log raw = { 0 };
	const char *why = NULL;
	struct rest_mp_stream *m = rest_mp_stream_new(boundary, MAX_PARTS, FIELD_MAX, &ops, &raw);
	int rc = m ? 0 : -2;
	size_t at = 0;
	if (m && first <= len) {
		rc = rest_mp_stream_feed(m, body, first, &why);
		at = first;
	}
	while (m && rc == 0 && at < len) {
		size_t n = step && step < len - at ? step : len - at;
		rc = rest_mp_stream_feed(m, body + at, n, &why);
		at += n;
	}
	if (m && rc == 0)
		rc = rest_mp_stream_end(m, &why);
	if (rc == -1 && !why)
		abort(); /* nothing here stops it: a refusal says why */
	rest_mp_stream_free(m);
	normalize(&raw, out);
	free(raw.b);
	put(out, 'r', &rc, sizeof(rc));
	return rc;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nul = memchr(in, 0, size);
	char boundary[80];
	struct rest_mp_part parts[MAX_PARTS];
	const char *why = NULL;

	if (!nul || (size_t)(nul - in) >= sizeof(boundary) || nul == in)
		return 0;
	memcpy(boundary, in, (size_t)(nul - in) + 1);
	const char *body = nul + 1;
	size_t len = size - (size_t)(body - in);
	char *copy = malloc(len ? len : 1); /* its own allocation: ASan sees any read past it */
	memcpy(copy, body, len);
	int n = mp_parse_in_place(copy, len, boundary, parts, MAX_PARTS, &why);
	if (n < 0 && !why)
		abort();
	if (n > MAX_PARTS)
		abort();
	for (int i = 0; i < n; i++) {
		if (parts[i].data < copy || parts[i].data + parts[i].len > copy + len)
			abort();
		if (!memchr(parts[i].name, 0, sizeof(parts[i].name)) || !memchr(parts[i].filename, 0, sizeof(parts[i].filename)))
			abort();
	}

	struct log whole = { 0 }, cut = { 0 }, bytes = { 0 };
	int rw = streamed(boundary, copy, len, len, 0, &whole);
	streamed(boundary, copy, len, len ? (size_t)data[0] * 131 % (len + 1) : 0, 0, &cut);
	streamed(boundary, copy, len, 0, 1, &bytes);
	if (whole.len != cut.len || memcmp(whole.b, cut.b, whole.len) || whole.len != bytes.len ||
	    memcmp(whole.b, bytes.b, whole.len))
		abort();
	if (rw != -2 && !strpbrk(boundary, "\r\n")) {
		if ((rw == 0) != (n >= 0))
			abort();
		/* both accepted: the same parts, in order */
		struct log in_place = { 0 };
		for (int i = 0; i < n; i++) {
			if (parts[i].has_filename) {
				put(&in_place, 'f', parts[i].name, strlen(parts[i].name));
				if (parts[i].len)
					put(&in_place, 'd', parts[i].data, parts[i].len);
				put(&in_place, 'e', "", 0);
			} else {
				put(&in_place, 'n', parts[i].name, strlen(parts[i].name));
				put(&in_place, 'v', parts[i].data, parts[i].len);
			}
		}
		put(&in_place, 'r', &rw, sizeof(rw));
		if (n >= 0 && (in_place.len != whole.len || memcmp(in_place.b, whole.b, whole.len)))
			abort();
		free(in_place.b);
	}
	free(whole.b);
	free(cut.b);
	free(bytes.b);
	free(copy);
	return 0;
}
