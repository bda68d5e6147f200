#include "shm.h"

#include <cerrno>

#include "backing_dir.h"
#include "ipc_name.h"
#include "linux_syscall.h"
#include "memfd_store.h"

namespace lambshm::shm {

namespace {
int open_plain(int dir, const IpcName& file, int oflag, mode_t mode) {
  int fd = sys::openat(dir, file.file, oflag | O_NOFOLLOW | O_CLOEXEC, mode);
  // A directory in the way is not a shared memory object: EINVAL, as glibc says.
  return fd == -EISDIR ? -EINVAL : fd;
}
}  // namespace

// On a directory in memory (tmpfs: /dev/shm itself, or a tmpfs /tmp) objects
// are plain files, as fast as memfds there and shared with stock glibc.  On
// any other file system a plain file's dirty pages are written back to disk,
// so objects are memfds (memfd_store.h), unless LAMBSHM_MEMFD=0.
int open(const char* name, int oflag, mode_t mode) {
  IpcName file;
  if (int r = make_ipc_name(name, kShmPrefix, &file); r < 0) return r;
  int dir = backing_dir_fd();
  if (dir < 0) return dir;
  dev_t dev;
  ino_t ino;
  if (!dir_config().memfd || backing_dir_in_memory(dir, &dev, &ino))
    return open_plain(dir, file, oflag, mode);
  int fd = memfd_store::open(dir, dev, ino, file, oflag, mode);
  return fd == memfd_store::kUsePlainFile ? open_plain(dir, file, oflag, mode) : fd;
}

int unlink(const char* name) {
  IpcName file;
  if (int r = make_ipc_name(name, kShmPrefix, &file); r < 0) return r == -EINVAL ? -ENOENT : r;
  int dir = backing_dir_fd();
  if (dir < 0) return dir;
  dev_t dev;
  ino_t ino;
  if (dir_config().memfd && !backing_dir_in_memory(dir, &dev, &ino))
    return memfd_store::unlink(dir, dev, ino, file);
  int r = sys::unlinkat(dir, file.file, 0);
  return r == -EPERM ? -EACCES : r;  // another user's file in a sticky directory, as glibc says
}

}  // namespace lambshm::shm
