/*
 * image.c — crop, downscale and encode framebuffer pixels.
 *
 * Speed matters more than the last percent of size: a screenshot is taken
 * for every step of an agent. PNG uses zlib level 1 with the SUB filter
 * (no adaptive filter search, which is most of libpng's default cost; see
 * the notes on libpng); JPEG uses libturbojpeg's fast DCT.
 */
#include "image.h"
#include "../server/common.h"

#include <png.h>
#include <string.h>
#include <turbojpeg.h>
#include <zlib.h>

#include "../server/banned.h"

double vnc_fit(int w, int h, int max_w, int max_h, int max_side, int *out_w, int *out_h)
{
	double s = 1.0;

	if (w < 1)
		w = 1;
	if (h < 1)
		h = 1;
	if (max_w > 0 && (double)max_w / w < s)
		s = (double)max_w / w;
	if (max_h > 0 && (double)max_h / h < s)
		s = (double)max_h / h;
	if (max_side > 0 && (double)max_side / (w > h ? w : h) < s)
		s = (double)max_side / (w > h ? w : h);
	*out_w = s >= 1.0 ? w : (int)(w * s + 0.5);
	*out_h = s >= 1.0 ? h : (int)(h * s + 0.5);
	if (*out_w < 1)
		*out_w = 1;
	if (*out_h < 1)
		*out_h = 1;
	if (max_w > 0 && *out_w > max_w)
		*out_w = max_w;
	if (max_h > 0 && *out_h > max_h)
		*out_h = max_h;
	return s >= 1.0 ? 1.0 : s;
}

void vnc_scale_rgb(const uint8_t *src, size_t stride, const struct vnc_rect *r, uint8_t *dst, int ow, int oh)
{
	if (ow == r->w && oh == r->h) {
		for (int y = 0; y < oh; y++) {
			const uint8_t *s = src + (size_t)(r->y + y) * stride + (size_t)r->x * 4;
			uint8_t *d = dst + (size_t)y * ow * 3;
			for (int x = 0; x < ow; x++, s += 4, d += 3) {
				d[0] = s[2];
				d[1] = s[1];
				d[2] = s[0];
			}
		}
		return;
	}
	/* Area average: every source pixel of the box [x0,x1) x [y0,y1) counts
	   once. Keeps thin text strokes visible where sampling would drop them. */
	int *x0 = xmalloc(sizeof(int) * (size_t)(ow + 1));
	uint32_t *acc = xmalloc(sizeof(uint32_t) * 3 * (size_t)ow);
	int maxcw = 1, maxrh = r->h / oh + 2;
	for (int x = 0; x <= ow; x++)
		x0[x] = (int)((int64_t)x * r->w / ow);
	for (int x = 0; x < ow; x++)
		if (x0[x + 1] - x0[x] > maxcw)
			maxcw = x0[x + 1] - x0[x];
	/* divisions were most of the cost: multiply by 2^24/n instead */
	size_t nrecip = (size_t)maxcw * (size_t)maxrh + 1;
	uint32_t *recip = xmalloc(sizeof(uint32_t) * nrecip);
	recip[0] = 0;
	for (size_t n = 1; n < nrecip; n++)
		recip[n] = (uint32_t)(((1u << 24) + n / 2) / n);
	for (int y = 0; y < oh; y++) {
		int y0 = (int)((int64_t)y * r->h / oh), y1 = (int)((int64_t)(y + 1) * r->h / oh);
		if (y1 <= y0)
			y1 = y0 + 1;
		memset(acc, 0, sizeof(uint32_t) * 3 * (size_t)ow);
		for (int sy = y0; sy < y1; sy++) {
			const uint8_t *row = src + (size_t)(r->y + sy) * stride + (size_t)r->x * 4;
			for (int x = 0; x < ow; x++) {
				int a = x0[x], b = x0[x + 1] > a ? x0[x + 1] : a + 1;
				uint32_t sr = 0, sg = 0, sb = 0;
				for (int sx = a; sx < b; sx++) {
					const uint8_t *p = row + (size_t)sx * 4;
					sb += p[0];
					sg += p[1];
					sr += p[2];
				}
				acc[3 * x] += sr;
				acc[3 * x + 1] += sg;
				acc[3 * x + 2] += sb;
			}
		}
		uint8_t *d = dst + (size_t)y * ow * 3;
		for (int x = 0; x < ow; x++) {
			int a = x0[x], b = x0[x + 1] > a ? x0[x + 1] : a + 1;
			size_t n = (size_t)(b - a) * (size_t)(y1 - y0);
			uint64_t rc = n < nrecip ? recip[n] : (((1u << 24) + n / 2) / n);
			d[3 * x] = (uint8_t)((acc[3 * x] * rc + (1u << 23)) >> 24);
			d[3 * x + 1] = (uint8_t)((acc[3 * x + 1] * rc + (1u << 23)) >> 24);
			d[3 * x + 2] = (uint8_t)((acc[3 * x + 2] * rc + (1u << 23)) >> 24);
		}
	}
	free(x0);
	free(acc);
	free(recip);
}

/* ---- PNG (the only setjmp in the program) --------------------------------- */

struct png_ctx {
	struct buf *out;
	char msg[200];
};

static void png_write_cb(png_structp png, png_bytep data, png_size_t n)
{
	struct png_ctx *c = png_get_io_ptr(png);
	buf_add(c->out, data, n);
}

static void png_flush_cb(png_structp png)
{
}

static void png_error_cb(png_structp png, png_const_charp msg)
{
	struct png_ctx *c = png_get_error_ptr(png);
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
	png_longjmp(png, 1);
}

static void png_warn_cb(png_structp png, png_const_charp msg)
{
}

int vnc_png_encode(const uint8_t *rgb, int w, int h, struct buf *out, struct err **errp)
{
	struct png_ctx c = { .out = out, .msg = "" };
	png_structp png;
	png_infop info;

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &c, png_error_cb, png_warn_cb);
	if (!png)
		return err_set(errp, ENOMEM, "png: cannot create the encoder");
	info = png_create_info_struct(png);
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		return err_set(errp, ENOMEM, "png: cannot create the encoder");
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return err_set(errp, 0, "png: %s", c.msg);
	}
	png_set_write_fn(png, &c, png_write_cb, png_flush_cb);
	png_set_compression_level(png, 1);
	png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
	png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_BASE, PNG_FILTER_TYPE_BASE);
	png_write_info(png, info);
	for (int y = 0; y < h; y++)
		png_write_row(png, (png_const_bytep)(rgb + (size_t)y * w * 3));
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return 0;
}

/* ---- JPEG ----------------------------------------------------------------- */

int vnc_jpeg_encode(const uint8_t *rgb, int w, int h, int quality, struct buf *out, struct err **errp)
{
	tjhandle tj = tjInitCompress();
	unsigned char *jpeg = NULL;
	unsigned long size = 0;

	if (!tj)
		return err_set(errp, 0, "jpeg: %s", tjGetErrorStr());
	if (quality < 1)
		quality = 1;
	if (quality > 100)
		quality = 100;
	if (tjCompress2(tj, rgb, w, w * 3, h, TJPF_RGB, &jpeg, &size, TJSAMP_420, quality, TJFLAG_FASTDCT) < 0) {
		err_set(errp, 0, "jpeg: %s", tjGetErrorStr2(tj));
		tjDestroy(tj);
		return -1;
	}
	buf_add(out, jpeg, size);
	tjFree(jpeg);
	tjDestroy(tj);
	return 0;
}
