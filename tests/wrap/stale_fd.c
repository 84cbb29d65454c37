/* sockdrill tests: a tracked socket closed behind the layer's back (a raw system call) and its
 * number reused by a regular file: the file must be read as a file, never faulted. */
#include <fcntl.h>
#include <sys/syscall.h>

#include "pair.h"

/* usage: stale_fd FILE (1024 bytes or more) */
int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	int p[2];
	sd_test_pair(p);
	if (syscall(SYS_close_range, (unsigned)p[0], (unsigned)p[0], 0) < 0)
		return 3;
	/* the file on the socket's number, also behind the layer's back */
	int f = open(argv[1], O_RDONLY);
	if (f < 0 || (f != p[0] && syscall(SYS_dup3, f, p[0], 0) < 0))
		return 3;
	f = p[0];
	static char buf[1024];
	ssize_t k = read(f, buf, sizeof buf);
	printf("read %zd\n", k);
	return 0;
}
