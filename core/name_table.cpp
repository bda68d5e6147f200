// The name table (name_table.h).
#include "name_table.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "futex.h"
#include "ipc_name.h"
#include "linux_syscall.h"

namespace lambshm::name_table {

namespace {


uint64_t pid_namespace() {
  struct stat st;
  return sys::fstatat(AT_FDCWD, "/proc/self/ns/pid", &st, 0) == 0 ? (uint64_t)st.st_ino : 0;
}

bool valid_file(int fd, uid_t euid) {
  struct stat st;
  return sys::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == euid &&
         (st.st_mode & 07777) == kFileMode && st.st_nlink == 1 && (size_t)st.st_size == kTableSize;
}

// A new table file at `name`: written whole, then linked, so that nobody sees
// it half made.  -EEXIST when another process linked one first.  `replace`:
// put in place of what is there (through a temporary name and rename).
int create_file(int dir, const char* name, bool replace) {
  int fd = sys::openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, kFileMode);
  if (fd < 0) return fd;
  Header h{};
  memcpy(h.magic, kMagic, sizeof h.magic);
  h.buckets = kBuckets;
  h.slots_per_bucket = kSlotsPerBucket;
  h.slot_size = sizeof(Slot);
  h.pid_ns = pid_namespace();
  int r = sys::fchmod(fd, kFileMode);  // whatever the umask took away
  if (r == 0) r = sys::ftruncate(fd, (off_t)kTableSize);
  // Every block now: a page first written on a full disk would be SIGBUS.
  if (r == 0) {
    int f = (int)sys::call(SYS_fallocate, fd, 0, 0, (long)kTableSize);
    if (f < 0 && f != -EOPNOTSUPP) r = f;
  }
  if (r == 0 && sys::pwrite(fd, &h, sizeof h, 0) != (long)sizeof h) r = -EIO;
  char path[48], temp[96];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  snprintf(temp, sizeof temp, "%s.new.%d", name, (int)sys::getpid());
  if (r == 0) r = sys::linkat(AT_FDCWD, path, dir, replace ? temp : name, AT_SYMLINK_FOLLOW);
  if (r == 0 && replace) {
    r = sys::renameat2(dir, temp, dir, name, 0);
    if (r < 0) sys::unlinkat(dir, temp, 0);
  }
  sys::close(fd);
  return r;
}

// Whether the open file `fd` is a table of this version made by `euid`:
// 1, 0 (a table of another pid namespace: not ours to use or to replace),
// or -1 (malformed: another layout, or damaged).
int check_file(int fd, uid_t euid, struct stat* st) {
  if (!valid_file(fd, euid) || sys::fstat(fd, st) != 0) return -1;
  Header h;
  if (sys::pread(fd, &h, sizeof h, 0) != (long)sizeof h) return -1;
  if (memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.buckets != kBuckets ||
      h.slots_per_bucket != kSlotsPerBucket || h.slot_size != sizeof(Slot))
    return -1;
  return h.pid_ns == pid_namespace() ? 1 : 0;
}

}  // namespace

void file_name(uid_t euid, char* out, size_t size) {
  snprintf(out, size, "%s%u", kTablePrefix, (unsigned)euid);
}

bool is_table_file(const char* name) { return strncmp(name, kTablePrefix, sizeof kTablePrefix - 1) == 0; }

uint32_t hash(const char* name) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (; *name != '\0'; ++name) h = (h ^ (unsigned char)*name) * 16777619u;
  return h;
}

