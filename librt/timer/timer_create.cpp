#include <time.h>

#include <cerrno>

#include "export.h"
#include "librt_versions.h"
#include "symver.h"
#include "timer.h"

// Not a cancellation point in glibc, and none here.
LAMBSHM_EXPORT int timer_create(clockid_t clock, struct sigevent* evp, timer_t* timerid) noexcept {
  int id;
  int r = lambshm::timer::create(clock, evp, timerid != nullptr ? &id : nullptr);
  if (r == 0) *timerid = lambshm::timer::to_timer_t(id);
  return lambshm::posix_result(r);
}

#ifdef LAMBSHM_COMPAT_timer_create_2_2_5
// The old ABI's int ids (old_timer_ids.cpp); exported only through the
// symver alias, the version script makes the name itself local.
LAMBSHM_EXPORT int lambshm_timer_create_old(clockid_t clock, struct sigevent* evp,
                                            int* timerid) noexcept {
  if (timerid == nullptr) return lambshm::posix_result(-EINVAL);
  int id;
  int r = lambshm::timer::create(clock, evp, &id);
  if (r < 0) return lambshm::posix_result(r);
  int old_id = lambshm::timer::old_id_claim(id);
  if (old_id < 0) {
    lambshm::timer::destroy(id);
    return lambshm::posix_result(old_id);
  }
  *timerid = old_id;
  return 0;
}
LAMBSHM_SYMVER(lambshm_timer_create_old, "timer_create@" LAMBSHM_COMPAT_timer_create_2_2_5);
#endif
