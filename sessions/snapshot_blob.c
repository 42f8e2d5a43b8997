/*
 * snapshot_blob.c — large blobs in and out of the store in bounded pieces
 * (see snapshot_internal.h): a file over LOOSE_MIN is stored as a loose
 * object through libgit2's write stream (its collision-detecting SHA-1 names
 * it), and read back by inflating the loose file here, piece by piece, with
 * its id checked at the end.
 *
 * Why not packs: libgit2 1.5 cannot stream an object out of a pack, and its
 * indexer maps every page of a large object it checks (windows of a pack it
 * is indexing escape the mapped-memory limit), so a 200 MB file in a pack
 * cost 200 MB of the server's RSS on write and again on every read. Large
 * blobs found in packs all the same (older versions, a git gc by hand) are
 * read here from the .pack: whole ones inflated piece by piece, deltas
 * applied through unnamed files.
 */
#include "snapshot.h"
#include "snapshot_internal.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <git2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <git2/sys/odb_backend.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "../server/base/banned.h"

#define LOOSE_IN (64u << 10)

static void loose_path(struct snap_store *st, const unsigned char *oid, struct buf *out)
{
	char hex[41];
	git_oid_tostr(hex, sizeof(hex), (const git_oid *)oid);
	buf_addf(out, "%s/objects/%.2s/%s", st->gitdir, hex, hex + 2);
}

bool snapi_loose_has(struct snap_store *st, const unsigned char *oid)
{
	struct buf p = BUF_INIT;
	loose_path(st, oid, &p);
	bool has = access(p.data, F_OK) == 0;
	buf_release(&p);
	return has;
}

static int corrupt(struct err **errp)
{
	return err_set(errp, EIO, "snapshot store: a stored file is corrupt");
}

/* Inflate into out[0..n) until it is full or the stream ends; *made is what came out. */
static int loose_inflate(struct blobrd *b, void *out, size_t n, size_t *made, bool *end, struct err **errp)
{
	b->zs.next_out = out;
	b->zs.avail_out = (uInt)n;
	*end = false;
	while (b->zs.avail_out) {
		if (!b->zs.avail_in && !b->eof) {
			ssize_t k = read(b->fd, b->in, LOOSE_IN);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return err_set(errp, errno, "snapshot store: cannot read a stored file");
			b->eof = k == 0;
			b->zs.next_in = b->in;
			b->zs.avail_in = (uInt)k;
		}
		/* zlib may still hold output when the input is all read */
		int zr = inflate(&b->zs, Z_NO_FLUSH);
		if (zr == Z_STREAM_END) {
			*end = true;
			break;
		}
		if (zr == Z_BUF_ERROR && b->eof && !b->zs.avail_in)
			return corrupt(errp);	/* the stream ended early */
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			return corrupt(errp);
	}
	*made = n - b->zs.avail_out;
	return 0;
}

/* ---- large blobs that versions before loose objects packed --------------- */

/*
 * Those versions wrote every object whole (our own pack writer: no deltas), up
 * to 256 MiB each. libgit2 reads a packed object only whole, so such a blob is
 * found here through the packs' .idx files (version 2) and inflated from its
 * .pack piece by piece, like a loose one. Both files are the store's own, but
 * every count and offset is still checked against their sizes.
 */

