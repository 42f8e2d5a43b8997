/*
 * libFuzzer target: what a (hostile) display agent sends the server, into
 * the server's check of it (vnc/chan.c) and the copy of the damage it
 * allows. Input: 4 bytes choosing the screen size, then messages, each a
 * 2-byte length and that many bytes.
 * Invariants: an accepted message names things inside the screen the server
 * fixed (ASan checks the copy of every accepted rectangle between buffers of
 * exactly the screen's size), a cursor fits the cursor slot, text is
 * terminated printable ASCII.
 */
#include "vnc/chan.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void check(const struct vnc_chan_msg *m, int w, int h)
{
	switch (m->type) {
	case VNC_AGENT_READY:
		if (m->w != w || m->h != h || m->fb_off % 4 || m->fb_off > VNC_AGENT_HEADER_MAX)
			abort();
		break;
	case VNC_AGENT_DAMAGE: {
		if (m->nrects < 1 || m->nrects > VNC_AGENT_RECTS)
			abort();
		size_t len = (size_t)w * (size_t)h * 4;
		uint8_t *src = malloc(len), *dst = malloc(len);
		memset(src, 0xab, len);
		vnc_chan_copy_rects(dst, src, w, m->rects, m->nrects);
		free(src);
		free(dst);
		break;
	}
	case VNC_AGENT_CURSOR:
		if (m->w < 1 || m->h < 1 || (size_t)m->w * (size_t)m->h * 4 > VNC_AGENT_CURSOR_BYTES || m->xhot >= m->w ||
		    m->yhot >= m->h || m->xhot < 0 || m->yhot < 0)
			abort();
		break;
	case VNC_AGENT_FAILED:
		for (size_t i = 0; i < sizeof(m->text) && m->text[i]; i++)
			if (m->text[i] < 0x20 || m->text[i] > 0x7e)
				abort();
		if (!memchr(m->text, 0, sizeof(m->text)))
			abort();
		break;
	case VNC_AGENT_SYNCED:
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size < 4)
		return 0;
	int w = 1 + ((data[0] | data[1] << 8) % 640), h = 1 + ((data[2] | data[3] << 8) % 480);
	size_t off = 4;

	while (off + 2 <= size) {
		size_t len = (size_t)(data[off] | data[off + 1] << 8) % (2 * sizeof(struct vnc_agent_msg));
		off += 2;
		/* the message as recv() would give it: short input is zero-filled */
		unsigned char *msg = calloc(1, len ? len : 1);
		memcpy(msg, data + off, size - off < len ? size - off : len);
		off += size - off < len ? size - off : len;
		struct vnc_chan_msg m;
		struct err *e = NULL;
		if (vnc_chan_parse(msg, len, w, h, &m, &e) == 0)
			check(&m, w, h);
		else
			err_free(e);
		free(msg);
	}
	return 0;
}
