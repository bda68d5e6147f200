// clock_getcpuclockid at GLIBC_2.2.5, forwarded to libc's (see clock_getres.cpp).
#include "librt_versions.h"

#ifdef LAMBSHM_VERSION_clock_getcpuclockid

#include <sys/types.h>
#include <time.h>

#include "export.h"
#include "symver.h"

extern "C" int lambshm_libc_clock_getcpuclockid(pid_t, clockid_t*);
LAMBSHM_SYMVER(lambshm_libc_clock_getcpuclockid,
               "clock_getcpuclockid@" LAMBSHM_IMPORT_clock_getcpuclockid);

// libc's sets errno itself.
LAMBSHM_EXPORT int clock_getcpuclockid(pid_t pid, clockid_t* clock) noexcept {
  return lambshm_libc_clock_getcpuclockid(pid, clock);
}

#endif  // LAMBSHM_VERSION_clock_getcpuclockid
