#include "instance.h"
#include "workspace.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/banned.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#define ID_BYTES 8	/* "i_" + 16 hex digits */

struct sess_instance {
	char *root;	/* DATA/instances */
	char *id;
	char *dir;	/* DATA/instances/<id> */
	int lock_fd;
};

/* An unnamed file, locked, then given its name: nobody sees it unlocked. */
static int create_locked(const char *root, const char *name, struct err **errp)
{
	auto_close int fd = open(root, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	char proc[64];

	if (fd < 0)
		return err_set(errp, errno, "cannot create the instance lock in %s", root);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return err_set(errp, errno, "cannot lock the instance lock");
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	auto_close int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || linkat(AT_FDCWD, proc, rootfd, name, AT_SYMLINK_FOLLOW) < 0)
		return err_set(errp, errno, "cannot name the instance lock %s/%s", root, name);
	return steal_fd(fd);
}

int sess_instance_open(struct sess_instance **out, const char *data_dir, struct err **errp)
{
	struct sess_instance *in = xcalloc(1, sizeof(*in));
	struct buf b = BUF_INIT;

	in->lock_fd = -1;
	buf_addf(&b, "%s/instances", data_dir);
	in->root = buf_detach(&b);
	/* 0711 like DATA/workspaces: a sandbox user may traverse to its own pool workspace */
	if (mkdir(in->root, 0711) < 0 && errno != EEXIST) {
		err_set(errp, errno, "cannot create %s", in->root);
		goto fail;
	}
	in->id = random_id("i_", ID_BYTES);
	buf_addf(&b, "%s.lock", in->id);
	in->lock_fd = create_locked(in->root, b.data, errp);
	buf_release(&b);
	if (in->lock_fd < 0)
		goto fail;
	buf_addf(&b, "%s/%s", in->root, in->id);
	in->dir = buf_detach(&b);
	if (mkdir(in->dir, 0711) < 0) {
		err_set(errp, errno, "cannot create %s", in->dir);
		goto fail;
	}
	chmod(in->dir, 0711); /* whatever the umask */
	*out = in;
	return 0;
fail:
	sess_instance_free(in);
	return -1;
}

const char *sess_instance_id(const struct sess_instance *in)
{
	return in->id;
}

const char *sess_instance_dir(const struct sess_instance *in)
{
	return in->dir;
}

/* Records of versions before instances: "pid:starttime", alive while that process is. */
static bool legacy_alive(const char *id)
{
	char path[64], buf[1024];
	int pid;
	unsigned long long start, want;

	if (sscanf(id, "%d:%llu", &pid, &want) != 2 || pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	auto_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* field 22 (starttime) counts from after the ")" that ends comm */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return false;
	int field = 2;
	for (p++; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	return sscanf(p, "%llu", &start) == 1 && start == want;
}

static bool valid_id(const char *id)
{
	if (strncmp(id, "i_", 2) || strlen(id) != 2 + 2 * ID_BYTES)
		return false;
	return strspn(id + 2, "0123456789abcdef") == 2 * ID_BYTES;
}

/* Open and try-lock <id>.lock: fd (locked by us: its owner is gone), -1 with
   errno EWOULDBLOCK (its owner runs) or another errno (no such instance). */
static int take_lock(int rootfd, const char *id)
{
	char name[64];
	snprintf(name, sizeof(name), "%s.lock", id);
	int fd = openat(rootfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

bool sess_instance_alive(const struct sess_instance *in, const char *id)
{
	if (!id)
		return false;
	if (!strcmp(id, in->id))
		return true;
	if (!valid_id(id))
		return legacy_alive(id);
	auto_close int rootfd = open(in->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return false;
	auto_close int fd = take_lock(rootfd, id);
	return fd < 0 && errno == EWOULDBLOCK;
}

/* Remove the tree and then the lock of a gone instance whose lock we hold. */
static void sweep_one(int rootfd, const char *id)
{
	auto_err struct err *err = NULL;
	char name[64];

	if (sess_ws_remove_at(rootfd, id, &err) < 0 && err->errnum != ENOENT) {
		log_warn("instances: cannot remove what instance %s left: %s", id, strerror(err->errnum));
		return; /* keep the lock file: the next start tries again */
	}
	snprintf(name, sizeof(name), "%s.lock", id);
	unlinkat(rootfd, name, 0);
}

unsigned sess_instance_sweep(struct sess_instance *in)
{
	auto_close int rootfd = open(in->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = rootfd < 0 ? NULL : fdopendir(dup(rootfd));
	struct dirent *de;
	unsigned swept = 0;

	while (d && (de = readdir(d))) {
		char id[64];
		size_t len = strlen(de->d_name);
		bool is_lock = len > 5 && !strcmp(de->d_name + len - 5, ".lock");
		snprintf(id, sizeof(id), "%.*s", (int)(is_lock ? len - 5 : len), de->d_name);
		if (!valid_id(id) || !strcmp(id, in->id))
			continue;
		/* The lock is linked before the directory is made and unlinked after it
		   is removed, so every instance with a directory has its lock file. */
		auto_close int fd = take_lock(rootfd, id);
		if (fd < 0)
			continue; /* its process runs, or another sweep took it meanwhile */
		log_info("instances: instance %s is gone; removing what it left", id);
		sweep_one(rootfd, id);
		swept++;
	}
	if (d)
		closedir(d);
	return swept;
}

unsigned sess_instance_sweep_legacy_displays(const char *const *bases)
{
	unsigned swept = 0;

	for (; *bases; bases++) {
		char top[256];
		struct stat st;
		struct dirent *de;

		snprintf(top, sizeof(top), "%s/mcpbox-%u", *bases, (unsigned)geteuid());
		auto_close int topfd = open(top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (topfd < 0 || fstat(topfd, &st) < 0 || st.st_uid != geteuid())
			continue;
		DIR *d = fdopendir(dup(topfd));
		while (d && (de = readdir(d))) {
			char *end;
			long pid = strtol(de->d_name, &end, 10);
			if (*end || pid <= 0 || pid > INT_MAX || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
				continue; /* not a pid's directory, or that process runs */
			auto_err struct err *err = NULL;
			if (sess_ws_remove_at(topfd, de->d_name, &err) < 0) {
				log_warn("instances: cannot remove %s/%s, left by an older version: %s", top,
					 de->d_name, err_text(err));
				continue;
			}
			log_info("instances: removed %s/%s, display directories an older version left", top,
				 de->d_name);
			swept++;
		}
		if (d)
			closedir(d);
		rmdir(top); /* only once empty */
	}
	return swept;
}

void sess_instance_free(struct sess_instance *in)
{
	if (!in)
		return;
	if (in->lock_fd >= 0) {
		auto_close int rootfd = open(in->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd >= 0)
			sweep_one(rootfd, in->id); /* our own: we hold its lock */
		close(in->lock_fd);
	}
	free(in->root);
	free(in->id);
	free(in->dir);
	free(in);
}
