#include "log.h"
#include "buf.h"
#include "banned.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_LVL_INFO;

static const char *const names[] = {
	"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency",
};

void log_set_level(enum log_level lvl)
{
	min_level = lvl;
}

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			return (int)i;
	return -1;
}

const char *log_level_name(enum log_level lvl)
{
	return names[lvl];
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (lvl < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	buf_addf(&b, "%02d:%02d:%02d.%03ld mcpbox[%d] %s: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
		 ts.tv_nsec / 1000000, (int)getpid(), names[lvl]);
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	buf_addch(&b, '\n');
	/* one write so lines from several threads/processes do not interleave */
	if (write(STDERR_FILENO, b.data, b.len) < 0) {
		/* nowhere left to report it */
	}
	buf_release(&b);
}
