/*
 * chan.c — building and checking kernel agent messages (see chan.h).
 */
#include "chan.h"

#include <stdbool.h>
#include <string.h>

#include "../server/base/banned.h"

void kern_chan_put(struct buf *out, uint32_t type, uint32_t seq, int nfields, const void *const *ptrs,
		   const size_t *lens)
{
	struct kern_hdr h = { .type = type, .seq = seq, .len = 0 };
	size_t total = 0;

	for (int i = 0; i < nfields; i++)
		total += sizeof(uint32_t) + lens[i];
	h.len = (uint32_t)total;
	buf_add(out, &h, sizeof(h));
	for (int i = 0; i < nfields; i++) {
		uint32_t l = (uint32_t)lens[i];
		buf_add(out, &l, sizeof(l));
		buf_add(out, ptrs[i], lens[i]);
	}
}

/* Split a payload into fields; fails unless they fill it exactly. */
static int split(const char *p, size_t len, struct kern_bytes *f, int max, int *n, struct err **errp)
{
	size_t off = 0;

	*n = 0;
	while (off < len) {
		uint32_t l;
		if (*n == max)
			return err_set(errp, 0, "more than %d fields", max);
		if (len - off < sizeof(l))
			return err_set(errp, 0, "a field length cut off");
		memcpy(&l, p + off, sizeof(l));
		off += sizeof(l);
		if (l > len - off)
			return err_set(errp, 0, "a field of %u bytes past the end of the message", l);
		f[*n].p = p + off;
		f[*n].len = l;
		(*n)++;
		off += l;
	}
	return 0;
}

static int printable(struct kern_bytes t, struct err **errp)
{
	if (t.len > KERN_TEXT_MAX)
		return err_set(errp, 0, "text of %zu bytes", t.len);
	for (size_t i = 0; i < t.len; i++)
		if (t.p[i] < 0x20 || t.p[i] > 0x7e)
			return err_set(errp, 0, "text with byte 0x%02x", (unsigned char)t.p[i]);
	return 0;
}

/* Is f one byte within lo..hi? */
static bool byte_in(struct kern_bytes f, int lo, int hi, int *out)
{
	if (f.len != 1 || (unsigned char)f.p[0] < lo || (unsigned char)f.p[0] > hi)
		return false;
	*out = (unsigned char)f.p[0];
	return true;
}

static int mime_ok(struct kern_bytes f, char *out, struct err **errp)
{
	if (!f.len || f.len > KERN_MIME_MAX)
		return err_set(errp, 0, "a mime type of %zu bytes", f.len);
	for (size_t i = 0; i < f.len; i++) {
		char c = f.p[i];
		/* strchr finds the terminating NUL too: a NUL must not pass as one of "+.-/" */
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c && strchr("+.-/", c))))
			return err_set(errp, 0, "a mime type with byte 0x%02x", (unsigned char)c);
	}
	memcpy(out, f.p, f.len);
	out[f.len] = 0;
	return 0;
}

static int parse_body(struct kern_msg *m, const struct kern_bytes *f, int n, struct err **errp)
{
	int v;

	switch (m->type) {
	case KERN_READY:
	case KERN_FAILED:
		if (n != 1)
			return err_set(errp, 0, "%d fields (want 1)", n);
		m->text = f[0];
		return printable(f[0], errp);
	case KERN_STREAM:
		if (n != 2 || !byte_in(f[0], KERN_STDOUT, KERN_STDERR, &v))
			return err_set(errp, 0, "a bad stream message");
		m->stream = (enum kern_stream)v;
		m->text = f[1];
		return 0;
	case KERN_DATA:
		if (n < 3 || n % 2 == 0 || !byte_in(f[0], KERN_DISPLAY, KERN_RESULT, &v))
			return err_set(errp, 0, "a bad data message (%d fields)", n);
		m->origin = (enum kern_origin)v;
		m->nparts = (n - 1) / 2;
		for (int i = 0; i < m->nparts; i++) {
			if (mime_ok(f[1 + 2 * i], m->parts[i].mime, errp) < 0)
				return -1;
			m->parts[i].data = f[2 + 2 * i];
		}
		return 0;
	case KERN_ERROR:
		if (n != 3)
			return err_set(errp, 0, "an error message with %d fields", n);
		m->ename = f[0];
		m->evalue = f[1];
		m->traceback = f[2];
		return 0;
	case KERN_DONE:
		if (n != 2 || !byte_in(f[0], KERN_OK, KERN_ABORTED, &v) ||
		    f[1].len != sizeof(m->count))
			return err_set(errp, 0, "a bad done message");
		m->status = (enum kern_status)v;
		memcpy(&m->count, f[1].p, sizeof(m->count));
		return 0;
	case KERN_DIED:
		if (n != 1 || f[0].len != sizeof(m->wstatus))
			return err_set(errp, 0, "a bad died message");
		memcpy(&m->wstatus, f[0].p, sizeof(m->wstatus));
		return 0;
	default:
		return err_set(errp, 0, "a message of unknown type %u", (unsigned)m->type);
	}
}

ssize_t kern_chan_parse(const void *buf, size_t len, struct kern_msg *m, struct err **errp)
{
	struct kern_bytes f[KERN_FIELDS_MAX];
	struct kern_hdr h;
	int n;

	if (len < sizeof(h))
		return 0;
	memcpy(&h, buf, sizeof(h));
	if (h.type < KERN_READY || h.type > KERN_FAILED)
		return err_set(errp, 0, "a message of unknown type %u", h.type);
	if (h.len > KERN_MSG_MAX)
		return err_set(errp, 0, "a message of %u bytes (at most %u)", h.len, KERN_MSG_MAX);
	if (len - sizeof(h) < h.len)
		return 0;
	memset(m, 0, sizeof(*m));
	m->type = (enum kern_msg_type)h.type;
	m->seq = h.seq;
	if (split((const char *)buf + sizeof(h), h.len, f, KERN_FIELDS_MAX, &n, errp) < 0 ||
	    parse_body(m, f, n, errp) < 0)
		return -1;
	return (ssize_t)(sizeof(h) + h.len);
}