const Table* map_table(int dir, uid_t euid, bool create) {
  char name[64];
  file_name(euid, name, sizeof name);
  int fd = -1;
  struct stat st;
  for (int attempt = 0; attempt < 3 && fd < 0; ++attempt) {
    fd = sys::openat(dir, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) {
      struct stat owner;
      int state = check_file(fd, euid, &st);
      if (state > 0) break;
      sys::close(fd);
      fd = -1;
      // Ours but malformed (another layout of this version's name, or
      // damaged): replaced.  Another user's file, or another pid
      // namespace's table: left alone, and names are records.
      if (state == 0 || !create || sys::fstatat(dir, name, &owner, AT_SYMLINK_NOFOLLOW) != 0 ||
          owner.st_uid != euid || !S_ISREG(owner.st_mode))
        return nullptr;
      if (create_file(dir, name, /*replace=*/true) < 0) return nullptr;
      continue;
    }
    if (fd != -ENOENT || !create) return nullptr;
    int r = create_file(dir, name, /*replace=*/false);
    if (r < 0 && r != -EEXIST) return nullptr;
  }
  if (fd < 0) return nullptr;
  long addr = sys::mmap(nullptr, kTableSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  sys::close(fd);
  if (sys::is_error(addr)) return nullptr;
  auto* t = static_cast<Table*>(malloc(sizeof(Table)));  // no C++ runtime: no operator new
  if (t == nullptr) {
    sys::munmap(reinterpret_cast<void*>(addr), kTableSize);
    return nullptr;
  }
  t->base = reinterpret_cast<char*>(addr);
  t->dev = st.st_dev;
  t->ino = st.st_ino;
  return t;
}

bool still_linked(const Table* t, int dir, uid_t euid) {
  char name[64];
  file_name(euid, name, sizeof name);
  struct stat d, st;
  return sys::fstat(dir, &d) == 0 && d.st_nlink > 0 &&
         sys::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == t->dev &&
         st.st_ino == t->ino;
}

void unmap_table(const Table* t) {
  sys::munmap(t->base, kTableSize);
  free(const_cast<Table*>(t));
}

namespace {
struct Cached {
  dev_t dev;
  ino_t ino;
  uid_t euid;
  const Table* table;
  std::atomic<int64_t> checked_at_ms;  // CLOCK_MONOTONIC
  Cached* older;  // the one this replaced, kept (and reachable) for threads still using it
};
std::atomic<Cached*> g_cached{nullptr};
// How often a process checks that its table is still the one linked: a
// table deleted by hand must not leave two processes with two tables.
constexpr int64_t kRecheckMs = 100;

int64_t monotonic_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
}  // namespace

const Table* table_for(int dir, dev_t dev, ino_t ino, uid_t euid, bool create) {
  Cached* c = g_cached.load(std::memory_order_acquire);
  int64_t now = monotonic_ms();
  if (c != nullptr && c->dev == dev && c->ino == ino && c->euid == euid) {
    if (now - c->checked_at_ms.load(std::memory_order_relaxed) < kRecheckMs) return c->table;
    if (still_linked(c->table, dir, euid)) {
      c->checked_at_ms.store(now, std::memory_order_relaxed);
      return c->table;
    }
  }
  const Table* t = map_table(dir, euid, create);
  if (t == nullptr) return nullptr;
  // Published and never freed: another thread may be using an older one (a
  // directory replaced, a table deleted, or a changed euid costs one mapping).
  auto* fresh = static_cast<Cached*>(malloc(sizeof(Cached)));
  if (fresh == nullptr) return t;
  fresh->dev = dev;
  fresh->ino = ino;
  fresh->euid = euid;
  fresh->table = t;
  fresh->checked_at_ms.store(now, std::memory_order_relaxed);
  // At the head, with whatever another thread published meanwhile behind it.
  fresh->older = c;
  while (!g_cached.compare_exchange_weak(fresh->older, fresh, std::memory_order_acq_rel)) {
  }
  return t;
}

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (sys::call(SYS_kill, pid, 0) == -ESRCH) return false;
  char path[32], buf[256];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = sys::openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fd != -ENOENT;
  long n = sys::read(fd, buf, sizeof buf - 1);
  sys::close(fd);
  if (n <= 0) return true;
  buf[n] = '\0';
  const char* paren = strrchr(buf, ')');
  // "pid (comm) S ...": Z and X are dead; anything else may still hold a lock.
  return paren == nullptr || paren[1] != ' ' || (paren[2] != 'Z' && paren[2] != 'X');
}


