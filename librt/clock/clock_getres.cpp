// clock_getres, clock_gettime and clock_settime at GLIBC_2.2.5 (with
// clock_nanosleep.cpp and clock_getcpuclockid.cpp, every clock function):
// glibc 2.26's librt exports them for programs linked before glibc 2.17
// moved them into libc (x86_64 only).
//
// They forward to libc's functions, at the version the libc abilist gives
// (LAMBSHM_IMPORT_*, GLIBC_2.17), as glibc 2.26's librt does (its exports
// are IFUNCs resolving to libc's).  Why not the vDSO or system calls: libc's
// are the reference, so the results, errno, the vDSO fast path, the CPU-time
// clock encoding, clock_nanosleep's error-number return and its cancellation
// point are libc's by construction, on every glibc from 2.26.  Why explicit
// versions: this library defines the same names, so a plain call would bind
// to our own export and recurse.
#include "librt_versions.h"

#ifdef LAMBSHM_VERSION_clock_gettime

#include <time.h>

#include "export.h"
#include "symver.h"

extern "C" {
int lambshm_libc_clock_getres(clockid_t, struct timespec*);
int lambshm_libc_clock_gettime(clockid_t, struct timespec*);
int lambshm_libc_clock_settime(clockid_t, const struct timespec*);
}
LAMBSHM_SYMVER(lambshm_libc_clock_getres, "clock_getres@" LAMBSHM_IMPORT_clock_getres);
LAMBSHM_SYMVER(lambshm_libc_clock_gettime, "clock_gettime@" LAMBSHM_IMPORT_clock_gettime);
LAMBSHM_SYMVER(lambshm_libc_clock_settime, "clock_settime@" LAMBSHM_IMPORT_clock_settime);

// libc's functions set errno themselves: nothing to translate at this edge.
LAMBSHM_EXPORT int clock_getres(clockid_t clock, struct timespec* res) noexcept {
  return lambshm_libc_clock_getres(clock, res);
}

LAMBSHM_EXPORT int clock_gettime(clockid_t clock, struct timespec* tp) noexcept {
  return lambshm_libc_clock_gettime(clock, tp);
}

LAMBSHM_EXPORT int clock_settime(clockid_t clock, const struct timespec* tp) noexcept {
  return lambshm_libc_clock_settime(clock, tp);
}

#endif  // LAMBSHM_VERSION_clock_gettime
