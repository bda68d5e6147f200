#include <time.h>

#include "export.h"
#include "librt_versions.h"
#include "symver.h"
#include "timer.h"

LAMBSHM_EXPORT int timer_delete(timer_t timerid) noexcept {
  int id;
  int r = lambshm::timer::to_kernel_id(timerid, &id);
  if (r == 0) r = lambshm::timer::destroy(id);
  return lambshm::posix_result(r);
}

#ifdef LAMBSHM_COMPAT_timer_delete_2_2_5
// The old ABI's int ids (old_timer_ids.cpp).
LAMBSHM_EXPORT int lambshm_timer_delete_old(int timerid) noexcept {
  int id;
  int r = lambshm::timer::old_to_kernel_id(timerid, &id);
  if (r == 0) r = lambshm::timer::destroy(id);
  if (r == 0) lambshm::timer::old_id_release(timerid, id);
  return lambshm::posix_result(r);
}
LAMBSHM_SYMVER(lambshm_timer_delete_old, "timer_delete@" LAMBSHM_COMPAT_timer_delete_2_2_5);
#endif
