/**
 * wsframe.h — WebSocket frames (RFC 6455), both ways round: the receiver
 * of frames from a hostile peer (a client, whose frames must be masked, or
 * a server inside a sandbox, whose frames must not be), and the writers of
 * frame headers for either side. Pure functions over bytes: every length is
 * bounded, anything malformed earns the close status RFC 6455 names. Used
 * by transport/ws.c (mcpbox's own WebSocket server) and proxy/wsproxy.c
 * (its client to sandbox servers). Any thread.
 */
#ifndef MCPBOX_WSFRAME_H
#define MCPBOX_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../server/base/buf.h"

#define WSF_MESSAGE_MAX (32u << 20)	/* one message unless a receiver says otherwise, counted as its frames pass */
#define WSF_CONTROL_MAX 125		/* a control frame's payload (RFC 6455 5.5) */
#define WSF_HEADER_MAX 14		/* the longest frame header: 2 + 8 length + 4 mask */

enum wsf_op { WSF_CONT = 0, WSF_TEXT = 1, WSF_BINARY = 2, WSF_CLOSE = 8, WSF_PING = 9, WSF_PONG = 10 };

/* Close statuses (RFC 6455 7.4.1) */
#define WSF_NORMAL 1000
#define WSF_GOING_AWAY 1001
#define WSF_PROTOCOL_ERROR 1002
#define WSF_BAD_DATA 1007		/* a text message that is not UTF-8 */
#define WSF_POLICY 1008
#define WSF_TOO_BIG 1009
#define WSF_TRY_LATER 1013
#define WSF_BAD_GATEWAY 1014

/** A random Sec-WebSocket-Key (24 characters). */
void wsf_key(char out[25]);
/** The Sec-WebSocket-Accept a server must answer key with. */
void wsf_accept_of(const char *key, char out[29]);
/** Is key a Sec-WebSocket-Key as RFC 6455 4.1 has it (16 bytes in base64)? */
bool wsf_key_valid(const char *key);
/** Is status one an endpoint may send in a close frame (1000-1003, 1007-1014, 3000-4999)? */
bool wsf_status_valid(unsigned status);
/**
 * Write the header of a server's (unmasked) frame of len payload bytes into
 * h (WSF_HEADER_MAX bytes); fin false: its message goes on. Returns its length.
 */
size_t wsf_server_header(unsigned char *h, enum wsf_op op, uint64_t len, bool fin);

/** Append one masked frame (a client's) with FIN set. */
void wsf_frame(struct buf *out, enum wsf_op op, const void *p, size_t n);
/**
 * A client's frame written in pieces: its header first, with the length of
 * the whole payload, then the payload as it comes (masked where it falls).
 */
struct wsf_tx {
	unsigned char mask[4];
	uint64_t at, left;		/* payload bytes written, and still to come */
};
/** Append the header of a masked frame of len payload bytes; fin false: its message goes on. */
void wsf_frame_begin(struct buf *out, struct wsf_tx *tx, enum wsf_op op, uint64_t len, bool fin);
/** Append n bytes of its payload (at most tx->left). */
void wsf_frame_add(struct buf *out, struct wsf_tx *tx, const void *p, size_t n);

/**
 * A receiver of frames. Messages are not assembled: the payload of a data
 * frame is passed on as it arrives, in pieces that point into the bytes fed
 * (unmasked there, in place), so the receiver holds no more than a frame's
 * header and one control frame (under 140 bytes, no allocation) whatever
 * the peer sends. Messages are still counted against a bound. A zeroed
 * wsf_rx receives a server's frames; set masked for a client's, utf8 to
 * check text messages, max for a bound other than WSF_MESSAGE_MAX. It owns
 * no memory.
 */
struct wsf_rx {
	bool masked;			/* frames must be masked (a client's), else must not be (a server's) */
	bool utf8;			/* a text message that is not UTF-8 is an error (WSF_BAD_DATA) */
	uint64_t max;			/* a message's bound; 0: WSF_MESSAGE_MAX */
	/* state */
	unsigned char head[WSF_HEADER_MAX];	/* a frame's header until whole */
	unsigned head_len;
	char ctl[WSF_CONTROL_MAX];	/* a control frame's payload until whole */
	unsigned ctl_len;
	bool in_frame;			/* a header was read: left payload bytes follow */
	bool fin;			/* the frame ends its message */
	int op;				/* the frame's opcode */
	unsigned char mask[4];		/* its masking key */
	uint64_t at;			/* its payload bytes read so far */
	uint64_t left;
	int msg_op;			/* the message under way (WSF_TEXT or _BINARY), 0: none */
	uint64_t msg_len;		/* its bytes so far, with the frame being read */
	uint32_t u8;			/* utf8: the state of a character cut between pieces */
};
/**
 * Called with each piece of a message, op its kind (WSF_TEXT or
 * WSF_BINARY), final on its last piece (which may be empty; no other piece
 * is), and with each control frame (close, ping, pong) whole and final, in
 * the order they came. p is valid during the call only. Returns false to
 * stop the feed after this piece (the receiver cannot take more).
 */
typedef bool (*wsf_piece_fn)(void *arg, enum wsf_op op, const char *p, size_t n, bool final);
/**
 * Feed bytes (a masked frame's payload is unmasked where it lies); *used
 * says how many were taken: n, or fewer when fn stopped the feed (feed the
 * rest again later). Returns 0, or the close status the peer earned:
 * WSF_PROTOCOL_ERROR for a broken frame (a mask where there must be none or
 * none where there must be one, reserved bits or opcodes, a long or
 * fragmented control frame, fragments out of order), WSF_TOO_BIG for a
 * message over the bound (refused at the header that takes it over, before
 * its payload is passed on), WSF_BAD_DATA for text that is not UTF-8
 * (refused before the piece that breaks it is passed on). After an error
 * rx must not be fed again.
 */
int wsf_rx_feed(struct wsf_rx *rx, char *p, size_t n, wsf_piece_fn fn, void *arg, size_t *used);
/** During fn: payload bytes of the current frame still to come. */
static inline uint64_t wsf_rx_frame_left(const struct wsf_rx *rx)
{
	return rx->left;
}
/**
 * Is p[0..n) well-formed UTF-8, going on from *state (0 at a message's
 * start)? *state keeps a character cut at the end; the text ends well only
 * with *state 0 again. Pure.
 */
bool wsf_utf8(uint32_t *state, const unsigned char *p, size_t n);

#endif
