/*
 * Unit tests of the rfb module (vnc/rfb.c) through its table, as the server
 * reaches it (server/module.h): the RFB greeting on a handed-over socket,
 * sockets at fds >= FD_SETSIZE moved below or refused, VNC authentication
 * offered once a password is set; and the module loader's checks.
 */
#include "tap.h"
#include "server/base/common.h"
#include "server/base/module.h"
#include "vnc/rfb.h"

#include <poll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <fcntl.h>

/* Read exactly n bytes within 3 s; how many arrived. */
static size_t read_n(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 3000) <= 0)
			break;
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* How many fds below FD_SETSIZE this process has open. */
static int low_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < FD_SETSIZE; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/*
 * Wait (5 s at most) until no more than n fds below FD_SETSIZE are open: a
 * client's own thread closes its socket after our end is closed, whenever it
 * is scheduled.
 */
static bool low_fds_back_to(int n)
{
	for (int i = 0; i < 5000; i++) {
		if (low_fds() <= n)
			return true;
		usleep(1000);
	}
	return false;
}

/* A client socket handed to the screen as the server does; our end or -1. */
static int connect_client(const struct vnc_rfb_api *R, struct vnc_srv *s, int at_fd, struct err **errp)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (at_fd >= 0) {
		dup3(sv[1], at_fd, O_CLOEXEC);
		close(sv[1]);
		sv[1] = at_fd;
	}
	/* the bridge pre-feeds "RFB " so libvncserver's peek for a WebSocket ends at once */
	if (write(sv[0], "RFB ", 4) != 4 || R->add_client(s, sv[1], false, errp) < 0) {
		close(sv[0]);
		return -1;
	}
	return sv[0];
}

int main(void)
{
	struct err *e = NULL;
	char buf[64];

	/* the loader: the table is found in this program; a wrong size is refused */
	const struct vnc_rfb_api *R = srv_module_api("rfb", sizeof(*R), &e);
	ok(R != NULL, "the rfb table is found (%s)", e ? err_text(e) : "");
	if (!R)
		return 1;
	ok(srv_module_api("rfb", sizeof(*R) + 8, &e) == NULL && e && strstr(err_text(e), "another mcpbox"),
	   "a table of another size is refused: %s", e ? err_text(e) : "(no error)");
	err_free(e);
	e = NULL;
	ok(srv_module_api("nosuchmodule", 16, &e) == NULL && e && strstr(err_text(e), "mcpbox-nosuchmodule.so"),
	   "a missing module is a clear error: %s", e ? err_text(e) : "(no error)");
	err_free(e);
	e = NULL;

	/* a screen over a 64x48 framebuffer copy */
	struct vnc_fbuf *fb = xcalloc(1, sizeof(*fb));
	fb->refs = 1;
	pthread_rwlock_init(&fb->lock, NULL);
	fb->w = 64;
	fb->h = 48;
	fb->stride = 64 * 4;
	fb->pix = xcalloc(fb->stride, (size_t)fb->h);
	struct vnc_srv *s = R->screen_new("ses_test", fb, &e);
	ok(s != NULL, "a screen");
	int idle_fds = low_fds();	/* before any client */

	int c = connect_client(R, s, -1, &e);
	ok(c >= 0 && read_n(c, buf, 12) == 12 && !memcmp(buf, "RFB 003.008\n", 12), "a client gets the RFB greeting at once");
	if (c >= 0)
		close(c);

	/* fds >= FD_SETSIZE: libvncserver's select() cannot take them */
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < FD_SETSIZE + 600 && rl.rlim_max >= FD_SETSIZE + 600) {
		rl.rlim_cur = FD_SETSIZE + 600;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int high = FD_SETSIZE + 500;
	if (rl.rlim_cur > (rlim_t)high) {
		c = connect_client(R, s, high, &e);
		ok(c >= 0 && read_n(c, buf, 12) == 12, "a socket at fd %d is moved below %d and served", high, FD_SETSIZE);
		if (c >= 0)
			close(c);
		/* the clients' server sides must be gone first, or one could free an fd below FD_SETSIZE after the fill */
		ok(low_fds_back_to(idle_fds), "the clients' sockets are closed once our ends are");

		/* fill every free fd below FD_SETSIZE */
		int fill[FD_SETSIZE], nfill = 0, fd;
		while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0 && fd < FD_SETSIZE)
			fill[nfill++] = fd;
		if (fd >= 0)
			close(fd);
		c = connect_client(R, s, high, &e);
		ok(c < 0 && e && e->errnum == EMFILE, "no free fd below %d: refused with EMFILE (%s)", FD_SETSIZE,
		   e ? err_text(e) : "accepted");
		ok(fcntl(high, F_GETFD) < 0 && errno == EBADF, "and the refused socket is closed");
		err_free(e);
		e = NULL;
		for (int i = 0; i < 3; i++)	/* the socket pair and the move */
			close(fill[--nfill]);
		c = connect_client(R, s, high, &e);
		ok(c >= 0 && read_n(c, buf, 12) == 12, "fds freed: served again (%s)", e ? err_text(e) : "");
		if (c >= 0)
			close(c);
		while (nfill)
			close(fill[--nfill]);
	} else {
		printf("ok %d - # SKIP cannot raise RLIMIT_NOFILE above %d\n", ++tap_n, high);
	}

	/* a password: VNC authentication is the only security type offered */
	R->set_password(s, "secret");
	c = connect_client(R, s, -1, &e);
	ok(c >= 0 && read_n(c, buf, 12) == 12, "greeting with a password set");
	if (c >= 0) {
		unsigned char types[8];
		/* our "RFB " went first (as the bridge does): the rest of the version */
		ok(write(c, "003.008\n", 8) == 8 && read_n(c, types, 2) == 2 && types[0] == 1 && types[1] == 2,
		   "only VNC authentication (type 2) is offered (%u types, first %u)", types[0], types[1]);
		close(c);
	}

	R->screen_free(s);
	ok(fb->refs == 1, "the screen let go of the framebuffer copy");
	vnc_fbuf_put(fb);
	return tap_done();
}
