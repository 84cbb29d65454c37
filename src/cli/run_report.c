/* sockdrill: a report file, written beside its path and renamed over it once complete. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"

static int report_error(const struct run_report *r, int err)
{
	sd__usage_error(r->cmd, "%s: cannot write %s: %s", r->opt, r->path, strerror(err));
	return -1;
}

/* Writing to the path itself: a FIFO, a device, or a file whose directory we may not add to.
 * O_NONBLOCK: a FIFO nobody reads is refused (ENXIO) rather than waited for. */
static int open_in_place(struct run_report *r)
{
	r->in_place = 1;
	r->fd = open(r->path, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC, 0666);
	r->created = r->fd >= 0;
	if (r->fd < 0 && errno == EEXIST)
		r->fd = open(r->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (r->fd < 0 || fcntl(r->fd, F_SETFL, 0) < 0) {
		int e = errno;
		sd__run_report_discard(r);
		return report_error(r, e);
	}
	return 0;
}

/* The new file beside dest, ".NAME.XXXXXX" in its directory: 0, or a negative errno. */
static int open_beside(struct run_report *r)
{
	char dir[PATH_MAX], base[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", r->dest);
	snprintf(base, sizeof base, "%s", r->dest);
	if ((size_t)snprintf(r->tmp, sizeof r->tmp, "%s/.%s.XXXXXX", dirname(dir),
			     basename(base)) >= sizeof r->tmp)
		return -ENAMETOOLONG;
	r->fd = mkostemp(r->tmp, O_CLOEXEC);
	if (r->fd < 0) {
		r->tmp[0] = 0;
		return -errno;
	}
	return 0;
}

int sd__run_report_open(struct run_report *r, const char *opt, const char *path)
{
	return sd__report_open(r, "run", opt, path);
}

int sd__report_open(struct run_report *r, const char *cmd, const char *opt, const char *path)
{
	struct stat st;
	*r = (struct run_report){.cmd = cmd, .opt = opt, .path = path, .fd = -1};
	int exists = stat(path, &st) == 0;
	if (!exists && lstat(path, &st) == 0) /* a link to nothing is not made a file */
		return report_error(r, ENOENT);
	if (exists && S_ISDIR(st.st_mode))
		return report_error(r, EISDIR);
	if (exists && !S_ISREG(st.st_mode))
		return open_in_place(r);
	/* A link is followed: the file it leads to is replaced, the link stays. A new file's path
	 * is made absolute, as a command may change directory before it writes (fuzz builds). */
	char cwd[PATH_MAX];
	if (!exists || !realpath(path, r->dest)) {
		if (path[0] == '/' || !getcwd(cwd, sizeof cwd) ||
		    (size_t)snprintf(r->dest, sizeof r->dest, "%s/%s", cwd, path) >= sizeof r->dest)
			snprintf(r->dest, sizeof r->dest, "%s", path);
	}
	if (exists) {
		/* a report we could not overwrite in place is not ours to replace either */
		int fd = open(r->dest, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return report_error(r, errno);
		close(fd);
		r->mode = st.st_mode & 07777;
	} else {
		mode_t mask = umask(0);
		umask(mask);
		r->mode = 0666 & ~mask;
	}
	int rc = open_beside(r);
	if (rc == -EACCES || rc == -EROFS || rc == -EPERM) {
		if (exists) /* the directory is closed to us, the file is not */
			return open_in_place(r);
	}
	return rc < 0 ? report_error(r, -rc) : 0;
}

static int write_all(int fd, const char *text, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t k = write(fd, text + done, len - done);
		if (k > 0)
			done += (size_t)k;
		else if (k == 0 || errno != EINTR)
			return k == 0 ? -EIO : -errno;
	}
	return 0;
}

int sd__run_report_commit(struct run_report *r, const char *text, size_t len)
{
	struct stat st;
	int rc = 0;
	if (r->fd < 0)
		return 0;
	if (r->in_place && fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode) && ftruncate(r->fd, 0) < 0)
		rc = -errno;
	if (rc == 0)
		rc = write_all(r->fd, text, len);
	if (rc == 0 && !r->in_place && fchmod(r->fd, r->mode) < 0)
		rc = -errno;
	if (close(r->fd) < 0 && rc == 0)
		rc = -errno;
	r->fd = -1;
	if (rc == 0 && !r->in_place && rename(r->tmp, r->dest) < 0)
		rc = -errno;
	if (rc == 0) {
		r->tmp[0] = 0;
		return 0;
	}
	sd__run_report_discard(r);
	return report_error(r, -rc);
}

void sd__run_report_discard(struct run_report *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->tmp[0])
		unlink(r->tmp);
	r->tmp[0] = 0;
	if (r->in_place && r->created) /* no half-written report left behind */
		unlink(r->path);
	r->created = 0;
}
