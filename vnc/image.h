/**
 * image.h — pixels to PNG or JPEG: crop, area-average downscale, encode.
 *
 * Input is a 32-bit B,G,R,X framebuffer (Xvfb's -fbdir layout on
 * little-endian hosts). Everything here is pure computation on caller-owned
 * memory, safe on any thread (libuv's pool runs it); libpng's setjmp stays in
 * image.c. Errors become struct err.
 */
#ifndef MCPBOX_VNC_IMAGE_H
#define MCPBOX_VNC_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "../server/base/buf.h"
#include "../server/base/err.h"

struct vnc_rect {
	int x, y, w, h;
};

/**
 * The output size for a region of w x h shown at most max_w x max_h (0: no
 * bound) and with the longer side at most max_side (0: no bound): never
 * upscaled, aspect kept, at least 1x1. Returns the scale (out/in, <= 1).
 */
double vnc_fit(int w, int h, int max_w, int max_h, int max_side, int *out_w, int *out_h);

/**
 * Crop r out of the BGRX image src (stride bytes per row) and scale it to
 * ow x oh by area averaging into dst, packed RGB (ow*oh*3 bytes, caller's).
 */
void vnc_scale_rgb(const uint8_t *src, size_t stride, const struct vnc_rect *r, uint8_t *dst, int ow, int oh);

/** Encode packed RGB as PNG (zlib level 1, SUB filter: fast) appended to out. */
int vnc_png_encode(const uint8_t *rgb, int w, int h, struct buf *out, struct err **errp);
/** Encode packed RGB as baseline JPEG (libturbojpeg, 4:2:0) of quality 1..100. */
int vnc_jpeg_encode(const uint8_t *rgb, int w, int h, int quality, struct buf *out, struct err **errp);

#endif
