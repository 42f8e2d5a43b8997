#include "err.h"
#include "buf.h"
#include "common.h"
#include "banned.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

enum err_class err_class_of(int errnum)
{
	switch (errnum) {
	case ENOENT: case ESRCH: case ENXIO:
		return ERR_NOT_FOUND;
	case EEXIST: case EBUSY: case ENOTEMPTY: case ETXTBSY: case EALREADY: case EINPROGRESS:
		return ERR_CONFLICT;
	case EACCES: case EPERM: case EROFS:
		return ERR_DENIED;
	case ENOSPC: case EDQUOT: case EFBIG: case E2BIG: case EMFILE: case ENFILE: case ENAMETOOLONG:
	case EOVERFLOW: case EMSGSIZE: case EMLINK: case ENOMEM: case EUSERS:
		return ERR_LIMIT;
	case EAGAIN: case ECONNREFUSED: case ECONNRESET: case EPIPE: case ENODEV: case ENOSYS:
	case EOPNOTSUPP: case ESHUTDOWN: case EHOSTUNREACH: case ENETUNREACH:
		return ERR_UNAVAILABLE;
	case ETIMEDOUT: case ETIME:
		return ERR_TIMEOUT;
	case EINVAL: case EISDIR: case ENOTDIR: case ELOOP: case EXDEV: case EILSEQ: case EBADMSG:
	case EDOM: case ERANGE:
		return ERR_INVALID;
	default:
		return ERR_INTERNAL;
	}
}

const char *err_class_name(enum err_class cls)
{
	static const char *const names[] = {
		[ERR_INTERNAL] = "internal", [ERR_INVALID] = "invalid", [ERR_NOT_FOUND] = "not_found",
		[ERR_CONFLICT] = "conflict", [ERR_DENIED] = "denied", [ERR_LIMIT] = "limit",
		[ERR_UNAVAILABLE] = "unavailable", [ERR_TIMEOUT] = "timeout",
	};
	return (unsigned)cls < ARRAY_SIZE(names) && names[cls] ? names[cls] : "internal";
}

static int err_vset(struct err **errp, enum err_class cls, int errnum, const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT;

	if (!errp)
		return -1;
	buf_vaddf(&b, fmt, ap);
	err_free(*errp);
	*errp = xcalloc(1, sizeof(**errp));
	(*errp)->errnum = errnum;
	(*errp)->cls = cls;
	(*errp)->msg = buf_detach(&b);
	return -1;
}

int err_set(struct err **errp, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(errp, err_class_of(errnum), errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int err_setc(struct err **errp, enum err_class cls, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(errp, cls, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int err_wrap(struct err **errp, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	if (!errp || !*errp)
		return -1;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	buf_addf(&b, ": %s", (*errp)->msg);
	free((*errp)->msg);
	(*errp)->msg = buf_detach(&b);
	free((*errp)->text);
	(*errp)->text = NULL;
	return -1;
}

const char *err_text(struct err *e)
{
	if (!e->errnum)
		return e->msg;
	if (!e->text) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s: %s", e->msg, strerror(e->errnum));
		e->text = buf_detach(&b);
	}
	return e->text;
}

void err_free(struct err *e)
{
	if (!e)
		return;
	free(e->msg);
	free(e->text);
	free(e);
}
