/* Unit tests of vnc/: PNG round trip (decoded with libpng), JPEG, scaling math, keysyms,
   the check of what a display agent sends. */
#include "tap.h"
#include "vnc/chan.h"
#include "vnc/image.h"
#include "vnc/keys.h"
#include "server/base/common.h"

#include <X11/keysym.h>
#include <png.h>

/* Decode a PNG from memory with libpng's simplified API into RGB. */
static uint8_t *png_decode(const struct buf *b, int *w, int *h)
{
	png_image img;
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&img, b->data, b->len))
		return NULL;
	img.format = PNG_FORMAT_RGB;
	uint8_t *out = xmalloc(PNG_IMAGE_SIZE(img));
	if (!png_image_finish_read(&img, NULL, out, 0, NULL)) {
		free(out);
		return NULL;
	}
	*w = (int)img.width;
	*h = (int)img.height;
	return out;
}

/* What a hostile display agent may send: every field is checked against the screen we fixed. */
static void test_chan(void)
{
	struct vnc_agent_msg in;
	struct vnc_chan_msg m;
	struct err *e = NULL;

	memset(&in, 0, sizeof(in));
	in.type = VNC_AGENT_READY;
	in.a = 1280;
	in.b = 800;
	in.c = 3232;
	in.d = 1280 * 4;
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) == 0 && m.w == 1280 && m.fb_off == 3232,
	   "ready with the size asked for");
	in.c = VNC_AGENT_HEADER_MAX + 4;
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) < 0, "pixels past the header room refused");
	err_free(e), e = NULL;
	in.c = 3233;
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) < 0, "unaligned pixels refused");
	err_free(e), e = NULL;
	in.c = 3232;
	in.d = 1280 * 4 + 4;
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) < 0, "another row stride refused");
	err_free(e), e = NULL;
	in.d = 1280 * 4;
	in.a = in.b = 65535;
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) < 0, "ready 65535x65535 refused (%s)", e ? err_text(e) : "");
	err_free(e), e = NULL;
	in.a = 1280;
	in.b = 800;
	ok(vnc_chan_parse(&in, sizeof(in) - 1, 1280, 800, &m, &e) < 0, "a short message refused");
	err_free(e), e = NULL;
	ok(vnc_chan_parse(&in, sizeof(in) + 1, 1280, 800, &m, &e) < 0, "a long (truncated) message refused");
	err_free(e), e = NULL;

	memset(&in, 0, sizeof(in));
	in.type = VNC_AGENT_DAMAGE;
	in.a = 2;
	in.u.rects[0] = (struct vnc_agent_rect){ 0, 0, 1280, 800 };
	in.u.rects[1] = (struct vnc_agent_rect){ 1270, 790, 10, 10 };
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) == 0 && m.nrects == 2 && m.rects[1].x == 1270,
	   "damage inside the screen");
	in.u.rects[1] = (struct vnc_agent_rect){ 1271, 790, 10, 10 };
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) < 0, "damage past the right edge refused");
	err_free(e), e = NULL;
	in.u.rects[1] = (struct vnc_agent_rect){ 0, 0, 0, 10 };
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) < 0, "empty damage refused");
	err_free(e), e = NULL;
	in.a = VNC_AGENT_RECTS + 1;
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) < 0, "more rectangles than a message holds refused");
	err_free(e), e = NULL;
	in.a = 0;
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) < 0, "no rectangles refused");
	err_free(e), e = NULL;

	memset(&in, 0, sizeof(in));
	in.type = VNC_AGENT_CURSOR;
	in.a = 16, in.b = 16, in.c = 15, in.d = 0;
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) == 0 && m.xhot == 15, "a 16x16 cursor");
	in.c = 16;
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) < 0, "a hot spot outside the cursor refused");
	err_free(e), e = NULL;
	in.a = VNC_AGENT_CURSOR_MAX + 1, in.c = 0;
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) < 0, "a cursor larger than its slot refused");
	err_free(e), e = NULL;

	memset(&in, 0, sizeof(in));
	in.type = VNC_AGENT_FAILED;
	memset(in.u.text, 'x', sizeof(in.u.text));
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) < 0, "unterminated text refused");
	err_free(e), e = NULL;
	memcpy(in.u.text, "bad\x1b[2J", sizeof("bad\x1b[2J"));	/* a terminal escape */
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) < 0, "control bytes in text refused");
	err_free(e), e = NULL;
	in.type = 77;
	ok(vnc_chan_parse(&in, sizeof(in), 1280, 800, &m, &e) < 0, "an unknown type refused");
	err_free(e), e = NULL;

	/* the copy moves exactly the rectangle */
	uint8_t src[8 * 4 * 4], dst[8 * 4 * 4];
	memset(src, 1, sizeof(src));
	memset(dst, 0, sizeof(dst));
	struct vnc_rect r = { 2, 1, 3, 2 };
	vnc_chan_copy_rects(dst, src, 8, &r, 1);
	int copied = 0;
	for (size_t i = 0; i < sizeof(dst); i++)
		copied += dst[i];
	ok(copied == 3 * 2 * 4 && dst[(1 * 8 + 2) * 4] == 1 && dst[(1 * 8 + 1) * 4] == 0, "copy: only the rectangle");
}

