/**
 * err.h — error values in the style of crun: a failing function returns -1
 * and, when errp is not NULL, stores a heap-allocated struct err there.
 *
 *	if (open(...) < 0)
 *		return err_set(errp, errno, "open %s", path);
 *
 * Callers add context on the way up with err_wrap(). The caller that finally
 * handles the error owns it and releases it with err_free(). Messages are for
 * people (clients see them), so they must never contain host paths that the
 * client did not give us.
 */
#ifndef MCPBOX_ERR_H
#define MCPBOX_ERR_H

struct err {
	int errnum;	/* errno value, or 0 when the failure is not a system error */
	char *msg;	/* "context: context: cause" */
};

/* Store a new error in *errp (if errp) and return -1. errnum 0: no strerror suffix. */
int err_set(struct err **errp, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the message of *errp with "context: " and return -1. */
int err_wrap(struct err **errp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void err_free(struct err *e);
static inline void err_freep(struct err **e) { err_free(*e); }
#define auto_err __attribute__((cleanup(err_freep)))

#endif
