#include "ring.h"
#include "../server/base/common.h"
#include "../server/base/banned.h"

#include <stdlib.h>
#include <string.h>

#define RING_MIN_CAP 4096
#define CHUNK_MAX (64 * 1024)
#define CHUNK_FIRST 256		/* a new chunk's first allocation, unless the data needs more */

static size_t chunk_max(const struct sess_ring *r)
{
	uint64_t m = r->cap / 8;
	return m > CHUNK_MAX ? CHUNK_MAX : m < 256 ? 256 : (size_t)m;
}

static uint64_t chunk_cost(const struct sess_ring_chunk *c)
{
	return sizeof(*c) + c->cap;
}

void sess_ring_init(struct sess_ring *r, uint64_t cap, uint64_t merge_ms)
{
	memset(r, 0, sizeof(*r));
	TAILQ_INIT(&r->chunks);
	r->cap = cap < RING_MIN_CAP ? RING_MIN_CAP : cap;
	r->merge_ms = merge_ms;
}

static void drop_first(struct sess_ring *r)
{
	struct sess_ring_chunk *c = TAILQ_FIRST(&r->chunks);
	TAILQ_REMOVE(&r->chunks, c, link);
	r->used -= chunk_cost(c);
	r->start = c->off + c->len;
	free(c->data);
	free(c);
}

void sess_ring_release(struct sess_ring *r)
{
	while (!TAILQ_EMPTY(&r->chunks))
		drop_first(r);
	r->used = 0;
}

/* Make room for `more` bytes of cost, dropping the oldest chunks but never keep. */
static void make_room(struct sess_ring *r, uint64_t more, const struct sess_ring_chunk *keep)
{
	struct sess_ring_chunk *c;
	while (r->used + more > r->cap && (c = TAILQ_FIRST(&r->chunks)) && c != keep)
		drop_first(r);
}

void sess_ring_add(struct sess_ring *r, int stream, uint64_t source, uint64_t ms, const char *data, size_t len)
{
	size_t max = chunk_max(r);

	while (len) {
		struct sess_ring_chunk *c = TAILQ_LAST(&r->chunks, sess_ring_list);
		if (c && c->stream == stream && c->source == source && c->len < max && ms - c->ms <= r->merge_ms) {
			size_t n = len < max - c->len ? len : max - c->len;
			if (c->len + n > c->cap) {
				size_t ncap = c->cap * 2 < c->len + n ? c->len + n : c->cap * 2;
				if (ncap > max)
					ncap = max;
				make_room(r, ncap - c->cap, c);
				if (r->used + (ncap - c->cap) > r->cap && TAILQ_FIRST(&r->chunks) == c) {
					/* c is all that is left and cannot grow: start over with a fresh chunk */
					drop_first(r);
					continue;
				}
				c->data = xrealloc(c->data, ncap);
				r->used += ncap - c->cap;
				c->cap = ncap;
			}
			memcpy(c->data + c->len, data, n);
			c->len += n;
			r->end += n;
			data += n;
			len -= n;
			continue;
		}
		size_t n = len < max ? len : max;
		size_t ccap = n < CHUNK_FIRST ? CHUNK_FIRST : n;
		c = xcalloc(1, sizeof(*c));
		c->off = r->end;
		c->ms = ms;
		c->source = source;
		c->stream = stream;
		c->data = xmalloc(ccap);
		c->cap = ccap;
		make_room(r, chunk_cost(c), NULL);
		if (TAILQ_EMPTY(&r->chunks))
			r->start = r->end;
		memcpy(c->data, data, n);
		c->len = n;
		TAILQ_INSERT_TAIL(&r->chunks, c, link);
		r->used += chunk_cost(c);
		r->end += n;
		data += n;
		len -= n;
	}
}

uint64_t sess_ring_split(const struct sess_ring *r, uint64_t since, uint64_t limit, struct buf *out, struct buf *err)
{
	const struct sess_ring_chunk *c;
	uint64_t at = since > r->start ? since : r->start;

	if (at > r->end)
		return r->end;
	TAILQ_FOREACH(c, &r->chunks, link) {
		if (c->off + c->len <= at)
			continue;
		if (!limit)
			break;
		size_t skip = at > c->off ? (size_t)(at - c->off) : 0;
		size_t n = c->len - skip;
		if (n > limit)
			n = (size_t)limit;
		buf_add(c->stream == 2 ? err : out, c->data + skip, n);
		limit -= n;
		at += n;
	}
	return at;
}

bool sess_ring_last_line(const struct sess_ring *r, struct buf *line, size_t max)
{
	const struct sess_ring_chunk *c;
	size_t end = 0;		/* the line's end: just before a newline, counted from the chunk's start */
	bool found = false;

	/* walk back to the last newline that follows a non-empty line */
	TAILQ_FOREACH_REVERSE(c, &r->chunks, sess_ring_list, link) {
		for (size_t i = c->len; i > 0; i--) {
			if (c->data[i - 1] != '\n')
				continue;
			if (i >= 2 && c->data[i - 2] != '\n') {
				end = i - 1;
				found = true;
				break;
			}
		}
		if (found)
			break;
	}
	if (!found)
		return false;
	/* the line starts after the previous newline in the same chunk (a line split across chunks keeps its tail) */
	size_t begin = end;
	while (begin > 0 && c->data[begin - 1] != '\n' && end - begin < max)
		begin--;
	buf_reset(line);
	buf_add(line, c->data + begin, end - begin);
	return true;
}

uint64_t sess_ring_resume(const struct sess_ring *r, uint64_t since)
{
	const struct sess_ring_chunk *c;
	uint64_t utf8 = UINT64_MAX;

	if (since >= r->start)
		return since;
	TAILQ_FOREACH(c, &r->chunks, link)
		for (size_t i = 0; i < c->len; i++) {
			unsigned char b = (unsigned char)c->data[i];
			if (b == 0x1b)
				return c->off + i;
			if (b == '\n')
				return c->off + i + 1;
			if (utf8 == UINT64_MAX && (b & 0xc0) != 0x80)
				utf8 = c->off + i;
		}
	return utf8 == UINT64_MAX ? r->end : utf8;
}
