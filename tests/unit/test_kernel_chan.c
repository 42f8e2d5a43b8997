/* Unit tests of the kernel agent's messages as the server checks them (kernel/chan.c). */
#include "tap.h"
#include "kernel/chan.h"

static struct buf b = BUF_INIT;

/* Build one message of type with n fields (NUL-terminated strings, or raw bytes with lens). */
static void put(uint32_t type, uint32_t seq, int n, const void *const *ptrs, const size_t *lens)
{
	buf_reset(&b);
	kern_chan_put(&b, type, seq, n, ptrs, lens);
}

static ssize_t parse(struct kern_msg *m, const char **why)
{
	static char text[300];
	struct err *e = NULL;
	ssize_t r = kern_chan_parse(b.data, b.len, m, &e);
	snprintf(text, sizeof(text), "%s", e ? err_text(e) : "");
	err_free(e);
	*why = text;
	return r;
}

int main(void)
{
	struct kern_msg m;
	const char *why;
	unsigned char one = KERN_STDERR, origin = KERN_DISPLAY, st = KERN_EXC;
	uint32_t count = 7;
	int ws = 9;

	/* round trips */
	{
		const void *p[] = { &one, "oops\n" };
		size_t l[] = { 1, 5 };
		put(KERN_STREAM, 3, 2, p, l);
		ok(parse(&m, &why) == (ssize_t)b.len && m.type == KERN_STREAM && m.seq == 3 && m.stream == KERN_STDERR &&
		   m.text.len == 5 && !memcmp(m.text.p, "oops\n", 5), "a stream message round-trips %s", why);
		/* every prefix is "more please", never an error or a message */
		int bad = 0;
		for (size_t i = 0; i < b.len; i++) {
			struct err *e = NULL;
			if (kern_chan_parse(b.data, i, &m, &e) != 0)
				bad++;
			err_free(e);
		}
		ok(!bad, "a cut message asks for more (%d prefixes said otherwise)", bad);
	}
	{
		const void *p[] = { &origin, "image/png", "\x89PNG", "text/plain", "<Figure>" };
		size_t l[] = { 1, 9, 4, 10, 8 };
		put(KERN_DATA, 4, 5, p, l);
		ok(parse(&m, &why) > 0 && m.nparts == 2 && !strcmp(m.parts[0].mime, "image/png") &&
		   m.parts[0].data.len == 4 && !strcmp(m.parts[1].mime, "text/plain"), "a data bundle of two parts %s", why);
	}
	{
		const void *p[] = { &st, &count };
		size_t l[] = { 1, 4 };
		put(KERN_DONE, 5, 2, p, l);
		ok(parse(&m, &why) > 0 && m.status == KERN_EXC && m.count == 7, "done %s", why);
		const void *q[] = { &ws };
		size_t lq[] = { sizeof(ws) };
		put(KERN_DIED, 5, 1, q, lq);
		ok(parse(&m, &why) > 0 && m.wstatus == 9, "died %s", why);
		const void *r[] = { "ename", "evalue", "Traceback\nline" };
		size_t lr[] = { 5, 6, 14 };
		put(KERN_ERROR, 5, 3, r, lr);
		ok(parse(&m, &why) > 0 && m.traceback.len == 14, "error %s", why);
	}
	/* two messages in one buffer: the first's size, then the second */
	{
		const void *p[] = { "ready" };
		size_t l[] = { 5 };
		put(KERN_READY, 0, 1, p, l);
		size_t first = b.len;
		kern_chan_put(&b, KERN_FAILED, 0, 1, p, l);
		ok(parse(&m, &why) == (ssize_t)first && m.type == KERN_READY, "the first of two");
	}

	/* refusals */
	struct kern_hdr h = { .type = KERN_STREAM, .seq = 1, .len = KERN_MSG_MAX + 1 };
	buf_reset(&b);
	buf_add(&b, &h, sizeof(h));
	ok(parse(&m, &why) < 0 && strstr(why, "bytes"), "a length over the maximum is refused at once: %s", why);
	h = (struct kern_hdr){ .type = 99, .len = 0 };
	buf_reset(&b);
	buf_add(&b, &h, sizeof(h));
	ok(parse(&m, &why) < 0 && strstr(why, "unknown type"), "an unknown type: %s", why);
	h = (struct kern_hdr){ .type = KERN_STREAM, .len = 6 };
	uint32_t flen = 100;
	buf_reset(&b);
	buf_add(&b, &h, sizeof(h));
	buf_add(&b, &flen, 4);
	buf_add(&b, "ab", 2);
	ok(parse(&m, &why) < 0 && strstr(why, "past the end"), "a field longer than its message: %s", why);
	h.len = 2;
	buf_reset(&b);
	buf_add(&b, &h, sizeof(h));
	buf_add(&b, "ab", 2);
	ok(parse(&m, &why) < 0 && strstr(why, "cut off"), "a cut field length: %s", why);
	{
		unsigned char three = 3;
		const void *p[] = { &three, "x" };
		size_t l[] = { 1, 1 };
		put(KERN_STREAM, 1, 2, p, l);
		ok(parse(&m, &why) < 0, "stream 3 is refused: %s", why);
		const void *q[] = { &origin, "Image/PNG", "x" };
		size_t lq[] = { 1, 9, 1 };
		put(KERN_DATA, 1, 3, q, lq);
		ok(parse(&m, &why) < 0 && strstr(why, "mime"), "an upper-case mime type: %s", why);
		const void *nul[] = { &origin, "image/png\0js", "x" };
		size_t lnul[] = { 1, 12, 1 };
		put(KERN_DATA, 1, 3, nul, lnul);
		ok(parse(&m, &why) < 0 && strstr(why, "0x00"), "a NUL in a mime type (the fuzzer found it): %s", why);
		const void *r[] = { &origin, "text/plain" };
		size_t lr[] = { 1, 10 };
		put(KERN_DATA, 1, 2, r, lr);
		ok(parse(&m, &why) < 0, "a mime type without data: %s", why);
		const void *s[] = { "bell\a" };
		size_t ls[] = { 5 };
		put(KERN_FAILED, 0, 1, s, ls);
		ok(parse(&m, &why) < 0 && strstr(why, "0x07"), "failed text must be printable: %s", why);
		const void *t[] = { &st, &count, "extra" };
		size_t lt[] = { 1, 3, 5 };
		put(KERN_DONE, 1, 2, t, lt);
		ok(parse(&m, &why) < 0, "a done with a 3-byte count: %s", why);
		const void *u[34];
		size_t lu[34];
		u[0] = &origin;
		lu[0] = 1;
		for (int i = 1; i < 34; i++) {
			u[i] = i % 2 ? "text/plain" : "x";
			lu[i] = i % 2 ? 10 : 1;
		}
		put(KERN_DATA, 1, 34, u, lu);
		ok(parse(&m, &why) < 0 && strstr(why, "fields"), "more than 16 parts: %s", why);
	}
	buf_release(&b);
	return tap_done();
}
