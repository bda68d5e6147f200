#include "spin.h"

#include <atomic>

#include "linux_syscall.h"

namespace lambshm::spin {

namespace {
// 0: not asked yet; then 1 (one CPU) or 2 (several).
std::atomic<int> g_cpus{0};
}  // namespace

bool several_cpus() {
  int cpus = g_cpus.load(std::memory_order_relaxed);
  if (cpus == 0) {
    // The CPUs this process may run on (taskset, cpusets), not the machine's;
    // a raw system call, not sysconf(), which reads files in /sys.
    uint64_t mask[16] = {};  // 1024 CPUs; a bigger machine has several anyway
    int size = sys::sched_getaffinity(0, sizeof mask, mask);
    int count = 0;
    for (int i = 0; size > 0 && i < size / 8 && count < 2; ++i)
      count += __builtin_popcountll(mask[i]);
    cpus = size < 0 || count > 1 ? 2 : 1;  // an error (EINVAL: more than 1024) means many
    g_cpus.store(cpus, std::memory_order_relaxed);
  }
  return cpus > 1;
}

}  // namespace lambshm::spin
