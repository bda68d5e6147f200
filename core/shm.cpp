#include "shm.h"

#include <cerrno>

#include "backing_dir.h"
#include "ipc_name.h"
#include "linux_syscall.h"

namespace lambshm::shm {

int open(const char* name, int oflag, mode_t mode) {
  IpcName file;
  if (int r = make_ipc_name(name, kShmPrefix, &file); r < 0) return r;
  int dir = backing_dir_fd();
  if (dir < 0) return dir;
  int fd = sys::openat(dir, file.file, oflag | O_NOFOLLOW | O_CLOEXEC, mode);
  // A directory in the way is not a shared memory object: EINVAL, as glibc says.
  return fd == -EISDIR ? -EINVAL : fd;
}

int unlink(const char* name) { return unlink_object(name, kShmPrefix); }

}  // namespace lambshm::shm
