// Shared memory objects as memfds kept by a keeper process.
//
// Lifecycle (docs/design.md has the whole story):
//  - create: memfd_create, an O_TMPFILE record with the object's mode (the
//    umask applied) plus S_ISVTX, both sent to the keeper over its abstract
//    Unix socket; the keeper keeps the memfd, writes the record (its pid, the
//    descriptor number, the memfd's inode) and links it at the name, or says
//    EEXIST.  Only then is the object visible, and complete.
//  - open: open the record with the caller's access mode (the permission
//    check a plain file would get), read it, open /proc/PID/fd/FD with the
//    caller's flags (a new open file description: O_RDONLY is read-only) and
//    check the inode; a record whose keeper or descriptor is gone is stale,
//    which is ENOENT, and the next creator replaces it.
//  - unlink: unlink the record, then tell its keeper (which also notices on
//    its own within seconds: the sweep).
// Anything that stops the store from working (no memfd_create, no O_TMPFILE,
// no keeper binary, no descriptors to spare) sends the caller to a plain
// file, with a LAMBSHM_DEBUG message: slower on a disk, never wrong.
//
// Fork: no lock is held at any point.  Descriptors opened for the duration of
// a call (the socket, the record) are registered, and a fork handler closes
// them in the child, where the thread that would have closed them is gone.
#include "memfd_store.h"

#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "backing_dir.h"
#include "keeper_protocol.h"
#include "linux_syscall.h"
#include "unique_fd.h"

extern char** environ;

