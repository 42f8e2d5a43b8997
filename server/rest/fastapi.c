/*
 * FastAPI / pydantic 2 request validation (fastapi.h). The messages, types
 * and ctx keys are pydantic-core's; the JSON decoder errors are CPython's
 * json module's (Modules/_json.c), positions in characters.
 */
#include "fastapi.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/json_out.h"
#include "../base/banned.h"

#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Python's json.loads, as far as telling good from bad goes ---- */

/* Deeper than this Python's decoder runs out of recursion (a 400, not a 422). */
#define SCAN_MAX_DEPTH 512

struct scan {
	const unsigned char *s;
	size_t n;
	const char *msg;	/* NULL: too deep */
	size_t at;		/* byte offset of the error */
};

static int scan_fail(struct scan *sc, const char *msg, size_t at)
{
	sc->msg = msg;
	sc->at = at;
	return -1;
}

static size_t skip_ws(const struct scan *sc, size_t i)
{
	while (i < sc->n && (sc->s[i] == ' ' || sc->s[i] == '\t' || sc->s[i] == '\n' || sc->s[i] == '\r'))
		i++;
	return i;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		unsigned char c = p[k];
		v <<= 4;
		if (is_digit(c))
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* *i at the opening quote; on success *i is past the closing one. */
static int scan_string(struct scan *sc, size_t *i)
{
	size_t begin = *i, j = *i + 1;

	for (;;) {
		while (j < sc->n && sc->s[j] != '"' && sc->s[j] != '\\') {
			if (sc->s[j] < 0x20)
				return scan_fail(sc, "Invalid control character at", j);
			j++;
		}
		if (j >= sc->n)
			return scan_fail(sc, "Unterminated string starting at", begin);
		if (sc->s[j++] == '"')
			break;
		if (j >= sc->n)
			return scan_fail(sc, "Unterminated string starting at", begin);
		unsigned char c = sc->s[j];
		if (c != 'u') {
			if (!strchr("\"\\/bfnrt", c) || !c)
				return scan_fail(sc, "Invalid \\escape", j - 1);
			j++;
			continue;
		}
		/* \uXXXX: Python wants a character after the four digits */
		unsigned cp, low;
		if (j + 5 >= sc->n || hex4(sc->s + j + 1, &cp) < 0)
			return scan_fail(sc, "Invalid \\uXXXX escape", j);
		size_t end = j + 5;
		/* a high surrogate followed by another \u: its digits must be hex too */
		if (cp >= 0xd800 && cp <= 0xdbff && end + 6 < sc->n && sc->s[end] == '\\' && sc->s[end + 1] == 'u' &&
		    hex4(sc->s + end + 2, &low) < 0)
			return scan_fail(sc, "Invalid \\uXXXX escape", end + 1);
		j = end;
	}
	*i = j;
	return 0;
}

/* Python's number grammar; on no number at all, "Expecting value" at start. */
static int scan_number(struct scan *sc, size_t *i)
{
	size_t start = *i, j = *i;

	if (sc->s[j] == '-' && ++j >= sc->n)
		return scan_fail(sc, "Expecting value", start);
	if (sc->s[j] >= '1' && sc->s[j] <= '9') {
		while (j < sc->n && is_digit(sc->s[j]))
			j++;
	} else if (sc->s[j] == '0') {
		j++;
	} else {
		return scan_fail(sc, "Expecting value", start);
	}
	if (j + 1 < sc->n && sc->s[j] == '.' && is_digit(sc->s[j + 1])) {
		j += 2;
		while (j < sc->n && is_digit(sc->s[j]))
			j++;
	}
	if (j + 1 < sc->n && (sc->s[j] == 'e' || sc->s[j] == 'E')) {
		size_t e = j++;
		if (j + 1 < sc->n && (sc->s[j] == '-' || sc->s[j] == '+'))
			j++;
		while (j < sc->n && is_digit(sc->s[j]))
			j++;
		if (!is_digit(sc->s[j - 1]))
			j = e; /* not an exponent after all */
	}
	*i = j;
	return 0;
}

static int scan_value(struct scan *sc, size_t *i, int depth);

static int scan_object(struct scan *sc, size_t *i, int depth)
{
	size_t j = skip_ws(sc, *i + 1);

	if (j < sc->n && sc->s[j] == '}') {
		*i = j + 1;
		return 0;
	}
	for (;;) {
		if (j >= sc->n || sc->s[j] != '"')
			return scan_fail(sc, "Expecting property name enclosed in double quotes", j);
		if (scan_string(sc, &j) < 0)
			return -1;
		j = skip_ws(sc, j);
		if (j >= sc->n || sc->s[j] != ':')
			return scan_fail(sc, "Expecting ':' delimiter", j);
		j = skip_ws(sc, j + 1);
		if (scan_value(sc, &j, depth) < 0)
			return -1;
		j = skip_ws(sc, j);
		if (j < sc->n && sc->s[j] == '}')
			break;
		if (j >= sc->n || sc->s[j] != ',')
			return scan_fail(sc, "Expecting ',' delimiter", j);
		j = skip_ws(sc, j + 1);
	}
	*i = j + 1;
	return 0;
}

static int scan_array(struct scan *sc, size_t *i, int depth)
{
	size_t j = skip_ws(sc, *i + 1);

	if (j < sc->n && sc->s[j] == ']') {
		*i = j + 1;
		return 0;
	}
	for (;;) {
		if (scan_value(sc, &j, depth) < 0)
			return -1;
		j = skip_ws(sc, j);
		if (j < sc->n && sc->s[j] == ']')
			break;
		if (j >= sc->n || sc->s[j] != ',')
			return scan_fail(sc, "Expecting ',' delimiter", j);
		j = skip_ws(sc, j + 1);
	}
	*i = j + 1;
	return 0;
}

static bool has_word(const struct scan *sc, size_t i, const char *w)
{
	size_t l = strlen(w);
	return i + l <= sc->n && !memcmp(sc->s + i, w, l);
}

/*
 * One value at *i (no leading space). NaN and Infinity, which Python
 * accepts, are refused here: no JSON parser downstream reads them.
 */
static int scan_value(struct scan *sc, size_t *i, int depth)
{
	if (*i >= sc->n)
		return scan_fail(sc, "Expecting value", *i);
	switch (sc->s[*i]) {
	case '"':
		return scan_string(sc, i);
	case '{':
	case '[':
		if (depth >= SCAN_MAX_DEPTH) {
			sc->msg = NULL;
			return -1;
		}
		return sc->s[*i] == '{' ? scan_object(sc, i, depth + 1) : scan_array(sc, i, depth + 1);
	case 'n':
	case 't':
	case 'f': {
		const char *w = sc->s[*i] == 'n' ? "null" : sc->s[*i] == 't' ? "true" : "false";
		if (!has_word(sc, *i, w))
			return scan_fail(sc, "Expecting value", *i);
		*i += strlen(w);
		return 0;
	}
	default:
		return scan_number(sc, i);
	}
}

static size_t chars_before(const unsigned char *s, size_t at)
{
	size_t n = 0;
	for (size_t i = 0; i < at; i++)
		n += (s[i] & 0xc0) != 0x80;
	return n;
}

int fastapi_json_scan(const char *text, size_t len, const char **msg, size_t *pos)
{
	const unsigned char *s = (const unsigned char *)text;
	struct scan sc;
	size_t i;

	if (!srv_utf8_valid(text, len))
		return -2;
	if (len >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) /* json.loads(bytes) decodes as utf-8-sig */
		s += 3, len -= 3;
	sc = (struct scan){ .s = s, .n = len };
	i = skip_ws(&sc, 0);
	if (scan_value(&sc, &i, 0) == 0) {
		i = skip_ws(&sc, i);
		if (i == len)
			return 0;
		scan_fail(&sc, "Extra data", i);
	}
	if (!sc.msg)
		return -2;
	*msg = sc.msg;
	*pos = chars_before(s, sc.at);
	return -1;
}

/* ---- errors ---- */

void fastapi_error(json_t *detail, const char *type, json_t *loc, const char *msg, json_t *input, json_t *ctx)
{
	json_t *e = json_pack("{s:s, s:o, s:s}", "type", type, "loc", loc, "msg", msg);
	if (input)
		json_object_set(e, "input", input);
	if (ctx)
		json_object_set_new(e, "ctx", ctx);
	json_array_append_new(detail, e);
}

json_t *fastapi_detail(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	json_t *j = json_pack("{s:s%}", "detail", b.data, b.len);
	buf_release(&b);
	return j;
}

/* loc + one more element (stolen) */
static json_t *loc_add(json_t *loc, json_t *key)
{
	json_t *l = json_copy(loc);
	json_array_append_new(l, key);
	return l;
}

/* ---- patterns, compiled once ---- */

#define MAX_PATTERNS 32
static struct {
	const char *src;
	regex_t re;
} patterns[MAX_PATTERNS];
static size_t n_patterns;

/* Does s match pattern (searched, not anchored: the pattern anchors itself)? */
static bool pattern_match(const char *pattern, const char *s)
{
	for (size_t i = 0; i < n_patterns; i++)
		if (patterns[i].src == pattern || !strcmp(patterns[i].src, pattern))
			return regexec(&patterns[i].re, s, 0, NULL, 0) == 0;
	regex_t re;
	/* a built-in pattern that does not compile is a bug */
	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		abort();
	bool m = regexec(&re, s, 0, NULL, 0) == 0;
	if (n_patterns < MAX_PATTERNS) {
		patterns[n_patterns].src = pattern;
		patterns[n_patterns++].re = re;
	} else {
		regfree(&re);
	}
	return m;
}

void fastapi_release(void)
{
	for (size_t i = 0; i < n_patterns; i++)
		regfree(&patterns[i].re);
	n_patterns = 0;
}

/* ---- values ---- */

static size_t utf8_chars(const char *s, size_t len)
{
	return chars_before((const unsigned char *)s, len);
}

/* A bound as pydantic prints it: 1, 0.5. */
static json_t *bound_json(double v, enum fastapi_type t)
{
	if (t == FASTAPI_INT || (v == floor(v) && fabs(v) < 9e15))
		return json_integer((json_int_t)v);
	return json_real(v);
}

static void bound_text(struct buf *b, double v, enum fastapi_type t)
{
	json_t *j = bound_json(v, t);
	if (json_is_integer(j))
		buf_addf(b, "%lld", (long long)json_integer_value(j));
	else
		buf_addf(b, "%.17g", v);
	json_decref(j);
}

/* Numeric bounds in pydantic's order (le, lt, ge, gt); input is the value as given. */
static int check_bounds(const struct fastapi_field *f, double v, json_t *input, json_t *loc, json_t *detail)
{
	static const struct {
		unsigned flag;
		const char *type, *key, *words;
	} rules[] = {
		{ FASTAPI_LE, "less_than_equal", "le", "less than or equal to" },
		{ FASTAPI_LT, "less_than", "lt", "less than" },
		{ FASTAPI_GE, "greater_than_equal", "ge", "greater than or equal to" },
		{ FASTAPI_GT, "greater_than", "gt", "greater than" },
	};
	for (size_t k = 0; k < ARRAY_SIZE(rules); k++) {
		if (!(f->bounds & rules[k].flag))
			continue;
		double b = rules[k].flag == FASTAPI_LE ? f->le : rules[k].flag == FASTAPI_LT ? f->lt
			 : rules[k].flag == FASTAPI_GE ? f->ge : f->gt;
		bool bad = rules[k].flag == FASTAPI_LE ? v > b : rules[k].flag == FASTAPI_LT ? v >= b
			 : rules[k].flag == FASTAPI_GE ? v < b : v <= b;
		if (!bad)
			continue;
		struct buf msg = BUF_INIT;
		buf_addf(&msg, "Input should be %s ", rules[k].words);
		bound_text(&msg, b, f->type);
		fastapi_error(detail, rules[k].type, json_incref(loc), msg.data, input,
			      json_pack("{s:o}", rules[k].key, bound_json(b, f->type)));
		buf_release(&msg);
		return -1;
	}
	return 0;
}

/* pydantic's lax int from a string: spaces around, a sign, digits with single underscores, ".000" */
static int parse_int_text(const char *s, double *out)
{
	while (isspace((unsigned char)*s))
		s++;
	const char *end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	bool neg = false;
	if (s < end && (*s == '+' || *s == '-'))
		neg = *s++ == '-';
	if (s == end || !is_digit((unsigned char)*s))
		return -1;
	double v = 0;
	for (; s < end && (is_digit((unsigned char)*s) || *s == '_'); s++) {
		if (*s == '_') {
			if (s + 1 >= end || !is_digit((unsigned char)s[1]))
				return -1;
			continue;
		}
		v = v * 10 + (*s - '0');
	}
	if (s < end && *s == '.') {
		for (s++; s < end && *s == '0'; s++)
			;
	}
	if (s != end)
		return -1;
	*out = neg ? -v : v;
	return 0;
}

static json_t *int_json(double v)
{
	if (v >= 9.2e18)
		return json_integer(INT64_MAX);
	if (v <= -9.2e18)
		return json_integer(INT64_MIN);
	return json_integer((json_int_t)v);
}

static int check_int(const struct fastapi_field *f, json_t *v, json_t *loc, json_t *detail, json_t **out)
{
	double d;

	if (json_is_integer(v)) {
		d = (double)json_integer_value(v);
	} else if (json_is_boolean(v)) {
		d = json_is_true(v);
	} else if (json_is_real(v)) {
		d = json_real_value(v);
		if (!isfinite(d)) {
			fastapi_error(detail, "finite_number", json_incref(loc), "Input should be a finite number", v,
				      NULL);
			return -1;
		}
		if (d != floor(d)) {
			fastapi_error(detail, "int_from_float", json_incref(loc),
				      "Input should be a valid integer, got a number with a fractional part", v, NULL);
			return -1;
		}
	} else if (json_is_string(v)) {
		if (parse_int_text(json_string_value(v), &d) < 0) {
			fastapi_error(detail, "int_parsing", json_incref(loc),
				      "Input should be a valid integer, unable to parse string as an integer", v, NULL);
			return -1;
		}
	} else {
		fastapi_error(detail, "int_type", json_incref(loc), "Input should be a valid integer", v, NULL);
		return -1;
	}
	if (check_bounds(f, d, v, loc, detail) < 0)
		return -1;
	*out = json_is_integer(v) ? json_incref(v) : int_json(d);
	return 0;
}

static int check_float(const struct fastapi_field *f, json_t *v, json_t *loc, json_t *detail, json_t **out)
{
	double d;

	if (json_is_number(v)) {
		d = json_number_value(v);
	} else if (json_is_boolean(v)) {
		d = json_is_true(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		d = strtod(s, &end);
		while (end != s && isspace((unsigned char)*end))
			end++;
		if (end == s || *end) {
			fastapi_error(detail, "float_parsing", json_incref(loc),
				      "Input should be a valid number, unable to parse string as a number", v, NULL);
			return -1;
		}
	} else {
		fastapi_error(detail, "float_type", json_incref(loc), "Input should be a valid number", v, NULL);
		return -1;
	}
	if (check_bounds(f, d, v, loc, detail) < 0)
		return -1;
	*out = json_real(d);
	return 0;
}

static int check_bool(json_t *v, json_t *loc, json_t *detail, json_t **out)
{
	static const char *const yes[] = { "1", "on", "t", "true", "y", "yes" };
	static const char *const no[] = { "0", "f", "false", "n", "no", "off" };

	if (json_is_boolean(v)) {
		*out = json_incref(v);
		return 0;
	}
	if (json_is_string(v)) {
		for (size_t k = 0; k < ARRAY_SIZE(yes); k++) {
			if (!strcasecmp(json_string_value(v), yes[k])) {
				*out = json_true();
				return 0;
			}
			if (!strcasecmp(json_string_value(v), no[k])) {
				*out = json_false();
				return 0;
			}
		}
	} else if (json_is_number(v)) {
		double d = json_number_value(v);
		if (d == 0 || d == 1) {
			*out = json_boolean(d == 1);
			return 0;
		}
	} else {
		fastapi_error(detail, "bool_type", json_incref(loc), "Input should be a valid boolean", v, NULL);
		return -1;
	}
	fastapi_error(detail, "bool_parsing", json_incref(loc), "Input should be a valid boolean, unable to interpret input",
		      v, NULL);
	return -1;
}

/* 'a', 'b' or 'c' */
static void literal_list(struct buf *b, const char *const *lits)
{
	for (size_t k = 0; lits[k]; k++) {
		if (k)
			buf_adds(b, lits[k + 1] ? ", " : " or ");
		buf_addf(b, "'%s'", lits[k]);
	}
}

static const char *plural(size_t n)
{
	return n == 1 ? "" : "s";
}

static int check_str(const struct fastapi_field *f, json_t *v, json_t *loc, json_t *detail, json_t **out)
{
	if (!json_is_string(v)) {
		fastapi_error(detail, "string_type", json_incref(loc), "Input should be a valid string", v, NULL);
		return -1;
	}
	const char *s = json_string_value(v);
	struct buf msg = BUF_INIT;
	int r = -1;
	if (f->literals) {
		size_t k;
		for (k = 0; f->literals[k] && strcmp(f->literals[k], s); k++)
			;
		if (!f->literals[k]) {
			struct buf want = BUF_INIT;
			literal_list(&want, f->literals);
			buf_addf(&msg, "Input should be %s", want.data);
			fastapi_error(detail, "literal_error", json_incref(loc), msg.data, v,
				      json_pack("{s:s}", "expected", want.data));
			buf_release(&want);
			goto done;
		}
	}
	size_t chars = (f->bounds & (FASTAPI_MIN_LEN | FASTAPI_MAX_LEN)) ? utf8_chars(s, json_string_length(v)) : 0;
	if ((f->bounds & FASTAPI_MIN_LEN) && chars < f->min_len) {
		buf_addf(&msg, "String should have at least %zu character%s", f->min_len, plural(f->min_len));
		fastapi_error(detail, "string_too_short", json_incref(loc), msg.data, v,
			      json_pack("{s:I}", "min_length", (json_int_t)f->min_len));
		goto done;
	}
	if ((f->bounds & FASTAPI_MAX_LEN) && chars > f->max_len) {
		buf_addf(&msg, "String should have at most %zu character%s", f->max_len, plural(f->max_len));
		fastapi_error(detail, "string_too_long", json_incref(loc), msg.data, v,
			      json_pack("{s:I}", "max_length", (json_int_t)f->max_len));
		goto done;
	}
	if (f->pattern && !pattern_match(f->pattern, s)) {
		buf_addf(&msg, "String should match pattern '%s'", f->pattern);
		fastapi_error(detail, "string_pattern_mismatch", json_incref(loc), msg.data, v,
			      json_pack("{s:s}", "pattern", f->pattern));
		goto done;
	}
	*out = json_incref(v);
	r = 0;
done:
	buf_release(&msg);
	return r;
}

static int check_value(const struct fastapi_field *f, json_t *v, json_t *loc, json_t *detail, json_t **out);

static int check_list(const struct fastapi_field *f, json_t *v, json_t *loc, json_t *detail, json_t **out)
{
	if (!json_is_array(v)) {
		fastapi_error(detail, "list_type", json_incref(loc), "Input should be a valid list", v, NULL);
		return -1;
	}
	size_t n = json_array_size(v);
	struct buf msg = BUF_INIT;
	if ((f->bounds & FASTAPI_MAX_LEN) && n > f->max_len) {
		buf_addf(&msg, "List should have at most %zu item%s after validation, not %zu", f->max_len,
			 plural(f->max_len), n);
		fastapi_error(detail, "too_long", json_incref(loc), msg.data, v,
			      json_pack("{s:s, s:I, s:I}", "field_type", "List", "max_length", (json_int_t)f->max_len,
					"actual_length", (json_int_t)n));
		buf_release(&msg);
		return -1;
	}
	json_t *res = json_array();
	int bad = 0;
	for (size_t k = 0; k < n; k++) {
		json_t *item = json_array_get(v, k), *got = NULL;
		if (!f->items) {
			json_array_append(res, item);
			continue;
		}
		json_t *l = loc_add(loc, json_integer((json_int_t)k));
		if (check_value(f->items, item, l, detail, &got) < 0)
			bad = -1;
		else
			json_array_append_new(res, got);
		json_decref(l);
	}
	if (!bad && (f->bounds & FASTAPI_MIN_LEN) && n < f->min_len) {
		buf_addf(&msg, "List should have at least %zu item%s after validation, not %zu", f->min_len,
			 plural(f->min_len), n);
		fastapi_error(detail, "too_short", json_incref(loc), msg.data, v,
			      json_pack("{s:s, s:I, s:I}", "field_type", "List", "min_length", (json_int_t)f->min_len,
					"actual_length", (json_int_t)n));
		bad = -1;
	}
	buf_release(&msg);
	if (bad) {
		json_decref(res);
		return -1;
	}
	*out = res;
	return 0;
}

static int check_dict(const struct fastapi_field *f, json_t *v, json_t *loc, json_t *detail, json_t **out)
{
	if (!json_is_object(v)) {
		fastapi_error(detail, "dict_type", json_incref(loc), "Input should be a valid dictionary", v, NULL);
		return -1;
	}
	if (!f->items) {
		*out = json_incref(v);
		return 0;
	}
	json_t *res = json_object(), *item;
	const char *k;
	int bad = 0;
	json_object_foreach(v, k, item) {
		json_t *got = NULL, *l = loc_add(loc, json_string(k));
		if (check_value(f->items, item, l, detail, &got) < 0)
			bad = -1;
		else
			json_object_set_new(res, k, got);
		json_decref(l);
	}
	if (bad) {
		json_decref(res);
		return -1;
	}
	*out = res;
	return 0;
}

static int check_value(const struct fastapi_field *f, json_t *v, json_t *loc, json_t *detail, json_t **out)
{
	if (f->nullable && json_is_null(v)) {
		*out = json_null();
		return 0;
	}
	switch (f->type) {
	case FASTAPI_STR:
		return check_str(f, v, loc, detail, out);
	case FASTAPI_INT:
		return check_int(f, v, loc, detail, out);
	case FASTAPI_FLOAT:
		return check_float(f, v, loc, detail, out);
	case FASTAPI_BOOL:
		return check_bool(v, loc, detail, out);
	case FASTAPI_DICT:
		return check_dict(f, v, loc, detail, out);
	case FASTAPI_LIST:
		return check_list(f, v, loc, detail, out);
	case FASTAPI_MODEL:
		return fastapi_validate(v, f->fields, loc, detail, out);
	case FASTAPI_ANY:
		break;
	}
	*out = json_incref(v);
	return 0;
}

int fastapi_validate(json_t *value, const struct fastapi_field *model, json_t *loc, json_t *detail, json_t **out)
{
	/* FastAPI validates with from_attributes, hence this type rather than model_type */
	if (!json_is_object(value)) {
		fastapi_error(detail, "model_attributes_type", json_incref(loc),
			      "Input should be a valid dictionary or object to extract fields from", value ? value : json_null(),
			      NULL);
		return -1;
	}
	json_t *res = json_object();
	int bad = 0;
	for (const struct fastapi_field *f = model; f->name; f++) {
		json_t *v = json_object_get(value, f->name), *got = NULL;
		json_t *l = loc_add(loc, json_string(f->name));
		if (!v) {
			if (f->required) {
				fastapi_error(detail, "missing", json_incref(l), "Field required", value, NULL);
				bad = -1;
			} else if (f->def) {
				json_error_t e;
				json_t *d = json_loads(f->def, JSON_DECODE_ANY, &e);
				if (!d) /* a built-in default that is not JSON is a bug */
					abort();
				json_object_set_new(res, f->name, d);
			}
		} else if (check_value(f, v, l, detail, &got) < 0) {
			bad = -1;
		} else {
			json_object_set_new(res, f->name, got);
		}
		json_decref(l);
	}
	if (bad) {
		json_decref(res);
		return -1;
	}
	*out = res;
	return 0;
}

/* ---- a request body ---- */

/* Does FastAPI read a body of this Content-Type as JSON? (none: yes) */
static bool json_content_type(const char *ct)
{
	if (!ct)
		return true;
	while (isspace((unsigned char)*ct))
		ct++;
	size_t n = strcspn(ct, ";");
	while (n && isspace((unsigned char)ct[n - 1]))
		n--;
	if (!n)
		return true; /* an empty header counts as none */
	const char *slash = memchr(ct, '/', n);
	if (!slash || (size_t)(slash - ct) != strlen("application") || strncasecmp(ct, "application", 11))
		return false;
	const char *sub = slash + 1;
	size_t sl = (size_t)(ct + n - sub);
	return (sl == 4 && !strncasecmp(sub, "json", 4)) || (sl >= 5 && !strncasecmp(sub + sl - 5, "+json", 5));
}

/* Is v nested deeper than Python's decoder goes (what fastapi_json_scan tells from the text)? */
static bool too_deep(json_t *v, int depth)
{
	const char *key;
	json_t *x;
	size_t i;

	if (!json_is_object(v) && !json_is_array(v))
		return false;
	if (depth >= SCAN_MAX_DEPTH)
		return true;
	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			if (too_deep(x, depth + 1))
				return true;
	} else {
		json_object_foreach(v, key, x)
			if (too_deep(x, depth + 1))
				return true;
	}
	return false;
}

int fastapi_body(const char *content_type, const char *body, size_t len, const struct fastapi_field *model,
		 json_t **out, json_t **error)
{
	return fastapi_body_parsed(content_type, body, len, NULL, model, out, error);
}

bool fastapi_refusal_reads_body(const char *content_type, size_t len, const json_t *parsed)
{
	return len && (!parsed || !json_content_type(content_type));
}

int fastapi_body_parsed(const char *content_type, const char *body, size_t len, json_t *parsed,
			const struct fastapi_field *model, json_t **out, json_t **error)
{
	json_t *detail = json_array(), *loc = json_pack("[s]", "body"), *value = NULL;
	int status = 422;

	if (!len) {
		fastapi_error(detail, "missing", json_incref(loc), "Field required", json_null(), NULL);
		goto refuse;
	}
	if (!json_content_type(content_type)) {
		/* the body stays bytes, which no model takes */
		struct buf b = BUF_INIT;
		for (size_t i = 0; i < len; i++) /* what FastAPI echoes: the bytes as text */
			buf_addch(&b, body[i] ? body[i] : ' ');
		json_t *text = json_stringn(b.data, b.len);
		if (!text)
			text = json_string("");
		buf_release(&b);
		fastapi_error(detail, "model_attributes_type", json_incref(loc),
			      "Input should be a valid dictionary or object to extract fields from", text, NULL);
		json_decref(text);
		goto refuse;
	}
	if (len >= 3 && !memcmp(body, "\xef\xbb\xbf", 3)) /* json.loads(bytes) decodes as utf-8-sig */
		body += 3, len -= 3;
	const char *msg;
	size_t pos;
	json_error_t e;
	/* what jansson reads Python reads alike, but for the depth */
	int s = parsed ? (too_deep(parsed, 0) ? -2 : 0) : fastapi_json_scan(body, len, &msg, &pos);
	if (s == -1) {
		json_t *empty = json_object();
		fastapi_error(detail, "json_invalid", json_pack("[s, I]", "body", (json_int_t)pos), "JSON decode error",
			      empty, json_pack("{s:s}", "error", msg));
		json_decref(empty);
		goto refuse;
	}
	if (s < 0 || !(value = parsed ? json_incref(parsed) : json_loadb(body, len, JSON_DECODE_ANY, &e))) {
		/* not UTF-8, too deep, or beyond what jansson holds (NUL in a string, a huge number) */
		json_decref(detail);
		json_decref(loc);
		*error = fastapi_detail("There was an error parsing the body");
		return 400;
	}
	if (json_is_null(value)) {
		fastapi_error(detail, "missing", json_incref(loc), "Field required", value, NULL);
		goto refuse;
	}
	if (fastapi_validate(value, model, loc, detail, out) < 0)
		goto refuse;
	json_decref(value);
	json_decref(detail);
	json_decref(loc);
	return 0;
refuse:
	json_decref(value);
	json_decref(loc);
	*error = json_pack("{s:o}", "detail", detail);
	return status;
}