#define IDX_HDR (8 + 256 * 4)

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Where oid is in the pack of this .idx (mapped, len bytes): 1 found (*off), 0 not there, -1 a bad index. */
static int idx_lookup(const unsigned char *idx, size_t len, const unsigned char *oid, uint64_t *off)
{
	if (len < IDX_HDR + 2 * OIDLEN || memcmp(idx, "\377tOc", 4) || be32(idx + 4) != 2)
		return -1;
	const unsigned char *fan = idx + 8;
	uint32_t n = be32(fan + 255 * 4);
	uint64_t need = IDX_HDR + (uint64_t)n * (OIDLEN + 4 + 4) + 2 * OIDLEN;
	if (need > len)
		return -1;
	uint32_t lo = oid[0] ? be32(fan + (oid[0] - 1) * 4) : 0, hi = be32(fan + oid[0] * 4);
	if (lo > hi || hi > n)
		return -1;
	const unsigned char *ids = idx + IDX_HDR;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = memcmp(ids + (size_t)mid * OIDLEN, oid, OIDLEN);
		if (!c) {
			const unsigned char *offs = ids + (size_t)n * (OIDLEN + 4);
			uint32_t o = be32(offs + (size_t)mid * 4);
			if (!(o & 0x80000000u)) {
				*off = o;
				return 1;
			}
			/* a pack over 2 GiB: an index into the 8-byte offsets after the 4-byte ones */
			uint64_t at = (uint64_t)(offs - idx) + (uint64_t)n * 4 + (uint64_t)(o & 0x7fffffffu) * 8;
			if (at + 8 + 2 * OIDLEN > len)
				return -1;
			*off = (uint64_t)be32(idx + at) << 32 | be32(idx + at + 4);
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* The pack holding oid, opened, and the object's offset in it: 1, 0 (in no pack), -1. */
static int pack_find(struct snap_store *st, const unsigned char *oid, int *fdp, uint64_t *offp, struct err **errp)
{
	struct buf dir = BUF_INIT, path = BUF_INIT;
	int found = 0;

	buf_addf(&dir, "%s/objects/pack", st->gitdir);
	DIR *d = opendir(dir.data);
	if (!d) {
		buf_release(&dir);
		return 0;
	}
	for (struct dirent *de; found == 0 && (de = readdir(d));) {
		size_t nl = strlen(de->d_name);
		if (nl < 5 || strcmp(de->d_name + nl - 4, ".idx"))
			continue;
		buf_reset(&path);
		buf_addf(&path, "%s/%s", dir.data, de->d_name);
		auto_close int ifd = open(path.data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		struct stat sb;
		if (ifd < 0 || fstat(ifd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size < IDX_HDR)
			continue;
		void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, ifd, 0);
		if (map == MAP_FAILED)
			continue;
		uint64_t off = 0;
		int r = idx_lookup(map, (size_t)sb.st_size, oid, &off);
		munmap(map, (size_t)sb.st_size);
		if (r < 0) {
			found = err_set(errp, EIO, "snapshot store: the pack index %s is corrupt", de->d_name);
			break;
		}
		if (!r)
			continue;
		path.len -= 4;
		path.data[path.len] = '\0';
		buf_adds(&path, ".pack");
		int pfd = open(path.data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		unsigned char hdr[12];
		if (pfd < 0 || fstat(pfd, &sb) < 0 || pread(pfd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
		    memcmp(hdr, "PACK", 4) || be32(hdr + 4) != 2 || off < sizeof(hdr) ||
		    off + OIDLEN >= (uint64_t)sb.st_size) {
			if (pfd >= 0)
				close(pfd);
			found = corrupt(errp);
			break;
		}
		*fdp = pfd;
		*offp = off;
		found = 1;
	}
	closedir(d);
	buf_release(&dir);
	buf_release(&path);
	return found;
}

/* One entry of a pack: its type, inflated size, where its zlib data starts, and a delta's base. */
struct pack_ent {
	int type;
	uint64_t size, data;
	uint64_t base_off;			/* OFS_DELTA: the base's offset in the same pack */
	unsigned char base_oid[OIDLEN];		/* REF_DELTA: the base's id */
};

/* The entry at off of the pack fd (pack_size bytes): 0, or -1 (corrupt). */
static int pack_entry(int fd, uint64_t off, uint64_t pack_size, struct pack_ent *e, struct err **errp)
{
	unsigned char h[48];
	ssize_t got = off < pack_size ? pread(fd, h, sizeof(h), (off_t)off) : -1;
	size_t i = 0;

	if (got < 1)
		return corrupt(errp);
	/* type in bits 4-6 of the first byte, the size in 4 + 7 per byte after */
	e->type = (h[0] >> 4) & 7;
	e->size = h[0] & 15;
	for (unsigned shift = 4; h[i] & 0x80; shift += 7) {
		if (++i >= (size_t)got || shift > 57)
			return corrupt(errp);
		e->size |= (uint64_t)(h[i] & 0x7f) << shift;
	}
	i++;
	if (e->type == GIT_OBJECT_OFS_DELTA) {
		/* the distance back to the base: 7 bits a byte, each continuation adding one */
		uint64_t back;
		if (i >= (size_t)got)
			return corrupt(errp);
		back = h[i] & 0x7f;
		while (h[i++] & 0x80) {
			if (i >= (size_t)got || back >> 56)
				return corrupt(errp);
			back = ((back + 1) << 7) | (h[i] & 0x7f);
		}
		if (!back || back > off - 12)
			return corrupt(errp);
		e->base_off = off - back;
	} else if (e->type == GIT_OBJECT_REF_DELTA) {
		if (i + OIDLEN > (size_t)got)
			return corrupt(errp);
		memcpy(e->base_oid, h + i, OIDLEN);
		i += OIDLEN;
	}
	e->data = off + i;
	if (e->data >= pack_size)
		return corrupt(errp);
	return 0;
}

/* Start reading b (a blob of size bytes) from inflating what fd holds at its offset now. */
static int stream_init(struct blobrd *b, int fd, const unsigned char *oid, uint64_t size, struct err **errp)
{
	b->fd = fd;
	b->in = xmalloc(LOOSE_IN);
	if (inflateInit(&b->zs) != Z_OK)
		return err_set(errp, ENOMEM, "zlib");
	b->zinit = true;
	b->size = size;
	memcpy(b->oid, oid, OIDLEN);
	b->md = EVP_MD_CTX_new();
	if (!b->md)
		abort();
	snapi_hash_begin(b->md, GIT_OBJECT_BLOB, size);
	return 0;
}

static int delta_open(struct blobrd *b, struct snap_store *st, int fd, uint64_t off, const git_oid *oid,
		      uint64_t size, struct err **errp);

/*
 * Open a packed blob for streaming: 1 done (a whole object inflated as it is
 * read; a delta applied into an unnamed file first), 0 in no pack, -1 failed.
 */
static int pack_open(struct blobrd *b, struct snap_store *st, const git_oid *oid, uint64_t size, struct err **errp)
{
	uint64_t off = 0;
	int fd = -1;
	struct stat sb;
	struct pack_ent e;

	int r = pack_find(st, oid->id, &fd, &off, errp);
	if (r <= 0)
		return r;
	if (fstat(fd, &sb) < 0 || pack_entry(fd, off, (uint64_t)sb.st_size, &e, errp) < 0) {
		close(fd);
		return corrupt(errp);
	}
	if (e.type == GIT_OBJECT_OFS_DELTA || e.type == GIT_OBJECT_REF_DELTA) {
		r = delta_open(b, st, fd, off, oid, size, errp);
		close(fd);
		return r < 0 ? -1 : 1;
	}
	if (e.type != GIT_OBJECT_BLOB || e.size != size) {
		close(fd);
		return corrupt(errp);
	}
	if (lseek(fd, (off_t)e.data, SEEK_SET) < 0) {
		close(fd);
		return err_set(errp, errno, "snapshot store: cannot read a pack");
	}
	return stream_init(b, fd, oid->id, size, errp) < 0 ? -1 : 1;
}

/* ---- large blobs stored as deltas (a pack made by other tools, e.g. git gc) ---- */

/*
 * A delta copies ranges of its base in any order, and a pack's zlib streams
 * cannot be read at an offset, so the chain is applied from its base up into
 * unnamed files of the store, one pass a level: the base inflated into the
 * first, each delta's stream then inflated in pieces and applied, its copies
 * read from the file below with pread. Memory stays a few 64 KiB buffers
 * whatever the size; disk use is two of the blob's size at a time. Every size,
 * offset and instruction is checked; the result is checked against its id as
 * it is read (snapi_blob_read).
 */
#define DELTA_DEPTH_MAX 1024	/* git writes chains of at most 50 unless told otherwise (4095 at most) */
#define REF_HOPS_MAX 16		/* bases named by id in another pack: each holds a descriptor while the chain is read */

/* An unnamed file in the store's directory (its filesystem has the room the store has). */
static int store_tmpfile(struct snap_store *st, struct err **errp)
{
	int fd = open(st->gitdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		struct buf p = BUF_INIT;
		buf_addf(&p, "%s/tmp_delta_XXXXXX", st->gitdir);
		fd = mkostemp(p.data, O_CLOEXEC);
		if (fd >= 0)
			unlink(p.data);
		buf_release(&p);
	}
	if (fd < 0)
		return err_set(errp, errno, "snapshot store: cannot make a temporary file");
	return fd;
}

/* Inflate the zlib stream at fd's offset at into z (borrowing fd); zread_end() after. */
static int zread_begin(struct blobrd *z, int fd, uint64_t at, struct err **errp)
{
	memset(z, 0, sizeof(*z));
	z->fd = -1;
	if (lseek(fd, (off_t)at, SEEK_SET) < 0)
		return err_set(errp, errno, "snapshot store: cannot read a pack");
	z->fd = fd;
	z->in = xmalloc(LOOSE_IN);
	if (inflateInit(&z->zs) != Z_OK)
		return err_set(errp, ENOMEM, "zlib");
	z->zinit = true;
	return 0;
}

static void zread_end(struct blobrd *z)
{
	if (z->zinit)
		inflateEnd(&z->zs);
	free(z->in);
	memset(z, 0, sizeof(*z));
	z->fd = -1;
}

/* The next n bytes of z, exactly; at the stream's end (last) nothing may follow. */
static int zread_exact(struct blobrd *z, void *out, size_t n, bool last, struct err **errp)
{
	size_t made = 0, more = 0;
	unsigned char extra;

	if (n && loose_inflate(z, out, n, &made, &z->ended, errp) < 0)
		return -1;
	if (made != n)
		return corrupt(errp);
	if (last && !z->ended && loose_inflate(z, &extra, 1, &more, &z->ended, errp) < 0)
		return -1;
	if (last && (more || !z->ended))
		return corrupt(errp);
	return 0;
}

/* A delta's instructions, inflated LOOSE_IN bytes at a time (left: bytes of the stream not yet inflated). */
struct delta_in {
	struct blobrd z;
	unsigned char buf[LOOSE_IN];
	size_t pos, len;
	uint64_t left;
};

static int din_bytes(struct delta_in *d, unsigned char *out, size_t n, struct err **errp)
{
	while (n) {
		if (d->pos == d->len) {
			size_t k = d->left < LOOSE_IN ? (size_t)d->left : LOOSE_IN;
			if (!k || zread_exact(&d->z, d->buf, k, k == d->left, errp) < 0)
				return k ? -1 : corrupt(errp);
			d->left -= k;
			d->pos = 0;
			d->len = k;
		}
		size_t t = d->len - d->pos < n ? d->len - d->pos : n;
		memcpy(out, d->buf + d->pos, t);
		d->pos += t;
		out += t;
		n -= t;
	}
	return 0;
}

/* A size in the delta's header: 7 bits a byte, low first. */
static int din_size(struct delta_in *d, uint64_t *v, struct err **errp)
{
	unsigned char c;
	*v = 0;
	for (unsigned shift = 0;; shift += 7) {
		if (shift > 63 || din_bytes(d, &c, 1, errp) < 0)
			return shift > 63 ? corrupt(errp) : -1;
		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return 0;
	}
}

/* Bytes for out_fd, written LOOSE_IN at a time. */
struct delta_out {
	int fd;
	unsigned char buf[LOOSE_IN];
	size_t len;
	uint64_t total;
};

static int dout_flush(struct delta_out *o, struct err **errp)
{
	if (o->len && write_all(o->fd, o->buf, o->len) < 0)
		return err_set(errp, errno, "snapshot store: cannot write a temporary file");
	o->len = 0;
	return 0;
}

/* Apply the delta e (its stream in pack fd) to base (base_size bytes) into out_fd; its size into *made. */
static int delta_apply(int fd, const struct pack_ent *e, int base, uint64_t base_size, int out_fd, uint64_t *made,
		       struct err **errp)
{
	struct delta_in *d = xcalloc(1, sizeof(*d));
	struct delta_out *o = xcalloc(1, sizeof(*o));
	uint64_t src, dst;
	int rc = -1;

	o->fd = out_fd;
	d->left = e->size;
	if (zread_begin(&d->z, fd, e->data, errp) < 0 || din_size(d, &src, errp) < 0 || din_size(d, &dst, errp) < 0)
		goto out;
	if (src != base_size) {
		corrupt(errp);
		goto out;
	}
	while (d->left || d->pos < d->len) {
		unsigned char c, a[7];
		if (din_bytes(d, &c, 1, errp) < 0)
			goto out;
		if (c & 0x80) {
			/* copy: which of 4 offset and 3 size bytes follow is in c's low 7 bits */
			uint64_t off = 0, len = 0;
			int k = __builtin_popcount(c & 0x7f);
			if (din_bytes(d, a, (size_t)k, errp) < 0)
				goto out;
			for (int bit = 0, at = 0; bit < 7; bit++)
				if (c & (1u << bit)) {
					if (bit < 4)
						off |= (uint64_t)a[at++] << (8 * bit);
					else
						len |= (uint64_t)a[at++] << (8 * (bit - 4));
				}
			if (!len)
				len = 0x10000;
			if (off + len > base_size || o->total + len > dst) {
				corrupt(errp);
				goto out;
			}
			while (len) {
				if (o->len == LOOSE_IN && dout_flush(o, errp) < 0)
					goto out;
				size_t t = LOOSE_IN - o->len < len ? LOOSE_IN - o->len : (size_t)len;
				if (pread(base, o->buf + o->len, t, (off_t)off) != (ssize_t)t) {
					err_set(errp, EIO, "snapshot store: cannot read a temporary file");
					goto out;
				}
				o->len += t;
				o->total += t;
				off += t;
				len -= t;
			}
		} else if (c) {
			/* insert the next c bytes of the delta */
			if (o->total + c > dst) {
				corrupt(errp);
				goto out;
			}
			if (LOOSE_IN - o->len < c && dout_flush(o, errp) < 0)
				goto out;
			if (din_bytes(d, o->buf + o->len, c, errp) < 0)
				goto out;
			o->len += c;
			o->total += c;
		} else {
			corrupt(errp);	/* reserved */
			goto out;
		}
	}
	if (o->total != dst) {
		corrupt(errp);
		goto out;
	}
	if (dout_flush(o, errp) < 0)
		goto out;
	*made = dst;
	rc = 0;
out:
	zread_end(&d->z);
	free(d);
	free(o);
	return rc;
}

/* A whole blob in pack fd (entry e) into out_fd, inflated LOOSE_IN at a time. */
static int pack_blob_to(int fd, const struct pack_ent *e, int out_fd, struct err **errp)
{
	struct blobrd z;
	unsigned char *piece = xmalloc(LOOSE_IN);
	int rc = zread_begin(&z, fd, e->data, errp);

	for (uint64_t left = e->size; rc == 0;) {
		size_t k = left < LOOSE_IN ? (size_t)left : LOOSE_IN;
		rc = zread_exact(&z, piece, k, k == left, errp);
		if (rc == 0 && k && write_all(out_fd, piece, k) < 0)
			rc = err_set(errp, errno, "snapshot store: cannot write a temporary file");
		left -= k;
		if (!left)
			break;
	}
	zread_end(&z);
	free(piece);
	return rc;
}

/* A loose blob oid into out_fd (checked against its id as it is read); its size into *size. */
static int loose_blob_to(struct snap_store *st, const unsigned char *oid, int out_fd, uint64_t *size,
			 struct err **errp);

struct delta_link {
	int fd;			/* the pack holding it (borrowed) */
	struct pack_ent e;
};

static int delta_open(struct blobrd *b, struct snap_store *st, int fd, uint64_t off, const git_oid *oid,
		      uint64_t size, struct err **errp)
{
	struct delta_link *chain = xcalloc(DELTA_DEPTH_MAX + 1, sizeof(*chain));
	int owned[REF_HOPS_MAX];	/* packs opened for REF_DELTA bases */
	size_t n = 0, nowned = 0;
	int below = -1, above = -1, rc = -1;
	bool loose_base = false;
	uint64_t have = 0;
	unsigned char loose_oid[OIDLEN];
	struct stat sb;

	/* the chain, from the blob down to its base */
	for (;;) {
		if (fstat(fd, &sb) < 0) {
			err_set(errp, errno, "snapshot store: cannot read a pack");
			goto out;
		}
		if (pack_entry(fd, off, (uint64_t)sb.st_size, &chain[n].e, errp) < 0)
			goto out;
		chain[n].fd = fd;
		const struct pack_ent *e = &chain[n++].e;
		if (e->type == GIT_OBJECT_BLOB)
			break;
		if (n > DELTA_DEPTH_MAX || (e->type != GIT_OBJECT_OFS_DELTA && e->type != GIT_OBJECT_REF_DELTA)) {
			corrupt(errp);
			goto out;
		}
		if (e->type == GIT_OBJECT_OFS_DELTA) {
			off = e->base_off;
			continue;
		}
		if (snapi_loose_has(st, e->base_oid)) {
			memcpy(loose_oid, e->base_oid, OIDLEN);
			loose_base = true;
			break;
		}
		if (nowned == REF_HOPS_MAX) {	/* git writes REF_DELTA only in thin packs it completed */
			corrupt(errp);
			goto out;
		}
		int r = pack_find(st, e->base_oid, &fd, &off, errp);
		if (r <= 0) {
			if (!r)
				corrupt(errp);
			goto out;
		}
		owned[nowned++] = fd;
	}
	/* the base, then each delta over what is below it */
	if ((below = store_tmpfile(st, errp)) < 0)
		goto out;
	if (loose_base) {
		if (loose_blob_to(st, loose_oid, below, &have, errp) < 0)
			goto out;
	} else {
		if (pack_blob_to(chain[n - 1].fd, &chain[n - 1].e, below, errp) < 0)
			goto out;
		have = chain[n - 1].e.size;
		n--;
	}
	while (n--) {
		if ((above = store_tmpfile(st, errp)) < 0 ||
		    delta_apply(chain[n].fd, &chain[n].e, below, have, above, &have, errp) < 0)
			goto out;
		close(below);
		below = above;
		above = -1;
	}
	if (have != size) {
		corrupt(errp);
		goto out;
	}
	if (lseek(below, 0, SEEK_SET) < 0) {
		err_set(errp, errno, "snapshot store: cannot read a temporary file");
		goto out;
	}
	b->plain = true;
	b->fd = below;
	below = -1;
	b->size = size;
	memcpy(b->oid, oid->id, OIDLEN);
	b->md = EVP_MD_CTX_new();
	if (!b->md)
		abort();
	snapi_hash_begin(b->md, GIT_OBJECT_BLOB, size);
	rc = 0;
out:
	while (nowned)
		close(owned[--nowned]);
	if (below >= 0)
		close(below);
	if (above >= 0)
		close(above);
	free(chain);
	return rc;
}

/* ---- loose blobs --------------------------------------------------------- */

static int loose_open(struct blobrd *b, int fd, const git_oid *oid, struct err **errp)
{
	char hdr[64];
	size_t made;
	bool end;

	b->fd = fd;
	b->in = xmalloc(LOOSE_IN);
	if (inflateInit(&b->zs) != Z_OK)
		return err_set(errp, ENOMEM, "zlib");
	b->zinit = true;
	/* "blob <size>\0" and the first bytes of the content */
	if (loose_inflate(b, hdr, sizeof(hdr), &made, &end, errp) < 0)
		return -1;
	char *nul = memchr(hdr, 0, made);
	char *stop;
	if (!nul || strncmp(hdr, "blob ", 5) || hdr[5] < '0' || hdr[5] > '9')
		return corrupt(errp);
	errno = 0;
	unsigned long long size = strtoull(hdr + 5, &stop, 10);
	if (errno || stop != nul)
		return corrupt(errp);
	b->size = size;
	b->pend_len = made - (size_t)(nul + 1 - hdr);
	if (b->pend_len > size)
		return corrupt(errp);
	memcpy(b->pend, nul + 1, b->pend_len);
	b->ended = end;
	memcpy(b->oid, oid->id, OIDLEN);
	b->md = EVP_MD_CTX_new();
	if (!b->md)
		abort();
	snapi_hash_begin(b->md, GIT_OBJECT_BLOB, size);
	return 0;
}

static int loose_blob_to(struct snap_store *st, const unsigned char *oid, int out_fd, uint64_t *size,
			 struct err **errp)
{
	struct blobrd b;
	struct buf p = BUF_INIT;
	unsigned char *piece = xmalloc(LOOSE_IN);
	ssize_t k = -1;

	memset(&b, 0, sizeof(b));
	b.fd = -1;
	loose_path(st, oid, &p);
	int fd = open(p.data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	buf_release(&p);
	if (fd < 0)
		err_set(errp, errno, "snapshot store: cannot read a stored file");
	else if (loose_open(&b, fd, (const git_oid *)oid, errp) == 0)
		while ((k = snapi_blob_read(&b, piece, LOOSE_IN, errp)) > 0)
			if (write_all(out_fd, piece, (size_t)k) < 0) {
				k = err_set(errp, errno, "snapshot store: cannot write a temporary file");
				break;
			}
	*size = b.size;
	snapi_blob_close(&b);
	free(piece);
	return k < 0 ? -1 : 0;
}

int snapi_blob_open(struct blobrd *b, struct snap_store *st, git_odb *odb, const git_oid *oid, struct err **errp)
{
	struct buf p = BUF_INIT;
	size_t len;
	git_object_t type;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	loose_path(st, oid->id, &p);
	int fd = open(p.data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	buf_release(&p);
	if (fd >= 0)
		return loose_open(b, fd, oid, errp);
	/* packed: small (<= LOOSE_MIN) unless a version before loose objects or another tool stored it */
	if (git_odb_read_header(&len, &type, odb, oid) < 0)
		return snapi_git_fail(errp, "reading a file of the snapshot");
	if (type != GIT_OBJECT_BLOB)
		return corrupt(errp);
	if ((uint64_t)len > LOOSE_MIN) {
		int r = pack_open(b, st, oid, (uint64_t)len, errp);
		if (r)
			return r < 0 ? -1 : 0;
	}
	if ((uint64_t)len > SNAP_WHOLE_MAX)
		return err_set(errp, EFBIG, "snapshot store: a packed file over %llu MiB cannot be read",
			       (unsigned long long)SNAP_WHOLE_MAX >> 20);
	if (git_odb_read(&b->obj, odb, oid) < 0)
		return snapi_git_fail(errp, "reading a file of the snapshot");
	b->size = git_odb_object_size(b->obj);
	return 0;
}

/* The next bytes of b's content into out[0..n): inflated, or read from its file (plain); b->ended at the end. */
static int blob_fill(struct blobrd *b, void *out, size_t n, size_t *made, struct err **errp)
{
	if (!b->plain)
		return loose_inflate(b, out, n, made, &b->ended, errp);
	*made = 0;
	while (*made < n) {
		ssize_t k = read(b->fd, (char *)out + *made, n - *made);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return err_set(errp, errno, "snapshot store: cannot read a temporary file");
		if (!k) {
			b->ended = true;
			break;
		}
		*made += (size_t)k;
	}
	return 0;
}

ssize_t snapi_blob_read(struct blobrd *b, void *buf, size_t n, struct err **errp)
{
	size_t got = 0;

	if (b->checked)
		return 0;
	if (n > b->size - b->pos)
		n = (size_t)(b->size - b->pos);
	if (b->obj) {
		memcpy(buf, (const char *)git_odb_object_data(b->obj) + b->pos, n);
		b->pos += n;
		return (ssize_t)n;
	}
	if (b->pend_len) {
		size_t k = b->pend_len < n ? b->pend_len : n;
		memcpy(buf, b->pend, k);
		memmove(b->pend, b->pend + k, b->pend_len - k);
		b->pend_len -= k;
		got = k;
	}
	if (got < n) {
		size_t made;
		if (b->ended)
			return corrupt(errp);	/* shorter than its header says */
		if (blob_fill(b, (char *)buf + got, n - got, &made, errp) < 0)
			return -1;
		got += made;
		if (got < n)
			return corrupt(errp);
	}
	EVP_DigestUpdate(b->md, buf, got);
	b->pos += got;
	if (b->pos == b->size) {
		unsigned char oid[OIDLEN], extra;
		size_t made = 0;
		/* nothing may follow the content, and it must hash to its name */
		if (!b->ended && blob_fill(b, &extra, 1, &made, errp) < 0)
			return -1;
		if (made || !b->ended)
			return corrupt(errp);
		snapi_hash_end(b->md, oid);
		if (memcmp(oid, b->oid, OIDLEN))
			return corrupt(errp);
		b->checked = true;
	}
	return (ssize_t)got;
}

void snapi_blob_close(struct blobrd *b)
{
	git_odb_object_free(b->obj);
	if (b->fd >= 0)
		close(b->fd);
	if (b->zinit)
		inflateEnd(&b->zs);
	EVP_MD_CTX_free(b->md);
	free(b->in);
	memset(b, 0, sizeof(*b));
	b->fd = -1;
}

/* Deflate n bytes (flush: Z_FINISH at the end) into fd through out (LOOSE_IN bytes). */
static int deflate_to(z_stream *zs, int fd, const void *p, size_t n, int flush, unsigned char *out, struct err **errp)
{
	zs->next_in = (unsigned char *)p;
	zs->avail_in = (uInt)n;
	do {
		zs->next_out = out;
		zs->avail_out = LOOSE_IN;
		int zr = deflate(zs, flush);
		if (zr == Z_STREAM_ERROR)
			return err_set(errp, EIO, "zlib");
		if (write_all(fd, out, LOOSE_IN - zs->avail_out) < 0)
			return err_set(errp, errno, "snapshot store: cannot write a stored file");
	} while (zs->avail_out == 0 || zs->avail_in);
	return 0;
}

int snapi_blob_make_loose(struct snap_store *st, git_odb *odb, const git_oid *oid, struct err **errp)
{
	struct blobrd b;
	struct buf dest = BUF_INIT, tmp = BUF_INIT;
	unsigned char *piece = xmalloc(LOOSE_IN), *out = xmalloc(LOOSE_IN);
	z_stream zs = { 0 };
	bool zinit = false;
	int fd = -1, rc = -1;
	char hdr[32];

	if (snapi_blob_open(&b, st, odb, oid, errp) < 0)
		goto out;
	/* libgit2's write stream would see the object in its pack and write nothing */
	loose_path(st, oid->id, &dest);
	buf_add(&tmp, dest.data, dest.len - (OIDLEN * 2 - 2));
	if (mkdir(tmp.data, 0755) < 0 && errno != EEXIST) {
		err_set(errp, errno, "snapshot store: cannot make an object directory");
		goto out;
	}
	buf_adds(&tmp, "tmp_obj_XXXXXX");
	fd = mkostemp(tmp.data, O_CLOEXEC);
	if (fd < 0) {
		err_set(errp, errno, "snapshot store: cannot write a stored file");
		goto out;
	}
	if (deflateInit(&zs, Z_DEFAULT_COMPRESSION) != Z_OK) {
		err_set(errp, ENOMEM, "zlib");
		goto out;
	}
	zinit = true;
	int hn = snprintf(hdr, sizeof(hdr), "blob %llu", (unsigned long long)b.size);
	if (deflate_to(&zs, fd, hdr, (size_t)hn + 1, Z_NO_FLUSH, out, errp) < 0)
		goto out;
	for (;;) {
		/* the read that reaches the end checks the content against its id */
		ssize_t k = snapi_blob_read(&b, piece, LOOSE_IN, errp);
		if (k < 0)
			goto out;
		if (deflate_to(&zs, fd, piece, (size_t)k, k ? Z_NO_FLUSH : Z_FINISH, out, errp) < 0)
			goto out;
		if (!k)
			break;
	}
	if (fchmod(fd, 0444) < 0 || close(fd) < 0) {
		fd = -1;
		err_set(errp, errno, "snapshot store: cannot write a stored file");
		goto out;
	}
	fd = -1;
	if (rename(tmp.data, dest.data) < 0) {
		err_set(errp, errno, "snapshot store: cannot write a stored file");
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp.len)
		unlink(tmp.data);
	if (zinit)
		deflateEnd(&zs);
	snapi_blob_close(&b);
	free(piece);
	free(out);
	buf_release(&dest);
	buf_release(&tmp);
	return rc;
}

int snapi_blob_write_loose(git_odb *odb, int fd, uint64_t size, const unsigned char *want, unsigned char *iobuf,
			   const char *rel, struct err **errp)
{
	git_odb_stream *s = NULL;
	git_oid got_oid;
	uint64_t got = 0;
	int rc = -1;

	if (git_odb_open_wstream(&s, odb, (git_object_size_t)size, GIT_OBJECT_BLOB) < 0)
		return snapi_git_fail(errp, "storing a file");
	while (got < size) {
		size_t want_n = size - got < (1u << 20) ? (size_t)(size - got) : 1u << 20;
		ssize_t r = read(fd, iobuf, want_n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (git_odb_stream_write(s, (const char *)iobuf, (size_t)r) < 0) {
			snapi_git_fail(errp, "storing a file");
			goto out;
		}
		got += (uint64_t)r;
	}
	if (got != size) {
		err_set(errp, EAGAIN, "\"%s\" changed while the snapshot was taken", rel);
		goto out;
	}
	if (git_odb_stream_finalize_write(&got_oid, s) < 0) {
		snapi_git_fail(errp, "storing a file");
		goto out;
	}
	if (memcmp(got_oid.id, want, OIDLEN)) {
		err_set(errp, EAGAIN, "\"%s\" changed while the snapshot was taken", rel);
		goto out;
	}
	rc = 0;
out:
	git_odb_stream_free(s);
	return rc;
}
