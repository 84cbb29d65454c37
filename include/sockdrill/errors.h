/* sockdrill: errno names, for reports, traces and scenario files. */
#ifndef SOCKDRILL_ERRORS_H
#define SOCKDRILL_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

/* "EADDRINUSE" for EADDRINUSE or -EADDRINUSE; NULL for a number it does not know. */
const char *sd_errname(int err);
/* The positive errno named by `name` ("ECONNRESET"), or 0 when unknown. */
int sd_errno_by_name(const char *name);
/* Describes a call result: "3", or "-ECONNREFUSED" for negatives. Writes into buf. */
char *sd_result_format(long result, char *buf, unsigned size);

#ifdef __cplusplus
}
#endif
#endif
