#include "mime.h"
#include "common.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "banned.h"

static const struct srv_mime mimes[] = {
	{ "txt", "text/plain", true },		{ "log", "text/plain", true },
	{ "md", "text/markdown", true },	{ "csv", "text/csv", true },
	{ "tsv", "text/tab-separated-values", true },
	{ "html", "text/html", true },		{ "htm", "text/html", true },
	{ "css", "text/css", true },		{ "js", "text/javascript", true },
	{ "mjs", "text/javascript", true },	{ "cjs", "text/javascript", true },
	{ "ts", "text/x-typescript", true },	{ "tsx", "text/x-typescript", true },
	{ "jsx", "text/javascript", true },	{ "json", "application/json", true },
	{ "ipynb", "application/x-ipynb+json", true },
	{ "xml", "application/xml", true },	{ "svg", "image/svg+xml", true },
	{ "yaml", "application/yaml", true },	{ "yml", "application/yaml", true },
	{ "toml", "application/toml", true },	{ "ini", "text/plain", true },
	{ "cfg", "text/plain", true },		{ "conf", "text/plain", true },
	{ "py", "text/x-python", true },	{ "sh", "application/x-sh", true },
	{ "bash", "application/x-sh", true },	{ "c", "text/x-c", true },
	{ "h", "text/x-c", true },		{ "cc", "text/x-c++", true },
	{ "cpp", "text/x-c++", true },		{ "hpp", "text/x-c++", true },
	{ "go", "text/x-go", true },		{ "rs", "text/x-rust", true },
	{ "java", "text/x-java", true },	{ "rb", "text/x-ruby", true },
	{ "php", "text/x-php", true },		{ "pl", "text/x-perl", true },
	{ "lua", "text/x-lua", true },		{ "sql", "application/sql", true },
	{ "r", "text/x-r", true },		{ "tex", "text/x-tex", true },
	{ "diff", "text/x-diff", true },	{ "patch", "text/x-diff", true },
	{ "png", "image/png", false },		{ "jpg", "image/jpeg", false },
	{ "jpeg", "image/jpeg", false },	{ "gif", "image/gif", false },
	{ "webp", "image/webp", false },	{ "bmp", "image/bmp", false },
	{ "ico", "image/vnd.microsoft.icon", false },
	{ "pdf", "application/pdf", false },	{ "zip", "application/zip", false },
	{ "gz", "application/gzip", false },	{ "tgz", "application/gzip", false },
	{ "tar", "application/x-tar", false },	{ "xz", "application/x-xz", false },
	{ "wav", "audio/wav", false },		{ "mp3", "audio/mpeg", false },
	{ "ogg", "audio/ogg", false },		{ "mp4", "video/mp4", false },
	{ "webm", "video/webm", false },	{ "wasm", "application/wasm", false },
	{ "sqlite", "application/vnd.sqlite3", false },
	{ "db", "application/vnd.sqlite3", false },
};

const struct srv_mime *srv_mime_of(const char *path)
{
	const char *base = strrchr(path, '/'), *dot;
	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	if (!dot || dot == base)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(mimes); i++)
		if (!strcasecmp(dot + 1, mimes[i].ext))
			return &mimes[i];
	return NULL;
}

void srv_mime_http(const char *path, char *out, size_t cap)
{
	const struct srv_mime *m = srv_mime_of(path);

	if (!m)
		snprintf(out, cap, "application/octet-stream");
	else
		snprintf(out, cap, "%s%s", m->type, m->text && !strncmp(m->type, "text/", 5) ? "; charset=utf-8" : "");
}
