// Reopening the memfd a record names.  Apart from memfd_store.cpp so that the
// command (cli/objects.cpp) uses it without the store's fork handling.
#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "keeper_protocol.h"
#include "linux_syscall.h"
#include "memfd_store.h"

namespace lambshm::memfd_store {

int open_record(int record, int flags) {
  keeper::Record rec;
  if (sys::pread(record, &rec, sizeof rec, 0) != (long)sizeof rec ||
      memcmp(rec.magic, keeper::kRecordMagic, sizeof rec.magic) != 0)
    return -EBADMSG;
  char path[48];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", rec.keeper_pid, rec.keeper_fd);
  int m = sys::openat(AT_FDCWD, path, flags);
  if (m < 0) return m == -ENOENT || m == -ENXIO ? -ENOENT : m;
  struct stat st;
  if (sys::fstat(m, &st) < 0 || (uint64_t)st.st_dev != rec.dev || (uint64_t)st.st_ino != rec.ino) {
    sys::close(m);
    return -ENOENT;  // the keeper's pid or descriptor number was reused
  }
  return m;
}

}  // namespace lambshm::memfd_store
