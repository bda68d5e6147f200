// The kernel side of timer_*: thin, since the kernel validates everything
// (clock, sigevent, flags, timespec ranges) and reports glibc's errno.
#include <sys/syscall.h>

#include <cerrno>

#include "linux_syscall.h"
#include "timer.h"

namespace lambshm::timer {

int create(clockid_t clock, const struct sigevent* evp, int* kernel_id) {
  if (kernel_id == nullptr) return -EINVAL;
  if (evp != nullptr && evp->sigev_notify == SIGEV_THREAD)
    return create_thread_timer(clock, evp, kernel_id);
  int id;
  long r = sys::call(SYS_timer_create, clock, evp, &id);
  if (r < 0) return (int)r;
  *kernel_id = id;
  return 0;
}

int gettime(int kernel_id, struct itimerspec* value) {
  return (int)sys::call(SYS_timer_gettime, kernel_id, value);
}

int settime(int kernel_id, int flags, const struct itimerspec* value, struct itimerspec* old) {
  return (int)sys::call(SYS_timer_settime, kernel_id, flags, value, old);
}

int getoverrun(int kernel_id) { return (int)sys::call(SYS_timer_getoverrun, kernel_id); }

}  // namespace lambshm::timer
