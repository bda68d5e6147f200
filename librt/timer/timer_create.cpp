#include <time.h>

#include "export.h"
#include "timer.h"

// Not a cancellation point in glibc, and none here.
LAMBSHM_EXPORT int timer_create(clockid_t clock, struct sigevent* evp, timer_t* timerid) noexcept {
  int id;
  int r = lambshm::timer::create(clock, evp, timerid != nullptr ? &id : nullptr);
  if (r == 0) *timerid = lambshm::timer::to_timer_t(id);
  return lambshm::posix_result(r);
}

LAMBSHM_EXPORT int timer_delete(timer_t timerid) noexcept {
  int id;
  int r = lambshm::timer::to_kernel_id(timerid, &id);
  if (r == 0) r = lambshm::timer::destroy(id);
  return lambshm::posix_result(r);
}
