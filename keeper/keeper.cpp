// lambshm-keeper: holds the memfd of every live shared memory object of one
// user in one backing directory, so that an object outlives its creator.
//
// Started by the first shm_open that creates an object (memfd_store.cpp),
// with the directory as descriptor 3 and a status socket as descriptor 4.  It
// forks once (its starter reaps the first process at once; the keeper is then
// nobody's child but init's), becomes a session leader, and binds its
// abstract socket name: binding is the election, a second keeper finds the
// name taken, says so on the status socket and exits.
//
// One request per connection, one reply (keeper_protocol.h).  Single-threaded
// and never blocking on a client: a client that connects and says nothing is
// dropped after kClientTimeoutMs.  The keeper alone links records into the
// directory (after writing them), so its check that a record in the way is
// stale and the unlink that replaces it cannot interleave with another link.
//
// It drops a memfd when told its record was unlinked (kDrop), and also when a
// periodic sweep finds the record gone (an unlinker that died before telling
// it).  It exits once it has held nothing for kIdleExitMs.  Killed, it takes
// its objects with it, as a reboot takes /dev/shm's: their records are stale,
// openers get ENOENT and the next creator replaces them.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "keeper_protocol.h"
#include "linux_syscall.h"

namespace lambshm::keeper {
namespace {

constexpr int kIdleExitMs = 1000;
constexpr int kSweepMs = 2000;
constexpr int kClientTimeoutMs = 5000;
constexpr int kMaxClients = 64;

bool g_debug = false;

void log(const char* format, ...) __attribute__((format(printf, 1, 2)));
void log(const char* format, ...) {
  if (!g_debug) return;
  char line[512];
  int n = snprintf(line, sizeof line, "lambshm-keeper[%d]: ", (int)sys::getpid());
  va_list ap;
  va_start(ap, format);
  int m = vsnprintf(line + n, sizeof line - n - 1, format, ap);
  va_end(ap);
  size_t length = n + (m < 0 ? 0 : (size_t)m);
  if (length > sizeof line - 2) length = sizeof line - 2;
  line[length++] = '\n';
  sys::write(2, line, length);
}

int64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct Held {
  int memfd;
  uint64_t dev, ino;          // the memfd
  uint64_t rec_dev, rec_ino;  // its record
  char name[NAME_MAX + 1];
};

Held* g_held = nullptr;
size_t g_count = 0, g_capacity = 0;

bool add_held(const Held& h) {
  if (g_count == g_capacity) {
    size_t capacity = g_capacity ? g_capacity * 2 : 64;
    auto* grown = static_cast<Held*>(realloc(g_held, capacity * sizeof(Held)));
    if (grown == nullptr) return false;
    g_held = grown;
    g_capacity = capacity;
  }
  g_held[g_count++] = h;
  return true;
}

void drop_at(size_t i) {
  log("dropping %s (fd %d)", g_held[i].name, g_held[i].memfd);
  sys::close(g_held[i].memfd);
  g_held[i] = g_held[--g_count];
}

// Whether the record file (rec_dev, rec_ino) is still linked at `name`.
bool record_linked(const Held& h) {
  struct stat st;
  return sys::fstatat(kDirFd, h.name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         (uint64_t)st.st_dev == h.rec_dev && (uint64_t)st.st_ino == h.rec_ino;
}

void sweep() {
  for (size_t i = 0; i < g_count;) {
    if (!record_linked(g_held[i])) {
      drop_at(i);
    } else {
      ++i;
    }
  }
}

// Whether the record at `name` names an object that still exists: a memfd
// this keeper holds, or (another user's, another namespace's) one whose
// keeper's descriptor still is that memfd.  Anything unreadable counts as
// live: only a record proven stale is ever replaced.
bool record_in_the_way_is_live(const char* name) {
  int fd = sys::openat(kDirFd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fd != -ENOENT;
  struct stat st;
  Record rec;
  bool is_record = sys::fstat(fd, &st) == 0 && looks_like_record(st) &&
                   sys::pread(fd, &rec, sizeof rec, 0) == (long)sizeof rec &&
                   memcmp(rec.magic, kRecordMagic, sizeof rec.magic) == 0;
  sys::close(fd);
  if (!is_record) return true;  // a plain object file
  if (rec.keeper_pid == sys::getpid()) {
    for (size_t i = 0; i < g_count; ++i)
      if (g_held[i].memfd == rec.keeper_fd && g_held[i].dev == rec.dev && g_held[i].ino == rec.ino)
        return true;
    return false;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", rec.keeper_pid, rec.keeper_fd);
  int m = sys::openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (m == -ENOENT) return false;
  if (m < 0) return true;  // not ours to judge (another user's keeper)
  bool same = sys::fstat(m, &st) == 0 && (uint64_t)st.st_dev == rec.dev &&
              (uint64_t)st.st_ino == rec.ino;
  sys::close(m);
  return same;
}

int link_record(int rec_fd, const char* name) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", rec_fd);
  for (int attempt = 0; attempt < 3; ++attempt) {
    int r = sys::linkat(AT_FDCWD, path, kDirFd, name, AT_SYMLINK_FOLLOW);
    if (r != -EEXIST) return r;
    // Already linked there: a creator retrying after its keeper died between
    // linking and answering.  The record now names us (written above).
    struct stat at, mine;
    if (sys::fstatat(kDirFd, name, &at, AT_SYMLINK_NOFOLLOW) == 0 && sys::fstat(rec_fd, &mine) == 0 &&
        at.st_dev == mine.st_dev && at.st_ino == mine.st_ino)
      return 0;
    if (record_in_the_way_is_live(name)) return -EEXIST;
    log("replacing stale record %s", name);
    r = sys::unlinkat(kDirFd, name, 0);
    if (r < 0 && r != -ENOENT) return r == -EPERM ? -EEXIST : r;
  }
  return -EEXIST;
}

int do_create(const Request& req, const int* fds, int nfds) {
  if (nfds != 2) return -EINVAL;
  int memfd = fds[0], rec_fd = fds[1];
  struct stat mst, rst;
  if (sys::fstat(memfd, &mst) < 0 || sys::fstat(rec_fd, &rst) < 0 || !S_ISREG(mst.st_mode) ||
      !S_ISREG(rst.st_mode) || (rst.st_mode & S_ISVTX) == 0 ||
      (rst.st_size != 0 && rst.st_size != sizeof(Record)))  // written: a retry
    return -EINVAL;
  Record rec{};
  memcpy(rec.magic, kRecordMagic, sizeof rec.magic);
  rec.keeper_pid = sys::getpid();
  rec.keeper_fd = memfd;
  rec.dev = mst.st_dev;
  rec.ino = mst.st_ino;
  long w = sys::pwrite(rec_fd, &rec, sizeof rec, 0);
  if (w != (long)sizeof rec) return w < 0 ? (int)w : -EIO;
  Held h{memfd, (uint64_t)mst.st_dev, (uint64_t)mst.st_ino, (uint64_t)rst.st_dev,
         (uint64_t)rst.st_ino, {}};
  memcpy(h.name, req.name, sizeof h.name);
  h.name[NAME_MAX] = '\0';
  // Room first: a record must never be linked for a memfd we could not keep.
  if (!add_held(h)) return -ENOMEM;
  int r = link_record(rec_fd, h.name);
  if (r < 0) {
    --g_count;
    return r;
  }
  log("holding %s as fd %d", h.name, memfd);
  return 0;
}

void do_drop(const Request& req) {
  for (size_t i = 0; i < g_count; ++i) {
    if (g_held[i].rec_ino == req.rec_ino && g_held[i].rec_dev == req.rec_dev) {
      if (!record_linked(g_held[i])) drop_at(i);
      return;
    }
  }
}

// Reads the one request on `conn` and answers it.
void serve(int conn) {
  struct ucred cred;
  socklen_t cred_len = sizeof cred;
  if (sys::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 ||
      cred.uid != sys::geteuid())
    return;
  Request req;
  alignas(struct cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))];
  struct iovec iov = {&req, sizeof req};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  long n = sys::recvmsg(conn, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) return;
  int fds[2];
  int nfds = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < count; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (nfds < 2) {
        fds[nfds++] = fd;
      } else {
        sys::close(fd);
      }
    }
  }
  Reply reply{0};
  if ((msg.msg_flags & MSG_CTRUNC) != 0) {
    reply.error = -EMFILE;  // the kernel could not give us the descriptors
  } else if (n != (long)sizeof req || req.magic != kRequestMagic) {
    reply.error = -EINVAL;
  } else {
    req.name[NAME_MAX] = '\0';
    if (req.op == Op::kCreate) {
      reply.error = do_create(req, fds, nfds);
      if (nfds >= 2) sys::close(fds[1]);
      if (reply.error == 0) nfds = 0;  // the memfd is held now
      else if (nfds >= 1) sys::close(fds[0]), nfds = 0;
    } else if (req.op == Op::kDrop) {
      do_drop(req);
    } else {
      reply.error = -EINVAL;
    }
  }
  for (int i = 0; i < nfds; ++i) sys::close(fds[i]);
  sys::call(SYS_sendto, conn, &reply, sizeof reply, MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0);
}

