/*
 * transport/route.c — path patterns (see route.h).
 */
#include "route.h"

#include <string.h>

#include "../server/base/banned.h"

/* Length of the segment starting at s (up to '/' or the end). */
static size_t seg_len(const char *s)
{
	const char *e = strchr(s, '/');
	return e ? (size_t)(e - s) : strlen(s);
}

/* "{name}" or "{name*}": the name's length, *tail set; 0 when not a capture. */
static size_t capture_name(const char *seg, size_t n, bool *tail)
{
	if (n < 3 || seg[0] != '{' || seg[n - 1] != '}')
		return 0;
	*tail = seg[n - 2] == '*';
	size_t len = n - 2 - (*tail ? 1 : 0);
	if (!len || len >= TP_CAPTURE_NAME_MAX)
		return 0;
	for (size_t i = 1; i <= len; i++)
		if (seg[i] == '{' || seg[i] == '}' || seg[i] == '*')
			return 0;
	return len;
}

bool tp_pattern_valid(const char *pattern)
{
	size_t ncap = 0;

	if (!pattern || pattern[0] != '/')
		return false;
	for (const char *p = pattern + 1;;) {
		size_t n = seg_len(p);
		bool tail = false;
		if (n && p[0] == '{') {
			if (!capture_name(p, n, &tail) || ++ncap > TP_CAPTURES_MAX)
				return false;
			if (tail && p[n] != '\0')
				return false;
		} else if (memchr(p, '{', n) || memchr(p, '}', n)) {
			return false;
		}
		if (!p[n])
			return true;
		p += n + 1;
	}
}

static bool add_capture(struct tp_match *m, const char *name, size_t nlen, const char *val, size_t vlen)
{
	if (!m)
		return true;
	if (m->n == TP_CAPTURES_MAX || vlen >= TP_CAPTURE_MAX)
		return false;
	memcpy(m->cap[m->n].name, name, nlen);
	m->cap[m->n].name[nlen] = '\0';
	memcpy(m->cap[m->n].value, val, vlen);
	m->cap[m->n].value[vlen] = '\0';
	m->n++;
	return true;
}

bool tp_route_match(const char *pattern, const char *path, struct tp_match *m)
{
	const char *p = pattern, *s = path;
	size_t plen = strlen(path);

	if (m)
		m->n = 0;
	if (p[0] != '/' || s[0] != '/')
		return false;
	/* one trailing slash is not a segment of its own */
	if (plen > 1 && path[plen - 1] == '/')
		plen--;
	p++;
	s++;
	plen--;
	for (;;) {
		size_t pn = seg_len(p), sn = 0;
		bool tail = false;
		size_t cn = pn && p[0] == '{' ? capture_name(p, pn, &tail) : 0;

		if (cn && tail)
			return add_capture(m, p + 1, cn, s, plen);
		while (sn < plen && s[sn] != '/')
			sn++;
		if (cn) {
			if (!sn || (sn == 1 && s[0] == '.') || (sn == 2 && s[0] == '.' && s[1] == '.'))
				return false;
			if (!add_capture(m, p + 1, cn, s, sn))
				return false;
		} else if (pn != sn || memcmp(p, s, pn)) {
			return false;
		}
		bool pend = p[pn] == '\0', send = sn == plen;
		if (send && !pend) {
			/* "/novnc" and "/novnc/" against "/novnc/{rest*}": an empty tail */
			const char *q = p + pn + 1;
			size_t qn = seg_len(q), qc;
			bool qtail = false;
			if (!q[qn] && (qc = capture_name(q, qn, &qtail)) && qtail)
				return add_capture(m, q + 1, qc, "", 0);
			return false;
		}
		if (pend)
			return send;
		p += pn + 1;
		s += sn + 1;
		plen -= sn + 1;
	}
}

const char *tp_match_get(const struct tp_match *m, const char *name)
{
	for (size_t i = 0; m && i < m->n; i++)
		if (!strcmp(m->cap[i].name, name))
			return m->cap[i].value;
	return NULL;
}
