/*
 * image.c — crop, downscale and encode framebuffer pixels.
 *
 * Speed matters more than the last percent of size: a screenshot is taken
 * for every step of an agent. PNG uses zlib level 1 with the SUB filter
 * (no adaptive filter search, which is most of libpng's default cost; see
 * the notes on libpng); JPEG uses libturbojpeg's fast DCT.
 */
#include "image.h"
#include "../server/base/common.h"

#include <png.h>
#include <pthread.h>
#include <string.h>
#include <turbojpeg.h>
#include <zlib.h>

#include "../server/base/banned.h"

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

#define LANE_MASK ((1ull << 21) - 1)
#define LANE_MAX (LANE_MASK / 255)
#define RECIP_MAX 65536
#define SPLIT_PIXELS (1u << 18)	/* output pixels from which two threads scale */

/* A B,G,R,X pixel's channels in three 21-bit lanes. */
static inline uint64_t spread(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 21 | (uint64_t)p[2] << 42;
}

/* Output rows [y_from, y_to) of an area-average scale (see vnc_scale_rgb). */
struct scale_job {
	const uint8_t *src;
	size_t stride;
	const struct vnc_rect *r;
	uint8_t *dst;
	int ow, oh;
	const int *x0;		/* source column where output column x starts */
	const uint32_t *recip;	/* 2^24 / n, for n < nrecip */
	size_t nrecip;
	int maxcw, maxrh;	/* the widest box's columns, the tallest box's rows (at most) */
	int y_from, y_to;
};

static inline uint64_t lane(uint64_t v, int i)
{
	return (v >> (21 * i)) & LANE_MASK;
}

static void scale_rows(const struct scale_job *j)
{
	const struct vnc_rect *r = j->r;
	const int *x0 = j->x0;
	int ow = j->ow, oh = j->oh;
	uint64_t *acc = xmalloc(sizeof(uint64_t) * (size_t)ow);
	/* boxes taller than the lanes hold (huge screens scaled to a few pixels)
	   spill into one 64-bit sum per channel every spill_rows rows */
	int spill_rows = (int)(LANE_MAX / (size_t)j->maxcw);
	uint64_t *wide = j->maxrh > spill_rows ? xmalloc(sizeof(uint64_t) * 3 * (size_t)ow) : NULL;

	for (int y = j->y_from; y < j->y_to; y++) {
		int y0 = (int)((int64_t)y * r->h / oh), y1 = (int)((int64_t)(y + 1) * r->h / oh);
		if (y1 <= y0)
			y1 = y0 + 1;
		memset(acc, 0, sizeof(uint64_t) * (size_t)ow);
		if (wide)
			memset(wide, 0, sizeof(uint64_t) * 3 * (size_t)ow);
		for (int sy = y0, rows = 0; sy < y1; sy++) {
			const uint8_t *row = j->src + (size_t)(r->y + sy) * j->stride + (size_t)r->x * 4;
			if (wide && rows == spill_rows) {
				for (int x = 0; x < ow; x++)
					for (int c = 0; c < 3; c++)
						wide[3 * x + (size_t)c] += lane(acc[x], c);
				memset(acc, 0, sizeof(uint64_t) * (size_t)ow);
				rows = 0;
			}
			rows++;
			for (int x = 0; x < ow; x++) {
				int a = x0[x], b = x0[x + 1];
				uint64_t sum = spread(row + (size_t)a * 4);
				for (int sx = a + 1; sx < b; sx++)
					sum += spread(row + (size_t)sx * 4);
				acc[x] += sum;
			}
		}
		uint8_t *d = j->dst + (size_t)y * (size_t)ow * 3;
		for (int x = 0; x < ow; x++) {
			size_t n = (size_t)(x0[x + 1] - x0[x]) * (size_t)(y1 - y0);
			uint64_t v = acc[x];
			if (!wide && n < j->nrecip) {
				uint64_t rc = j->recip[n];
				d[3 * x] = (uint8_t)((lane(v, 2) * rc + (1u << 23)) >> 24);
				d[3 * x + 1] = (uint8_t)((lane(v, 1) * rc + (1u << 23)) >> 24);
				d[3 * x + 2] = (uint8_t)((lane(v, 0) * rc + (1u << 23)) >> 24);
				continue;
			}
			for (int c = 0; c < 3; c++) {
				uint64_t sum = lane(v, c) + (wide ? wide[3 * x + (size_t)c] : 0);
				d[3 * x + 2 - c] = (uint8_t)((sum + n / 2) / n);
			}
		}
	}
	free(acc);
	free(wide);
}

static void *scale_rows_thread(void *arg)
{
	scale_rows(arg);
	return NULL;
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
	   once. Keeps thin text strokes visible where sampling would drop them.
	   The three channels of a pixel are summed at once in 21-bit lanes of
	   one 64-bit word (B bits 0-20, G 21-41, R 42-62): up to LANE_MAX
	   pixels cannot overflow a lane (scale_rows spills taller boxes). */
	int *x0 = xmalloc(sizeof(int) * (size_t)(ow + 1));
	int maxcw = 1, maxrh = r->h / oh + 2;
	for (int x = 0; x <= ow; x++)
		x0[x] = (int)((int64_t)x * r->w / ow);
	for (int x = 0; x < ow; x++) {
		if (x0[x + 1] <= x0[x])
			x0[x + 1] = x0[x] + 1;	/* never an empty box (x0 stays within r->w: ow <= r->w) */
		if (x0[x + 1] - x0[x] > maxcw)
			maxcw = x0[x + 1] - x0[x];
	}
	/* divisions were most of the cost: multiply by 2^24/n instead */
	size_t nrecip = (size_t)maxcw * (size_t)maxrh + 1;
	if (nrecip > RECIP_MAX)
		nrecip = RECIP_MAX;
	struct scale_job job = { src, stride, r, dst, ow, oh, x0, NULL, nrecip, maxcw, maxrh, 0, oh };
	uint32_t *recip = xmalloc(sizeof(uint32_t) * nrecip);
	recip[0] = 0;
	for (size_t n = 1; n < nrecip; n++)
		recip[n] = (uint32_t)(((1u << 24) + n / 2) / n);
	job.recip = recip;
	/* a large picture: the lower half on a second thread (a 1920x1080 screen
	   scaled to 1280x720 takes ~4 ms on one core) */
	pthread_t t;
	struct scale_job lower = job;
	bool split = (size_t)ow * (size_t)oh >= SPLIT_PIXELS;
	if (split) {
		job.y_to = lower.y_from = oh / 2;
		split = pthread_create(&t, NULL, scale_rows_thread, &lower) == 0;
		if (!split)
			job.y_to = oh;
	}
	scale_rows(&job);
	if (split)
		pthread_join(t, NULL);
	free(x0);
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