namespace lambshm::memfd_store {

namespace {

// --- Descriptors a fork must not leak ----------------------------------------
//
// A descriptor is registered in a slot as it is created; the child handler
// closes every registered one.  Creation and registration happen inside a
// section that the prepare handler waits to be empty (and keeps empty until
// the fork is done), so no fork falls between the two.  The section is a few
// instructions and one system call that never blocks.

constexpr int kSlots = 64;
std::atomic<int> g_inflight[kSlots];
std::atomic<int> g_handlers{0};  // 0 none, 1 registering, 2 registered
std::atomic<int> g_in_section{0};
std::atomic<bool> g_forking{false};

void yield() { sys::call(SYS_sched_yield); }

void fork_prepare() {
  g_forking.store(true, std::memory_order_seq_cst);
  while (g_in_section.load(std::memory_order_seq_cst) != 0) yield();
}

void fork_parent() { g_forking.store(false, std::memory_order_seq_cst); }

void fork_child() {
  for (auto& slot : g_inflight) {
    int fd = slot.exchange(-1, std::memory_order_relaxed);
    if (fd >= 0) sys::close(fd);
  }
  g_in_section.store(0, std::memory_order_relaxed);
  g_forking.store(false, std::memory_order_seq_cst);
}

void ensure_fork_handler() {
  if (g_handlers.load(std::memory_order_acquire) == 2) return;
  int expected = 0;
  if (g_handlers.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    for (auto& slot : g_inflight) slot.store(-1, std::memory_order_relaxed);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    g_handlers.store(2, std::memory_order_release);
  }
  // Another thread is registering (or was, in the parent of this child):
  // proceed untracked rather than wait on a thread that may not exist.
}

class Section {
 public:
  Section() {
    for (;;) {
      while (g_forking.load(std::memory_order_seq_cst)) yield();
      g_in_section.fetch_add(1, std::memory_order_seq_cst);
      if (!g_forking.load(std::memory_order_seq_cst)) return;
      g_in_section.fetch_sub(1, std::memory_order_seq_cst);
    }
  }
  ~Section() { g_in_section.fetch_sub(1, std::memory_order_seq_cst); }
  Section(const Section&) = delete;
  Section& operator=(const Section&) = delete;
};

int track(int fd) {
  if (fd < 0 || g_handlers.load(std::memory_order_acquire) != 2) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int empty = -1;
    if (g_inflight[i].compare_exchange_strong(empty, fd, std::memory_order_relaxed)) return i;
  }
  return -1;  // more than kSlots calls at once: the rest go untracked
}

// A descriptor owned for the duration of one call, closed in a forked child.
// `make` creates it (returns it or -errno) inside the section.
class InFlight {
 public:
  template <typename Make>
  explicit InFlight(Make make) {
    Section section;
    fd_ = make();
    slot_ = track(fd_);
  }
  // Adopts `fd`, created by the caller inside its own Section.
  struct Adopt {};
  InFlight(Adopt, int fd) : fd_(fd), slot_(track(fd)) {}
  InFlight() : fd_(-1) {}
  InFlight(InFlight&& other) noexcept : fd_(other.fd_), slot_(other.slot_) {
    other.fd_ = -1;
    other.slot_ = -1;
  }
  InFlight& operator=(InFlight&& other) noexcept {
    reset();
    fd_ = other.fd_;
    slot_ = other.slot_;
    other.fd_ = -1;
    other.slot_ = -1;
    return *this;
  }
  ~InFlight() { reset(); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Hands the descriptor to the caller (no longer closed by a fork handler).
  int release() {
    untrack();
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() {
    if (fd_ < 0) return;
    // Closed and forgotten with no fork in between: neither a descriptor
    // leaked into a child nor a reused number closed there.
    Section section;
    sys::close(fd_);
    untrack();
    fd_ = -1;
  }

 private:
  void untrack() {
    if (slot_ >= 0) g_inflight[slot_].store(-1, std::memory_order_relaxed);
    slot_ = -1;
  }
  int fd_;
  int slot_ = -1;
};

// --- Finding and starting the keeper -----------------------------------------

char g_keeper_path[PATH_MAX];
std::atomic<int> g_keeper_path_state{0};  // 0 unknown, 1 found, -1 none

bool executable(const char* path) {
  return sys::call(SYS_faccessat, AT_FDCWD, path, X_OK, 0) == 0;
}

struct FindSelf {
  uintptr_t address;
  char dir[PATH_MAX];
  bool found;
};

int find_self(struct dl_phdr_info* info, size_t, void* data) {
  auto* f = static_cast<FindSelf*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (f->address < start || f->address >= start + ph.p_memsz) continue;
    const char* name = info->dlpi_name;
    if (name == nullptr || name[0] == '\0') {
      // The main program (the core linked in statically).
      long n = sys::call(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", f->dir, sizeof f->dir - 1);
      if (n <= 0) return 1;
      f->dir[n] = '\0';
    } else {
      snprintf(f->dir, sizeof f->dir, "%s", name);
    }
    char* slash = strrchr(f->dir, '/');
    if (slash == nullptr) return 1;
    *slash = '\0';
    f->found = true;
    return 1;
  }
  return 0;
}

// The keeper binary: $LAMBSHM_KEEPER, or next to the library that holds this
// code, as the layer and the build tree lay it out.
const char* keeper_path() {
  int state = g_keeper_path_state.load(std::memory_order_acquire);
  if (state != 0) return state > 0 ? g_keeper_path : nullptr;
  char path[PATH_MAX];
  bool found = false;
  if (const char* env = secure_getenv("LAMBSHM_KEEPER"); env != nullptr && env[0] == '/') {
    snprintf(path, sizeof path, "%s", env);
    found = executable(path);
  } else {
    FindSelf self{reinterpret_cast<uintptr_t>(&find_self), {}, false};
    dl_iterate_phdr(find_self, &self);
    static constexpr const char* kCandidates[] = {
        "lambshm-keeper",         "../lambshm-keeper",         "../keeper/lambshm-keeper",
        "../libexec/lambshm-keeper", "../../lib/lambshm-keeper",
    };
    for (const char* c : kCandidates) {
      if (!self.found) break;
      snprintf(path, sizeof path, "%s/%s", self.dir, c);
      if ((found = executable(path))) break;
    }
  }
  if (!found) {
    debug_log("no lambshm-keeper found (set LAMBSHM_KEEPER): objects are plain files");
    g_keeper_path_state.store(-1, std::memory_order_release);
    return nullptr;
  }
  // Racing threads find the same path: writing it twice is harmless.
  memcpy(g_keeper_path, path, sizeof path);
  g_keeper_path_state.store(1, std::memory_order_release);
  return g_keeper_path;
}

// Starts a keeper for `dir` and waits until it listens (or finds another
// keeper listening): 0 or -errno.  posix_spawn execs without copying this
// process's memory (vfork semantics), so a huge caller costs nothing, and the
// keeper starts with a clean environment, signal mask and dispositions.
int spawn_keeper(int dir) {
  const char* path = keeper_path();
  if (path == nullptr) return -ENOENT;
  int sv[2];
  InFlight mine, theirs;
  {
    Section section;
    if (int r = sys::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv); r < 0) return r;
    mine = InFlight(InFlight::Adopt{}, sv[0]);
    theirs = InFlight(InFlight::Adopt{}, sv[1]);
  }
  // Copies above the numbers they go to, so that dup2 in the child always
  // moves (a dup2 onto itself would keep FD_CLOEXEC).
  InFlight dir_copy([&] { return sys::fcntl(dir, F_DUPFD_CLOEXEC, 5); });
  InFlight status_copy([&] { return sys::fcntl(sv[1], F_DUPFD_CLOEXEC, 5); });
  if (!dir_copy.valid() || !status_copy.valid()) return -EMFILE;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, dir_copy.get(), keeper::kDirFd);
  posix_spawn_file_actions_adddup2(&actions, status_copy.get(), keeper::kStatusFd);
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char* argv[] = {const_cast<char*>("lambshm-keeper"), nullptr};
  char debug[] = "LAMBSHM_DEBUG=1";
  char* envp[] = {dir_config().debug ? debug : nullptr, nullptr};
  pid_t pid;
  int err = posix_spawn(&pid, path, &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    debug_log("cannot start %s: %s", path, strerror(err));
    return -err;
  }
  dir_copy.reset();
  status_copy.reset();
  theirs.reset();
  // The first process forks the keeper and exits at once.  ECHILD: the
  // program reaped it first (a SIGCHLD handler, or SIGCHLD ignored).
  int status;
  while (sys::wait4(pid, &status, 0) == -EINTR) {
  }
  char byte = 0;
  struct pollfd p = {mine.get(), POLLIN, 0};
  struct timespec timeout = {5, 0};
  if (sys::ppoll(&p, 1, &timeout) <= 0 || sys::read(mine.get(), &byte, 1) != 1) {
    debug_log("%s did not start", path);
    return -ECONNREFUSED;
  }
  return 0;  // kReady or kBusy: either way a keeper listens (or just exited)
}

// A connection to the keeper of `dir` (started when `start` and none runs)
// in `*out`: 0 or -errno.  The peer must be the caller's user: anyone else
// squatting on the name is not trusted with our objects.
int connect_keeper(int dir, const struct stat& dirst, bool start, InFlight* out) {
  struct sockaddr_un addr;
  socklen_t len = keeper::socket_address(sys::geteuid(), dirst, &addr);
  int r = -ECONNREFUSED;
  for (int attempt = 0; attempt < 4; ++attempt) {
    InFlight sock([] { return sys::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0); });
    if (!sock.valid()) return sock.get();
    int s = sock.get();
    r = sys::connect(s, reinterpret_cast<struct sockaddr*>(&addr), len);
    if (r == 0) {
      struct ucred cred;
      socklen_t cred_len = sizeof cred;
      if (sys::getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 ||
          cred.uid != sys::geteuid()) {
        debug_log("the keeper's socket belongs to uid %u", (unsigned)cred.uid);
        return -EACCES;
      }
      struct timeval tv = {10, 0};  // a stopped keeper must not hang us for ever
      sys::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      *out = static_cast<InFlight&&>(sock);
      return 0;
    }
    if (r != -ECONNREFUSED && r != -EAGAIN) return r;
    if (!start) return r;
    if (r == -ECONNREFUSED) {
      if (int e = spawn_keeper(dir); e < 0 && e != -ECONNREFUSED) return e;
    } else {
      struct timespec ms = {0, 1000000};
      sys::call(SYS_nanosleep, &ms, nullptr);
    }
  }
  return r;
}