Locked::Locked(const Table* t, uint32_t bucket, pid_t holder, int try_for_ms)
    : lock_(t->lock(bucket)) {
  auto self = (uint32_t)holder;
  uint32_t expected = 0;
  held_ = lock_->owner.compare_exchange_strong(expected, self, std::memory_order_acquire,
                                               std::memory_order_relaxed);
  if (held_) return;
  for (int spin = 0; spin < 100; ++spin) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
    expected = 0;
    if (lock_->owner.load(std::memory_order_relaxed) == 0 &&
        lock_->owner.compare_exchange_strong(expected, self, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
      held_ = true;
      return;
    }
  }
  // Held for more than a moment: sleep on it, and check now and then that
  // the holder still lives (a process killed inside a change never unlocks).
  int64_t start = monotonic_ms(), next_check = start + 10;
  for (;;) {
    expected = 0;
    if (lock_->owner.compare_exchange_strong(expected, self, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
      held_ = true;
      return;
    }
    int64_t now = monotonic_ms();
    if (try_for_ms >= 0 && now - start >= try_for_ms) return;
    if (now >= next_check) {
      next_check = now + 10;
      if (expected != self && !process_alive((pid_t)expected) &&
          lock_->owner.compare_exchange_strong(expected, self, std::memory_order_acquire,
                                               std::memory_order_relaxed)) {
        held_ = true;
        return;
      }
      continue;
    }
    lock_->waiters.fetch_add(1, std::memory_order_relaxed);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_nsec += 2000000;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1000000000;
    }
    futex::wait(reinterpret_cast<uint32_t*>(&lock_->owner), expected, &deadline, CLOCK_MONOTONIC,
                /*shared=*/true);
    lock_->waiters.fetch_sub(1, std::memory_order_relaxed);
  }
}

Locked::~Locked() {
  if (!held_) return;
  lock_->owner.store(0, std::memory_order_release);
  if (lock_->waiters.load(std::memory_order_relaxed) != 0)
    futex::wake(reinterpret_cast<uint32_t*>(&lock_->owner), 1, /*shared=*/true);
}

Slot* find_live(const Table* t, const char* name, uint32_t h) {
  uint32_t first = bucket_of(h) * kSlotsPerBucket;
  for (uint32_t i = first; i < first + kSlotsPerBucket; ++i) {
    Slot* s = t->slot(i);
    if (s->state.load(std::memory_order_relaxed) == kLive && s->hash == h &&
        strncmp(s->name, name, sizeof s->name) == 0)
      return s;
  }
  return nullptr;
}

Slot* find_free(const Table* t, uint32_t h) {
  uint32_t first = bucket_of(h) * kSlotsPerBucket;
  // An unlinked slot is free to reuse: its keeper holds the memfd only while
  // the slot is live at the old generation, which the reuse ends.
  for (uint32_t i = first; i < first + kSlotsPerBucket; ++i)
    if (t->slot(i)->state.load(std::memory_order_relaxed) != kLive) return t->slot(i);
  return nullptr;
}

void post_event(const Table* t, uint32_t index, const Slot* s, EventKind kind) {
  uint64_t seq = t->header()->events_head.fetch_add(1, std::memory_order_relaxed);
  Event* e = t->event(seq);
  e->slot = index;
  e->keeper_pid = s->keeper_pid;
  e->keeper_fd = s->keeper_fd;
  e->ino = s->ino;
  e->kind = kind;
  e->seq.store((uint32_t)seq, std::memory_order_release);
}

void free_slot(Slot* s) {
  s->gen++;
  s->keeper_pid = 0;
  s->keeper_fd = -1;
  s->state.store(kFree, std::memory_order_release);
}

}  // namespace lambshm::name_table
