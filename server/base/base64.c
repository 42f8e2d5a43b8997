#include "base64.h"
#include "common.h"
#include "banned.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t n, size_t *outlen)
{
	const unsigned char *p = data;
	size_t len = 4 * ((n + 2) / 3), o = 0;
	char *out = xmalloc(len + 1);

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return out;
}

static int decode_char(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+' || c == '-') return 62;
	if (c == '/' || c == '_') return 63;
	return -1;
}

void *base64_decode(const char *text, size_t n, size_t *outlen)
{
	unsigned char *out = xmalloc(n / 4 * 3 + 3);
	size_t o = 0;
	unsigned v = 0;
	int bits = 0, pad = 0;

	for (size_t i = 0; i < n; i++) {
		char c = text[i];
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		int d = decode_char(c);
		if (d < 0 || pad) {
			free(out);
			return NULL;
		}
		v = (v << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	if (bits >= 6 || pad > 2) {
		free(out);
		return NULL;
	}
	*outlen = o;
	return out;
}