int run(int listener) {
  struct pollfd pfds[1 + kMaxClients];
  int64_t since[1 + kMaxClients];
  int nclients = 0;
  int64_t idle_since = now_ms();
  int64_t last_sweep = idle_since;
  for (;;) {
    pfds[0] = {listener, nclients < kMaxClients ? (short)POLLIN : (short)0, 0};
    int64_t now = now_ms();
    int64_t deadline = last_sweep + kSweepMs;
    if (g_count == 0 && nclients == 0) deadline = idle_since + kIdleExitMs;
    for (int i = 1; i <= nclients; ++i)
      if (since[i] + kClientTimeoutMs < deadline) deadline = since[i] + kClientTimeoutMs;
    int64_t wait = deadline > now ? deadline - now : 0;
    struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000};
    int r = sys::ppoll(pfds, 1 + nclients, &ts);
    if (r < 0 && r != -EINTR) return 1;
    now = now_ms();
    for (int i = 1; i <= nclients;) {
      if (pfds[i].revents != 0 || since[i] + kClientTimeoutMs <= now) {
        if (pfds[i].revents & POLLIN) serve(pfds[i].fd);
        sys::close(pfds[i].fd);
        pfds[i] = pfds[nclients];
        since[i] = since[nclients];
        --nclients;
      } else {
        ++i;
      }
    }
    if (pfds[0].revents & POLLIN) {
      while (nclients < kMaxClients) {
        int c = (int)sys::call(SYS_accept4, listener, 0, 0, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0) break;
        ++nclients;
        pfds[nclients] = {c, POLLIN, 0};
        since[nclients] = now;
      }
    }
    if (now - last_sweep >= kSweepMs) {
      sweep();
      last_sweep = now;
    }
    if (g_count != 0 || nclients != 0) {
      idle_since = now;
    } else if (now - idle_since >= kIdleExitMs) {
      // Closing the listener refuses new clients; any queued behind it are
      // reset and start another keeper.  Nothing is held, nothing is lost.
      log("idle, exiting");
      sys::close(listener);
      return 0;
    }
  }
}

