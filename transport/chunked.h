/**
 * chunked.h — a decoder of HTTP/1.1 chunked request bodies (RFC 9112 7.1).
 *
 * libwebsockets 4.1's h1 server does not decode them: for a POST, PUT or
 * PATCH without a Content-Length it takes the body to be 100 MiB long and
 * hands its raw bytes, framing and all, to LWS_CALLBACK_HTTP_BODY
 * (lib/roles/http/server/server.c, lws_http_action; client-http.c is the
 * only place that parses chunks). The transport runs those bytes through
 * this decoder. Strict: sizes are hex digits, every line ends in CRLF,
 * extensions and trailers are skipped but bounded (TP_CHUNKED_LINE_MAX
 * each), a size past 2^60 is malformed. The state is plain data: no
 * allocation, any thread.
 */
#ifndef MCPBOX_TP_CHUNKED_H
#define MCPBOX_TP_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

#define TP_CHUNKED_LINE_MAX 4096

struct tp_chunked {
	int state;
	uint64_t left;		/* bytes of the current chunk's data still to come */
	unsigned digits;	/* hex digits of the size line so far */
	unsigned line;		/* bytes of the extension or trailer line so far */
};

/** What tp_chunked_next found. */
enum tp_chunked_step {
	TP_CHUNKED_MORE,	/* everything given was framing: give more */
	TP_CHUNKED_DATA,	/* *data, *n: a piece of the body */
	TP_CHUNKED_END,		/* the last chunk and the trailers ended: what follows is not the body's */
	TP_CHUNKED_BAD,		/* malformed framing */
};

/** A decoder before the first size line. */
void tp_chunked_init(struct tp_chunked *c);
/**
 * Read from *in (len *len bytes), advancing both past what it consumed,
 * until a piece of body data, the end, an error or the input's end. Call
 * again with what is left after DATA. After END or BAD it stays there.
 */
enum tp_chunked_step tp_chunked_next(struct tp_chunked *c, const char **in, size_t *len, const char **data,
				     size_t *n);

#endif
