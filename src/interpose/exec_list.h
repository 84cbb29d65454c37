/* sockdrill interposition layer: the list forms of exec (execl, execlp, execle) as vectors. */
#ifndef SD_LIBC_EXEC_LIST_H
#define SD_LIBC_EXEC_LIST_H

#include <stdarg.h>
#include <stddef.h>

/* The list forms gather their arguments for the vector forms: arg0 (never NULL, as glibc
 * declares it) ... NULL [, envp]. */
#define SD__EXEC_LIST(first, ap, argv)                                                             \
	size_t n_ = 1;                                                                             \
	va_list count_;                                                                            \
	va_copy(count_, ap);                                                                       \
	while (va_arg(count_, char *))                                                             \
		n_++;                                                                              \
	va_end(count_);                                                                            \
	char *argv[n_ + 1];                                                                        \
	argv[0] = (char *)(first);                                                                 \
	for (size_t i_ = 1; i_ <= n_; i_++)                                                        \
		argv[i_] = va_arg(ap, char *);

#endif
