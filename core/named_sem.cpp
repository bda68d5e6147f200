#include "named_sem.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/random.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "backing_dir.h"
#include "futex.h"
#include "ipc_name.h"
#include "memfd_store.h"
#include "name_table.h"
#include "sem_table.h"
#include "sem_ops.h"
#include "testing.h"
#include "linux_syscall.h"
#include "unique_fd.h"

namespace lambshm::named_sem {

namespace {

constinit SemTable g_table;

// fork() copies the table; holding its lock across fork() (pthread_atfork)
// guarantees the copy is consistent even when another thread was in the
// middle of sem_open.  The handlers are registered by the first call that
// needs the table, not by a constructor: a library meant for LD_PRELOAD runs
// nothing until it is used.  No thread may take the table's lock before they
// are registered (a fork() at that instant would copy a lock whose holder
// does not exist in the child), so callers wait for the first registration
// to finish.  A child forked during it finishes the job itself: the prepare
// handler records that it ran, which tells whether the handlers made it into
// glibc's list before that fork.
constexpr int kRegistered = -1;  // g_fork_state: 0 none, a pid: registering, -1 done
std::atomic<int> g_fork_state{0};
std::atomic<bool> g_prepare_ran{false};

void fork_prepare() {
  g_prepare_ran.store(true, std::memory_order_relaxed);
  g_table.mutex().lock();
}
void fork_done() { g_table.mutex().unlock(); }

void finish_registration(bool already_listed) {
  if (!already_listed) pthread_atfork(fork_prepare, fork_done, fork_done);
  g_fork_state.store(kRegistered, std::memory_order_release);
  futex::wake(reinterpret_cast<uint32_t*>(&g_fork_state), INT32_MAX, /*shared=*/false);
}

void ensure_fork_handlers() {
  int state = g_fork_state.load(std::memory_order_acquire);
  if (state == kRegistered) return;
  int self = sys::getpid();
  for (;;) {
    if (state == kRegistered) return;
    if (state == 0) {
      if (g_fork_state.compare_exchange_strong(state, self, std::memory_order_acq_rel)) {
        finish_registration(/*already_listed=*/false);
        return;
      }
      continue;
    }
    if (state != self) {
      // Forked while a thread of the parent was registering: that thread is
      // not here.  Single-threaded so far as this state is concerned.
      finish_registration(g_prepare_ran.load(std::memory_order_relaxed));
      return;
    }
    futex::wait(reinterpret_cast<uint32_t*>(&g_fork_state), (uint32_t)state, nullptr,
                CLOCK_MONOTONIC, /*shared=*/false);
    state = g_fork_state.load(std::memory_order_acquire);
  }
}

// Races between creators and unlinkers can bounce a caller between "exists"
// and "does not exist"; each round trip means another process made progress.
constexpr int kMaxAttempts = 1000;
constexpr int kOpenFlags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;

sem_t* map(int fd) {
  long addr = sys::mmap(nullptr, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return sys::is_error(addr) ? nullptr : reinterpret_cast<sem_t*>(addr);
}

void unmap(sem_t* sem) { sys::munmap(sem, sizeof(sem_t)); }

// Maps an open semaphore file, or returns the mapping this process already has.
int adopt(int fd, const struct stat& st, sem_t** out) {
  if ((*out = g_table.acquire(st.st_dev, st.st_ino)) != nullptr) return 0;
  if (!g_table.reserve()) return -ENOMEM;
  sem_t* mapping = map(fd);
  if (mapping == nullptr) {
    g_table.unreserve();
    return -ENOMEM;
  }
  *out = g_table.insert(st.st_dev, st.st_ino, mapping);
  if (*out != mapping) unmap(mapping);  // another thread mapped it first
  return 0;
}

// Whether the stat alone proves that the open of open_existing() would pass
// the kernel's permission check.  Only the owner class is exact: for anyone
// else an ACL entry may deny what the group or other bits show, and root's
// capabilities may be dropped.  Every other case takes the real open.
bool owner_may_read_and_write(const struct stat& st) {
  return (st.st_mode & (S_IRUSR | S_IWUSR)) == (S_IRUSR | S_IWUSR) &&
         st.st_uid == sys::geteuid();
}

int open_existing(int dir, const char* file, sem_t** out) {
  UniqueFd fd(sys::openat(dir, file, kOpenFlags));
  if (!fd.valid()) return fd.get();
  struct stat st;
  if (int r = sys::fstat(fd.get(), &st); r < 0) return r;
  if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(sem_t)) {
    // Not something sem_open made: mapping it would fault (SIGBUS) on first use.
    debug_log("%s%s is not a semaphore (%s)", dir_config().path_slash, file,
              S_ISREG(st.st_mode) ? "too small" : "not a regular file");
    return -EINVAL;
  }
  return adopt(fd.get(), st, out);
}

void random_name(char* out, size_t length) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char bytes[32];
  if (length > sizeof bytes) length = sizeof bytes;
  if (sys::getrandom(bytes, length, GRND_NONBLOCK) != (long)length) {
    // No entropy to be had (very old kernel): mix what differs between callers.
    static std::atomic<uint64_t> counter{0};
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)sys::getpid() << 32) ^
                 counter.fetch_add(0x9e3779b97f4a7c15ull) ^ reinterpret_cast<uintptr_t>(&ts);
    for (size_t i = 0; i < length; ++i) {
      x ^= x >> 29;
      x *= 0xbf58476d1ce4e5b9ull;
      bytes[i] = (unsigned char)(x >> 56);
    }
  }
  for (size_t i = 0; i < length; ++i) out[i] = kAlphabet[bytes[i] % (sizeof kAlphabet - 1)];
}

