#include "common.h"
#include "banned.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>

static void oom(size_t n)
{
	fprintf(stderr, "mcpbox: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000;
}

void srv_time_iso(int64_t ms, bool millis, char out[SRV_TIME_ISO_MAX])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	if (!gmtime_r(&t, &tm) || !(n = strftime(out, SRV_TIME_ISO_MAX, "%Y-%m-%dT%H:%M:%S", &tm))) {
		snprintf(out, SRV_TIME_ISO_MAX, "?");
		return;
	}
	if (millis)
		snprintf(out + n, SRV_TIME_ISO_MAX - n, ".%03dZ", (int)(ms % 1000));
	else
		snprintf(out + n, SRV_TIME_ISO_MAX - n, "Z");
}

int srv_hex_value(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

void srv_random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "mcpbox: getrandom: %s\n", strerror(errno));
			abort();
		}
		p += r;
		n -= (size_t)r;
	}
}

char *random_id(const char *prefix, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t plen = strlen(prefix);
	char *out;

	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	srv_random_bytes(raw, nbytes);
	out = xmalloc(plen + 2 * nbytes + 1);
	memcpy(out, prefix, plen);
	for (size_t i = 0; i < nbytes; i++) {
		out[plen + 2 * i] = hex[raw[i] >> 4];
		out[plen + 2 * i + 1] = hex[raw[i] & 15];
	}
	out[plen + 2 * nbytes] = '\0';
	return out;
}

int fd_set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

int fd_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK));
}

int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

unsigned long srv_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return (unsigned long)old;
	}
	return (unsigned long)rl.rlim_cur;
}
