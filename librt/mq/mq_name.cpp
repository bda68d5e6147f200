#include "mq/mq_name.h"

#include <sys/syscall.h>

#include <cerrno>

#include "linux_syscall.h"

namespace lambshm::mq {

int open(const char* name, int oflag, mode_t mode, struct mq_attr* attr) {
  if (name == nullptr || name[0] != '/') return -EINVAL;
  return (int)sys::call(SYS_mq_open, name + 1, oflag, mode, attr);
}

int unlink(const char* name) {
  if (name == nullptr || name[0] != '/') return -EINVAL;
  int r = (int)sys::call(SYS_mq_unlink, name + 1);
  // unlink(2) reports EPERM or EACCES; POSIX allows mq_unlink only EACCES.
  return r == -EPERM ? -EACCES : r;
}

}  // namespace lambshm::mq
