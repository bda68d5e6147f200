// One system call, no cancellation point (as glibc).
#include <mqueue.h>

#include "export.h"
#include "linux_syscall.h"

// A queue descriptor is a file descriptor; closing it also drops this
// process's notification registration (the kernel does that).
LAMBSHM_EXPORT int mq_close(mqd_t mqdes) noexcept {
  return lambshm::posix_result(lambshm::sys::close(mqdes));
}
