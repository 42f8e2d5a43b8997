/**
 * err.h — error values in the style of crun: a failing function returns -1
 * and, when errp is not NULL, stores a heap-allocated struct err there.
 *
 *	if (open(...) < 0)
 *		return err_set(errp, errno, "open %s", path);
 *	if (n > max)
 *		return err_setc(errp, ERR_LIMIT, 0, "%zu files: the limit is %zu", n, max);
 *
 * An error has three parts kept apart: the message (for people: what failed,
 * with the context callers add on the way up with err_wrap(), never the
 * strerror text), errno (0 when the failure is not a system error) and its
 * class (for programs: MCP shows the text, a REST dialect maps the class to
 * an HTTP status and its own error codes). err_text() joins message and
 * errno for people: "open x: No such file or directory".
 *
 * The caller that finally handles the error owns it and releases it with
 * err_free(). Messages are shown to clients, so they must never contain host
 * paths that the client did not give us.
 */
#ifndef MCPBOX_ERR_H
#define MCPBOX_ERR_H

/** What kind of failure, independent of its words (ordered by nothing). */
enum err_class {
	ERR_INTERNAL = 0,	/* the server's fault, or unexpected (HTTP 500) */
	ERR_INVALID,		/* the request is wrong: bad argument, bad state for it (400) */
	ERR_NOT_FOUND,		/* a named thing does not exist for this caller (404) */
	ERR_CONFLICT,		/* it exists already, or is busy with something else (409) */
	ERR_DENIED,		/* the caller may not do this (403) */
	ERR_LIMIT,		/* a quota, size or count bound was reached (413/429) */
	ERR_UNAVAILABLE,	/* the server cannot do it now or here: retry later or elsewhere (503) */
	ERR_TIMEOUT,		/* it did not finish in time (504) */
};

struct err {
	int errnum;		/* errno value, or 0 when the failure is not a system error */
	enum err_class cls;
	char *msg;		/* "context: context: what failed", without the errno text */
	char *text;		/* err_text()'s cache */
};

/**
 * Store a new error in *errp (if errp) and return -1. The class follows from
 * errnum (ENOENT: not found, EEXIST: conflict, ENOSPC: limit, ...); with
 * errnum 0 it is ERR_INTERNAL: say the class with err_setc() instead.
 */
int err_set(struct err **errp, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/** The same with an explicit class. */
int err_setc(struct err **errp, enum err_class cls, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prefix the message of *errp with "context: " and return -1. */
int err_wrap(struct err **errp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** For people: the message, then ": strerror(errnum)" when errnum is set. Owned by e. */
const char *err_text(struct err *e);
/** The class errnum implies (ERR_INTERNAL for 0 and the unexpected ones). */
enum err_class err_class_of(int errnum);
/** "invalid", "not_found", "conflict", "denied", "limit", "unavailable", "timeout", "internal". */
const char *err_class_name(enum err_class cls);

void err_free(struct err *e);
static inline void err_freep(struct err **e) { err_free(*e); }
#define auto_err __attribute__((cleanup(err_freep)))

#endif