int send_request(int sock, const keeper::Request& req, const int* fds, int nfds) {
  struct iovec iov = {const_cast<keeper::Request*>(&req), sizeof req};
  alignas(struct cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (nfds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  }
  long n = sys::sendmsg(sock, &msg, MSG_NOSIGNAL);
  return n == (long)sizeof req ? 0 : (n < 0 ? (int)n : -EIO);
}

keeper::Request make_request(keeper::Op op, const IpcName& file) {
  keeper::Request req;
  memset(&req, 0, sizeof req);
  req.magic = keeper::kRequestMagic;
  req.op = op;
  memcpy(req.name, file.file, file.length + 1);
  return req;
}

// Creates the object: the memfd, or -EEXIST, or kUsePlainFile.
int create(int dir, const struct stat& dirst, const IpcName& file, int oflag, mode_t mode) {
  ensure_fork_handler();
  char label[NAME_MAX + 16];
  snprintf(label, sizeof label, "lambshm:%s", file.file);
  InFlight memfd([&] { return sys::memfd_create(label, MFD_CLOEXEC); });
  if (!memfd.valid()) {
    debug_log("memfd_create: %s: %s is a plain file", strerror(-memfd.get()), file.file);
    return kUsePlainFile;
  }
  InFlight record(
      [&] { return sys::openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, mode & 07777); });
  struct stat st;
  int r = record.valid() ? sys::fstat(record.get(), &st) : record.get();
  if (r < 0) {
    debug_log("O_TMPFILE in the backing directory: %s: %s is a plain file", strerror(-r),
              file.file);
    return kUsePlainFile;
  }
  mode_t perm = st.st_mode & 07777;  // the umask applied, as to a plain file
  if (sys::fchmod(record.get(), perm | S_ISVTX) < 0 || sys::fchmod(memfd.get(), perm) < 0)
    return kUsePlainFile;
  for (int attempt = 0; attempt < 3; ++attempt) {
    InFlight sock;
    if (int e = connect_keeper(dir, dirst, /*start=*/true, &sock); e < 0) {
      debug_log("no keeper (%s): %s is a plain file", strerror(-e), file.file);
      return kUsePlainFile;
    }
    int s = sock.get();
    keeper::Request req = make_request(keeper::Op::kCreate, file);
    int fds[2] = {memfd.get(), record.get()};
    keeper::Reply reply;
    if (send_request(s, req, fds, 2) < 0 ||
        sys::call(SYS_recvfrom, s, &reply, sizeof reply, 0, 0, 0) != (long)sizeof reply)
      continue;  // the keeper exited (idle) as we came: start another
    if (reply.error == -EEXIST) return -EEXIST;
    if (reply.error < 0) {
      debug_log("the keeper refused %s (%s): it is a plain file", file.file,
                strerror(-reply.error));
      return kUsePlainFile;
    }
    if ((oflag & O_ACCMODE) != O_RDWR) {
      // A read-only (write-only) description, as opening a file gives.
      char path[48];
      snprintf(path, sizeof path, "/proc/self/fd/%d", memfd.get());
      return sys::openat(AT_FDCWD, path, (oflag & O_ACCMODE) | O_CLOEXEC);
    }
    return memfd.release();
  }
  return kUsePlainFile;
}

