/*
 * nofalloc.c: a file system that cannot reserve space past a file's end,
 * for tests (LD_PRELOAD). fallocate() with FALLOC_FL_KEEP_SIZE fails with
 * EOPNOTSUPP, as on NFS; every other call goes to the C library.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>

typedef int (*FallocateFn)(int, int, off_t, off_t);

int
fallocate(int fd, int mode, off_t offset, off_t len)
{
	FallocateFn real;

	if (mode & FALLOC_FL_KEEP_SIZE) {
		errno = EOPNOTSUPP;
		return -1;
	}
	real = (FallocateFn)dlsym(RTLD_NEXT, "fallocate");
	return real(fd, mode, offset, len);
}
