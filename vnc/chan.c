/*
 * chan.c — validation of display agent messages (see chan.h).
 */
#include "chan.h"

#include <string.h>

#include "../server/base/banned.h"

static int parse_damage(const struct vnc_agent_msg *in, int scr_w, int scr_h, struct vnc_chan_msg *m,
			struct err **errp)
{
	if (in->a < 1 || in->a > VNC_AGENT_RECTS)
		return err_set(errp, 0, "damage with %u rectangles", in->a);
	for (uint32_t i = 0; i < in->a; i++) {
		const struct vnc_agent_rect *r = &in->u.rects[i];
		/* uint16_t fields: the sums cannot overflow an int */
		if (!r->w || !r->h || (int)r->x + r->w > scr_w || (int)r->y + r->h > scr_h)
			return err_set(errp, 0, "damage rectangle %ux%u+%u+%u outside the %dx%d screen", r->w, r->h,
				       r->x, r->y, scr_w, scr_h);
		m->rects[i] = (struct vnc_rect){ r->x, r->y, r->w, r->h };
	}
	m->nrects = (int)in->a;
	return 0;
}

static int parse_text(const struct vnc_agent_msg *in, struct vnc_chan_msg *m, struct err **errp)
{
	size_t n = strnlen(in->u.text, sizeof(in->u.text));

	if (n == sizeof(in->u.text))
		return err_set(errp, 0, "unterminated text");
	for (size_t i = 0; i < n; i++)
		if (in->u.text[i] < 0x20 || in->u.text[i] > 0x7e)
			return err_set(errp, 0, "text with byte 0x%02x", (unsigned char)in->u.text[i]);
	memcpy(m->text, in->u.text, n + 1);
	return 0;
}

int vnc_chan_parse(const void *buf, size_t len, int scr_w, int scr_h, struct vnc_chan_msg *m, struct err **errp)
{
	struct vnc_agent_msg in;

	if (len != sizeof(in))
		return err_set(errp, 0, "message of %zu bytes (want %zu)", len, sizeof(in));
	memcpy(&in, buf, sizeof(in));	/* one read of each field: the sender may still write */
	memset(m, 0, sizeof(*m));
	m->type = (enum vnc_agent_msg_type)in.type;
	switch (in.type) {
	case VNC_AGENT_READY:
		if (in.a != (uint32_t)scr_w || in.b != (uint32_t)scr_h)
			return err_set(errp, 0, "screen %ux%u, not the %dx%d asked for", in.a, in.b, scr_w, scr_h);
		if (in.c % 4 || in.c > VNC_AGENT_HEADER_MAX || in.d != (uint32_t)scr_w * 4)
			return err_set(errp, 0, "pixels at %u with %u bytes per row", in.c, in.d);
		m->w = scr_w;
		m->h = scr_h;
		m->fb_off = in.c;
		return 0;
	case VNC_AGENT_DAMAGE:
		return parse_damage(&in, scr_w, scr_h, m, errp);
	case VNC_AGENT_CURSOR:
		if (in.a < 1 || in.b < 1 || in.a > VNC_AGENT_CURSOR_MAX || in.b > VNC_AGENT_CURSOR_MAX ||
		    in.c >= in.a || in.d >= in.b)
			return err_set(errp, 0, "cursor %ux%u with hot spot %u,%u", in.a, in.b, in.c, in.d);
		m->w = (int)in.a;
		m->h = (int)in.b;
		m->xhot = (int)in.c;
		m->yhot = (int)in.d;
		return 0;
	case VNC_AGENT_SYNCED:
		m->seq = in.a;
		return 0;
	case VNC_AGENT_FAILED:
		return parse_text(&in, m, errp);
	default:
		return err_set(errp, 0, "message of unknown type %u", in.type);
	}
}

void vnc_chan_copy_rects(uint8_t *dst, const uint8_t *shared, int w, const struct vnc_rect *rs, int n)
{
	size_t stride = (size_t)w * 4;

	for (int i = 0; i < n; i++) {
		const struct vnc_rect *r = &rs[i];
		size_t off = (size_t)r->y * stride + (size_t)r->x * 4, len = (size_t)r->w * 4;
		for (int y = 0; y < r->h; y++, off += stride)
			memcpy(dst + off, shared + off, len);
	}
}
