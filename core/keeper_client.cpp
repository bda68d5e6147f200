// The store's side of the keeper: finding and starting it, the connection a
// process keeps, and the messages (keeper_client.h, docs/design.md).
#include "keeper_client.h"

#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <spawn.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "backing_dir.h"
#include "linux_syscall.h"

namespace lambshm::memfd_store {

using fd_registry::Section;

namespace {

// --- Finding and starting the keeper ---------------------------------------

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
    // The shipped tree: lib/liblambshm-preload.so and lib/overlay/librt.so.1
    // beside lib/lambshm-keeper; the build tree: preload/, librt/ beside keeper/.
    static constexpr const char* kCandidates[] = {
        "lambshm-keeper",
        "../lambshm-keeper",
        "../keeper/lambshm-keeper",
    };
    for (const char* c : kCandidates) {
      if (!self.found) break;
      if (snprintf(path, sizeof path, "%s/%s", self.dir, c) >= (int)sizeof path) break;
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

// A connection to the keeper of `dir` (started when `start` and none runs) in
// `*out`, greeted: 0 or -errno.  The peer must be the caller's user (and at
// a keeper's own name, that keeper): anyone else may bind the name, and is
// not trusted with our objects.  Never waits more than kConnectSeconds to be
// let in, nor 10 s for the greeting.
// `named`: the keeper of that pid, at its own name (never started); 0: the
// directory's keeper.  Its pid in *peer, its greeting's flags in *flags.
constexpr int kConnectSeconds = 2;

int connect_keeper(int dir, const struct stat& dirst, bool start, InFlight* out,
                   int32_t* flags = nullptr, pid_t named = 0, pid_t* peer = nullptr) {
  struct sockaddr_un addr;
  socklen_t len = keeper::socket_address(sys::geteuid(), dirst, &addr, named);
  if (named != 0) start = false;
  int r = -ECONNREFUSED;
  for (int attempt = 0; attempt < 4; ++attempt) {
    InFlight sock([] { return sys::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0); });
    if (!sock.valid()) return sock.get();
    int s = sock.get();
    // Before connect: a listener whose backlog is full (a squatter's, or a
    // stopped keeper's) makes connect wait, for at most SO_SNDTIMEO.
    struct timeval tv = {kConnectSeconds, 0};
    sys::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    r = sys::connect(s, reinterpret_cast<struct sockaddr*>(&addr), len);
    if (r == 0) {
      struct ucred cred;
      socklen_t cred_len = sizeof cred;
      if (sys::getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 ||
          cred.uid != sys::geteuid() || (named != 0 && cred.pid != named)) {
        debug_log("the keeper's socket belongs to uid %u pid %d, not ours: not used",
                  (unsigned)cred.uid, (int)cred.pid);
        return -EACCES;
      }
      // A stopped keeper must not hang us for ever, in either direction.
      tv = {10, 0};
      sys::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      sys::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      // The greeting: the keeper has accepted us, so what we send is read.
      // A listener closed by an exiting keeper resets us instead.
      keeper::Reply hello;
      r = (int)sys::call(SYS_recvfrom, s, &hello, sizeof hello, 0, 0, 0);
      if (r == (int)sizeof hello) {
        if (flags != nullptr) *flags = hello.error;
        if (peer != nullptr) *peer = cred.pid;
        *out = static_cast<InFlight&&>(sock);
        return 0;
      }
      r = r < 0 ? r : -ECONNRESET;
      if (r == -EAGAIN) return -ETIMEDOUT;
      continue;
    }
    if (r == -EAGAIN || r == -EINPROGRESS) {
      debug_log("the keeper's socket did not accept us within %d s: not used", kConnectSeconds);
      return -ETIMEDOUT;
    }
    if (r != -ECONNREFUSED || !start) return r;
    if (int e = spawn_keeper(dir); e < 0 && e != -ECONNREFUSED) return e;
  }
  return r;
}

}  // namespace

// --- The connection a process keeps ------------------------------------------
//
// One descriptor number for the process's life, above the numbers a program
// expects.  Never closed: another thread may be about to send on it, and a
// number closed and reused by the program would take our message.  A new
// connection (the keeper died, or the directory was replaced) is put in its
// place with dup3, atomically for any such thread.  Each use proves with one
// fstat that the number is still our socket: the program may have closed it,
// or dup2'ed over it, and then it is the program's, and we take another.


uint64_t namespace_id(const char* which) {
  char path[32];
  snprintf(path, sizeof path, "/proc/self/ns/%s", which);
  struct stat st;
  return sys::fstatat(AT_FDCWD, path, &st, 0) == 0 ? (uint64_t)st.st_ino : 0;
}
namespace {

// Published descriptions are never freed (a reader may hold one): a few
// bytes for each keeper that dies or directory replaced.
std::atomic<Channel*> g_channel{nullptr};

bool still_ours(const Channel* c) {
  struct stat st;
  return c != nullptr && sys::fstat(c->fd, &st) == 0 && st.st_dev == c->dev &&
         st.st_ino == c->ino;
}

}  // namespace

bool channel_good(const Channel* c, const struct stat& dirst) {
  return c != nullptr && c->dir_dev == dirst.st_dev && c->dir_ino == dirst.st_ino &&
         c->euid == sys::geteuid() && still_ours(c);
}

// The process's connection to the keeper of `dir`, made (and the keeper
// started, when `start`) if there is none, or `dead` is the current one:
// nullptr (and -errno in *err) when none can be had.
Channel* channel(int dir, const struct stat& dirst, bool start, Channel* dead, int* err) {
  Channel* c = g_channel.load(std::memory_order_acquire);
  if (c != dead && channel_good(c, dirst)) return c;
  InFlight sock;
  int32_t flags = 0;
  pid_t keeper = 0;
  if ((*err = connect_keeper(dir, dirst, start, &sock, &flags, 0, &keeper)) < 0) return nullptr;
  auto* fresh = static_cast<Channel*>(malloc(sizeof(Channel)));
  if (fresh == nullptr) {
    *err = -ENOMEM;
    return nullptr;
  }
  bool replaced = false;
  Channel* current = c;
  {
    Section section;  // placed and published with no fork in between
    int fd;
    if (still_ours(c) && sys::dup3(sock.get(), c->fd, O_CLOEXEC) >= 0) {
      fd = c->fd;
      replaced = true;
    } else {
      // Kept where the program expects its next numbers, it would make the
      // program's next open return another: no connection then.
      int low = sock.get();
      fd = move_above_expected_numbers(sock.release());
      if (fd == low) {
        sys::close(fd);
        free(fresh);
        *err = -EMFILE;
        return nullptr;
      }
    }
    struct stat st;
    sys::fstat(fd, &st);
    *fresh = Channel{fd,     dirst.st_dev, dirst.st_ino, st.st_dev, st.st_ino,
                     (flags & keeper::Reply::kWatching) != 0, keeper, namespace_id("net"),
                     namespace_id("pid"),   sys::geteuid()};
    if (!g_channel.compare_exchange_strong(current, fresh, std::memory_order_acq_rel) &&
        !replaced) {
      // Another thread published first, and ours was never seen: use theirs.
      sys::close(fd);
      free(fresh);
      fresh = nullptr;
    }
  }
  if (replaced) sock.reset();  // its copy is in place
  if (fresh == nullptr) return channel_good(current, dirst) ? current : nullptr;
  return fresh;
}

namespace {

int send_message(int sock, const keeper::Request& req, const int* fds, int nfds) {
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

}  // namespace

// Sends a one-way message on the process's connection, reconnecting (and
// starting a keeper, when `start`) if its keeper is gone: 0 or -errno, and
// the pid of the keeper it went to in *keeper.
int send_one_way(int dir, const struct stat& dirst, bool start, const keeper::Request& req,
                 const int* fds, int nfds, pid_t* keeper) {
  Channel* dead = nullptr;
  int r = -ECONNREFUSED;
  for (int attempt = 0; attempt < 3; ++attempt) {
    Channel* c = channel(dir, dirst, start, dead, &r);
    if (c == nullptr) return r;
    if (keeper != nullptr) *keeper = c->keeper;
    r = send_message(c->fd, req, fds, nfds);
    if (r != -EPIPE && r != -ECONNRESET && r != -ENOTCONN) return r;
    debug_log("the keeper %d is gone (%s): connecting to a new one", (int)c->keeper, strerror(-r));
    dead = c;  // the keeper exited or was killed: nothing we sent there matters now
  }
  return r;
}

keeper::Request make_request(keeper::Op op, const char* name) {
  keeper::Request req;
  memset(&req, 0, sizeof req);
  req.magic = keeper::kRequestMagic;
  req.op = op;
  if (name != nullptr) snprintf(req.name, sizeof req.name, "%s", name);
  return req;
}

// A request on a connection of its own: the Reply's error, with the one
// descriptor it carries in *fd (or -1).
// `named`: ask the keeper of that pid (connect_keeper).
int ask_keeper(int dir, const struct stat& dirst, const keeper::Request& req, InFlight* fd,
               pid_t named) {
  InFlight sock;
  if (int r = connect_keeper(dir, dirst, /*start=*/false, &sock, nullptr, named); r < 0) return r;
  if (int r = send_message(sock.get(), req, nullptr, 0); r < 0) return r;
  keeper::Incoming<keeper::Reply, 1> in;
  long n;
  {
    Section section;  // a received descriptor is registered before any fork
    n = sys::recvmsg(sock.get(), &in.msg, MSG_CMSG_CLOEXEC);
    int received;
    if (n > 0 && in.descriptors(&received, [](int extra) { sys::close(extra); }) == 1)
      *fd = InFlight(InFlight::Adopt{}, received);
  }
  if (n != (long)sizeof in.body) return n < 0 ? (int)n : -EIO;
  return in.body.error;
}

Channel* current_channel() { return g_channel.load(std::memory_order_acquire); }

int connect_to_keeper(int dir, const struct stat& dirst, bool start, InFlight* out, pid_t* peer) {
  return connect_keeper(dir, dirst, start, out, nullptr, 0, peer);
}

}  // namespace lambshm::memfd_store
