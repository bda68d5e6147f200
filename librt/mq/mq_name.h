// Opening and unlinking message queues by name.
//
// Names: as glibc, a queue name must start with '/', which is stripped
// (exactly one); anything else is EINVAL before the kernel is asked.  The
// rest is the kernel's to judge ("" is ENOENT, another '/' EACCES, too long
// ENAMETOOLONG).  The kernel's own mqueue filesystem serves the system calls,
// whether or not /dev/mqueue is mounted; a kernel without POSIX message
// queues says ENOSYS, and that is what the caller gets.
//
// In their own translation unit on purpose: <mqueue.h> declares mq_open's
// and mq_unlink's name nonnull, and GCC then drops our null checks in any
// function it inlines into them, -fno-delete-null-pointer-checks or not.
#pragma once

#include <mqueue.h>
#include <sys/types.h>

namespace lambshm::mq {

// A descriptor or -errno.  A null name is EINVAL (glibc crashes).
int open(const char* name, int oflag, mode_t mode, struct mq_attr* attr);
// 0 or -errno; the kernel's EPERM is EACCES, as POSIX and glibc say.
int unlink(const char* name);

}  // namespace lambshm::mq
