// mq_open and its fortify twin __mq_open_2 (see mq_name.h).
#include <fcntl.h>
#include <mqueue.h>

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "export.h"
#include "linux_syscall.h"
#include "mq/mq_name.h"

extern "C" mqd_t __mq_open_2(const char* name, int oflag);

namespace lambshm::mq {
namespace {

// glibc's __fortify_fail, as 2.26 words it; then abort() like glibc.
[[noreturn]] void fortify_fail(const char* msg) {
  const char* parts[] = {"*** ", msg, " ***: ", program_invocation_name, " terminated\n"};
  for (const char* p : parts) sys::write(2, p, strlen(p));
  abort();
}

}  // namespace
}  // namespace lambshm::mq

// Not a cancellation point (glibc's is not either).  mode and attr are read
// only with O_CREAT, as POSIX says.
LAMBSHM_EXPORT mqd_t mq_open(const char* name, int oflag, ...) noexcept {
  mode_t mode = 0;
  struct mq_attr* attr = nullptr;
  if (oflag & O_CREAT) {
    va_list ap;
    va_start(ap, oflag);
    mode = va_arg(ap, mode_t);
    attr = va_arg(ap, struct mq_attr*);
    va_end(ap);
  }
  return lambshm::posix_result(lambshm::mq::open(name, oflag, mode, attr));
}

// What _FORTIFY_SOURCE makes of mq_open(name, oflag) with two arguments: with
// O_CREAT the mode and attributes would be garbage, which glibc turns into a
// fatal error.
LAMBSHM_EXPORT mqd_t __mq_open_2(const char* name, int oflag) noexcept {
  if (oflag & O_CREAT) lambshm::mq::fortify_fail("invalid mq_open call: O_CREAT without mode and attr");
  return lambshm::posix_result(lambshm::mq::open(name, oflag, 0, nullptr));
}
