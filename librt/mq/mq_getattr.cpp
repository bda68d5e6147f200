// mq_getattr and mq_setattr: one system call each, no cancellation point
// (as glibc).
#include <mqueue.h>
#include <sys/syscall.h>

#include "export.h"
#include "linux_syscall.h"

LAMBSHM_EXPORT int mq_getattr(mqd_t mqdes, struct mq_attr* attr) noexcept {
  return lambshm::posix_result(
      (int)lambshm::sys::call(SYS_mq_getsetattr, mqdes, nullptr, attr));
}

// The kernel takes only O_NONBLOCK from mq_flags and ignores the other fields.
LAMBSHM_EXPORT int mq_setattr(mqd_t mqdes, const struct mq_attr* attr,
                              struct mq_attr* old) noexcept {
  return lambshm::posix_result(
      (int)lambshm::sys::call(SYS_mq_getsetattr, mqdes, attr, old));
}
