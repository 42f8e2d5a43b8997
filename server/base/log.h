/**
 * log.h — the server's own diagnostics. They go to stderr only (stdout belongs
 * to the stdio transport). Levels follow syslog/MCP names.
 * Safe to call from any thread (one fprintf per line).
 */
#ifndef MCPBOX_LOG_H
#define MCPBOX_LOG_H

enum log_level {
	LOG_LVL_DEBUG,
	LOG_LVL_INFO,
	LOG_LVL_NOTICE,
	LOG_LVL_WARNING,
	LOG_LVL_ERROR,
	LOG_LVL_CRITICAL,
	LOG_LVL_ALERT,
	LOG_LVL_EMERGENCY,
};

void log_set_level(enum log_level lvl);
/* Parse an MCP/syslog level name; -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif
