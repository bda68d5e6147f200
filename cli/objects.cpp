#include "objects.h"

#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "ipc_name.h"
#include "keeper_protocol.h"
#include "linux_syscall.h"
#include "memfd_store.h"
#include "name_table.h"
#include "ownership.h"
#include "sem_ops.h"
#include "unique_fd.h"

namespace lambshm::cli {

void choose_dir(const char* option, DirChoice* out) {
  const char* env = secure_getenv("LAMBSHM_DIR");
  const char* chosen = option;
  out->source = "--dir";
  if (chosen == nullptr) {
    chosen = env != nullptr && *env != '\0' ? env : nullptr;
    out->source = chosen != nullptr ? "LAMBSHM_DIR" : "default";
  }
  make_dir_config(chosen, secure_getenv("LAMBSHM_DEBUG"), &out->config);
}

int open_dir_for_tools(const DirChoice& dir, struct stat* st, bool* missing) {
  *missing = false;
  if (dir.config.error != 0) {
    error("the backing directory %s (%s) is unusable: %s", dir.config.path, dir.source,
          dir.config.error == EINVAL ? "it must be an absolute path" : strerror(dir.config.error));
    return -1;
  }
  const char* why = nullptr;
  int fd = open_backing_dir(dir.config.path, st, &why, /*create=*/false);
  if (fd == -ENOENT) {
    *missing = true;
    return -1;
  }
  if (fd < 0) {
    error("refusing the backing directory %s: %s (%s)", dir.config.path,
          why != nullptr ? why : "error", strerror(-fd));
    return -1;
  }
  if ((why = foreign_dir_reason(fd, *st)) != nullptr) {
    error("refusing %s (%s): %s; ls, rm and gc only touch a directory lambshm made "
          "(docs/cli.md)", dir.config.path, dir.source, why);
    sys::close(fd);
    return -1;
  }
  return fd;
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kShm: return "shm";
    case Kind::kSem: return "sem";
    case Kind::kTemp: return "tmp";
    case Kind::kOther: return "other";
  }
  return "?";
}

namespace {

double last_change(const struct stat& st) {
  const struct timespec& t = st.st_mtim.tv_sec > st.st_ctim.tv_sec ||
                                     (st.st_mtim.tv_sec == st.st_ctim.tv_sec &&
                                      st.st_mtim.tv_nsec > st.st_ctim.tv_nsec)
                                 ? st.st_mtim
                                 : st.st_ctim;
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

// A semaphore's value and waiters from the open file `fd`, if it is still the
// inode (dev, ino) that was listed.
void read_semaphore_at(int fd, dev_t dev, ino_t ino, Object* o) {
  struct stat st;
  if (fd < 0 || sys::fstat(fd, &st) != 0 || st.st_ino != ino || st.st_dev != dev) return;
  sem::Layout layout;
  if (pread(fd, &layout, sizeof layout, 0) != (ssize_t)sizeof layout) return;
  o->sem_ok = true;
  o->sem_value = (uint32_t)(layout.data & sem::kValueMask);
  o->sem_waiters = (uint32_t)(layout.data >> sem::kWaitersShift);
}

// Reads a semaphore's value without mapping it (a file that shrank under us
// must not SIGBUS the tool) and only if the file is still the one we listed.
void read_semaphore(int dir_fd, Object* o) {
  if ((size_t)o->st.st_size != sizeof(sem_t)) return;
  UniqueFd fd(sys::openat(dir_fd, o->file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  read_semaphore_at(fd.get(), o->st.st_dev, o->st.st_ino, o);
}

// A memfd object's record: its size, times and inode from the memfd.
void read_memfd_record(int dir_fd, Object* o, double now) {
  if (!keeper::looks_like_record(o->st)) return;
  UniqueFd fd(sys::openat(dir_fd, o->file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  keeper::Record rec;
  struct stat st;
  if (!fd.valid() || sys::fstat(fd.get(), &st) != 0 || st.st_ino != o->st.st_ino ||
      pread(fd.get(), &rec, sizeof rec, 0) != (ssize_t)sizeof rec ||
      memcmp(rec.magic, keeper::kRecordMagic, sizeof rec.magic) != 0)
    return;
  struct stat dirst;
  bool have_dir = sys::fstat(dir_fd, &dirst) == 0;
  UniqueFd memfd(
      memfd_store::open_record(fd.get(), O_RDONLY | O_CLOEXEC, dir_fd, have_dir ? &dirst : nullptr));
  if (memfd.get() == -ENOENT) {
    o->stale = true;
    o->st.st_size = 0;
    return;
  }
  if (!memfd.valid() || sys::fstat(memfd.get(), &st) != 0) return;
  o->memfd = true;
  o->use_dev = st.st_dev;
  o->use_ino = st.st_ino;
  o->st.st_size = st.st_size;
  o->st.st_mode = st.st_mode;  // the object's mode: the record's has S_ISVTX too
  o->st.st_mtim = st.st_mtim;
  o->st.st_ctim = st.st_ctim;
  o->age = now - last_change(o->st);
  if (o->age < 0) o->age = 0;
}

struct Dirent64 {
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[1];
};

// Calls `f(name)` for every entry of the directory `fd` but "." and "..".
template <typename F>
int for_each_entry(int fd, F f) {
  alignas(8) char buf[16384];
  for (;;) {
    long n = sys::call(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0) return (int)n;
    if (n == 0) return 0;
    for (long pos = 0; pos < n;) {
      auto* d = reinterpret_cast<Dirent64*>(buf + pos);
      pos += d->reclen;
      if (strcmp(d->name, ".") == 0 || strcmp(d->name, "..") == 0) continue;
      f(d->name);
    }
  }
}

// --- Names in the table (core/name_table.h) ---------------------------------

// The caller's table of the directory, or nullptr (none yet, or not usable).
const name_table::Table* table_of(int dir_fd, const struct stat& dir_st) {
  return name_table::table_for(dir_fd, dir_st.st_dev, dir_st.st_ino, geteuid(), /*create=*/false);
}

// Process `pid`'s descriptor `fd` when it is the memfd (dev, ino): its stat
// in *st (a stat through the magic link: no open, whatever the memfd's mode).
bool holds(pid_t pid, int fd, uint64_t dev, uint64_t ino, struct stat* st) {
  if (pid <= 0 || fd < 0 || !name_table::process_alive(pid)) return false;
  char path[48];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
  return sys::fstatat(AT_FDCWD, path, st, 0) == 0 && (uint64_t)st->st_dev == dev &&
         (uint64_t)st->st_ino == ino;
}

// A semaphore's value read from its memfd, held as descriptor `fd` of `pid`.
void read_table_semaphore(pid_t pid, int fd, Object* o) {
  if ((size_t)o->st.st_size != sizeof(sem_t)) return;
  char path[48];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
  UniqueFd m(sys::openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC));
  read_semaphore_at(m.get(), o->use_dev, o->use_ino, o);
}

// Appends the live names of the caller's table: each slot copied under its
// bucket's lock (whole), then its memfd looked up through its keeper or its
// creator, as the libraries' open does, with the inode checked.
void list_table(int dir_fd, const struct stat& dir_st, double now, Vec<Object>* out) {
  const name_table::Table* t = table_of(dir_fd, dir_st);
  if (t == nullptr) return;
  for (uint32_t b = 0; b < name_table::kBuckets; ++b) {
    name_table::Slot copies[name_table::kSlotsPerBucket];
    bool live[name_table::kSlotsPerBucket];
    {
      // A holder that stays alive inside the lock is waited for a moment;
      // then the slots are read as they are (a state is written last).
      name_table::Locked lock(t, b, /*try_for_ms=*/100);
      for (uint32_t i = 0; i < name_table::kSlotsPerBucket; ++i) {
        const name_table::Slot* s = t->slot(b * name_table::kSlotsPerBucket + i);
        live[i] = s->state.load(std::memory_order_acquire) == name_table::kLive;
        if (live[i]) memcpy(static_cast<void*>(&copies[i]), s, sizeof *s);
      }
    }
    for (uint32_t i = 0; i < name_table::kSlotsPerBucket; ++i) {
      if (!live[i]) continue;
      name_table::Slot& s = copies[i];
      char name[sizeof s.name];
      memcpy(name, s.name, sizeof name);
      name[sizeof name - 1] = '\0';
      Object o{};
      o.file = xstrdup(name);
      o.name = o.file;
      o.in_table = true;
      o.memfd = true;
      o.use_dev = (dev_t)s.dev;
      o.use_ino = (ino_t)s.ino;
      o.kind = Kind::kShm;
      if (s.kind == name_table::kSem && strncmp(name, kSemPrefix, sizeof kSemPrefix - 1) == 0) {
        o.kind = Kind::kSem;
        o.name = o.file + sizeof kSemPrefix - 1;
      }
      pid_t pid = 0;
      int fd = -1;
      bool gone = false;
      // A memfd on its way to the keeper (the slot has no keeper yet, and a
      // semaphore's creator has closed its own descriptor) is waited for a
      // moment before the name is called stale.
      for (int attempt = 0; attempt < 40; ++attempt) {
        if (holds(s.keeper_pid, s.keeper_fd, s.dev, s.ino, &o.st)) {
          pid = s.keeper_pid;
          fd = s.keeper_fd;
        } else if (holds(s.creator_pid, s.creator_fd, s.dev, s.ino, &o.st)) {
          pid = s.creator_pid;
          fd = s.creator_fd;
        }
        if (pid != 0 || s.keeper_pid != 0) break;
        usleep(5000);
        name_table::Locked lock(t, b, /*try_for_ms=*/100);
        const name_table::Slot* now = t->slot(b * name_table::kSlotsPerBucket + i);
        if (now->state.load(std::memory_order_acquire) != name_table::kLive || now->gen != s.gen)
          gone = true;  // unlinked or reused meanwhile: not listed
        if (gone) break;
        memcpy(static_cast<void*>(&s), now, sizeof s);
      }
      if (gone) {
        free(const_cast<char*>(o.file));
        continue;
      }
      if (pid == 0) {
        // Nobody holds it: what a name of a dead keeper's is.
        o.stale = true;
        o.st = {};
        o.st.st_mode = S_IFREG;
        o.st.st_uid = sys::geteuid();
        o.st.st_gid = getegid();
      } else {
        o.age = now - last_change(o.st);
        if (o.age < 0) o.age = 0;
        if (o.kind == Kind::kSem) read_table_semaphore(pid, fd, &o);
      }
      out->push(o);
    }
  }
}

}  // namespace

Kind kind_of(EntryKind kind) {
  switch (kind) {
    case EntryKind::kShm: return Kind::kShm;
    case EntryKind::kSem: return Kind::kSem;
    case EntryKind::kTemp: return Kind::kTemp;
    case EntryKind::kMarker:
    case EntryKind::kForeign: break;
  }
  return Kind::kOther;
}

int list_objects(int dir_fd, const struct stat& dir_st, Vec<Object>* out) {
  // A descriptor of our own: reading moves its offset.
  UniqueFd fd(sys::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return fd.get();
  double now = now_seconds();
  int r = for_each_entry(fd.get(), [&](const char* entry) {
    Object o{};
    if (sys::fstatat(dir_fd, entry, &o.st, AT_SYMLINK_NOFOLLOW) != 0) return;  // gone
    o.use_dev = o.st.st_dev;
    o.use_ino = o.st.st_ino;
    o.file = xstrdup(entry);
    o.name = o.file;
    o.age = now - last_change(o.st);
    if (o.age < 0) o.age = 0;
    EntryKind kind = classify_entry(entry, o.st, dir_st);
    if (kind == EntryKind::kMarker || name_table::is_table_file(entry)) {
      free(const_cast<char*>(o.file));
      return;
    }
    o.kind = kind_of(kind);
    if (o.kind == Kind::kSem) {
      o.name = o.file + sizeof kSemPrefix - 1;
      read_semaphore(dir_fd, &o);
    } else if (o.kind == Kind::kShm) {
      read_memfd_record(dir_fd, &o, now);
    }
    out->push(o);
  });
  if (r < 0) return r;
  list_table(dir_fd, dir_st, now, out);
  std::sort(out->begin(), out->end(), [](const Object& a, const Object& b) {
    int c = strcmp(a.name, b.name);
    return c != 0 ? c < 0 : a.kind < b.kind;
  });
  return 0;
}

// --- Who holds what --------------------------------------------------------------

namespace {

struct InodeRef {
  ino_t ino;
  size_t index;
};

class UserIndex {
 public:
  UserIndex(dev_t dev, Vec<Object>* objects) : dev_(dev), objects_(objects) {
    for (size_t i = 0; i < objects->size(); ++i) refs_.push({(*objects)[i].use_ino, i});
    std::sort(refs_.begin(), refs_.end(),
              [](const InodeRef& a, const InodeRef& b) { return a.ino < b.ino; });
  }

  void note(dev_t dev, ino_t ino, pid_t pid) {
    const InodeRef* it = std::lower_bound(
        refs_.begin(), refs_.end(), ino,
        [](const InodeRef& r, ino_t value) { return r.ino < value; });
    for (; it != refs_.end() && it->ino == ino; ++it) {
      Object& o = (*objects_)[it->index];
      if (dev != (o.memfd ? o.use_dev : dev_)) continue;
      if (o.pid_count > 0 && o.pids[o.pid_count - 1] == pid) continue;
      o.pids = static_cast<pid_t*>(xrealloc(o.pids, (o.pid_count + 1) * sizeof(pid_t)));
      o.pids[o.pid_count++] = pid;
    }
  }

 private:
  dev_t dev_;
  Vec<Object>* objects_;
  Vec<InodeRef> refs_;
};

// Reads a whole (small, /proc) file into `out`; 0 or -errno.
int read_all(int dir_fd, const char* path, Str* out) {
  UniqueFd fd(sys::openat(dir_fd, path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return fd.get();
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return 0;
    out->append(buf, (size_t)n);
  }
}

// "start-end perms offset MAJ:MIN inode path" lines of /proc/PID/maps.
int scan_maps(int pid_fd, pid_t pid, UserIndex* index) {
  Str maps;
  if (int r = read_all(pid_fd, "maps", &maps); r < 0) return r;
  const char* p = maps.c_str();
  while (*p != '\0') {
    const char* end = strchr(p, '\n');
    size_t length = end != nullptr ? (size_t)(end - p) : strlen(p);
    char line[512];
    size_t n = length < sizeof line - 1 ? length : sizeof line - 1;
    memcpy(line, p, n);
    line[n] = '\0';
    unsigned major, minor;
    unsigned long long inode;
    if (sscanf(line, "%*s %*s %*s %x:%x %llu", &major, &minor, &inode) == 3 && inode != 0)
      index->note(makedev(major, minor), (ino_t)inode, pid);
    p += length;
    if (*p == '\n') ++p;
  }
  return 0;
}

int scan_fds(int pid_fd, pid_t pid, UserIndex* index) {
  UniqueFd fds(sys::openat(pid_fd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fds.valid()) return fds.get();
  return for_each_entry(fds.get(), [&](const char* entry) {
    struct stat st;
    // Follows the descriptor's magic link to what it has open: a stat, no open.
    if (sys::fstatat(fds.get(), entry, &st, 0) == 0) index->note(st.st_dev, st.st_ino, pid);
  });
}

// Whether the process is a lambshm-keeper (its comm, as the kernel names it).
bool is_keeper(int pid_fd) {
  UniqueFd comm(sys::openat(pid_fd, "comm", O_RDONLY | O_CLOEXEC));
  char name[32] = {};
  long n = comm.valid() ? sys::read(comm.get(), name, sizeof name - 1) : -1;
  return n > 0 && strcmp(name, "lambshm-keeper\n") == 0;
}

}  // namespace

void find_users(const struct stat& dir_st, Vec<Object>* objects, Vec<Uninspected>* uninspected) {
  if (objects->empty()) return;
  UserIndex index(dir_st.st_dev, objects);
  UniqueFd proc(sys::openat(AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.valid()) {
    uninspected->push({0, 0});
    return;
  }
  pid_t self = sys::getpid();
  for_each_entry(proc.get(), [&](const char* entry) {
    if (strspn(entry, "0123456789") != strlen(entry)) return;
    pid_t pid = (pid_t)atoi(entry);
    if (pid == self) return;
    UniqueFd pid_fd(sys::openat(proc.get(), entry, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!pid_fd.valid()) return;  // exited
    if (is_keeper(pid_fd.get())) return;  // it holds objects; it does not use them
    int a = scan_maps(pid_fd.get(), pid, &index);
    int b = scan_fds(pid_fd.get(), pid, &index);
    if (a == -EACCES || a == -EPERM || b == -EACCES || b == -EPERM) {
      struct stat st;
      uid_t uid = sys::fstatat(pid_fd.get(), "", &st, AT_EMPTY_PATH) == 0 ? st.st_uid : (uid_t)-1;
      uninspected->push({pid, uid});
    }
  });
}

void describe_uninspected(const Vec<Uninspected>& processes, Str* out) {
  if (processes.size() == 1 && processes[0].pid == 0) {
    out->append("/proc (unreadable)");
    return;
  }
  constexpr size_t kShown = 4;
  if (processes.size() > 1) out->appendf("%zu processes (", processes.size());
  for (size_t i = 0; i < processes.size() && i < kShown; ++i) {
    const Uninspected& p = processes[i];
    const char* name = user_name(p.uid);
    out->appendf("%sPID %d (", i ? ", " : "", (int)p.pid);
    if (name != nullptr) out->append(name);
    else out->appendf("uid %u", (unsigned)p.uid);
    out->append(')');
  }
  if (processes.size() > kShown) out->append(", ...");
  if (processes.size() > 1) out->append(')');
}

}  // namespace lambshm::cli

namespace lambshm::cli {

int remove_entry(int dir_fd, const char* file, const struct stat& expected) {
  if (strchr(file, '/') != nullptr || strcmp(file, ".") == 0 || strcmp(file, "..") == 0)
    return -EINVAL;
  struct stat now;
  if (int r = sys::fstatat(dir_fd, file, &now, AT_SYMLINK_NOFOLLOW); r < 0) return r;
  if (now.st_dev != expected.st_dev || now.st_ino != expected.st_ino) return -ESTALE;
  if (S_ISDIR(now.st_mode)) return -EISDIR;
  int r = sys::unlinkat(dir_fd, file, 0);
  return r == -EPERM ? -EACCES : r;
}

}  // namespace lambshm::cli

namespace lambshm::cli {

bool live_in_table(int dir_fd, const struct stat& dir_st, const char* file, Kind* kind) {
  if (strlen(file) > name_table::kMaxName) return false;
  const name_table::Table* t = table_of(dir_fd, dir_st);
  if (t == nullptr) return false;
  uint32_t h = name_table::hash(file);
  name_table::Locked lock(t, name_table::bucket_of(h), getpid());
  const name_table::Slot* s = name_table::find_live(t, file, h);
  if (s == nullptr) return false;
  *kind = s->kind == name_table::kSem ? Kind::kSem : Kind::kShm;
  return true;
}

int remove_table_object(int dir_fd, const struct stat& dir_st, const Object& o) {
  IpcName file;
  if (strlen(o.file) >= sizeof file.file) return -ENAMETOOLONG;
  memcpy(file.file, o.file, strlen(o.file) + 1);
  if (o.stale) {
    // The core's open frees a live name nobody holds (after asking the
    // keeper, which may have it in flight) and then finds no such name.
    memfd_store::Contents none{0, nullptr, 0};
    int m = memfd_store::open_in_table(dir_fd, dir_st.st_dev, dir_st.st_ino, file,
                                       O_RDONLY | O_CLOEXEC, 0, none);
    if (m >= 0) sys::close(m);
    return m == memfd_store::kNotInTable ? 0 : m >= 0 ? -ESTALE : m;
  }
  // Still the memfd we listed (an unlink and a new create may have reused the name).
  const name_table::Table* t = table_of(dir_fd, dir_st);
  if (t == nullptr) return -ENOENT;
  uint32_t h = name_table::hash(file.file);
  {
    name_table::Locked lock(t, name_table::bucket_of(h), getpid());
    const name_table::Slot* s = name_table::find_live(t, file.file, h);
    if (s == nullptr) return -ENOENT;
    if (s->dev != (uint64_t)o.use_dev || s->ino != (uint64_t)o.use_ino) return -ESTALE;
  }
  int r = memfd_store::unlink_in_table(dir_fd, dir_st.st_dev, dir_st.st_ino, file);
  return r == memfd_store::kNotInTable ? -ENOENT : r;
}

}  // namespace lambshm::cli
