/* Unit tests of base64 (server/base/base64.c): round trips of every length against the slow path (spaces), both alphabets, refusals. */
#include "tap.h"
#include "server/base/base64.h"

#include <stdlib.h>
#include <string.h>

int main(void)
{
	unsigned char in[300];
	char spaced[900];
	size_t el, dl;
	int bad = 0, bad_spaced = 0;

	srand(7);
	for (int it = 0; it < 5000; it++) {
		size_t n = (size_t)rand() % sizeof(in);
		for (size_t i = 0; i < n; i++)
			in[i] = (unsigned char)rand();
		char *e = base64_encode(in, n, &el);
		unsigned char *d = base64_decode(e, el, &dl);
		bad += !d || dl != n || memcmp(d, in, n);
		free(d);
		/* line ends anywhere push the decoder off its four-at-a-time path */
		size_t sl = 0;
		for (size_t i = 0; i < el; i++) {
			if (rand() % 13 == 0)
				spaced[sl++] = '\n';
			spaced[sl++] = e[i];
		}
		d = base64_decode(spaced, sl, &dl);
		bad_spaced += !d || dl != n || memcmp(d, in, n);
		free(d);
		free(e);
	}
	ok(bad == 0, "5,000 random round trips of 0..299 bytes");
	ok(bad_spaced == 0, "the same with line ends anywhere");
	unsigned char *d = base64_decode("YWJj", 4, &dl);
	ok(d && dl == 3 && !memcmp(d, "abc", 3), "YWJj is abc");
	free(d);
	d = base64_decode("-_-_", 4, &dl);
	ok(d && dl == 3 && d[0] == 0xfb && d[1] == 0xff && d[2] == 0xbf, "the URL alphabet decodes too");
	free(d);
	d = base64_decode("YQ==", 4, &dl);
	ok(d && dl == 1 && d[0] == 'a', "padding");
	free(d);
	ok(!base64_decode("ab=c", 4, &dl), "a character after padding is refused");
	ok(!base64_decode("a*bc", 4, &dl), "a character outside the alphabets is refused");
	ok(!base64_decode("YWJjZ", 5, &dl), "a lone sixth bit group is refused");
	return tap_done();
}
