#include <time.h>

#include "export.h"
#include "librt_versions.h"
#include "symver.h"
#include "timer.h"

LAMBSHM_EXPORT int timer_settime(timer_t timerid, int flags, const struct itimerspec* value,
                                 struct itimerspec* old) noexcept {
  int id;
  int r = lambshm::timer::to_kernel_id(timerid, &id);
  if (r == 0) r = lambshm::timer::settime(id, flags, value, old);
  return lambshm::posix_result(r);
}

LAMBSHM_EXPORT int timer_gettime(timer_t timerid, struct itimerspec* value) noexcept {
  int id;
  int r = lambshm::timer::to_kernel_id(timerid, &id);
  if (r == 0) r = lambshm::timer::gettime(id, value);
  return lambshm::posix_result(r);
}

#ifdef LAMBSHM_COMPAT_timer_settime_2_2_5
// The old ABI's int ids (old_timer_ids.cpp).
LAMBSHM_EXPORT int lambshm_timer_settime_old(int timerid, int flags,
                                             const struct itimerspec* value,
                                             struct itimerspec* old) noexcept {
  int id;
  int r = lambshm::timer::old_to_kernel_id(timerid, &id);
  if (r == 0) r = lambshm::timer::settime(id, flags, value, old);
  return lambshm::posix_result(r);
}
LAMBSHM_SYMVER(lambshm_timer_settime_old, "timer_settime@" LAMBSHM_COMPAT_timer_settime_2_2_5);
#endif

#ifdef LAMBSHM_COMPAT_timer_gettime_2_2_5
LAMBSHM_EXPORT int lambshm_timer_gettime_old(int timerid, struct itimerspec* value) noexcept {
  int id;
  int r = lambshm::timer::old_to_kernel_id(timerid, &id);
  if (r == 0) r = lambshm::timer::gettime(id, value);
  return lambshm::posix_result(r);
}
LAMBSHM_SYMVER(lambshm_timer_gettime_old, "timer_gettime@" LAMBSHM_COMPAT_timer_gettime_2_2_5);
#endif
