/*
 * ports.c — listening ports of a sandbox (ports.h).
 */
#include "ports.h"
#include "sandbox.h"
#include "../server/base/common.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../server/base/banned.h"

#define TABLE_MAX (1u << 20)	/* ~7,000 sockets: more are not read */
#define TCP_LISTEN 0x0A

static void add_port(struct sess_port *ports, size_t *n, size_t max, unsigned port, bool v6)
{
	size_t i = 0;

	while (i < *n && ports[i].port < port)
		i++;
	if (i < *n && ports[i].port == port) {
		ports[i].v4 |= !v6;
		ports[i].v6 |= v6;
		return;
	}
	if (*n == max)
		return;
	memmove(&ports[i + 1], &ports[i], (*n - i) * sizeof(*ports));
	ports[i] = (struct sess_port){ .port = port, .v4 = !v6, .v6 = v6 };
	(*n)++;
}

/* Is the local address (hex, as the kernel prints it) one loopback reaches? */
static bool reachable(const char *hex, size_t len, bool v6)
{
	static const char any6[] = "00000000000000000000000000000000";
	static const char lo6[] = "00000000000000000000000001000000";
	static const char mapped_lo[] = "0000000000000000FFFF00000100007F";

	if (!v6) {
		/* host byte order (little-endian here): 127.x.y.z ends in "7F" */
		return len == 8 && (!memcmp(hex, "00000000", 8) || !memcmp(hex + 6, "7F", 2));
	}
	return len == 32 && (!memcmp(hex, any6, 32) || !memcmp(hex, lo6, 32) || !memcmp(hex, mapped_lo, 32));
}

void sess_ports_parse(const char *text, bool v6, struct sess_port *ports, size_t *n, size_t max)
{
	const char *line = text;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		char addr[40];
		unsigned port, st;
		size_t len;
		/* "  sl: local_address rem_address st ..."; the header line fails the scan */
		if (sscanf(line, " %*u: %39[0-9A-Fa-f]:%4X %*[0-9A-Fa-f]:%*4X %2X", addr, &port, &st) == 3 &&
		    st == TCP_LISTEN && port >= 1 && port <= 65535) {
			len = strlen(addr);
			if (reachable(addr, len, v6))
				add_port(ports, n, max, port, v6);
		}
		line = end ? end + 1 : NULL;
	}
}

static int read_table(pid_t pid, const char *name, struct buf *b)
{
	char path[64];
	auto_close int fd = -1;
	ssize_t r;

	snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	buf_reset(b);
	buf_grow(b, 65536);
	while (b->len < TABLE_MAX) {
		size_t room = TABLE_MAX - b->len < 65536 ? TABLE_MAX - b->len : 65536;
		buf_grow(b, room);
		r = read(fd, b->data + b->len, room);
		if (r <= 0)
			break;
		b->len += (size_t)r;
	}
	/* a cut line at the bound does not parse, and is skipped */
	buf_add(b, "", 1);
	return 0;
}

int sess_ports_list(struct sess_session *s, struct sess_port *ports, size_t max, struct err **errp)
{
	struct buf b = BUF_INIT;
	size_t n = 0;
	pid_t pid;

	if (s->state != SESS_RUNNING || !s->worker)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "session %s is not running", s->id);
	pid = sess_worker_pid(s->worker);
	if (read_table(pid, "tcp", &b) == 0)
		sess_ports_parse(b.data, false, ports, &n, max);
	if (read_table(pid, "tcp6", &b) == 0)
		sess_ports_parse(b.data, true, ports, &n, max);
	buf_release(&b);
	return (int)n;
}
