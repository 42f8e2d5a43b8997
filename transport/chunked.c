/*
 * transport/chunked.c — the chunked body decoder (see chunked.h): a state
 * machine over bytes, so a request's framing may be split anywhere between
 * the pieces libwebsockets hands over.
 */
#include "chunked.h"

#include <stdbool.h>

#include "../server/base/common.h"

#include "../server/base/banned.h"

enum {
	SIZE,		/* hex digits of a chunk's size */
	EXT,		/* ";..." after them, up to CR */
	SIZE_LF,	/* the LF ending the size line */
	DATA,		/* the chunk's data */
	DATA_CR,	/* CRLF after it */
	DATA_LF,
	TRAILER,	/* at the start of a trailer line (after the last chunk's size line) */
	TRAILER_LINE,	/* inside one, up to CR */
	TRAILER_LF,	/* the LF ending one */
	END_LF,		/* the LF of the empty line that ends the body */
	DONE,
	BAD,
};

void tp_chunked_init(struct tp_chunked *c)
{
	*c = (struct tp_chunked){ .state = SIZE };
}

/* One byte of framing: the next state. */
static int frame(struct tp_chunked *c, char ch)
{
	switch (c->state) {
	case SIZE:
		if (srv_hex_value(ch) >= 0) {
			if (c->left >> 60)
				return BAD;
			c->left = c->left << 4 | (uint64_t)srv_hex_value(ch);
			c->digits++;
			return SIZE;
		}
		if (!c->digits)
			return BAD;
		c->line = 0;
		return ch == '\r' ? SIZE_LF : ch == ';' || ch == ' ' || ch == '\t' ? EXT : BAD;
	case EXT:
		if (ch == '\r')
			return SIZE_LF;
		return ++c->line > TP_CHUNKED_LINE_MAX || ch == '\n' ? BAD : EXT;
	case SIZE_LF:
		if (ch != '\n')
			return BAD;
		return c->left ? DATA : TRAILER;
	case DATA_CR:
		return ch == '\r' ? DATA_LF : BAD;
	case DATA_LF:
		if (ch != '\n')
			return BAD;
		c->digits = 0;
		return SIZE;
	case TRAILER:
		c->line = 0;
		if (ch == '\r')
			return END_LF;
		return ch == '\n' ? BAD : TRAILER_LINE;
	case TRAILER_LINE:
		if (ch == '\r')
			return TRAILER_LF;
		return ++c->line > TP_CHUNKED_LINE_MAX || ch == '\n' ? BAD : TRAILER_LINE;
	case TRAILER_LF:
		return ch == '\n' ? TRAILER : BAD;
	case END_LF:
		return ch == '\n' ? DONE : BAD;
	default:
		return BAD;
	}
}

enum tp_chunked_step tp_chunked_next(struct tp_chunked *c, const char **in, size_t *len, const char **data,
				     size_t *n)
{
	while (*len) {
		if (c->state == DONE || c->state == BAD)
			break;
		if (c->state == DATA) {
			size_t take = c->left < *len ? (size_t)c->left : *len;
			*data = *in;
			*n = take;
			*in += take;
			*len -= take;
			c->left -= take;
			if (!c->left)
				c->state = DATA_CR;
			return TP_CHUNKED_DATA;
		}
		c->state = frame(c, **in);
		(*in)++;
		(*len)--;
	}
	return c->state == DONE ? TP_CHUNKED_END : c->state == BAD ? TP_CHUNKED_BAD : TP_CHUNKED_MORE;
}
