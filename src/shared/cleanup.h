/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Ownership helpers in the systemd style.  A variable declared with one of the
 * _cleanup_ attributes owns what it points to for its whole scope; hand it
 * away explicitly with TAKE_FD() / TAKE_PTR().  ccdevd's whole job is fds, so
 * every fd in the tree lives in one of these or in an object whose destroy
 * function closes it.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* close() that keeps errno, for cleanup paths that report an earlier error. */
static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

static inline void closep(int *fd)
{
	safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

#define TAKE_FD(fd)                    \
	({                             \
		int _fd_ = (fd);       \
		(fd) = -1;             \
		_fd_;                  \
	})

#define TAKE_PTR(p)                         \
	({                                  \
		__typeof__(p) _p_ = (p);    \
		(p) = NULL;                 \
		_p_;                        \
	})

/* Generate a foop() cleanup function for a type's destructor foo(). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)  \
	static inline void func##p(type *p)     \
	{                                        \
		if (*p)                          \
			func(*p);                \
	}

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define STRV_FOREACH(s, l) for (char **s = (l); s && *s; s++)
