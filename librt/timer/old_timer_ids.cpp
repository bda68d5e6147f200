// The old x86_64 timer ABI (GLIBC_2.2.5), from before timer_t became a
// pointer-sized type: timer ids were ints, and glibc 2.3.3 kept the old entry
// points as compat symbols (each is in the file of its function, after the
// current one).  As there, an old id is an index into a table of 256 new
// timers (glibc's OLD_TIMER_MAX), filled by compare-and-swap; a full table
// makes timer_create fail with EINVAL after deleting the new timer.  Unlike
// glibc, which indexes the table unchecked, an id out of range or not in use
// is EINVAL rather than a crash.
//
// Built only where the target's abilist has these versions (x86_64).
#include "librt_versions.h"

#ifdef LAMBSHM_COMPAT_timer_create_2_2_5

#include <atomic>
#include <cerrno>

#include "timer.h"

namespace lambshm::timer {
namespace {

constexpr int kOldTimerMax = 256;
// kernel id + 1; 0 = free (kernel ids start at 0).
std::atomic<int> g_old_timers[kOldTimerMax];

}  // namespace

int old_id_claim(int kernel_id) {
  for (int i = 0; i < kOldTimerMax; ++i) {
    int expected = 0;
    if (g_old_timers[i].compare_exchange_strong(expected, kernel_id + 1,
                                                std::memory_order_acq_rel))
      return i;
  }
  return -EINVAL;
}

int old_to_kernel_id(int old_id, int* kernel_id) {
  if (old_id < 0 || old_id >= kOldTimerMax) return -EINVAL;
  int slot = g_old_timers[old_id].load(std::memory_order_acquire);
  if (slot == 0) return -EINVAL;
  *kernel_id = slot - 1;
  return 0;
}

void old_id_release(int old_id, int kernel_id) {
  // Free the slot only if it still holds the timer we deleted.
  int expected = kernel_id + 1;
  g_old_timers[old_id].compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
}

}  // namespace lambshm::timer

#endif  // LAMBSHM_COMPAT_timer_create_2_2_5
