// mq_send and mq_timedsend: cancellation points, as in glibc (which makes
// the untimed one the timed system call with no timeout).  The kernel checks
// everything: message size against the queue's (EMSGSIZE), priority (EINVAL
// at MQ_PRIO_MAX and above), the timeout's nanoseconds (EINVAL), the
// descriptor and its mode (EBADF).
#include <mqueue.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include "export.h"
#include "linux_syscall.h"
#include "notify/cancel.h"

namespace lambshm::mq {
namespace {

long timedsend(mqd_t q, const char* msg, size_t len, unsigned prio, const struct timespec* abs) {
  return cancel::point([&] { return sys::call(SYS_mq_timedsend, q, msg, len, prio, abs); });
}

}  // namespace
}  // namespace lambshm::mq

LAMBSHM_EXPORT int mq_send(mqd_t mqdes, const char* msg, size_t len, unsigned prio) {
  return lambshm::posix_result((int)lambshm::mq::timedsend(mqdes, msg, len, prio, nullptr));
}

LAMBSHM_EXPORT int mq_timedsend(mqd_t mqdes, const char* msg, size_t len, unsigned prio,
                                const struct timespec* abs_timeout) {
  return lambshm::posix_result((int)lambshm::mq::timedsend(mqdes, msg, len, prio, abs_timeout));
}
