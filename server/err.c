#include "err.h"
#include "buf.h"
#include "common.h"
#include "banned.h"

#include <stdarg.h>
#include <string.h>

int err_set(struct err **errp, int errnum, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	if (!errp)
		return -1;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (errnum)
		buf_addf(&b, ": %s", strerror(errnum));
	err_free(*errp);
	*errp = xmalloc(sizeof(**errp));
	(*errp)->errnum = errnum;
	(*errp)->msg = buf_detach(&b);
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
	return -1;
}

void err_free(struct err *e)
{
	if (!e)
		return;
	free(e->msg);
	free(e);
}
