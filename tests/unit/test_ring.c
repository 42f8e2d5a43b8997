/* Unit tests of the bounded output log (sessions/ring.c). */
#include "tap.h"
#include "sessions/ring.h"

static void split(const struct sess_ring *r, uint64_t since, struct buf *o, struct buf *e)
{
	buf_reset(o);
	buf_reset(e);
	sess_ring_split(r, since, UINT64_MAX, o, e);
}

int main(void)
{
	struct sess_ring r;
	struct buf o = BUF_INIT, e = BUF_INIT, line = BUF_INIT;

	/* offsets, streams and interleaving */
	sess_ring_init(&r, 1 << 20, UINT64_MAX);
	sess_ring_add(&r, 1, 7, 100, "hello ", 6);
	sess_ring_add(&r, 1, 7, 100, "world\n", 6);
	sess_ring_add(&r, 2, 7, 101, "oops\n", 5);
	sess_ring_add(&r, 1, 7, 102, "more\n", 5);
	ok(r.start == 0 && r.end == 22, "offsets count every byte (start %llu end %llu)",
	   (unsigned long long)r.start, (unsigned long long)r.end);
	split(&r, 0, &o, &e);
	is_str(o.data, "hello world\nmore\n", "stdout from 0");
	is_str(e.data, "oops\n", "stderr from 0");
	split(&r, 3, &o, &e);
	is_str(o.data, "lo world\nmore\n", "since inside the first chunk");
	split(&r, 14, &o, &e);
	is_str(o.data, "more\n", "since inside a stderr chunk: its rest and what follows");
	is_str(e.data, "ps\n", "the rest of stderr");
	split(&r, 22, &o, &e);
	ok(o.len == 0 && e.len == 0, "since at the end: nothing");
	split(&r, 1000, &o, &e);
	ok(o.len == 0 && e.len == 0, "since past the end: nothing");
	ok(sess_ring_last_line(&r, &line, 200) && !strcmp(line.data, "more"), "last line: %s", line.data);
	buf_reset(&o);
	buf_reset(&e);
	uint64_t next = sess_ring_split(&r, 10, 5, &o, &e);
	ok(next == 15 && !strcmp(o.data, "d\n") && !strcmp(e.data, "oop"), "limit: 5 bytes from 10, next at %llu",
	   (unsigned long long)next);
	sess_ring_release(&r);

	/* a partial last line is not the last line */
	sess_ring_init(&r, 1 << 20, UINT64_MAX);
	ok(!sess_ring_last_line(&r, &line, 200), "empty ring: no last line");
	sess_ring_add(&r, 1, 1, 0, "step 1\nstep 2\n\nhalf", 19);
	ok(sess_ring_last_line(&r, &line, 200) && !strcmp(line.data, "step 2"), "last complete line: %s", line.data);
	ok(sess_ring_last_line(&r, &line, 3) && !strcmp(line.data, "p 2"), "bounded to max bytes: %s", line.data);
	sess_ring_release(&r);

	/* overflow: the oldest go, memory stays under the cap, the newest stay */
	sess_ring_init(&r, 64 * 1024, UINT64_MAX);
	char block[1000];
	for (int i = 0; i < 1000; i++) {
		memset(block, 'a' + i % 26, sizeof(block));
		sess_ring_add(&r, i % 3 ? 1 : 2, 1, (uint64_t)i, block, sizeof(block));
		if (r.used > r.cap)
			break;
	}
	ok(r.used <= r.cap, "memory within the cap (%llu <= %llu)", (unsigned long long)r.used,
	   (unsigned long long)r.cap);
	ok(r.end == 1000 * 1000, "every byte counted (%llu)", (unsigned long long)r.end);
	ok(r.start > 0 && r.start < r.end, "the oldest were dropped (%llu)", (unsigned long long)r.start);
	ok(r.end - r.start >= 64 * 1024 / 2, "at least half the cap kept (%llu)",
	   (unsigned long long)(r.end - r.start));
	split(&r, 0, &o, &e);
	ok(o.len + e.len == r.end - r.start, "since 0 gives what is kept (%zu)", o.len + e.len);
	{
		struct buf o2 = BUF_INIT, e2 = BUF_INIT;
		ok(sess_ring_split(&r, 5, 10, &o2, &e2) == r.start + 10, "since before the kept start begins there");
		buf_release(&o2);
		buf_release(&e2);
	}
	/* the last block (i = 999, stderr) is whole at the end */
	ok(e.len >= 1000 && e.data[e.len - 1] == 'a' + 999 % 26 && e.data[e.len - 1000] == 'a' + 999 % 26,
	   "the newest block is kept whole");
	sess_ring_release(&r);

	/* one write larger than the cap keeps its tail */
	sess_ring_init(&r, 8192, UINT64_MAX);
	char big[20000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('0' + i % 10);
	sess_ring_add(&r, 1, 1, 0, big, sizeof(big));
	split(&r, 0, &o, &e);
	ok(r.used <= r.cap && o.len > 0 && o.len <= 8192, "a huge write fits the cap (%zu kept)", o.len);
	ok(o.len && !memcmp(o.data, big + r.start, o.len), "what is kept is the tail of the write");
	ok(r.start + o.len == sizeof(big), "start + kept = total");
	sess_ring_release(&r);

	/* a flood of 1-byte alternating writes (worst overhead) stays bounded */
	sess_ring_init(&r, 16384, UINT64_MAX);
	for (int i = 0; i < 100000; i++)
		sess_ring_add(&r, 1 + i % 2, 1, 0, "x", 1);
	ok(r.used <= r.cap, "alternating 1-byte writes stay within the cap (%llu)", (unsigned long long)r.used);
	ok(r.end == 100000 && r.start > 0, "all counted, oldest dropped");
	sess_ring_release(&r);

	/* merge_ms: a chunk takes bytes from the same source and stream only while young */
	sess_ring_init(&r, 1 << 20, 100);
	sess_ring_add(&r, 1, 1, 1000, "a", 1);
	sess_ring_add(&r, 1, 1, 1050, "b", 1);
	sess_ring_add(&r, 1, 1, 1200, "c", 1);
	sess_ring_add(&r, 1, 2, 1200, "d", 1);
	int n = 0;
	struct sess_ring_chunk *c;
	TAILQ_FOREACH(c, &r.chunks, link)
		n++;
	ok(n == 3, "chunks split by age and source (%d)", n);
	c = TAILQ_FIRST(&r.chunks);
	ok(c->len == 2 && c->ms == 1000, "the first chunk has a and b, time of its first byte");
	sess_ring_release(&r);
	ok(r.used == 0 && TAILQ_EMPTY(&r.chunks), "release frees everything");

	/* where a terminal replay may start after a drop */
	sess_ring_init(&r, 4096, UINT64_MAX);
	for (int i = 0; i < 400; i++)
		sess_ring_add(&r, 1, 1, 1, "\x1b[1;31mred\x1b[0m \xc3\xa9\r\n", 19);
	ok(r.start > 0, "old output was dropped (start %llu)", (unsigned long long)r.start);
	uint64_t from = sess_ring_resume(&r, 0);
	split(&r, from, &o, &e);
	ok(from >= r.start && o.len && o.data[0] == 0x1b && !strncmp(o.data, "\x1b[1;31mred", 10),
	   "a replay from 0 starts at a whole escape sequence, not inside one (%.8s)", o.data);
	ok(sess_ring_resume(&r, r.start + 3) == r.start + 3, "a reader's own offset past the drop is kept");
	sess_ring_release(&r);
	sess_ring_init(&r, 4096, UINT64_MAX);
	for (int i = 0; i < 2000; i++)
		sess_ring_add(&r, 1, 1, 1, "ab\xc3\xa9", 4);
	from = sess_ring_resume(&r, 0);
	split(&r, from, &o, &e);
	ok(((unsigned char)o.data[0] & 0xc0) != 0x80, "no newline or escape kept: not inside a UTF-8 character");
	sess_ring_release(&r);

	buf_release(&o);
	buf_release(&e);
	buf_release(&line);
	return tap_done();
}
