#include "netns.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/banned.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define SLIRP_READY_MS 5000
#define DNS_ADDR "10.0.2.3"

/* The allow-list as nftables rules, built once at start-up (read by every child). */
static char *egress_rules;

/* "a.b.c.d/len" or "a.b.c.d/len:port" → nftables text appended to b. */
static int allow_rule(const char *spec, struct buf *b, struct err **errp)
{
	char addr[64];
	unsigned len = 32, port = 0;
	const char *slash = strchr(spec, '/'), *colon = strchr(spec, ':');
	size_t alen = slash ? (size_t)(slash - spec) : colon ? (size_t)(colon - spec) : strlen(spec);
	struct in_addr a;
	char tail;

	if (alen == 0 || alen >= sizeof(addr))
		return err_setc(errp, ERR_INVALID, 0, "egress_allow: \"%s\" is not an IPv4 CIDR", spec);
	memcpy(addr, spec, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, &a) != 1)
		return err_setc(errp, ERR_INVALID, 0, "egress_allow: \"%s\" is not an IPv4 CIDR", spec);
	if (slash && (sscanf(slash + 1, "%u%c", &len, &tail) < 1 || len > 32 ||
		      (colon && colon < slash)))
		return err_setc(errp, ERR_INVALID, 0, "egress_allow: \"%s\": bad prefix length", spec);
	if (colon && (sscanf(colon + 1, "%u%c", &port, &tail) != 1 || port < 1 || port > 65535))
		return err_setc(errp, ERR_INVALID, 0, "egress_allow: \"%s\": bad port", spec);
	if (slash && !colon && strspn(slash + 1, "0123456789") != strlen(slash + 1))
		return err_setc(errp, ERR_INVALID, 0, "egress_allow: \"%s\": bad prefix length", spec);
	if (port)
		buf_addf(b, "\t\tip daddr %s/%u tcp dport %u accept\n\t\tip daddr %s/%u udp dport %u accept\n", addr, len,
			 port, addr, len, port);
	else
		buf_addf(b, "\t\tip daddr %s/%u accept\n", addr, len);
	return 0;
}

int sess_net_set_egress(const char *const *allow, size_t n, struct err **errp)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (allow_rule(allow[i], &b, errp) < 0) {
			buf_release(&b);
			return -1;
		}
	}
	free(egress_rules);
	egress_rules = buf_detach(&b);
	return 0;
}

/* ---- zygote side ---------------------------------------------------------- */

char *sess_net_start(pid_t child, int *exit_fd, pid_t *helper)
{
	int ready[2], ex[2];
	char pidarg[16], byte;
	struct buf msg = BUF_INIT;

	/* slirp4netns opens it as the user we run as (Debian makes it 0666; some hosts 0600) */
	if (access("/dev/net/tun", R_OK | W_OK) < 0) {
		buf_addf(&msg, "network sessions need read-write access to /dev/net/tun for the user running mcpbox (%s)",
			 strerror(errno));
		return buf_detach(&msg);
	}
	if (pipe2(ready, O_CLOEXEC) < 0)
		goto sys;
	if (pipe2(ex, O_CLOEXEC) < 0) {
		close(ready[0]);
		close(ready[1]);
		goto sys;
	}
	snprintf(pidarg, sizeof(pidarg), "%d", (int)child);
	pid_t pid = fork();
	if (pid == 0) {
		/* fds 3 and 4 only: nothing of the zygote's (its server socket least of all) */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(ready[1], 3) < 0 || dup2(ex[0], 4) < 0)
			_exit(127);
		close_range(5, ~0U, 0);
		/* its chatter ("sent tapfd=...") would land in the server's log; failures are reported by us */
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		char *argv[] = { "slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
				 "--ready-fd=3", "--exit-fd=4", pidarg, "tap0", NULL };
		execvp(argv[0], argv);
		_exit(127);
	}
	close(ready[1]);
	close(ex[0]);
	if (pid < 0) {
		close(ready[0]);
		close(ex[1]);
		goto sys;
	}
	struct pollfd p = { .fd = ready[0], .events = POLLIN };
	int r = poll(&p, 1, SLIRP_READY_MS);
	bool ok = r == 1 && read(ready[0], &byte, 1) == 1;
	close(ready[0]);
	if (!ok) {
		int status = 0;
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		close(ex[1]);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			buf_adds(&msg, "network sessions need slirp4netns (Debian package slirp4netns)");
		else if (r == 0)
			buf_addf(&msg, "user-mode networking (slirp4netns) did not come up within %d ms", SLIRP_READY_MS);
		else
			buf_addf(&msg, "user-mode networking (slirp4netns) failed to start (exit status %d)",
				 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		return buf_detach(&msg);
	}
	*exit_fd = ex[1];
	*helper = pid;
	return NULL;
sys:
	buf_addf(&msg, "user-mode networking: %s", strerror(errno));
	return buf_detach(&msg);
}

/* ---- child side ----------------------------------------------------------- */

/* libnftables, loaded here only (it pulls libnftnl, libmnl, libxtables, libgmp) */
struct nft_ctx;
static const char *egress_filter(void)
{
	static char rules[8192];
	void *lib = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return "network sessions need libnftables (Debian package libnftables1) for their egress filter";
	struct nft_ctx *(*ctx_new)(uint32_t) = (struct nft_ctx * (*)(uint32_t)) dlsym(lib, "nft_ctx_new");
	int (*run)(struct nft_ctx *, const char *) = (int (*)(struct nft_ctx *, const char *))dlsym(lib, "nft_run_cmd_from_buffer");
	int (*buffer_error)(struct nft_ctx *) = (int (*)(struct nft_ctx *))dlsym(lib, "nft_ctx_buffer_error");
	void (*ctx_free)(struct nft_ctx *) = (void (*)(struct nft_ctx *))dlsym(lib, "nft_ctx_free");
	if (!ctx_new || !run || !buffer_error || !ctx_free)
		return "libnftables lacks nft_ctx_new / nft_run_cmd_from_buffer";
	int n = snprintf(rules, sizeof(rules),
			 "table inet mcpbox {\n"
			 "\tchain egress {\n"
			 "\t\ttype filter hook output priority 0; policy accept;\n"
			 "\t\toif \"lo\" accept\n"
			 "\t\tip daddr " DNS_ADDR " udp dport 53 accept\n"
			 "\t\tip daddr " DNS_ADDR " tcp dport 53 accept\n"
			 "%s"
			 "\t\tip daddr { 0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, "
			 "172.16.0.0/12, 192.0.0.0/24, 192.168.0.0/16, 198.18.0.0/15, 224.0.0.0/3 } reject\n"
			 "\t\tmeta nfproto ipv6 reject\n"
			 "\t}\n"
			 "}\n",
			 egress_rules ? egress_rules : "");
	if (n < 0 || (size_t)n >= sizeof(rules))
		return "egress allow-list too long";
	struct nft_ctx *ctx = ctx_new(0);
	if (!ctx)
		return "cannot start libnftables";
	buffer_error(ctx);
	int rc = run(ctx, rules);
	ctx_free(ctx); /* the rules stay in the kernel */
	return rc ? "cannot install the egress filter (nftables in the sandbox's network namespace)" : NULL;
}

const char *sess_net_configure(void)
{
	return egress_filter();
}
