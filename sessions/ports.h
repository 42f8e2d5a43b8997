/**
 * ports.h — the TCP ports programs of a sandbox listen on, read from the
 * kernel's table of the sandbox's network namespace (/proc/PID/net/tcp and
 * tcp6 of its worker), and which loopback address reaches each.
 *
 * The tables are written by the kernel, yet they are parsed as hostile
 * input all the same: bounded reads, lines that do not parse are skipped.
 * Loop thread only (reads small /proc files synchronously).
 */
#ifndef MCPBOX_SESS_PORTS_H
#define MCPBOX_SESS_PORTS_H

#include <stdbool.h>
#include <stddef.h>

#include "session.h"

#define SESS_PORTS_MAX 64

struct sess_port {
	unsigned port;
	bool v4;	/* reachable at 127.0.0.1 (bound to it or to 0.0.0.0) */
	bool v6;	/* reachable at ::1 (bound to it or to ::) */
};

/**
 * Parse one kernel TCP table (the text of /proc/net/tcp or tcp6) and add its
 * listening sockets reachable over loopback to ports (merged by port number,
 * sorted, at most max). Pure; for tests.
 */
void sess_ports_parse(const char *text, bool v6, struct sess_port *ports, size_t *n, size_t max);

/** The listening ports of s's sandbox (up to max): how many; -1 with errp when it does not run. */
int sess_ports_list(struct sess_session *s, struct sess_port *ports, size_t max, struct err **errp);

#endif
