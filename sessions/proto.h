/**
 * proto.h — wire format between the server, the zygote and each worker.
 * Internal to sessions/ (zygote.c, worker.c, sandbox_init.c; term.c reads the pty hand-over).
 *
 * Every message is ONE SOCK_SEQPACKET record: a fixed header, a fixed body
 * for its type, then zero or more strings, each a uint32_t length followed by
 * that many bytes (no NUL on the wire). File descriptors travel beside the
 * record as SCM_RIGHTS. Records never exceed SESS_PROTO_MAX_MSG.
 *
 * Trust: the zygote is ours. The worker is PID 1 *inside* the sandbox, so a
 * compromised sandbox controls what it sends: every reader of worker records
 * (worker.c) validates lengths and ids and treats anything odd as worker death.
 *
 *   server → zygote   SESS_MSG_CREATE   struct sess_msg_create + id, workspace
 *                     SESS_MSG_QUIT     (no body)
 *   zygote → server   SESS_MSG_CREATED  struct sess_msg_created [+ error text];
 *                                       on success the worker's control socket
 *   server → worker   SESS_MSG_SPAWN    struct sess_msg_spawn + cwd, argv…, envp…;
 *                                       the present fds as SCM_RIGHTS
 *                     SESS_MSG_KILL     struct sess_msg_kill
 *                     SESS_MSG_SHUTDOWN (no body) kill everything and exit
 *                     SESS_MSG_CONNECT  struct sess_msg_connect: open a TCP connection
 *                                       to a loopback port inside the sandbox
 *   worker → server   SESS_MSG_EXIT     struct sess_msg_exit
 *                     SESS_MSG_CONNECTED struct sess_msg_connected; when error is
 *                                       0, the socket (connect in progress) as SCM_RIGHTS
 */
#ifndef MCPBOX_SESS_PROTO_H
#define MCPBOX_SESS_PROTO_H

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "../server/base/buf.h"

#define SESS_PROTO_MAX_MSG (256u * 1024u)
#define SESS_PROTO_MAX_FDS 8
#define SESS_PROTO_MAX_ID 64		/* session id bytes (names a cgroup dir) */
#define SESS_PROTO_MAX_ARGS 65536	/* argv + envp entries */

enum sess_msg_type {
	SESS_MSG_CREATE = 1,
	SESS_MSG_QUIT,
	SESS_MSG_CREATED,
	SESS_MSG_SPAWN,
	SESS_MSG_KILL,
	SESS_MSG_SHUTDOWN,
	SESS_MSG_EXIT,
	SESS_MSG_CONNECT,
	SESS_MSG_CONNECTED,
	SESS_MSG_REGROUP,	/* server -> zygote, no answer: strings id, group (sess_zygote_assign) */
};

struct sess_msg_hdr {
	uint32_t type;
	uint32_t pad;
};

/* Limits as they travel (same meaning as struct sess_limits). */
struct sess_msg_limits {
	uint64_t memory_bytes;
	uint64_t file_bytes;
	uint64_t data_bytes;
	uint32_t max_pids;
	uint32_t cpu_seconds;
	uint32_t open_files;
	uint32_t cpu_millis;
};

struct sess_msg_create {
	struct sess_msg_hdr h;
	uint32_t network;
	uint32_t group_cpu_millis;	/* the group's CPU cap, thousandths of a CPU; 0: none */
	struct sess_msg_limits limits;
	/* strings: id, workspace, group (cgroup.h) */
};

struct sess_msg_created {
	struct sess_msg_hdr h;
	int32_t error;		/* 0 ok (worker socket attached), else errno-ish; text follows */
	int32_t pid;		/* host pid of the worker */
};

struct sess_msg_spawn {
	struct sess_msg_hdr h;
	uint64_t exec_id;
	uint32_t nfds;		/* fds 0..nfds-1 in the program */
	uint32_t fd_mask;	/* bit i set: fd i travels as SCM_RIGHTS (in order of i) */
	uint32_t argc;
	uint32_t envc;
	uint32_t has_memory_cg;	/* sandbox has a memory cgroup: no RLIMIT_AS */
	uint32_t has_pids_cg;	/* sandbox has a pids cgroup: no RLIMIT_NPROC */
	uint16_t pty_rows;	/* nonzero: the program runs on a new pty of the sandbox; fd 3 is */
	uint16_t pty_cols;	/* a socket the child sends the master over (proto below) */
	uint32_t pad;
	struct sess_msg_limits limits;
	/* strings: cwd (empty = /workspace), argv[argc], envp[envc] */
};

/*
 * A pty spawn's answer on its fd 3, from the child before its execve: an
 * int32_t errno (0: the master travels beside it as SCM_RIGHTS; else the
 * pty could not be made and the child exits 127).
 */
struct sess_msg_pty {
	int32_t error;
};

struct sess_msg_kill {
	struct sess_msg_hdr h;
	uint64_t exec_id;
	int32_t sig;
	uint32_t flags;		/* SESS_KILL_SESSION: also every process of the program's session */
};
#define SESS_KILL_SESSION 1u

struct sess_msg_exit {
	struct sess_msg_hdr h;
	uint64_t exec_id;
	int32_t status;
	uint32_t pad;
	uint64_t cpu_ms;
	uint64_t max_rss_kb;
};

struct sess_msg_connect {
	struct sess_msg_hdr h;
	uint64_t req_id;
	uint32_t port;		/* 1..65535 */
	uint32_t ipv6;		/* 0: 127.0.0.1, 1: ::1 */
};

struct sess_msg_connected {
	struct sess_msg_hdr h;
	uint64_t req_id;
	int32_t error;		/* 0: the socket comes along; else an errno */
	uint32_t pad;
};

/* Cursor over the string area of a received record. */
struct sess_rd {
	const char *p;
	size_t left;
};

/* Next string: 0 with *s (not NUL-terminated) and *n, or -1 if truncated. */
static inline int sess_rd_str(struct sess_rd *r, const char **s, size_t *n)
{
	uint32_t len;

	if (r->left < sizeof(len))
		return -1;
	memcpy(&len, r->p, sizeof(len));
	if (len > r->left - sizeof(len))
		return -1;
	*s = r->p + sizeof(len);
	*n = len;
	r->p += sizeof(len) + len;
	r->left -= sizeof(len) + len;
	return 0;
}

/* Append one string (length prefix + bytes) to a record being built. */
static inline void sess_wr_str(struct buf *b, const char *s)
{
	uint32_t len = (uint32_t)strlen(s);

	buf_add(b, &len, sizeof(len));
	buf_add(b, s, len);
}

/* Attach one fd as SCM_RIGHTS to mh, in cbuf (at least CMSG_SPACE(sizeof(int)) bytes). */
static inline void sess_proto_put_fd(struct msghdr *mh, void *cbuf, size_t cap, int fd)
{
	struct cmsghdr *c;

	memset(cbuf, 0, cap);
	mh->msg_control = cbuf;
	mh->msg_controllen = CMSG_SPACE(sizeof(int));
	c = CMSG_FIRSTHDR(mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
}

/*
 * Take the descriptors a received message carries: the first max go into
 * fds, the rest are closed (a peer may smuggle in more than it should).
 * Returns how many arrived in all.
 */
static inline size_t sess_proto_take_fds(struct msghdr *mh, int *fds, size_t max)
{
	size_t n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++, n++) {
			int x;
			memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (n < max)
				fds[n] = x;
			else
				close(x);
		}
	}
	return n;
}

#endif
