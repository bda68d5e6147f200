// Shared memory objects as memfds kept by a keeper process.
//
// Lifecycle (docs/design.md has the whole story):
//  - create: memfd_create; an O_TMPFILE record (mode kRecordMode) naming
//    this process as the memfd's holder, the keeper it will go to, and
//    itself; the record is linked at the name (a name already there is
//    EEXIST, as for a file), and only then is the memfd sent to the keeper on
//    this process's connection, one way (no answer awaited: a descriptor in
//    flight is the receiver's even if we die now).  The keeper keeps a memfd
//    only while its record is at its name, and never waits for one: a
//    creator stalled before its send still holds the memfd itself.
//  - open: the record, which must be one this user can trust (its owner,
//    its mode, its own inode: keeper_protocol.h), names a holder:
//    /proc/PID/fd/FD, opened with the caller's flags (a new open file
//    description, and the permission check of the memfd's mode), must be the
//    recorded inode.  Otherwise the keeper is asked for it.  A record nobody
//    holds is stale: ENOENT, and a creator has the keeper remove it.
//  - unlink: unlink the record, then tell the keeper, one way (it also finds
//    out on its own within seconds: the sweep).
// Anything that stops the store from working (no memfd_create, no O_TMPFILE,
// no keeper binary or none we trust, no descriptors to spare) sends the
// caller to a plain file, with a LAMBSHM_DEBUG message: slower on a disk,
// never wrong.  A full disk does not: the create fails with ENOSPC, as a
// file's would, rather than make a plain file that SIGBUSes when touched.
//
// Descriptors: the one returned is the lowest free, as POSIX says; the
// connection kept between calls sits above the numbers a program expects.
// Fork: no lock is held at any point.  Descriptors opened for the duration of
// a call are registered, and a fork handler closes them in the child, where
// the thread that would have closed them is gone.  The kept connection is
// inherited, as a descriptor is, and shared: each message is one datagram.
#include "memfd_store.h"

#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "backing_dir.h"
#include "fd_registry.h"
#include "keeper_client.h"
#include "keeper_protocol.h"
#include "memfd_pool.h"
#include "linux_syscall.h"
#include "mutex.h"
#include "name_table.h"
#include "umask.h"

namespace lambshm::memfd_store {

namespace {

using fd_registry::ensure_fork_handler;
using fd_registry::InFlight;
using fd_registry::Section;

// `fd` moved to the lowest free number, which POSIX promises the caller.
int lowest(int fd) {
  int low = sys::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (low < 0) return fd;
  if (low > fd) {
    sys::close(low);
    return fd;
  }
  sys::close(fd);
  return low;
}

// `m`, an open memfd, with O_TRUNC applied when `flags` has it (which the
// open that made `m` left out): the descriptor, or -errno.
int truncated(InFlight& m, int flags) {
  if ((flags & O_TRUNC) == 0) return m.release();
  if ((flags & O_ACCMODE) != O_RDONLY) {
    int t = sys::ftruncate(m.get(), 0);
    return t < 0 ? t : m.release();
  }
  char path[48];
  snprintf(path, sizeof path, "/proc/self/fd/%d", m.get());
  int t = sys::openat(AT_FDCWD, path, O_RDONLY | O_TRUNC | O_CLOEXEC);
  if (t < 0) return t;
  sys::close(t);
  return m.release();
}

// Process `pid`'s descriptor `fd` reopened with `flags` (but O_TRUNC) when it
// is the memfd (dev, ino): the descriptor, or -errno.
int reopen_held(pid_t pid, int fd, uint64_t dev, uint64_t ino, int flags) {
  char path[48];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
  // Without O_TRUNC until the inode is proven: the holder's number may have
  // been reused for a file that is not ours to truncate.
  InFlight m([&] { return sys::openat(AT_FDCWD, path, flags & ~O_TRUNC); });
  struct stat st;
  if (!m.valid()) {
    // Refused by the memfd's own mode (the object's permission check), or
    // by a holder we may not look into (its pid reused): only the first is
    // the answer; otherwise the keeper is asked.
    bool refused = m.get() == -EACCES && sys::fstatat(AT_FDCWD, path, &st, 0) == 0 &&
                   (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
    return refused ? -EACCES : -ENOENT;
  }
  if (sys::fstat(m.get(), &st) != 0 || (uint64_t)st.st_dev != dev || (uint64_t)st.st_ino != ino)
    return -ENOENT;
  return truncated(m, flags);
}

// The memfd of `rec` among the descriptors of the keeper `pid`, reopened
// with `flags`, for an opener that cannot reach that keeper's socket (it is
// in another network namespace) but sees its process: the descriptor, or
// -ENOENT.  A walk of its descriptors: slow, and only ever this rare case.
int find_in_keeper(pid_t pid, const keeper::Record& rec, int flags) {
  char path[48];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  InFlight fds([&] { return sys::openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (!fds.valid()) return -ENOENT;
  alignas(8) char buf[4096];
  for (;;) {
    long n = sys::call(SYS_getdents64, fds.get(), buf, sizeof buf);
    if (n <= 0) return -ENOENT;
    for (long off = 0; off < n;) {
      // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
      unsigned short reclen;
      memcpy(&reclen, buf + off + 16, sizeof reclen);
      const char* name = buf + off + 19;
      off += reclen;
      if (name[0] < '0' || name[0] > '9') continue;
      char target[64];
      snprintf(target, sizeof target, "/proc/%d/fd/%s", (int)pid, name);
      struct stat st;
      if (sys::fstatat(AT_FDCWD, target, &st, 0) != 0 || (uint64_t)st.st_dev != rec.dev ||
          (uint64_t)st.st_ino != rec.ino)
        continue;
      int m = reopen_held(pid, atoi(name), rec.dev, rec.ino, flags);
      if (m != -ENOENT) return m;
    }
  }
}

// The memfd a keeper sent (`held`, closed here) as an open file description
// of our own, with the caller's access mode (and O_TRUNC), at the lowest free
// number: the descriptor, or -errno.
int own_description(InFlight& held, int flags) {
  char path[48];
  snprintf(path, sizeof path, "/proc/self/fd/%d", held.get());
  InFlight mine([&] { return sys::openat(AT_FDCWD, path, flags); });
  if (!mine.valid()) return mine.get();
  held.reset();
  return lowest(mine.release());
}

// Opens the memfd a record read into `rec` names, with `flags`: from its
// holder's /proc/PID/fd/FD, else from the keeper of `dirst` (when given).
// -ENOENT when nobody holds it (stale).
int open_memfd(const keeper::Record& rec, int flags, const struct stat* dirst, int dir) {
  int m = reopen_held(rec.holder_pid, rec.holder_fd, rec.dev, rec.ino, flags);
  if (m != -ENOENT && m != -ESRCH) return m;
  if (dirst == nullptr) return -ENOENT;
  keeper::Request req = make_request(keeper::Op::kGet, nullptr);
  req.rec_dev = rec.rec_dev;
  req.rec_ino = rec.rec_ino;
  req.dev = rec.dev;
  req.ino = rec.ino;
  // The keeper it was handed to (which may have retired), then the
  // directory's (the record may name a keeper that has died).
  InFlight held;
  int r = -ENOENT;
  // (Its pid, when it means something here, must be a keeper of this
  // directory: anyone may have bound a dead keeper's name.)
  bool same_pid_ns = rec.pid_ns == 0 || rec.pid_ns == namespace_id("pid");
  if (rec.keeper_pid != 0 && (!same_pid_ns || keeper::is_keeper_of(rec.keeper_pid, *dirst))) {
    r = ask_keeper(dir, *dirst, req, &held, rec.keeper_pid);
    if (!held.valid() && r == -ECONNREFUSED && same_pid_ns && rec.net_ns != namespace_id("net")) {
      int found = find_in_keeper(rec.keeper_pid, rec, flags);
      if (found != -ENOENT) return found < 0 ? found : lowest(found);
    }
  }
  if (!held.valid()) r = ask_keeper(dir, *dirst, req, &held);
  if (r < 0 || !held.valid()) return r == -ENOENT || r == -ECONNREFUSED || r == 0 ? -ENOENT : r;
  return own_description(held, flags);
}

// What the open file `fd` (identity `st`) is to this store: 1 with the
// record in *rec when it is a record this user may trust; 0 when it is no
// record at all (a plain file); -EACCES when it looks like one but is not
// ours to follow: another user's, writable by others, or copied from another
// name (keeper_protocol.h).
int read_record(int fd, const struct stat& st, keeper::Record* rec) {
  if (!keeper::looks_like_record(st)) return 0;
  char bytes[sizeof(keeper::Record)];
  long n = sys::pread(fd, bytes, sizeof bytes, 0);
  if (n == -EBADF) {  // opened write-only: read it through a reader of our own
    char path[48];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    InFlight reader([&] { return sys::openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC); });
    n = reader.valid() ? sys::pread(reader.get(), bytes, sizeof bytes, 0) : reader.get();
  }
  if (n >= 0 && keeper::trusted_record(st, bytes, (size_t)n, sys::geteuid(), rec)) return 1;
  debug_log("a file that looks like a record (uid %u, mode %o) is not ours to follow",
            (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
  return -EACCES;
}

// Asks the keeper to remove the stale record `rec_st` at `name`: 0 (gone, or
// no longer there) or -EEXIST (it is live after all).
int clear_stale(int dir, const struct stat& dirst, const IpcName& file, const struct stat& rec_st) {
  keeper::Request req = make_request(keeper::Op::kClear, file.file);
  req.rec_dev = rec_st.st_dev;
  req.rec_ino = rec_st.st_ino;
  InFlight none;
  int r;
  Channel* c = channel(dir, dirst, /*start=*/true, nullptr, &r);
  if (c == nullptr) return -EEXIST;
  r = ask_keeper(dir, dirst, req, &none);
  if (r == -ECONNREFUSED) {
    // No keeper: ours died, with nothing yet to tell us so (a dying
    // process's sockets can outlive its last thread's exit for a moment).
    c = channel(dir, dirst, /*start=*/true, c, &r);
    if (c != nullptr) r = ask_keeper(dir, dirst, req, &none);
  }
  if (r != 0) debug_log("%s is in the way and not removed as stale: %s", file.file, strerror(-r));
  return r == 0 ? 0 : -EEXIST;
}

// fs.protected_regular (0, 1 or 2; 0 when the kernel predates it), read once.
std::atomic<int> g_protected_regular{-1};
int protected_regular() {
  int level = g_protected_regular.load(std::memory_order_relaxed);
  if (level >= 0) return level;
  level = 0;
  InFlight f([] {
    return sys::openat(AT_FDCWD, "/proc/sys/fs/protected_regular", O_RDONLY | O_CLOEXEC);
  });
  char c = 0;
  if (f.valid() && sys::read(f.get(), &c, 1) == 1 && c >= '0' && c <= '9') level = c - '0';
  g_protected_regular.store(level, std::memory_order_relaxed);
  return level;
}

// Whether an open with O_CREAT may open the existing file `st`, which the
// caller does not own, in `dir`: the kernel's rule for fs.protected_regular
// (may_create_in_sticky), which our first open, made without O_CREAT, skips.
bool may_create_in_sticky(int dir, const struct stat& st) {
  struct stat d;
  if (!S_ISREG(st.st_mode) || sys::fstat(dir, &d) != 0 || (d.st_mode & S_ISVTX) == 0 ||
      d.st_uid == st.st_uid)
    return true;
  int level = protected_regular();
  if (level == 0) return true;
  return (d.st_mode & S_IWOTH) == 0 && !((d.st_mode & S_IWGRP) != 0 && level >= 2);
}

// Creates the object: the descriptor, -EEXIST (the name is taken), -errno,
// or kUsePlainFile.
int create(int dir, const struct stat& dirst, const IpcName& file, int oflag, mode_t mode) {
  char label[NAME_MAX + 16];
  snprintf(label, sizeof label, "lambshm:%s", file.file);
  InFlight memfd([&] { return sys::memfd_create(label, MFD_CLOEXEC); });
  if (!memfd.valid()) {
    debug_log("memfd_create: %s: %s is a plain file", strerror(-memfd.get()), file.file);
    return kUsePlainFile;
  }
  // What the caller gets: the memfd itself, or (O_RDONLY, O_WRONLY) a
  // description of its own with that access mode, as opening a file gives.
  InFlight other_mode;
  if ((oflag & O_ACCMODE) != O_RDWR) {
    char path[48];
    snprintf(path, sizeof path, "/proc/self/fd/%d", memfd.get());
    other_mode =
        InFlight([&] { return sys::openat(AT_FDCWD, path, (oflag & O_ACCMODE) | O_CLOEXEC); });
    if (!other_mode.valid()) {
      debug_log("cannot reopen a memfd (%s; is /proc mounted?): %s is a plain file",
                strerror(-other_mode.get()), file.file);
      return kUsePlainFile;
    }
  }
  // The record, created with the object's mode so that the kernel applies
  // the umask exactly as to a plain file: that mode is the memfd's, and the
  // record's own becomes kRecordMode (keeper_protocol.h).
  InFlight record([&] {
    return sys::openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, (mode & 07777) | S_ISVTX);
  });
  struct stat rst, mst;
  int r = record.valid() ? sys::fstat(record.get(), &rst) : record.get();
  if (r == -ENOSPC || r == -EDQUOT) return r;  // as a plain file's create would fail
  if (r < 0) {
    debug_log("O_TMPFILE in the backing directory: %s: %s is a plain file", strerror(-r),
              file.file);
    return kUsePlainFile;
  }
  mode_t perm = (rst.st_mode & 07777 & ~S_ISVTX) | (mode & S_ISVTX);
  if (sys::fchmod(memfd.get(), perm) < 0 || sys::fstat(memfd.get(), &mst) < 0)
    return kUsePlainFile;
  if ((rst.st_mode & 07777) != keeper::kRecordMode &&
      sys::fchmod(record.get(), keeper::kRecordMode) < 0)
    return kUsePlainFile;
  // The keeper first, to name it in the record; the memfd goes to it only
  // once the record is linked (below), so that it never holds a memfd whose
  // record is merely late: it drops any whose record is not at its name.
  Channel* c = channel(dir, dirst, /*start=*/true, nullptr, &r);
  if (c == nullptr) {
    debug_log("no keeper (%s): %s is a plain file", strerror(-r), file.file);
    return kUsePlainFile;
  }
  // The memfd's number now is the number the caller will get (below), so
  // the record can name it before anyone reads it.
  keeper::Record rec{};
  memcpy(rec.magic, keeper::kRecordMagic, sizeof rec.magic);
  rec.holder_pid = sys::getpid();
  rec.holder_fd = memfd.get();
  rec.dev = mst.st_dev;
  rec.ino = mst.st_ino;
  rec.keeper_pid = c->keeper;
  rec.rec_dev = rst.st_dev;
  rec.rec_ino = rst.st_ino;
  rec.net_ns = c->net_ns;
  rec.pid_ns = c->pid_ns;
  long w = sys::pwrite(record.get(), &rec, sizeof rec, 0);
  // A full disk: the create fails as it would for a file (stock glibc's
  // ftruncate or first write), rather than a plain file that SIGBUSes.
  if (w == -ENOSPC || w == -EDQUOT) return (int)w;
  if (w != (long)sizeof rec) return kUsePlainFile;
  char path[48];
  snprintf(path, sizeof path, "/proc/self/fd/%d", record.get());
  r = sys::linkat(AT_FDCWD, path, dir, file.file, AT_SYMLINK_FOLLOW);
  // Taken is EEXIST; a full directory ENOSPC; anything else (no /proc, a
  // directory refusing links) is for the plain file to answer, with the
  // kernel's own errno if it fails too.
  if (r == -EEXIST || r == -ENOSPC || r == -EDQUOT) return r;
  if (r < 0) {
    debug_log("link of a record: %s: %s is a plain file", strerror(-r), file.file);
    return kUsePlainFile;
  }
  // Published, and held by us until the keeper has it: one way, since a
  // descriptor in flight is the keeper's even if we die now.
  keeper::Request req = make_request(keeper::Op::kHold, file.file);
  req.rec_dev = rst.st_dev;
  req.rec_ino = rst.st_ino;
  req.dev = mst.st_dev;
  req.ino = mst.st_ino;
  int held = memfd.get();
  pid_t taker = rec.keeper_pid;
  if (int e = send_one_way(dir, dirst, /*start=*/true, req, &held, 1, &taker); e < 0) {
    debug_log("no keeper took %s (%s): it lasts while this process has it open", file.file,
              strerror(-e));
  } else if (taker != rec.keeper_pid) {
    // That keeper retired or died meanwhile: name the one that has it.
    sys::pwrite(record.get(), &taker, sizeof taker, offsetof(keeper::Record, keeper_pid));
  }
  record.reset();
  if (!other_mode.valid()) return memfd.release();
  memfd.reset();
  return lowest(other_mode.release());
}

// An existing object at an open file: `fd` itself when it is a plain object
// (O_TRUNC applied), the memfd its record names, or -errno (-ENOENT: stale).
int open_existing(InFlight& fd, int oflag, int dir, const struct stat& dirst) {
  struct stat st;
  if (int r = sys::fstat(fd.get(), &st); r < 0) return r;
  // Opened without O_CREAT, which makes the kernel refuse a directory.
  if (S_ISDIR(st.st_mode) && (oflag & O_CREAT) != 0) return -EINVAL;
  // ... and skips fs.protected_regular, which must refuse as it would.
  if ((oflag & O_CREAT) != 0 && st.st_uid != sys::geteuid() && !may_create_in_sticky(dir, st))
    return -EACCES;
  keeper::Record rec;
  int is_record = read_record(fd.get(), st, &rec);
  if (is_record < 0) return is_record;
  if (is_record > 0) {
    fd.reset();  // first, so that the memfd gets the lowest number
    return open_memfd(rec, (oflag & (O_ACCMODE | O_TRUNC)) | O_CLOEXEC, &dirst, dir);
  }
  if ((oflag & O_TRUNC) != 0 && st.st_size != 0) {
    // What opening a plain file with O_TRUNC would do, on the same file.
    char path[48];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd.get());
    int t = (oflag & O_ACCMODE) != O_RDONLY
                ? sys::ftruncate(fd.get(), 0)
                : sys::openat(AT_FDCWD, path, O_RDONLY | O_TRUNC | O_CLOEXEC);
    if (t < 0) return t;
    if ((oflag & O_ACCMODE) == O_RDONLY) sys::close(t);
  }
  return fd.release();
}

// The name is taken (a create's link said EEXIST): 0 when what is there was
// a stale record, now removed, so the create may try again; else -EEXIST.
int taken(int dir, const struct stat& dirst, const IpcName& file) {
  InFlight fd([&] {
    return sys::openat(dir, file.file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  });
  if (fd.get() == -ENOENT) return 0;  // unlinked meanwhile: try again
  struct stat st;
  keeper::Record rec;
  if (!fd.valid() || sys::fstat(fd.get(), &st) < 0 || read_record(fd.get(), st, &rec) <= 0)
    return -EEXIST;
  fd.reset();
  int m = open_memfd(rec, O_RDONLY | O_CLOEXEC, &dirst, dir);
  if (m >= 0) sys::close(m);
  if (m != -ENOENT) return -EEXIST;
  return clear_stale(dir, dirst, file, st);
}

// --- Other users' names ------------------------------------------------------
//
// Each user has a table of its own.  A name in another user's table is
// answered as another user's file would be: EEXIST for an exclusive create,
// EACCES otherwise (as a record of theirs was).  Their tables are read with
// pread, never mapped: their owner could truncate one under us.  Which users
// have one is read from the directory again when its mtime changes, at most
// every kRelistMs (a busy directory is not listed on every call).
//
// The same listing says whether the directory holds anything but tables: if
// not, and its mtime has not changed since, no file can be at a name and a
// create skips looking for one.  Trusted only when the listing began well
// after that mtime (kQuietMs): timestamps are coarse, and a change in the
// same tick as the listing would leave the mtime as it was.

struct Foreign {
  struct timespec mtime;
  dev_t dev;
  ino_t ino;
  uid_t euid;  // whose tables are not foreign
  int64_t listed_at_ms;  // CLOCK_MONOTONIC
  bool only_tables;      // the listing found nothing else (and began well after mtime)
  int count;
  char names[8][32];
};
constexpr int64_t kRelistMs = 100;
constexpr int64_t kQuietMs = 50;
Mutex g_foreign_mutex;
Foreign g_foreign{};

void find_foreign_tables(int dir, uid_t euid, Foreign* out) {
  out->count = 0;
  out->only_tables = true;
  char mine[64];
  name_table::file_name(euid, mine, sizeof mine);
  InFlight fds([&] { return sys::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (!fds.valid()) return;
  alignas(8) char buf[4096];
  for (;;) {
    long n = sys::call(SYS_getdents64, fds.get(), buf, sizeof buf);
    if (n <= 0) return;
    for (long off = 0; off < n;) {
      unsigned short reclen;
      memcpy(&reclen, buf + off + 16, sizeof reclen);
      const char* name = buf + off + 19;
      off += reclen;
      bool dots = name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
      if (!name_table::is_table_file(name)) out->only_tables = out->only_tables && dots;
      if (!name_table::is_table_file(name) || strcmp(name, mine) == 0 ||
          strlen(name) >= sizeof out->names[0] || out->count == 8)
        continue;
      memcpy(out->names[out->count++], name, strlen(name) + 1);
    }
  }
}

int64_t monotonic_ms();

// Whether `name` is live in another user's table in `dir`; *no_files (when
// given): whether the directory is known to hold no file at any name.
bool named_by_another_user(int dir, const char* name, uint32_t h, uid_t euid,
                           bool* no_files = nullptr) {
  struct stat dst;
  if (sys::fstat(dir, &dst) != 0) return false;
  Foreign f;
  auto same_mtime = [&](const Foreign& g) {
    return g.mtime.tv_sec == dst.st_mtim.tv_sec && g.mtime.tv_nsec == dst.st_mtim.tv_nsec;
  };
  {
    Section section;  // no fork while the lock is held
    MutexLock hold(g_foreign_mutex);
    f = g_foreign;
  }
  int64_t now = monotonic_ms();
  bool ours = f.dev == dst.st_dev && f.ino == dst.st_ino && f.euid == euid;
  if (!ours || (!same_mtime(f) && now - f.listed_at_ms >= kRelistMs)) {
    struct timespec began;
    clock_gettime(CLOCK_REALTIME, &began);
    find_foreign_tables(dir, euid, &f);
    int64_t quiet_ms = (began.tv_sec - dst.st_mtim.tv_sec) * 1000 +
                       (began.tv_nsec - dst.st_mtim.tv_nsec) / 1000000;
    f.only_tables = f.only_tables && quiet_ms >= kQuietMs;
    f.euid = euid;
    f.dev = dst.st_dev;
    f.ino = dst.st_ino;
    f.mtime = dst.st_mtim;
    f.listed_at_ms = now;
    Section section;
    MutexLock hold(g_foreign_mutex);
    g_foreign = f;
  }
  if (no_files != nullptr) *no_files = f.only_tables && same_mtime(f);
  for (int k = 0; k < f.count; ++k) {
    InFlight fd([&] {
      return sys::openat(dir, f.names[k], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    });
    struct stat st;
    if (!fd.valid() || sys::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size != name_table::kTableSize)
      continue;
    constexpr size_t kBucketBytes = name_table::kSlotsPerBucket * sizeof(name_table::Slot);
    alignas(name_table::Slot) char bucket[kBucketBytes];
    off_t at = (off_t)(name_table::kSlotsOffset + (size_t)name_table::bucket_of(h) * kBucketBytes);
    if (sys::pread(fd.get(), bucket, sizeof bucket, at) != (long)sizeof bucket) continue;
    for (uint32_t i = 0; i < name_table::kSlotsPerBucket; ++i) {
      const auto* s = reinterpret_cast<const name_table::Slot*>(bucket) + i;
      if (s->state.load(std::memory_order_relaxed) == name_table::kLive && s->hash == h &&
          strncmp(s->name, name, sizeof s->name) == 0)
        return true;
    }
  }
  return false;
}

// --- Names in the table (name_table.h) --------------------------------------
//
// A name that fits is a slot of the table, not a record file: create, open
// and unlink then touch no disk metadata.  The creator makes the memfd, fills
// a free slot of the name's bucket under the bucket's lock (that lock makes
// "exactly one creator per name"), and hands the memfd to the keeper one way
// before returning, as for a record.  The keeper writes itself into the slot
// when it takes the memfd, and keeps it exactly while the slot is live at
// that generation.  An opener reopens the memfd through the keeper's
// /proc/PID/fd, or the creator's until the keeper has it, or asks the keeper.

using name_table::Locked;
using name_table::Slot;
using name_table::Table;

// A slot as read under its bucket's lock.
struct SlotView {
  uint32_t index, gen;
  pid_t keeper_pid, creator_pid;
  int keeper_fd, creator_fd;
  uint64_t dev, ino;
};

SlotView view(const Table* t, const Slot* s) {
  return {name_table::index_of(t, s), s->gen, s->keeper_pid, s->creator_pid,
          s->keeper_fd, s->creator_fd, s->dev, s->ino};
}

// A keeper lately proven to be a keeper of the directory (pid, and until when
// in CLOCK_MONOTONIC ms): a losing exclusive create trusts a slot it holds
// without reopening the memfd, since a keeper holds a memfd exactly while its
// slot is live.  Racy by design: a torn pair is still a pid proven recently.
std::atomic<pid_t> g_proven_keeper{0};
std::atomic<int64_t> g_proven_until{0};
constexpr int64_t kProofMs = 100;

int64_t monotonic_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool held_by_a_keeper(const SlotView& v, const struct stat& dirst) {
  if (v.keeper_pid <= 0) return false;
  int64_t now = monotonic_ms();
  if (g_proven_keeper.load(std::memory_order_relaxed) == v.keeper_pid &&
      now < g_proven_until.load(std::memory_order_relaxed))
    return true;
  if (!keeper::is_keeper_of(v.keeper_pid, dirst)) return false;
  g_proven_keeper.store(v.keeper_pid, std::memory_order_relaxed);
  g_proven_until.store(now + kProofMs, std::memory_order_relaxed);
  return true;
}

// Opens the object a slot named, with `flags`: a descriptor, -ENOENT when
// nobody holds it any more (stale, or unlinked and gone meanwhile), or -errno.
int open_slot(const Table* t, const SlotView& v, int flags, int dir, const struct stat& dirst) {
  int m = -ENOENT;
  if (v.keeper_pid > 0) m = reopen_held(v.keeper_pid, v.keeper_fd, v.dev, v.ino, flags);
  if (m == -ENOENT && v.creator_pid > 0)
    m = reopen_held(v.creator_pid, v.creator_fd, v.dev, v.ino, flags);
  if (m >= 0) return m;
  if (m != -ENOENT && m != -ESRCH) return m;
  // Neither has it: a hand-over may be in flight, and a keeper reads
  // everything already sent before it answers.
  keeper::Request req = make_request(keeper::Op::kGet, nullptr);
  req.dev = v.dev;
  req.ino = v.ino;
  InFlight held;
  int r = -ENOENT;
  if (v.keeper_pid > 0 && keeper::is_keeper_of(v.keeper_pid, dirst))
    r = ask_keeper(dir, dirst, req, &held, v.keeper_pid);
  if (!held.valid()) r = ask_keeper(dir, dirst, req, &held);
  // Then every keeper the table lists: after keepers retire, the memfd may
  // be with one the slot does not name yet (a hand-over passed on).
  for (int i = 0; i < name_table::kKeepers && !held.valid(); ++i) {
    pid_t k = t->header()->keepers[i].load(std::memory_order_relaxed);
    if (k <= 0 || k == v.keeper_pid || !keeper::is_keeper_of(k, dirst)) continue;
    int e = ask_keeper(dir, dirst, req, &held, k);
    if (e != -ENOENT && e != -ECONNREFUSED && e != 0) r = e;
  }
  if (r < 0 || !held.valid()) return r == -ENOENT || r == -ECONNREFUSED || r == 0 ? -ENOENT : r;
  return own_description(held, flags);
}

// The memfd for a new object, with its permissions and first bytes: one
// made in advance by the keeper (memfd_pool.h: *pre filled, and the keeper
// holds it already), else a new one.  The descriptor, or kUsePlainFile.
int new_memfd(const struct stat& dirst, uid_t euid, const IpcName& file, mode_t perm,
              const Contents& contents, Premade* pre, struct stat* mst) {
  InFlight m;
  if (take_premade(dirst, euid, pre)) {
    m = InFlight(InFlight::Adopt{}, pre->fd);
    // Still ours?  The program may have closed the number, or put another file there.
    if (sys::fstat(m.get(), mst) != 0 || (uint64_t)mst->st_dev != pre->dev ||
        (uint64_t)mst->st_ino != pre->ino) {
      m.release();
      pre->keeper = 0;
    }
  } else {
    pre->keeper = 0;
  }
  if (pre->keeper == 0) {
    char label[NAME_MAX + 16];
    snprintf(label, sizeof label, "lambshm:%s", file.file);
    m = InFlight([&] { return sys::memfd_create(label, MFD_CLOEXEC); });
    if (!m.valid()) {
      debug_log("memfd_create: %s: %s is a plain file", strerror(-m.get()), file.file);
      return kUsePlainFile;
    }
  }
  if (sys::fchmod(m.get(), perm) < 0 || (pre->keeper == 0 && sys::fstat(m.get(), mst) < 0))
    return kUsePlainFile;
  // Its first bytes, before anyone can open it by name.
  if (contents.size != 0) {
    long w = sys::pwrite(m.get(), contents.bytes, contents.size, 0);
    if (w != (long)contents.size) return w < 0 ? (int)w : -ENOSPC;
  }
  return m.release();
}

// Makes the object of `file` in the free slot `s` (the caller holds its
// bucket's lock): the caller's descriptor, with the memfd to hand to the
// keeper in *memfd (the same number for O_RDWR; none when the keeper made
// it) and the slot in *v; or kUsePlainFile, or -errno.
int make_in_slot(const Table* t, Slot* s, const struct stat& dirst, uid_t euid, const IpcName& file,
                 uint32_t h, int oflag, mode_t mode, const Contents& contents, InFlight* memfd,
                 SlotView* v) {
  int mask = current_umask();
  if (mask < 0) {
    debug_log("the umask cannot be read (%s): %s is a plain file", strerror(-mask), file.file);
    return kUsePlainFile;
  }
  Premade pre;
  struct stat mst;
  int made = new_memfd(dirst, euid, file, (mode & 07777) & ~(mode_t)mask, contents, &pre, &mst);
  if (made < 0) return made;
  InFlight m(InFlight::Adopt{}, made);
  int caller;
  if ((oflag & O_ACCMODE) == O_RDWR && pre.keeper == 0) {
    caller = m.get();  // made just now: the lowest free number, as open gives
  } else if ((oflag & O_ACCMODE) == O_RDWR) {
    caller = sys::fcntl(m.get(), F_DUPFD_CLOEXEC, 0);
    if (caller < 0) return caller;
  } else {
    char path[48];
    snprintf(path, sizeof path, "/proc/self/fd/%d", m.get());
    caller = sys::openat(AT_FDCWD, path, (oflag & O_ACCMODE) | O_CLOEXEC);
    if (caller < 0) {
      debug_log("cannot reopen a memfd (%s; is /proc mounted?): %s is a plain file",
                strerror(-caller), file.file);
      return kUsePlainFile;
    }
  }
  s->gen++;
  s->hash = h;
  s->kind = contents.kind;
  s->keeper_pid = pre.keeper;
  s->keeper_fd = pre.keeper != 0 ? pre.keeper_fd : -1;
  s->creator_pid = fd_registry::self_pid();
  s->creator_fd = caller;
  s->dev = mst.st_dev;
  s->ino = mst.st_ino;
  memcpy(s->name, file.file, strlen(file.file) + 1);
  s->state.store(name_table::kLive, std::memory_order_release);
  *v = view(t, s);
  name_table::post_event(t, v->index, s, name_table::kCreated);
  if (pre.keeper != 0) return caller;  // `m`, our copy, closes here
  *memfd = static_cast<InFlight&&>(m);
  return caller;
}

// Hands the memfd of a new slot to the keeper, one way: in flight, it is the
// keeper's even if we die now.
void hand_over(int dir, const struct stat& dirst, const SlotView& v, int memfd, const char* name) {
  keeper::Request req = make_request(keeper::Op::kHoldSlot, nullptr);
  req.slot = v.index;
  req.gen = v.gen;
  req.dev = v.dev;
  req.ino = v.ino;
  if (int e = send_one_way(dir, dirst, /*start=*/true, req, &memfd, 1); e < 0)
    debug_log("no keeper took %s (%s): it lasts while this process has it open", name,
              strerror(-e));
}

// shm_open, or a semaphore's sem_open, through the table: a descriptor,
// -errno, kUsePlainFile, or kNotInTable.
int table_open(const Table* t, int dir, const struct stat& dirst, uid_t euid, const IpcName& file,
               int oflag, mode_t mode, const Contents& contents) {
  uint32_t h = name_table::hash(file.file);
  uint32_t bucket = name_table::bucket_of(h);
  bool creating = (oflag & O_CREAT) != 0;
  bool exclusive = creating && (oflag & O_EXCL) != 0;
  int flags = (oflag & (O_ACCMODE | O_TRUNC)) | O_CLOEXEC;
  // A keeper to hand the memfd to, known before anything is made (without
  // one, a plain file, as for a record); looked for only when the name is
  // free, outside the lock, since it may have to be started.
  bool keeper_known = false;
  for (int attempt = 0; attempt < 100; ++attempt) {
    SlotView v;
    InFlight memfd;
    int made;
    bool need_keeper = false;
    {
      Locked lock(t, bucket, fd_registry::self_pid());
      if (Slot* s = name_table::find_live(t, file.file, h); s != nullptr) {
        v = view(t, s);
        made = kNotInTable;
      } else if (!creating) {
        return named_by_another_user(dir, file.file, h, euid) ? -EACCES : kNotInTable;
      } else {
        // Another user's name; a file at the name (a record, a plain object,
        // something else), which is for the disk path to answer; so is a
        // full bucket.
        bool no_files = false;
        if (named_by_another_user(dir, file.file, h, euid, &no_files))
          return exclusive ? -EEXIST : -EACCES;
        struct stat st;
        if (!no_files && sys::fstatat(dir, file.file, &st, AT_SYMLINK_NOFOLLOW) != -ENOENT)
          return kNotInTable;
        Slot* free = name_table::find_free(t, h);
        if (free == nullptr) return kNotInTable;
        keeper_known = keeper_known || pool_connected(dirst, euid);
        need_keeper = !keeper_known;
        made = need_keeper ? kNotInTable
                           : make_in_slot(t, free, dirst, euid, file, h, oflag, mode, contents,
                                          &memfd, &v);
        if (made < 0 && !need_keeper) return made;
      }
    }
    if (need_keeper) {
      int err;
      if (channel(dir, dirst, /*start=*/true, nullptr, &err) == nullptr) {
        debug_log("no keeper (%s): %s is a plain file", strerror(-err), file.file);
        return kUsePlainFile;
      }
      keeper_known = true;
      continue;
    }
    if (made >= 0) {
      if (!memfd.valid()) return made;  // the keeper made it, and has it
      hand_over(dir, dirst, v, memfd.get(), file.file);
      if (made == memfd.get()) memfd.release();
      // This process creates: memfds made in advance for its next creates.
      prepare_pool(dir, dirst, euid);
      return made;
    }
    if (exclusive && held_by_a_keeper(v, dirst)) return -EEXIST;
    int m = open_slot(t, v, exclusive ? O_RDONLY | O_CLOEXEC : flags, dir, dirst);
    if (exclusive && m != -ENOENT) {
      if (m >= 0) sys::close(m);
      return -EEXIST;
    }
    if (m != -ENOENT) return m;
    // Nobody holds it: stale (its keeper died), or unlinked meanwhile.
    {
      Locked lock(t, bucket, fd_registry::self_pid());
      Slot* s = t->slot(v.index);
      if (s->state.load(std::memory_order_relaxed) == name_table::kLive && s->gen == v.gen) {
        debug_log("%s names an object nobody holds: removed", file.file);
        name_table::free_slot(s);
      }
    }
  }
  return -EAGAIN;
}

// shm_unlink through the table: 0, or kNotInTable.
int table_unlink(const Table* t, int dir, uid_t euid, const IpcName& file) {
  uint32_t h = name_table::hash(file.file);
  {
    Locked lock(t, name_table::bucket_of(h), fd_registry::self_pid());
    Slot* s = name_table::find_live(t, file.file, h);
    if (s == nullptr) return named_by_another_user(dir, file.file, h, euid) ? -EACCES : kNotInTable;
    s->state.store(name_table::kUnlinked, std::memory_order_release);
    name_table::post_event(t, name_table::index_of(t, s), s, name_table::kUnlinkedEvent);
  }
  return 0;
}

const Table* table(int dir, const struct stat& dirst, uid_t euid, const IpcName& file,
                   bool create) {
  if (strlen(file.file) > name_table::kMaxName) return nullptr;
  return name_table::table_for(dir, dirst.st_dev, dirst.st_ino, euid, create);
}

// open or unlink of `file` by a user with no table of its own: another
// user's name gets its answer (-EEXIST, -EACCES), anything else kNotInTable.
int without_own_table(int dir, uid_t euid, const IpcName& file, bool exclusive) {
  if (strlen(file.file) > name_table::kMaxName ||
      !named_by_another_user(dir, file.file, name_table::hash(file.file), euid))
    return kNotInTable;
  return exclusive ? -EEXIST : -EACCES;
}

}  // namespace

int open(int dir, dev_t dev, ino_t ino, const IpcName& file, int oflag, mode_t mode) {
  // Flags this store gives their file meaning; with any other (O_APPEND,
  // O_DIRECTORY, O_PATH, O_TMPFILE, garbage) the call goes to the kernel as a
  // plain file would, so that it answers exactly as for stock glibc.
  constexpr int kModelled =
      O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW;
  if ((oflag & ~kModelled) != 0 || (oflag & O_ACCMODE) == O_ACCMODE) return kUsePlainFile;
  struct stat dirst;
  dirst.st_dev = dev;
  dirst.st_ino = ino;
  bool exclusive = (oflag & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL);
  ensure_fork_handler();
  {
    uid_t euid = sys::geteuid();
    const Table* t = table(dir, dirst, euid, file, (oflag & O_CREAT) != 0);
    int r = t != nullptr ? table_open(t, dir, dirst, euid, file, oflag, mode,
                                      Contents{name_table::kShm, nullptr, 0})
                         : without_own_table(dir, euid, file, exclusive);
    if (r != kNotInTable) return r;
  }
  // Creators and unlinkers racing can bounce us between "exists" and "does
  // not"; each round means another process made progress.
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (!exclusive) {
      int plain_flags = (oflag & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_NOFOLLOW | O_CLOEXEC;
      InFlight fd([&] { return sys::openat(dir, file.file, plain_flags); });
      int f = fd.get();
      if (f == -EISDIR) return -EINVAL;
      if (f >= 0) {
        int r = open_existing(fd, oflag, dir, dirst);
        if (r != -ENOENT || (oflag & O_CREAT) == 0) return r;
      } else if (f != -ENOENT || (oflag & O_CREAT) == 0) {
        return f;
      }
    }
    int r = create(dir, dirst, file, oflag, mode);
    if (r != -EEXIST) return r;
    // Taken: by a live object (EEXIST for O_EXCL; open it otherwise), or by
    // a stale record, which the keeper removes for us to try again.
    if (taken(dir, dirst, file) < 0 && exclusive) return -EEXIST;
  }
  return -EAGAIN;
}

int unlink(int dir, dev_t dev, ino_t ino, const IpcName& file) {
  // A keeper that watches the directory sees this unlink itself; one that
  // cannot (no inotify) is told, if this process is talking to it already.
  // Otherwise its sweep finds out within seconds.
  struct stat dirst;
  dirst.st_dev = dev;
  dirst.st_ino = ino;
  {
    uid_t euid = sys::geteuid();
    const Table* t = table(dir, dirst, euid, file, /*create=*/false);
    int r = t != nullptr ? table_unlink(t, dir, euid, file)
                         : without_own_table(dir, euid, file, /*exclusive=*/false);
    if (r != kNotInTable) return r;
  }
  Channel* c = current_channel();
  struct stat st;
  bool tell = c != nullptr && !c->watching && channel_good(c, dirst) &&
              sys::fstatat(dir, file.file, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
              keeper::looks_like_record(st);
  int r = sys::unlinkat(dir, file.file, 0);
  if (r == -EPERM) r = -EACCES;
  if (r < 0 || !tell) return r;
  keeper::Request req = make_request(keeper::Op::kDrop, file.file);
  req.rec_dev = st.st_dev;
  req.rec_ino = st.st_ino;
  send_one_way(dir, dirst, /*start=*/false, req, nullptr, 0);
  return r;
}

int open_in_table(int dir, dev_t dev, ino_t ino, const IpcName& file, int oflag, mode_t mode,
                  const Contents& contents) {
  struct stat dirst;
  dirst.st_dev = dev;
  dirst.st_ino = ino;
  ensure_fork_handler();
  uid_t euid = sys::geteuid();
  const Table* t = table(dir, dirst, euid, file, (oflag & O_CREAT) != 0);
  bool exclusive = (oflag & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL);
  return t == nullptr ? without_own_table(dir, euid, file, exclusive)
                      : table_open(t, dir, dirst, euid, file, oflag, mode, contents);
}

bool identity_in_table(int dir, dev_t dev, ino_t ino, const IpcName& file, dev_t* object_dev,
                       ino_t* object_ino) {
  struct stat dirst;
  dirst.st_dev = dev;
  dirst.st_ino = ino;
  const Table* t = table(dir, dirst, sys::geteuid(), file, /*create=*/false);
  if (t == nullptr) return false;
  uint32_t h = name_table::hash(file.file);
  Locked lock(t, name_table::bucket_of(h), fd_registry::self_pid());
  const Slot* s = name_table::find_live(t, file.file, h);
  if (s == nullptr) return false;
  *object_dev = (dev_t)s->dev;
  *object_ino = (ino_t)s->ino;
  return true;
}

int unlink_in_table(int dir, dev_t dev, ino_t ino, const IpcName& file) {
  struct stat dirst;
  dirst.st_dev = dev;
  dirst.st_ino = ino;
  uid_t euid = sys::geteuid();
  const Table* t = table(dir, dirst, euid, file, /*create=*/false);
  return t == nullptr ? without_own_table(dir, euid, file, /*exclusive=*/false)
                      : table_unlink(t, dir, euid, file);
}

int open_record(int record, int flags, int dir, const struct stat* dirst) {
  keeper::Record rec;
  struct stat st;
  if (int r = sys::fstat(record, &st); r < 0) return r;
  if (int r = read_record(record, st, &rec); r <= 0) return r < 0 ? r : -EBADMSG;
  ensure_fork_handler();
  return open_memfd(rec, flags, dirst, dir);
}

}  // namespace lambshm::memfd_store
