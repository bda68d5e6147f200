// clock_getres, clock_gettime, clock_settime, clock_nanosleep and
// clock_getcpuclockid at GLIBC_2.2.5: glibc 2.26's librt exports them for
// programs linked before glibc 2.17 moved them into libc (x86_64 only).
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

#include <sys/types.h>
#include <time.h>

#include "export.h"
#include "symver.h"

extern "C" {
int lambshm_libc_clock_getres(clockid_t, struct timespec*);
int lambshm_libc_clock_gettime(clockid_t, struct timespec*);
int lambshm_libc_clock_settime(clockid_t, const struct timespec*);
int lambshm_libc_clock_nanosleep(clockid_t, int, const struct timespec*, struct timespec*);
int lambshm_libc_clock_getcpuclockid(pid_t, clockid_t*);
}
LAMBSHM_SYMVER(lambshm_libc_clock_getres, "clock_getres@" LAMBSHM_IMPORT_clock_getres);
LAMBSHM_SYMVER(lambshm_libc_clock_gettime, "clock_gettime@" LAMBSHM_IMPORT_clock_gettime);
LAMBSHM_SYMVER(lambshm_libc_clock_settime, "clock_settime@" LAMBSHM_IMPORT_clock_settime);
LAMBSHM_SYMVER(lambshm_libc_clock_nanosleep, "clock_nanosleep@" LAMBSHM_IMPORT_clock_nanosleep);
LAMBSHM_SYMVER(lambshm_libc_clock_getcpuclockid, "clock_getcpuclockid@" LAMBSHM_IMPORT_clock_getcpuclockid);

// libc's functions set errno themselves: nothing to translate at this edge.
// clock_nanosleep is not noexcept: cancellation unwinds through it.
LAMBSHM_EXPORT int clock_getres(clockid_t clock, struct timespec* res) noexcept {
  return lambshm_libc_clock_getres(clock, res);
}

LAMBSHM_EXPORT int clock_gettime(clockid_t clock, struct timespec* tp) noexcept {
  return lambshm_libc_clock_gettime(clock, tp);
}

LAMBSHM_EXPORT int clock_settime(clockid_t clock, const struct timespec* tp) noexcept {
  return lambshm_libc_clock_settime(clock, tp);
}

// Returns an error number, not -1/errno; a cancellation point (libc's).
LAMBSHM_EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec* request,
                                   struct timespec* remain) {
  return lambshm_libc_clock_nanosleep(clock, flags, request, remain);
}

LAMBSHM_EXPORT int clock_getcpuclockid(pid_t pid, clockid_t* clock) noexcept {
  return lambshm_libc_clock_getcpuclockid(pid, clock);
}

#endif  // LAMBSHM_VERSION_clock_gettime
