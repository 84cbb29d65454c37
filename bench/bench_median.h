/* sockdrill benchmarks: the median of n figures (sorts them in place). */
#ifndef SD_BENCH_MEDIAN_H
#define SD_BENCH_MEDIAN_H

#include <stdlib.h>

static int sd_bench_by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static inline double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, sd_bench_by_value);
	return v[n / 2];
}

#endif
