/* sockdrill: umbrella header and library version. */
#ifndef SOCKDRILL_H
#define SOCKDRILL_H

#include <sockdrill/addr.h>
#include <sockdrill/errors.h>
#include <sockdrill/ops.h>
#include <sockdrill/real.h>
#include <sockdrill/sim.h>
#include <sockdrill/trace.h>

#define SD_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* The version the library was built as; compare with SD_VERSION_STRING. */
const char *sd_version(void);

#ifdef __cplusplus
}
#endif
#endif
