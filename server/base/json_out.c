/**
 * json_out.c — see json_out.h.
 */
#include "json_out.h"
#include "common.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <inttypes.h>
#include <string.h>

#include "banned.h"

/* Bytes a JSON string must escape: '"', '\\' and control characters. */
static bool needs_escape[256] = {
	[0 ... 0x1f] = true, ['"'] = true, ['\\'] = true,
};

static void write_string(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";	/* as jansson writes them */
	size_t run = 0;

	buf_grow(out, n + 2);
	buf_addch(out, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!needs_escape[c])
			continue;
		buf_add(out, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': buf_add(out, "\\\"", 2); break;
		case '\\': buf_add(out, "\\\\", 2); break;
		case '\b': buf_add(out, "\\b", 2); break;
		case '\f': buf_add(out, "\\f", 2); break;
		case '\n': buf_add(out, "\\n", 2); break;
		case '\r': buf_add(out, "\\r", 2); break;
		case '\t': buf_add(out, "\\t", 2); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			buf_add(out, u, sizeof(u));
		}
		}
	}
	buf_add(out, s + run, n - run);
	buf_addch(out, '"');
}

/*
 * The fewest significant digits that read back as the same double (jansson
 * writes 17: 0.05 became 0.050000000000000003 in what models read), and a
 * ".0" when the text would otherwise read as an integer, as jansson does.
 */
static int write_real(struct buf *out, double d)
{
	char t[32];
	int n = 0;

	if (!isfinite(d))
		return -1; /* no JSON text for it (jansson refuses to make one) */
	/* a whole number is written whole ("100.0", not %g's shortest "1e+02") */
	if (d == (double)(int64_t)d && d > -1e15 && d < 1e15 && !(d == 0 && signbit(d))) {
		buf_addf(out, "%" PRId64 ".0", (int64_t)d);
		return 0;
	}
	for (int prec = 1; prec <= 17; prec++) {
		n = snprintf(t, sizeof(t), "%.*g", prec, d);
		if (strtod(t, NULL) == d)
			break;
	}
	buf_add(out, t, (size_t)n);
	if (!strpbrk(t, ".eE"))
		buf_add(out, ".0", 2);
	return 0;
}

/* Adds j's string bytes to *acc until it reaches limit; true once it has. */
static bool size_add(const json_t *j, size_t limit, size_t *acc)
{
	const char *key;
	json_t *v;
	size_t i;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		json_object_foreach((json_t *)j, key, v) {
			*acc += strlen(key) + 4;
			if (*acc >= limit || size_add(v, limit, acc))
				return true;
		}
		return false;
	case JSON_ARRAY:
		json_array_foreach(j, i, v)
			if (size_add(v, limit, acc))
				return true;
		return false;
	case JSON_STRING:
		*acc += json_string_length(j) + 2;
		return *acc >= limit;
	default:
		*acc += 8;
		return *acc >= limit;
	}
}

bool srv_json_size_reaches(const json_t *j, size_t limit)
{
	size_t acc = 0;
	return size_add(j, limit, &acc);
}

int srv_json_write(struct buf *out, const json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;
	bool first = true;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		buf_addch(out, '{');
		json_object_foreach((json_t *)j, key, v) {
			if (!first)
				buf_addch(out, ',');
			first = false;
			write_string(out, key, strlen(key));
			buf_addch(out, ':');
			if (srv_json_write(out, v) < 0)
				return -1;
		}
		buf_addch(out, '}');
		return 0;
	case JSON_ARRAY:
		buf_addch(out, '[');
		json_array_foreach(j, i, v) {
			if (i)
				buf_addch(out, ',');
			if (srv_json_write(out, v) < 0)
				return -1;
		}
		buf_addch(out, ']');
		return 0;
	case JSON_STRING:
		write_string(out, json_string_value(j), json_string_length(j));
		return 0;
	case JSON_INTEGER:
		buf_addf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		return 0;
	case JSON_TRUE:
		buf_add(out, "true", 4);
		return 0;
	case JSON_FALSE:
		buf_add(out, "false", 5);
		return 0;
	case JSON_NULL:
		buf_add(out, "null", 4);
		return 0;
	case JSON_REAL:
		return write_real(out, json_real_value(j));
	default:
		return -1;
	}
}

int srv_json_write_text(struct buf *out, size_t headroom, const json_t *j, srv_json_writer_fn write)
{
	buf_release(out);
	buf_grow(out, headroom + 64);
	memset(out->data, 0, headroom);
	out->len = headroom;
	if (write(out, j) < 0 || out->len == headroom) {
		buf_release(out);
		return -1;
	}
	return 0;
}

char *srv_json_dumps(const json_t *j)
{
	struct buf b = BUF_INIT;
	if (srv_json_write(&b, j) < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/* The length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

bool srv_utf8_valid(const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	size_t i = 0, n;

	while (i < len && (n = utf8_seq(p + i, len - i)))
		i += n;
	return i == len;
}

size_t srv_utf8_prefix(const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	size_t i = 0, n;

	while (i < len && p[i] && (n = utf8_seq(p + i, len - i)))
		i += n;
	return i;
}

json_t *srv_json_text(const char *data, size_t len)
{
	if (!data)	/* an empty struct buf */
		data = "";
	const unsigned char *p = (const unsigned char *)data;
	struct buf b = BUF_INIT;
	size_t i = 0, start = 0;
	bool clean = true;

	while (i < len) {
		/* ASCII without NUL eight bytes at a time: most output is */
		while (len - i >= 8) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if ((w & 0x8080808080808080ull) || ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull))
				break;
			i += 8;
		}
		if (i == len)
			break;
		size_t n = p[i] ? utf8_seq(p + i, len - i) : 0;
		if (n) {
			i += n;
			continue;
		}
		/* invalid byte or NUL: copy what was good, then U+FFFD */
		clean = false;
		buf_add(&b, data + start, i - start);
		buf_adds(&b, "\xef\xbf\xbd");
		i++;
		start = i;
	}
	/* checked above: jansson need not check the UTF-8 again */
	if (clean)
		return json_stringn_nocheck(data, len);
	buf_add(&b, data + start, len - start);
	json_t *s = json_stringn_nocheck(b.data, b.len);
	buf_release(&b);
	return s;
}

json_t *srv_json_time(int64_t ms, bool millis)
{
	char t[SRV_TIME_ISO_MAX];
	srv_time_iso(ms, millis, t);
	return json_string(t);
}
