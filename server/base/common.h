/**
 * common.h — small helpers every module uses: cleanup attributes, ownership
 * transfer, allocation that never returns NULL, array sizes.
 *
 * Allocation failure aborts: the server cannot do anything useful without
 * memory and half-handled ENOMEM paths are where bugs hide.
 */
#ifndef MCPBOX_COMMON_H
#define MCPBOX_COMMON_H

/** The version every protocol reports (MCP serverInfo, health answers). */
#define MCPBOX_VERSION "0.1.0"

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UNUSED __attribute__((unused))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

#define auto_free __attribute__((cleanup(freep)))
#define auto_close __attribute__((cleanup(closep)))

/* Take ownership out of a cleanup-managed local: the local becomes NULL. */
#define steal_ptr(p) ({ __typeof__(p) _tmp = (p); (p) = NULL; _tmp; })
/* Same for an fd: the local becomes -1. */
#define steal_fd(fd) ({ int _tmp = (fd); (fd) = -1; _tmp; })

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Monotonic clock in nanoseconds / milliseconds. */
uint64_t now_ns(void);
static inline uint64_t now_ms(void) { return now_ns() / 1000000; }

/* FNV-1a over n bytes, continuing from h (start from FNV1A_INIT): a cheap
   hash for fingerprints and cache keys, not for anything an attacker picks. */
#define FNV1A_INIT 14695981039346656037ull
static inline uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ull;
	return h;
}
/* Wall clock, milliseconds since the epoch. */
uint64_t wall_ms(void);

/** Bytes srv_time_iso writes, with its NUL. */
#define SRV_TIME_ISO_MAX 32
/**
 * ms (epoch) as ISO 8601 UTC: "2026-12-07T03:10:00Z", or with milliseconds
 * ("2026-12-07T03:10:00.123Z") when millis. The one formatter of times for
 * answers and messages (json_out.h: srv_json_time).
 */
void srv_time_iso(int64_t ms, bool millis, char out[SRV_TIME_ISO_MAX]);

/* Fill buf with n random bytes from getrandom(); aborts if the kernel cannot. */
void srv_random_bytes(void *buf, size_t n);
/**
 * Raise the soft RLIMIT_NOFILE to the hard limit (every connection, pipe and
 * workspace walk needs fds; 1024 runs out under load). Returns the new soft
 * limit, or the old one if the kernel refused. Call once at start.
 */
unsigned long srv_raise_nofile(void);
/* A random identifier: prefix followed by 2*nbytes lowercase hex digits. */
char *random_id(const char *prefix, size_t nbytes);
/* The value of hex digit c (either case), or -1. */
int srv_hex_value(char c);

/* Set FD_CLOEXEC / O_NONBLOCK on fd; 0 or -1 with errno. */
int fd_set_cloexec(int fd);
int fd_set_nonblock(int fd, bool on);

/* write() all of buf, retrying on EINTR/short writes (blocking fds only). */
int write_all(int fd, const void *buf, size_t n);

#endif