// A semaphore file being initialised, not yet visible under its name.
class PendingFile {
 public:
  PendingFile(int dir) : dir_(dir) {}
  ~PendingFile() {
    if (named_[0] != '\0') sys::unlinkat(dir_, named_, 0);
  }

  // Creates the file: anonymous when the filesystem can, named otherwise.
  int create(mode_t mode, bool anonymous) {
    if (anonymous) {
      fd_.reset(sys::openat(dir_, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, mode));
      return fd_.valid() ? 0 : fd_.get();
    }
    constexpr size_t kRandom = 12;
    static_assert(sizeof kTempSemPrefix + kRandom <= sizeof named_);
    for (int attempt = 0; attempt < 100; ++attempt) {
      memcpy(named_, kTempSemPrefix, sizeof kTempSemPrefix - 1);
      random_name(named_ + sizeof kTempSemPrefix - 1, kRandom);
      named_[sizeof kTempSemPrefix - 1 + kRandom] = '\0';
      int fd = sys::openat(dir_, named_, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
      if (fd >= 0) {
        fd_.reset(fd);
        return 0;
      }
      named_[0] = '\0';
      if (fd != -EEXIST) return fd;
    }
    return -EAGAIN;
  }

  int write_all(const unsigned char* bytes, size_t length) {
    size_t done = 0;
    while (done < length) {
      long n = sys::pwrite(fd_.get(), bytes + done, length - done, (off_t)done);
      if (n == -EINTR) continue;
      if (n < 0) return (int)n;
      if (n == 0) return -ENOSPC;
      done += (size_t)n;
    }
    return 0;
  }

  // Gives the file its final name; -EEXIST if the name is taken.
  int publish(const char* file) {
    if (named_[0] != '\0') return sys::linkat(dir_, named_, dir_, file, 0);
    char proc_path[32];
    snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd_.get());
    return sys::linkat(AT_FDCWD, proc_path, dir_, file, AT_SYMLINK_FOLLOW);
  }

  int fd() const { return fd_.get(); }

 private:
  int dir_;
  UniqueFd fd_;
  char named_[32] = "";
};

// Errors that mean "this filesystem or this sandbox cannot do O_TMPFILE and
// link it through /proc": the named temporary file then does the job.
bool anonymous_unsupported(int r) {
  return r == -EOPNOTSUPP || r == -EISDIR || r == -EINVAL || r == -ENOENT || r == -EXDEV ||
         r == -EPERM;
}

int create_attempt(int dir, const char* file, mode_t mode, unsigned value, bool anonymous,
                   sem_t** out) {
  PendingFile pending(dir);
  if (int r = pending.create(mode, anonymous); r < 0) return r;
  unsigned char image[sizeof(sem_t)];
  sem::make_shared_image(value, image);
  // Real bytes, not ftruncate: a full filesystem says ENOSPC now, not SIGBUS later.
  if (int r = pending.write_all(image, sizeof image); r < 0) return r;
  struct stat st;
  if (int r = sys::fstat(pending.fd(), &st); r < 0) return r;
  if (!g_table.reserve()) return -ENOMEM;
  // Map before publishing, so that nothing can fail once the name exists.
  sem_t* mapping = map(pending.fd());
  if (mapping == nullptr) {
    g_table.unreserve();
    return -ENOMEM;
  }
  if (int r = pending.publish(file); r < 0) {
    unmap(mapping);
    g_table.unreserve();
    return r;
  }
  // Once the name exists, another thread of this process can open the file
  // and map it before we insert ours: then we share its mapping, as adopt()
  // does, and must drop our own.
  *out = g_table.insert(st.st_dev, st.st_ino, mapping);
  if (*out != mapping) unmap(mapping);
  return 0;
}

int create(int dir, const char* file, mode_t mode, unsigned value, sem_t** out) {
  int r = create_attempt(dir, file, mode, value, /*anonymous=*/true, out);
  if (r < 0 && anonymous_unsupported(r))
    r = create_attempt(dir, file, mode, value, /*anonymous=*/false, out);
  return r;
}

