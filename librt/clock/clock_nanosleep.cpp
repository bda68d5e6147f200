// clock_nanosleep at GLIBC_2.2.5, forwarded to libc's (see clock_getres.cpp).
#include "librt_versions.h"

#ifdef LAMBSHM_VERSION_clock_nanosleep

#include <time.h>

#include "export.h"
#include "symver.h"

extern "C" int lambshm_libc_clock_nanosleep(clockid_t, int, const struct timespec*,
                                            struct timespec*);
LAMBSHM_SYMVER(lambshm_libc_clock_nanosleep, "clock_nanosleep@" LAMBSHM_IMPORT_clock_nanosleep);

// Returns an error number, not -1/errno; a cancellation point (libc's), so
// not noexcept: cancellation unwinds through it.
LAMBSHM_EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec* request,
                                   struct timespec* remain) {
  return lambshm_libc_clock_nanosleep(clock, flags, request, remain);
}

#endif  // LAMBSHM_VERSION_clock_nanosleep
