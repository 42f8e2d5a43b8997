/**
 * proto.h — the wire between the server and a session's kernel agent
 * (kernel/agent.c, `mcpbox kernel-agent LANGUAGE`, running inside the
 * sandbox beside the Jupyter kernel it started).
 *
 * One SOCK_STREAM socketpair (the agent's fd KERN_AGENT_FD_CHAN). Both ways a
 * message is a struct kern_hdr followed by hdr.len bytes of payload; the
 * payload is a sequence of fields, each a uint32_t length (host order: both
 * ends run on the same machine) and that many bytes, filling the payload
 * exactly. Which fields a type carries is written beside it below.
 *
 * The agent is as hostile as the sandbox it runs in: the server checks every
 * message with kern_chan_parse() (kernel/chan.h) before it uses anything of
 * it, and never waits for the agent without a deadline.
 */
#ifndef MCPBOX_KERN_PROTO_H
#define MCPBOX_KERN_PROTO_H

#include <stdint.h>

/* The fds the agent is started with. */
#define KERN_AGENT_FD_CHAN 3
#define KERN_AGENT_FD_EXE 4

#define KERN_MSG_MAX ((uint32_t)8 << 20)	/* payload bytes of one message, either way */
#define KERN_FIELDS_MAX 33			/* DATA: origin + 16 (mime, data) pairs */
#define KERN_PARTS_MAX 16
#define KERN_MIME_MAX 63
#define KERN_TEXT_MAX 300			/* READY and FAILED text */

struct kern_hdr {
	uint32_t type;
	uint32_t seq;		/* the EXECUTE a message belongs to; 0: none */
	uint32_t len;		/* payload bytes, at most KERN_MSG_MAX */
};

/* agent → server */
enum kern_msg_type {
	KERN_READY = 1,		/* text: what runs ("ipykernel 6.17.0, Python 3.11.2"); seq 0 */
	KERN_STREAM,		/* stream (1 byte: 1 stdout, 2 stderr), text */
	KERN_DATA,		/* origin (1 byte: 1 display_data, 2 execute_result), then 1..16 pairs of
				   mime type ([a-z0-9+.-/], 1..63 bytes) and data (image/png and
				   image/jpeg: the decoded bytes; other types: text) */
	KERN_ERROR,		/* ename, evalue, traceback (lines joined by \n, colours removed) */
	KERN_DONE,		/* status (1 byte: 0 ok, 1 error, 2 aborted), execution count (4 bytes):
				   the reply came and every output of the cell was sent */
	KERN_DIED,		/* wait status of the kernel (4 bytes); the agent exits after it */
	KERN_FAILED,		/* text: why no kernel runs (printable ASCII); the agent exits after it */
};

enum kern_stream { KERN_STDOUT = 1, KERN_STDERR = 2 };
enum kern_origin { KERN_DISPLAY = 1, KERN_RESULT = 2 };
enum kern_status { KERN_OK = 0, KERN_EXC = 1, KERN_ABORTED = 2 };

/* server → agent */
enum kern_cmd_type {
	KERN_EXECUTE = 101,	/* code, stdin (two fields; stdin: lines that answer the cell's input()
				   requests in order, then EOF); seq: its number, increasing */
	KERN_INTERRUPT,		/* no field; seq: the EXECUTE to interrupt (SIGINT to the kernel) */
};

#endif
