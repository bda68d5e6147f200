#include <time.h>

#include "export.h"
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

LAMBSHM_EXPORT int timer_getoverrun(timer_t timerid) noexcept {
  int id;
  int r = lambshm::timer::to_kernel_id(timerid, &id);
  if (r == 0) r = lambshm::timer::getoverrun(id);
  return lambshm::posix_result(r);
}
