/*
 * libFuzzer target: what a (hostile) kernel agent sends the server, into the
 * server's check of it (kernel/chan.c), consumed as the server reads its
 * stream: parse from the front, drop what was used, ask for more.
 * Invariants: an accepted message lies inside the bytes given (ASan checks
 * every field is readable), its size moves the reader forward, fields obey
 * their type's rules (stream, origin, status in range; mime types lowercase
 * tokens; READY/FAILED text printable ASCII).
 */
#include "kernel/chan.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static unsigned sum;	/* reading every byte makes ASan check it */

static void touch(struct kern_bytes b, const unsigned char *lo, const unsigned char *hi)
{
	if (b.len && ((const unsigned char *)b.p < lo || (const unsigned char *)b.p + b.len > hi))
		abort();
	for (size_t i = 0; i < b.len; i++)
		sum += (unsigned char)b.p[i];
}

static void check(const struct kern_msg *m, const unsigned char *lo, const unsigned char *hi)
{
	touch(m->text, lo, hi);
	touch(m->ename, lo, hi);
	touch(m->evalue, lo, hi);
	touch(m->traceback, lo, hi);
	switch (m->type) {
	case KERN_READY:
	case KERN_FAILED:
		if (m->text.len > KERN_TEXT_MAX)
			abort();
		for (size_t i = 0; i < m->text.len; i++)
			if (m->text.p[i] < 0x20 || m->text.p[i] > 0x7e)
				abort();
		break;
	case KERN_STREAM:
		if (m->stream != KERN_STDOUT && m->stream != KERN_STDERR)
			abort();
		break;
	case KERN_DATA:
		if (m->nparts < 1 || m->nparts > KERN_PARTS_MAX || (m->origin != KERN_DISPLAY && m->origin != KERN_RESULT))
			abort();
		for (int i = 0; i < m->nparts; i++) {
			size_t n = strlen(m->parts[i].mime);
			if (!n || n > KERN_MIME_MAX || strspn(m->parts[i].mime, "abcdefghijklmnopqrstuvwxyz0123456789+.-/") != n)
				abort();
			touch(m->parts[i].data, lo, hi);
		}
		break;
	case KERN_DONE:
		if (m->status > KERN_ABORTED)
			abort();
		break;
	case KERN_ERROR:
	case KERN_DIED:
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	/* a private copy exactly the input's size: reads past it are caught */
	unsigned char *buf = malloc(size ? size : 1);
	size_t off = 0;

	memcpy(buf, data, size);
	while (off < size) {
		struct kern_msg m;
		struct err *e = NULL;
		ssize_t n = kern_chan_parse(buf + off, size - off, &m, &e);
		if (n < 0) {
			err_free(e);
			break;
		}
		if (n == 0)
			break;
		if ((size_t)n > size - off || (size_t)n < sizeof(struct kern_hdr))
			abort();
		check(&m, buf + off, buf + off + n);
		off += (size_t)n;
	}
	free(buf);
	return 0;
}