void report(char status) {
  sys::write(kStatusFd, &status, 1);
  sys::close(kStatusFd);
}

}  // namespace
}  // namespace lambshm::keeper

int main(int argc, char** argv) {
  using namespace lambshm;
  using namespace lambshm::keeper;
  (void)argc;
  (void)argv;
  const char* debug = getenv("LAMBSHM_DEBUG");
  g_debug = debug != nullptr && strcmp(debug, "1") == 0;
  struct stat dir;
  if (sys::fstat(kDirFd, &dir) < 0 || !S_ISDIR(dir.st_mode)) return 2;
  // The starter waits for this first process only; the keeper is its child,
  // adopted by init (or a subreaper) when it exits.
  pid_t child = fork();
  if (child < 0) return 1;
  if (child > 0) _exit(0);
  setsid();
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  int null = sys::openat(AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    sys::dup3(null, 0, 0);
    sys::dup3(null, 1, 0);
    if (!g_debug) sys::dup3(null, 2, 0);
    if (null > 2) sys::close(null);
  }
  // Nothing of the starter's but the directory and the status socket: an
  // inherited pipe kept open for the keeper's life would hold up whoever
  // waits for its other end to close (posix_spawn passes on every descriptor
  // without FD_CLOEXEC).
  struct rlimit lim;
  if (sys::call(436 /* close_range */, kStatusFd + 1, ~0u, 0) != 0) {
    long top = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 65536 ? (long)lim.rlim_cur
                                                                              : 65536;
    for (long fd = kStatusFd + 1; fd < top; ++fd) sys::close((int)fd);
  }
  // Every object costs one descriptor: take all the kernel allows us.
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  int listener = sys::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listener < 0) return 1;
  struct sockaddr_un addr;
  socklen_t len = socket_address(sys::geteuid(), dir, &addr);
  int r = (int)sys::call(SYS_bind, listener, &addr, len);
  if (r == -EADDRINUSE) {
    log("another keeper is running");
    report(kBusy);
    return 0;
  }
  if (r < 0 || sys::call(SYS_listen, listener, 128) < 0) return 1;
  log("listening");
  report(kReady);
  return run(listener);
}