int main(void)
{
	int ow, oh;
	double s;
	struct err *e = NULL;

	/* fit: never upscale; longer side bound; both bounds; aspect kept */
	s = vnc_fit(1920, 1080, 0, 0, 1280, &ow, &oh);
	ok(ow == 1280 && oh == 720 && s > 0.666 && s < 0.667, "1920x1080 fits 1280x720 (%dx%d)", ow, oh);
	s = vnc_fit(800, 600, 0, 0, 1280, &ow, &oh);
	ok(ow == 800 && oh == 600 && s == 1.0, "small screens are not upscaled");
	vnc_fit(1280, 800, 640, 0, 0, &ow, &oh);
	ok(ow == 640 && oh == 400, "max_width halves 1280x800 (%dx%d)", ow, oh);
	vnc_fit(1280, 800, 1000, 100, 0, &ow, &oh);
	ok(oh == 100 && ow == 160, "the tighter bound wins (%dx%d)", ow, oh);
	vnc_fit(3840, 10, 0, 0, 100, &ow, &oh);
	ok(ow == 100 && oh == 1, "at least one pixel high (%dx%d)", ow, oh);

	/* a 64x48 BGRX test card: left half red, right half blue, a green pixel at (10,5) */
	int W = 64, H = 48;
	uint8_t *fb = xcalloc((size_t)W * H, 4);
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			uint8_t *p = fb + ((size_t)y * W + x) * 4;
			if (x < W / 2)
				p[2] = 255;	/* R */
			else
				p[0] = 255;	/* B */
		}
	uint8_t *g = fb + ((size_t)5 * W + 10) * 4;
	g[0] = 0;
	g[1] = 255;
	g[2] = 0;

	struct vnc_rect all = { 0, 0, W, H };
	uint8_t *rgb = xmalloc((size_t)W * H * 3);
	vnc_scale_rgb(fb, (size_t)W * 4, &all, rgb, W, H);
	ok(rgb[0] == 255 && rgb[1] == 0 && rgb[2] == 0, "BGRX becomes RGB (red)");
	uint8_t *px = rgb + ((size_t)5 * W + 10) * 3;
	ok(px[0] == 0 && px[1] == 255 && px[2] == 0, "green pixel kept at scale 1");

	struct buf png = BUF_INIT;
	ok(vnc_png_encode(rgb, W, H, &png, &e) == 0, "PNG encodes");
	int dw = 0, dh = 0;
	uint8_t *dec = png_decode(&png, &dw, &dh);
	ok(dec && dw == W && dh == H, "PNG decodes with libpng to %dx%d", dw, dh);
	ok(dec && !memcmp(dec, rgb, (size_t)W * H * 3), "PNG round trip is lossless");
	ok(png.len > 8 && !memcmp(png.data, "\x89PNG", 4), "PNG signature");
	free(dec);

	/* crop + half scale: region (32,0,32,48) is all blue → 16x24 blue */
	struct vnc_rect right = { 32, 0, 32, 48 };
	uint8_t small[16 * 24 * 3];
	vnc_scale_rgb(fb, (size_t)W * 4, &right, small, 16, 24);
	ok(small[0] == 0 && small[2] == 255 && small[sizeof(small) - 1] == 255, "crop of the right half is blue");
	/* area average: a 2x2 box over the red/blue edge is purple */
	struct vnc_rect edge = { 31, 0, 2, 2 };
	uint8_t one[3];
	vnc_scale_rgb(fb, (size_t)W * 4, &edge, one, 1, 1);
	ok(one[0] == 128 && one[2] == 128, "area average mixes the edge (%d,%d,%d)", one[0], one[1], one[2]);

	struct buf jpg = BUF_INIT;
	ok(vnc_jpeg_encode(rgb, W, H, 80, &jpg, &e) == 0 && jpg.len > 100 && (uint8_t)jpg.data[0] == 0xff &&
		   (uint8_t)jpg.data[1] == 0xd8,
	   "JPEG encodes (SOI marker)");
	buf_release(&png);
	buf_release(&jpg);
	free(rgb);
	free(fb);

	/* keysyms */
	ok(vnc_keysym_for_char('a') == XK_a, "a");
	ok(vnc_keysym_for_char('\n') == XK_Return, "newline is Return");
	ok(vnc_keysym_for_char(0xe9) == XK_eacute, "é is Latin-1");
	ok(vnc_keysym_for_char(0x20ac) == 0x010020ac, "€ uses the Unicode keysym range");
	ok(vnc_keysym_for_char(0x1f600) == 0x0101f600, "emoji too");
	uint32_t syms[VNC_MAX_COMBO];
	ok(vnc_keys_parse("ctrl+shift+t", syms, VNC_MAX_COMBO, &e) == 3 && syms[0] == XK_Control_L &&
		   syms[1] == XK_Shift_L && syms[2] == XK_t,
	   "ctrl+shift+t");
	ok(vnc_keys_parse("Return", syms, VNC_MAX_COMBO, &e) == 1 && syms[0] == XK_Return, "Return");
	ok(vnc_keys_parse("f5", syms, VNC_MAX_COMBO, &e) == 1 && syms[0] == XK_F5, "f5 → F5");
	ok(vnc_keys_parse("alt+Tab", syms, VNC_MAX_COMBO, &e) == 2 && syms[1] == XK_Tab, "alt+Tab");
	ok(vnc_keys_parse("ctrl++", syms, VNC_MAX_COMBO, &e) == 2 && syms[1] == XK_plus, "ctrl++ is ctrl and plus");
	ok(vnc_keys_parse("ctrl+nosuchkey", syms, VNC_MAX_COMBO, &e) < 0 && e && strstr(err_text(e), "nosuchkey"),
	   "unknown keys are named in the error");
	err_free(e);
	e = NULL;
	uint32_t cp;
	ok(vnc_utf8_next("\xe2\x82\xac", 3, &cp) == 3 && cp == 0x20ac, "UTF-8 decode €");
	ok(vnc_utf8_next("\xe2\x82", 2, &cp) == 1 && cp == 0xfffd, "truncated UTF-8 is U+FFFD");
	test_chan();
	return tap_done();
}
