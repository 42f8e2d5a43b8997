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
 * cost 200 MB of the server's RSS on write and again on every read.
 */
#include "snapshot.h"
#include "snapshot_internal.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"

#include <fcntl.h>
#include <git2.h>
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
	/* packed: small (<= LOOSE_MIN) unless a version before loose objects stored it */
	if (git_odb_read_header(&len, &type, odb, oid) < 0)
		return snapi_git_fail(errp, "reading a file of the snapshot");
	if (type != GIT_OBJECT_BLOB)
		return corrupt(errp);
	if ((uint64_t)len > SNAP_WHOLE_MAX)
		return err_set(errp, EFBIG, "snapshot store: a packed file over %llu MiB cannot be read",
			       (unsigned long long)SNAP_WHOLE_MAX >> 20);
	if (git_odb_read(&b->obj, odb, oid) < 0)
		return snapi_git_fail(errp, "reading a file of the snapshot");
	b->size = git_odb_object_size(b->obj);
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
		if (loose_inflate(b, (char *)buf + got, n - got, &made, &b->ended, errp) < 0)
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
		if (!b->ended && loose_inflate(b, &extra, 1, &made, &b->ended, errp) < 0)
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
