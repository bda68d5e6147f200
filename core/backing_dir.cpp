#include "backing_dir.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <linux/magic.h>

#include <atomic>

#include "ipc_name.h"
#include "ownership.h"
#include "log_line.h"
#include "linux_syscall.h"

namespace lambshm {

void make_dir_config(const char* env_dir, const char* env_debug, DirConfig* out) {
  out->debug = env_debug != nullptr && strcmp(env_debug, "1") == 0;
  out->memfd = true;
  out->error = 0;
  const char* dir = (env_dir != nullptr && env_dir[0] != '\0') ? env_dir : kDefaultDir;
  size_t length = strlen(dir);
  while (length > 1 && dir[length - 1] == '/') --length;
  if (dir[0] != '/') {
    out->error = EINVAL;
  } else if (length + 2 > PATH_MAX) {
    out->error = ENAMETOOLONG;
  }
  if (out->error != 0) {
    // Keep the value for messages, shortened if need be.
    snprintf(out->path, sizeof out->path, "%s", dir);
    out->path_slash[0] = '\0';
    out->slash_length = 0;
    return;
  }
  memcpy(out->path, dir, length);
  out->path[length] = '\0';
  memcpy(out->path_slash, dir, length);
  size_t slash_length = length;
  if (out->path_slash[slash_length - 1] != '/') out->path_slash[slash_length++] = '/';
  out->path_slash[slash_length] = '\0';
  out->slash_length = slash_length;
}

namespace {
// `euid()` is asked only when the answer depends on it: for a directory that
// others may write without the sticky bit and that root does not own.
template <typename Euid>
const char* policy_violation(const struct stat& st, Euid euid) {
  if (!S_ISDIR(st.st_mode)) return "it is not a directory";
  bool writable_by_others = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  bool sticky = (st.st_mode & S_ISVTX) != 0;
  if (writable_by_others && !sticky && st.st_uid != 0 && st.st_uid != euid())
    return "it is writable by others without the sticky bit and owned by another user";
  return nullptr;
}
}  // namespace

const char* dir_policy_violation(const struct stat& st, uid_t euid) {
  return policy_violation(st, [euid] { return euid; });
}

const char* dir_policy_violation(const struct stat& st) {
  return policy_violation(st, [] { return sys::geteuid(); });
}

int open_backing_dir(const char* path, struct stat* st, const char** why, bool create) {
  *why = nullptr;
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  int fd = sys::openat(AT_FDCWD, path, kFlags);
  bool created = false;
  if (fd == -ENOENT && !create) {
    *why = "it does not exist";
    return fd;
  }
  if (fd == -ENOENT) {
    int r = sys::mkdirat(AT_FDCWD, path, 01777);
    if (r == 0) {
      created = true;
    } else if (r != -EEXIST) {
      *why = r == -ENOENT ? "its parent directory does not exist" : "it cannot be created";
      return r;
    }
    fd = sys::openat(AT_FDCWD, path, kFlags);
  }
  if (fd == -ELOOP || fd == -ENOTDIR) {
    struct stat lst;
    bool is_link = sys::fstatat(AT_FDCWD, path, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
                   S_ISLNK(lst.st_mode);
    *why = is_link ? "it is a symbolic link" : "it is not a directory";
    return -EACCES;
  }
  if (fd < 0) {
    *why = "it cannot be opened";
    return fd;
  }
  int r = sys::fstat(fd, st);
  uid_t euid = sys::geteuid();
  if (r == 0 && created && st->st_uid == euid && (st->st_mode & 07777) != 01777) {
    // mkdir applied the umask; a shared directory must not depend on it.
    if (sys::fchmod(fd, 01777) == 0) r = sys::fstat(fd, st);
  }
  if (r < 0) {
    sys::close(fd);
    *why = "it cannot be examined";
    return r;
  }
  if ((*why = dir_policy_violation(*st, euid)) != nullptr) {
    sys::close(fd);
    return -EACCES;
  }
  if (created) mark_dir(fd, *st);
  return fd;
}

// --- The process-wide directory ---------------------------------------------

namespace {

// The configuration is built once and published through an atomic pointer.
// No lock: a thread that loses the race for the static slot (or a child
// forked while its parent was building it) builds its own copy on the heap
// and publishes that; whoever publishes first wins, and the others use it.
std::atomic<const DirConfig*> g_config{nullptr};
std::atomic<bool> g_static_slot_taken{false};
DirConfig g_static_config;
DirConfig g_out_of_memory_config = {"", "", 0, false, ENOMEM, false};

void load_config(DirConfig* out) {
  make_dir_config(secure_getenv("LAMBSHM_DIR"), secure_getenv("LAMBSHM_DEBUG"), out);
  const char* memfd = secure_getenv("LAMBSHM_MEMFD");
  out->memfd = !(memfd != nullptr && strcmp(memfd, "0") == 0);
}

// One validated descriptor.  Handles are immutable once published; a replaced
// one is kept (another thread may still be reading it) on a list that keeps it
// reachable.  Replacements happen only when the directory changes under us.
struct DirHandle {
  int fd;
  dev_t dev;
  ino_t ino;
  bool in_memory;  // tmpfs or ramfs: see backing_dir_in_memory()
  DirHandle* retired_next;
};
std::atomic<DirHandle*> g_handle{nullptr};
std::atomic<DirHandle*> g_retired{nullptr};

void retire(DirHandle* h) {
  DirHandle* head = g_retired.load(std::memory_order_relaxed);
  do {
    h->retired_next = head;
  } while (!g_retired.compare_exchange_weak(head, h, std::memory_order_release,
                                            std::memory_order_relaxed));
}

// Whether h->fd is still our number: it refers to the directory h validated
// (since deleted or made unacceptable), or to `fresh`, the directory just
// opened again (another thread replacing the same vanished directory moved
// it there first).  Anything else means the program closed our descriptor
// and perhaps reused the number.
bool number_is_ours(const DirHandle* h, const struct stat& fresh) {
  struct stat st;
  if (sys::fstat(h->fd, &st) != 0) return false;
  return (st.st_dev == h->dev && st.st_ino == h->ino) ||
         (st.st_dev == fresh.st_dev && st.st_ino == fresh.st_ino);
}

bool still_good(const DirHandle* h) {
  struct stat st;
  if (sys::fstat(h->fd, &st) != 0 || st.st_dev != h->dev || st.st_ino != h->ino ||
      st.st_nlink == 0)
    return false;
  // Every shm_open, shm_unlink and creating sem_open comes through here: the
  // policy asks for our uid only when it matters.
  return dir_policy_violation(st) == nullptr;
}

bool fs_in_memory(int fd) {
  struct statfs fs;
  if (sys::fstatfs(fd, &fs) != 0) return false;
  return fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC;
}

int reopen(DirHandle* seen) {
  const DirConfig& config = dir_config();
  if (config.error != 0) {
    debug_log("LAMBSHM_DIR=%s is unusable: %s", config.path,
              config.error == EINVAL ? "it must be an absolute path" : strerror(config.error));
    return -config.error;
  }
  struct stat st;
  const char* why;
  int fd = open_backing_dir(config.path, &st, &why);
  if (fd < 0) {
    debug_log("backing directory %s refused: %s (%s)", config.path, why ? why : "error",
              strerror(-fd));
    return fd;
  }
  auto* fresh = static_cast<DirHandle*>(malloc(sizeof(DirHandle)));
  if (fresh == nullptr) {
    sys::close(fd);
    return -ENOMEM;
  }
  // The old descriptor cannot simply be closed: another thread may be using
  // it this instant, and the number could then be reused under it.  When it
  // is still ours, the new directory takes its number instead (dup3 swaps
  // what the number refers to atomically: a thread using it meanwhile lands
  // in one validated directory or the other), so a directory deleted and
  // re-created again and again does not cost a descriptor each time.  When
  // it is not ours (the program closed it, perhaps reused the number), it is
  // left alone.
  bool reused =
      seen != nullptr && number_is_ours(seen, st) && sys::dup3(fd, seen->fd, O_CLOEXEC) >= 0;
  if (reused) {
    sys::close(fd);
    fd = seen->fd;
  } else {
    fd = move_above_expected_numbers(fd);
  }
  *fresh = DirHandle{fd, st.st_dev, st.st_ino, fs_in_memory(fd), nullptr};
  DirHandle* expected = seen;
  if (g_handle.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
    if (seen != nullptr) retire(seen);  // memory only: readers may still hold it
    return fd;
  }
  // Another thread published first: use its descriptor.  It normally took
  // the same number; only if the directory vanished again between its open
  // and ours did it take another, and then the old number stays open: a
  // descriptor lost to a double race, not to each replacement.
  if (!reused) sys::close(fd);
  free(fresh);
  return expected->fd;
}

}  // namespace

// POSIX: the descriptor shm_open returns is the lowest one free, and glibc
// keeps none open between calls.  So the directory's descriptor moves out of
// the numbers a program expects to get next: to the top of the soft
// RLIMIT_NOFILE (capped, so that a huge limit does not grow the descriptor
// table much).  Each of our libraries in a process keeps one, so at the limit
// a few numbers below the top are tried, then half of it.  When none is free,
// it stays where it is.
int move_above_expected_numbers(int fd) {
  constexpr rlim_t kMaxFloor = 1023;
  constexpr rlim_t kTopSlots = 4;
  struct rlimit limit;
  if (sys::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == 0) return fd;
  rlim_t top = limit.rlim_cur - 1 < kMaxFloor ? limit.rlim_cur - 1 : kMaxFloor;
  for (rlim_t i = 0; i <= kTopSlots; ++i) {
    rlim_t floor = i < kTopSlots ? top - i : top / 2;
    if (top < i || floor <= (rlim_t)fd) break;
    int high = sys::fcntl(fd, F_DUPFD_CLOEXEC, (long)floor);
    if (high >= 0) {
      sys::close(fd);
      return high;
    }
  }
  return fd;
}

const DirConfig& dir_config() {
  if (const DirConfig* c = g_config.load(std::memory_order_acquire)) return *c;
  bool taken = false;
  DirConfig* mine = g_static_slot_taken.compare_exchange_strong(taken, true)
                        ? &g_static_config
                        : static_cast<DirConfig*>(malloc(sizeof(DirConfig)));
  if (mine == nullptr) return g_out_of_memory_config;
  load_config(mine);
  const DirConfig* published = nullptr;
  if (g_config.compare_exchange_strong(published, mine, std::memory_order_acq_rel)) return *mine;
  if (mine != &g_static_config) free(mine);
  return *published;
}

int backing_dir_fd() {
  DirHandle* h = g_handle.load(std::memory_order_acquire);
  if (h != nullptr && still_good(h)) return h->fd;
  return reopen(h);
}

bool backing_dir_in_memory(int fd, dev_t* dev, ino_t* ino) {
  DirHandle* h = g_handle.load(std::memory_order_acquire);
  if (h != nullptr && h->fd == fd) {
    *dev = h->dev;
    *ino = h->ino;
    return h->in_memory;
  }
  struct stat st;
  if (sys::fstat(fd, &st) != 0) return true;
  *dev = st.st_dev;
  *ino = st.st_ino;
  return fs_in_memory(fd);
}

int backing_dir_fd_unchecked() {
  DirHandle* h = g_handle.load(std::memory_order_acquire);
  return h != nullptr ? h->fd : -1;
}

const char* backing_dir_path(size_t* length, int* err) {
  int fd = backing_dir_fd();
  if (fd < 0) {
    *err = -fd;
    return nullptr;
  }
  const DirConfig& config = dir_config();
  *length = config.slash_length;
  return config.path_slash;
}

int unlink_object(const char* name, const char* prefix) {
  IpcName file;
  if (int r = make_ipc_name(name, prefix, &file); r < 0) return r == -EINVAL ? -ENOENT : r;
  int dir = backing_dir_fd();
  if (dir < 0) return dir;
  int r = sys::unlinkat(dir, file.file, 0);
  return r == -EPERM ? -EACCES : r;
}

void debug_log(const char* format, ...) {
  if (!dir_config().debug) return;
  char line[PATH_MAX + 256];
  int n = snprintf(line, sizeof line, "lambshm: ");
  va_list ap;
  va_start(ap, format);
  write_log_line(line, sizeof line, n, format, ap);
  va_end(ap);
}

}  // namespace lambshm