// An existing object at an open file: `fd` itself when it is a plain object
// (O_TRUNC applied), the memfd its record names, or -errno (-ENOENT stale).
int open_existing(InFlight& fd, int oflag) {
  struct stat st;
  if (int r = sys::fstat(fd.get(), &st); r < 0) return r;
  // Opened without O_CREAT, which makes the kernel refuse a directory.
  if (S_ISDIR(st.st_mode) && (oflag & O_CREAT) != 0) return -EINVAL;
  if (keeper::looks_like_record(st)) {
    int r = open_record(fd.get(), (oflag & (O_ACCMODE | O_TRUNC)) | O_CLOEXEC);
    if (r != -EBADMSG) return r;  // not a record after all: a plain file
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
  // Creators and unlinkers racing can bounce us between "exists" and "does
  // not"; each round means another process made progress.
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (!exclusive) {
      int plain_flags = (oflag & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_NOFOLLOW | O_CLOEXEC;
      InFlight fd([&] { return sys::openat(dir, file.file, plain_flags); });
      int f = fd.get();
      if (f == -EISDIR) return -EINVAL;
      if (f >= 0) {
        int r = open_existing(fd, oflag);
        if (r != -ENOENT || (oflag & O_CREAT) == 0) return r;
      } else if (f != -ENOENT || (oflag & O_CREAT) == 0) {
        return f;
      }
    }
    int r = create(dir, dirst, file, oflag, mode);
    if (r != -EEXIST || exclusive) return r;
  }
  return -EAGAIN;
}

int unlink(int dir, dev_t dev, ino_t ino, const IpcName& file) {
  struct stat st;
  bool record = sys::fstatat(dir, file.file, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                keeper::looks_like_record(st);
  int r = sys::unlinkat(dir, file.file, 0);
  if (r == -EPERM) r = -EACCES;
  if (r < 0 || !record || st.st_uid != sys::geteuid()) return r;
  // Tell the keeper now rather than let its sweep find out; no answer needed.
  struct stat dirst;
  dirst.st_dev = dev;
  dirst.st_ino = ino;
  ensure_fork_handler();
  InFlight sock;
  if (connect_keeper(dir, dirst, /*start=*/false, &sock) < 0) return r;
  int s = sock.get();
  keeper::Request req = make_request(keeper::Op::kDrop, file);
  req.rec_dev = st.st_dev;
  req.rec_ino = st.st_ino;
  send_request(s, req, nullptr, 0);
  return r;
}

}  // namespace lambshm::memfd_store
