/**
 * netns.h — networking for sessions that ask for it (network: true).
 *
 * Every sandbox has its own network namespace. One without network has only
 * lo. One with network gets user-mode networking: slirp4netns, started by
 * the zygote beside the sandbox (in its cgroup, dying with it), gives it a
 * tap0 with 10.0.2.100/24, a gateway (10.0.2.2) and DNS (10.0.2.3) that
 * leave through the host's stack as ordinary sockets of an ordinary user.
 * Every sandbox's /etc/resolv.conf names 10.0.2.3 (sandbox_init.c). Inside,
 * before it drops its privileges, the worker installs an nftables egress filter in
 * its namespace (libnftables, loaded only then): DNS to 10.0.2.3 and the
 * configured allow-list pass; loopback, private, link-local (the cloud
 * metadata address), shared, multicast and reserved destinations are
 * refused; the rest of the internet passes. The host's loopback is not
 * mapped (--disable-host-loopback), so neither mcpbox's own port nor any
 * other host service, nor another session, can be reached. Sandbox code has
 * no capability to change the filter.
 *
 * Threads: the zygote side runs in the single-threaded zygote; the child side
 * in the cloned child before privileges are dropped. sess_net_set_egress()
 * runs in the server at start-up, before the zygote is forked.
 */
#ifndef MCPBOX_SESS_NETNS_H
#define MCPBOX_SESS_NETNS_H

#include <stddef.h>
#include <sys/types.h>

#include "../server/base/err.h"

/**
 * Destinations network sessions may reach although they are private:
 * "CIDR" or "CIDR:port" (IPv4). Validated; call before the zygote starts.
 */
int sess_net_set_egress(const char *const *allow, size_t n, struct err **errp);

/**
 * Zygote: give the child pid (in its user and network namespaces, not yet
 * running) user-mode networking. On success *exit_fd is kept open for as long
 * as the sandbox lives (closing it ends slirp4netns) and *helper is its pid.
 * Returns NULL or a malloc'd message.
 */
char *sess_net_start(pid_t child, int *exit_fd, pid_t *helper);

/** Child, as root of its user namespace: the egress filter. NULL or a static message. */
const char *sess_net_configure(void);

#endif
