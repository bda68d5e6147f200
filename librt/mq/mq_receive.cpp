// mq_receive and mq_timedreceive: cancellation points, as in glibc (which
// makes the untimed one the timed system call with no timeout).  The kernel
// checks everything: the buffer against the queue's message size
// (EMSGSIZE), the timeout's nanoseconds (EINVAL), the descriptor and its mode
// (EBADF).
#include <mqueue.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include "export.h"
#include "linux_syscall.h"
#include "notify/cancel.h"

namespace lambshm::mq {
namespace {

long timedreceive(mqd_t q, char* msg, size_t len, unsigned* prio, const struct timespec* abs) {
  return cancel::point([&] { return sys::call(SYS_mq_timedreceive, q, msg, len, prio, abs); });
}

ssize_t posix_ssize(long r) { return r < 0 ? lambshm::fail_with_errno((int)-r) : r; }

}  // namespace
}  // namespace lambshm::mq

LAMBSHM_EXPORT ssize_t mq_receive(mqd_t mqdes, char* msg, size_t len, unsigned* prio) {
  return lambshm::mq::posix_ssize(lambshm::mq::timedreceive(mqdes, msg, len, prio, nullptr));
}

LAMBSHM_EXPORT ssize_t mq_timedreceive(mqd_t mqdes, char* msg, size_t len, unsigned* prio,
                                       const struct timespec* abs_timeout) {
  return lambshm::mq::posix_ssize(
      lambshm::mq::timedreceive(mqdes, msg, len, prio, abs_timeout));
}
