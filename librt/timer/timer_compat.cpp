// The old x86_64 timer ABI (GLIBC_2.2.5), from before timer_t became a
// pointer-sized type: timer ids were ints, and glibc 2.3.3 kept the old entry
// points as compat symbols.  As there, an old id is an index into a table of
// 256 new timers (glibc's OLD_TIMER_MAX), filled by compare-and-swap; a full
// table makes timer_create fail with EINVAL after deleting the new timer.
// Unlike glibc, which indexes the table unchecked, an id out of range or not
// in use is EINVAL rather than a crash.
//
// Built only where the target's abilist has these versions (x86_64).
#include "librt_versions.h"

#ifdef LAMBSHM_COMPAT_timer_create_2_2_5

#include <time.h>

#include <atomic>
#include <cerrno>

#include "export.h"
#include "symver.h"
#include "timer.h"

namespace lambshm::timer {
namespace {

constexpr int kOldTimerMax = 256;
// kernel id + 1; 0 = free (kernel ids start at 0).
std::atomic<int> g_old_timers[kOldTimerMax];

int old_to_kernel_id(int old_id, int* kernel_id) {
  if (old_id < 0 || old_id >= kOldTimerMax) return -EINVAL;
  int slot = g_old_timers[old_id].load(std::memory_order_acquire);
  if (slot == 0) return -EINVAL;
  *kernel_id = slot - 1;
  return 0;
}

}  // namespace
}  // namespace lambshm::timer

using namespace lambshm::timer;

// Exported only through the LAMBSHM_SYMVER aliases; the version script makes the
// names themselves local.
#define LAMBSHM_OLD_ABI extern "C" __attribute__((visibility("default")))

LAMBSHM_OLD_ABI int lambshm_timer_create_old(clockid_t clock, struct sigevent* evp,
                                             int* timerid) noexcept {
  if (timerid == nullptr) return lambshm::posix_result(-EINVAL);
  int id;
  int r = create(clock, evp, &id);
  if (r < 0) return lambshm::posix_result(r);
  for (int i = 0; i < kOldTimerMax; ++i) {
    int expected = 0;
    if (g_old_timers[i].compare_exchange_strong(expected, id + 1, std::memory_order_acq_rel)) {
      *timerid = i;
      return 0;
    }
  }
  destroy(id);
  return lambshm::posix_result(-EINVAL);
}

LAMBSHM_OLD_ABI int lambshm_timer_delete_old(int timerid) noexcept {
  int id;
  int r = old_to_kernel_id(timerid, &id);
  if (r == 0) r = destroy(id);
  if (r == 0) {
    // Free the slot only if it still holds the timer we deleted.
    int expected = id + 1;
    g_old_timers[timerid].compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
  }
  return lambshm::posix_result(r);
}

LAMBSHM_OLD_ABI int lambshm_timer_settime_old(int timerid, int flags, const struct itimerspec* value,
                                              struct itimerspec* old) noexcept {
  int id;
  int r = old_to_kernel_id(timerid, &id);
  if (r == 0) r = settime(id, flags, value, old);
  return lambshm::posix_result(r);
}

LAMBSHM_OLD_ABI int lambshm_timer_gettime_old(int timerid, struct itimerspec* value) noexcept {
  int id;
  int r = old_to_kernel_id(timerid, &id);
  if (r == 0) r = gettime(id, value);
  return lambshm::posix_result(r);
}

LAMBSHM_OLD_ABI int lambshm_timer_getoverrun_old(int timerid) noexcept {
  int id;
  int r = old_to_kernel_id(timerid, &id);
  if (r == 0) r = getoverrun(id);
  return lambshm::posix_result(r);
}

LAMBSHM_SYMVER(lambshm_timer_create_old, "timer_create@" LAMBSHM_COMPAT_timer_create_2_2_5);
LAMBSHM_SYMVER(lambshm_timer_delete_old, "timer_delete@" LAMBSHM_COMPAT_timer_delete_2_2_5);
LAMBSHM_SYMVER(lambshm_timer_settime_old, "timer_settime@" LAMBSHM_COMPAT_timer_settime_2_2_5);
LAMBSHM_SYMVER(lambshm_timer_gettime_old, "timer_gettime@" LAMBSHM_COMPAT_timer_gettime_2_2_5);
LAMBSHM_SYMVER(lambshm_timer_getoverrun_old, "timer_getoverrun@" LAMBSHM_COMPAT_timer_getoverrun_2_2_5);

#endif  // LAMBSHM_COMPAT_timer_create_2_2_5
