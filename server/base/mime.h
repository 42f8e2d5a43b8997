/**
 * mime.h — a file's media type from its name's extension (case-insensitive),
 * one table for every place that names one: MCP resources (mimeType, and
 * whether the content is text) and downloads over HTTP (Content-Type).
 * Pure; any thread.
 */
#ifndef MCPBOX_SRV_MIME_H
#define MCPBOX_SRV_MIME_H

#include <stdbool.h>
#include <stddef.h>

struct srv_mime {
	const char *ext;	/* without the dot */
	const char *type;	/* "text/x-python" */
	bool text;		/* the content is text (shown as such when it is UTF-8) */
};

/** The type of path's last component's extension; NULL when it has none or an unknown one. */
const struct srv_mime *srv_mime_of(const char *path);
/**
 * The Content-Type to serve path with, into out (cap bytes): the type, with
 * "; charset=utf-8" for the text/ types; "application/octet-stream" when unknown.
 */
void srv_mime_http(const char *path, char *out, size_t cap);

#endif
