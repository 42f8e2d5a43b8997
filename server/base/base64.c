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

/* Each alphabet character's value plus one (both alphabets); 0: not one. */
static const unsigned char values[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8, ['I'] = 9,
	['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
	['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27,
	['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45,
	['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
	['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63,
	['/'] = 64, ['-'] = 63, ['_'] = 64,
};

void *base64_decode(const char *text, size_t n, size_t *outlen)
{
	unsigned char *out = xmalloc(n / 4 * 3 + 3);
	const unsigned char *t = (const unsigned char *)text;
	size_t o = 0, i = 0;
	unsigned v = 0;
	int bits = 0, pad = 0;

	/* whole groups of four alphabet characters, three bytes each (the rest, padding and spaces below) */
	for (; i + 4 <= n; i += 4) {
		unsigned a = values[t[i]], b = values[t[i + 1]], c = values[t[i + 2]], d = values[t[i + 3]];
		if (!a || !b || !c || !d)
			break;
		unsigned g = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
		out[o++] = (unsigned char)(g >> 16);
		out[o++] = (unsigned char)(g >> 8);
		out[o++] = (unsigned char)g;
	}
	for (; i < n; i++) {
		char c = text[i];
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		unsigned d = values[(unsigned char)c];
		if (!d || pad) {
			free(out);
			return NULL;
		}
		v = (v << 6) | (d - 1);
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