// sem_open through the name table (memfd_store.h): 0 with the mapping in
// *out, -errno, or memfd_store's kNotInTable / kUsePlainFile (the caller then
// uses a file).
int open_in_table(int dir, dev_t dev, ino_t ino, const IpcName& file, int oflag, mode_t mode,
                  unsigned value, sem_t** out) {
  unsigned char image[sizeof(sem_t)];
  bool create_it = (oflag & O_CREAT) != 0;
  int flags = O_RDWR | (oflag & (O_CREAT | O_EXCL));
  if (create_it && value > SEM_VALUE_MAX) {
    // EINVAL only for a semaphore this call would create.
    if ((oflag & O_EXCL) != 0) return -EINVAL;
    flags &= ~O_CREAT;
  }
  sem::make_shared_image(value, image);
  memfd_store::Contents contents{name_table::kSem, image, sizeof image};
  int fd = memfd_store::open_in_table(dir, dev, ino, file, flags, mode, contents);
  if (fd == memfd_store::kNotInTable && create_it && value > SEM_VALUE_MAX) return -EINVAL;
  if (fd < 0) return fd;
  UniqueFd owned(fd);
  struct stat st;
  if (int r = sys::fstat(fd, &st); r < 0) return r;
  if (st.st_size < (off_t)sizeof(sem_t)) {
    debug_log("%s is not a semaphore (too small)", file.file);
    return -EINVAL;
  }
  return adopt(fd, st, out);
}

}  // namespace

sem_t* open(const char* name, int oflag, mode_t mode, unsigned value, int* error) {
  sem_t* sem_from_table = nullptr;
  IpcName file;
  if (int r = make_ipc_name(name, kSemPrefix, &file); r < 0) {
    *error = r;
    return nullptr;
  }
  ensure_fork_handlers();
  bool create_it = (oflag & O_CREAT) != 0;
  bool exclusive = create_it && (oflag & O_EXCL) != 0;

  if (!exclusive) {
    // Already open in this process: one fstatat, no descriptor.  A hit is
    // verified by inode, so the cached directory descriptor needs no check.
    int dir = backing_dir_fd_unchecked();
    struct stat st;
    if (dir >= 0 && sys::fstatat(dir, file.file, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode) && owner_may_read_and_write(st)) {
      if (sem_t* sem = g_table.acquire(st.st_dev, st.st_ino)) return sem;
    }
  }

  int dir = backing_dir_fd();
  if (dir < 0) {
    *error = dir;
    return nullptr;
  }
  // On a disk, with memfds: a memfd named in the name table, as a shm object
  // is, so that neither its name nor its page touches the disk.
  dev_t dev;
  ino_t ino;
  if (dir_config().memfd && !backing_dir_in_memory(dir, &dev, &ino)) {
    // Already open in this process: no descriptor, as for a file above.
    dev_t object_dev;
    ino_t object_ino;
    if (!exclusive && memfd_store::identity_in_table(dir, dev, ino, file, &object_dev, &object_ino))
      if (sem_t* sem = g_table.acquire(object_dev, object_ino)) return sem;
    int r = open_in_table(dir, dev, ino, file, oflag, mode, value, &sem_from_table);
    if (r != memfd_store::kNotInTable && r != memfd_store::kUsePlainFile) {
      *error = r;
      return r == 0 ? sem_from_table : nullptr;
    }
  }
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    sem_t* sem = nullptr;
    if (!exclusive) {
      int r = open_existing(dir, file.file, &sem);
      if (r == 0) return sem;
      if (r != -ENOENT || !create_it) {
        *error = r;
        return nullptr;
      }
    }
    if (value > SEM_VALUE_MAX) {
      *error = -EINVAL;
      return nullptr;
    }
    int r = create(dir, file.file, mode, value, &sem);
    if (r == 0) return sem;
    if (r != -EEXIST || exclusive) {
      *error = r;
      return nullptr;
    }
    // Someone else created it between our open and our link: open theirs.
  }
  *error = -EAGAIN;
  return nullptr;
}

int close(sem_t* sem) {
  ensure_fork_handlers();
  bool last = false;
  if (int r = g_table.release(sem, &last); r < 0) return r;
  if (last) unmap(sem);
  return 0;
}

int unlink(const char* name) {
  IpcName file;
  int dir;
  dev_t dev;
  ino_t ino;
  if (make_ipc_name(name, kSemPrefix, &file) == 0 && dir_config().memfd &&
      (dir = backing_dir_fd()) >= 0 && !backing_dir_in_memory(dir, &dev, &ino)) {
    int r = memfd_store::unlink_in_table(dir, dev, ino, file);
    if (r != memfd_store::kNotInTable) return r;
  }
  return unlink_object(name, kSemPrefix);
}

// Declared in testing.h: only tests ask.
size_t open_count() {
  ensure_fork_handlers();
  return g_table.size();
}

}  // namespace lambshm::named_sem
