/* server/base/mime.c: one table of media types for MCP resources and HTTP downloads. */
#include "tap.h"
#include "server/base/mime.h"

#include <string.h>

int main(void)
{
	char t[96];

	ok(srv_mime_of("a/b/script.py") && !strcmp(srv_mime_of("a/b/script.py")->type, "text/x-python") &&
	   srv_mime_of("a/b/script.py")->text, "script.py: text/x-python, text");
	ok(srv_mime_of("IMG.PNG") && !srv_mime_of("IMG.PNG")->text, "case-insensitive, png is not text");
	ok(!srv_mime_of("Makefile") && !srv_mime_of(".bashrc") && !srv_mime_of("dir.d/file"),
	   "no extension of the last component: unknown");
	ok(!srv_mime_of("x.unknownext"), "an unknown extension: NULL");
	srv_mime_http("notes.txt", t, sizeof(t));
	ok(!strcmp(t, "text/plain; charset=utf-8"), "HTTP: text/ types say their charset (%s)", t);
	srv_mime_http("data.json", t, sizeof(t));
	ok(!strcmp(t, "application/json"), "HTTP: other types as they are (%s)", t);
	srv_mime_http("blob.bin", t, sizeof(t));
	ok(!strcmp(t, "application/octet-stream"), "HTTP: unknown is application/octet-stream");
	return tap_done();
}
