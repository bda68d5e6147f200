// lambshm-keeper: holds the memfd of every live shared memory object of one
// user in one backing directory, so that an object outlives its creator
// (docs/design.md, "Shared memory objects on a disk").
//
// Started by the first shm_open that creates an object (memfd_store.cpp),
// with the directory as descriptor 3 and a status socket as descriptor 4.  It
// forks once (its starter reaps the first process at once; the keeper is then
// nobody's child but init's), becomes a session leader, and binds two
// abstract socket names: its own (the directory's plus ":PID") and the
// directory's.  Binding the directory's is the election: a second keeper
// finds it taken, says so on the status socket and exits.
//
// Clients keep a connection each (a process and its forked children share
// one) and send one-way messages on it (keeper_protocol.h): kHold hands over
// a new object's memfd, kDrop says its record was unlinked (when inotify is
// missing).  Requests that need an answer (kGet, kClear) come on connections
// of their own, and are answered only after every message already queued on
// any connection has been handled, so an answer never misses a hand-over
// that happened before the question.  Single-threaded; it never blocks on a
// client.  Kept connections are read in batches (kBatchMs).
//
// It drops a memfd when inotify (or kDrop) says its record was unlinked, and
// when a periodic sweep finds the record gone (a creator that died before
// linking it).  At half its descriptor limit it retires (retire()).  It
// exits once it has held nothing and had no client for kIdleExitMs.  Killed,
// it takes its objects with it, as a reboot takes /dev/shm's: their records
// are stale, openers get ENOENT and the next creator has them removed.
#include <fcntl.h>
#include <signal.h>
#include <sys/inotify.h>
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
#include "log_line.h"

namespace lambshm::keeper {
namespace {

constexpr int kIdleExitMs = 1000;
constexpr int kSweepMs = 2000;
constexpr int kBatchMs = 2;
constexpr size_t kBusyBatch = 64;  // messages in one batch: see run()

bool g_debug = false;

void log(const char* format, ...) __attribute__((format(printf, 1, 2)));
void log(const char* format, ...) {
  if (!g_debug) return;
  char line[512];
  int n = snprintf(line, sizeof line, "lambshm-keeper[%d]: ", (int)sys::getpid());
  va_list ap;
  va_start(ap, format);
  write_log_line(line, sizeof line, n, format, ap);
  va_end(ap);
}

int64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// A growable array of trivially copyable T (no C++ runtime here).
template <typename T>
struct Array {
  T* items = nullptr;
  size_t count = 0, capacity = 0;
  bool push(const T& item) {
    if (count == capacity) {
      size_t grown_capacity = capacity ? capacity * 2 : 64;
      auto* grown = static_cast<T*>(realloc(items, grown_capacity * sizeof(T)));
      if (grown == nullptr) return false;
      items = grown;
      capacity = grown_capacity;
    }
    items[count++] = item;
    return true;
  }
  void remove_at(size_t i) { items[i] = items[--count]; }
  T& operator[](size_t i) { return items[i]; }
};

struct Held {
  int memfd;
  uint64_t dev, ino;          // the memfd
  uint64_t rec_dev, rec_ino;  // its record
  int64_t since;              // when it came: its record may not be linked yet
  bool rewritten;             // the record names us (done at the first kGet)
  char name[NAME_MAX + 1];
};

Array<Held> g_held;
// A client connection.  Kept ones (a process's connection, which has sent a
// one-way message) are read in batches: at most once per kBatchMs, so a
// stream of hand-overs wakes the keeper that often, not once each.  Others
// (new ones, and the connection of a request) are read at once.
struct Client {
  int fd;
  bool kept;
};
Array<Client> g_clients;
int g_inotify = -1;  // watching the directory for unlinks, or -1

// Descriptors this keeper may have open (its soft limit, raised to the hard
// one), and how many it keeps free for clients and requests.
long g_fd_limit = 1024;
constexpr long kReserve = 16;
bool g_retired = false;  // see retire()

void drop_at(size_t i) {
  log("dropping %s (fd %d)", g_held[i].name, g_held[i].memfd);
  sys::close(g_held[i].memfd);
  g_held.remove_at(i);
}

// Whether the record file (rec_dev, rec_ino) is linked at `name`.
bool record_linked(const char* name, uint64_t rec_dev, uint64_t rec_ino) {
  struct stat st;
  return sys::fstatat(kDirFd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         (uint64_t)st.st_dev == rec_dev && (uint64_t)st.st_ino == rec_ino;
}

// Drops the memfds whose records are gone; a record gets kSweepMs to be
// linked after its memfd came.
void sweep(int64_t now) {
  for (size_t i = 0; i < g_held.count;) {
    Held& h = g_held[i];
    if (now - h.since >= kSweepMs && !record_linked(h.name, h.rec_dev, h.rec_ino)) {
      drop_at(i);
    } else {
      ++i;
    }
  }
}

Held* find_memfd(uint64_t dev, uint64_t ino) {
  for (size_t i = 0; i < g_held.count; ++i)
    if (g_held[i].dev == dev && g_held[i].ino == ino) return &g_held[i];
  return nullptr;
}

void do_hold(const Request& req, const int* fds, int nfds, int64_t now) {
  struct stat st;
  if (nfds != 1 || sys::fstat(fds[0], &st) < 0 || !S_ISREG(st.st_mode) ||
      (uint64_t)st.st_dev != req.dev || (uint64_t)st.st_ino != req.ino) {
    log("refusing a malformed hand-over of %s", req.name);
    for (int k = 0; k < nfds; ++k) sys::close(fds[k]);
    return;
  }
  Held h{fds[0], req.dev, req.ino, req.rec_dev, req.rec_ino, now, false, {}};
  memcpy(h.name, req.name, sizeof h.name);
  h.name[NAME_MAX] = '\0';
  if (!g_held.push(h)) {
    log("out of memory: %s lives only as long as its creator holds it", h.name);
    sys::close(fds[0]);
    return;
  }
  log("holding %s as fd %d", h.name, fds[0]);
}

// Makes the record of `h` name this keeper as its holder, so that openers
// find the memfd without asking.  A record without write permission (mode
// 0400) is the owner's, which we are: it gets it for the moment of the write.
void rewrite_record(Held* h) {
  h->rewritten = true;
  int fd = sys::openat(kDirFd, h->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  if (sys::fstat(fd, &st) == 0 && (uint64_t)st.st_dev == h->rec_dev &&
      (uint64_t)st.st_ino == h->rec_ino) {
    char path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int w = sys::openat(AT_FDCWD, path, O_WRONLY | O_CLOEXEC);
    if (w == -EACCES && sys::fchmod(fd, (st.st_mode & 07777) | S_IWUSR) == 0) {
      w = sys::openat(AT_FDCWD, path, O_WRONLY | O_CLOEXEC);
      sys::fchmod(fd, st.st_mode & 07777);
    }
    if (w >= 0) {
      int32_t holder[2] = {(int32_t)sys::getpid(), (int32_t)h->memfd};
      sys::pwrite(w, holder, sizeof holder, offsetof(Record, holder_pid));
      sys::close(w);
    }
  }
  sys::close(fd);
}

void do_drop(const Request& req) {
  for (size_t i = 0; i < g_held.count; ++i) {
    Held& h = g_held[i];
    if (h.rec_ino == req.rec_ino && h.rec_dev == req.rec_dev) {
      if (!record_linked(h.name, h.rec_dev, h.rec_ino)) drop_at(i);
      return;
    }
  }
}

// `name` was unlinked or renamed away (inotify): drops what it named.
void unlinked(const char* name) {
  for (size_t i = 0; i < g_held.count;) {
    Held& h = g_held[i];
    if (strcmp(h.name, name) == 0 && !record_linked(h.name, h.rec_dev, h.rec_ino)) {
      drop_at(i);
    } else {
      ++i;
    }
  }
}

void read_unlinks(int64_t now) {
  alignas(struct inotify_event) char buf[4096];
  for (;;) {
    long n = sys::read(g_inotify, buf, sizeof buf);
    if (n <= 0) return;
    for (long off = 0; off < n;) {
      auto* e = reinterpret_cast<struct inotify_event*>(buf + off);
      if (e->mask & IN_Q_OVERFLOW) sweep(now);
      else if (e->len > 0) unlinked(e->name);
      off += sizeof(struct inotify_event) + e->len;
    }
  }
}

// Whether the keeper `pid` (one that retired) holds the memfd (dev, ino): a
// kGet at its own name.  It never asks back, so this cannot deadlock.
bool other_keeper_holds(pid_t pid, uint64_t dev, uint64_t ino) {
  struct stat dir;
  if (sys::fstat(kDirFd, &dir) < 0) return true;
  int s = sys::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return true;  // cannot tell: live
  struct sockaddr_un addr;
  socklen_t len = socket_address(sys::geteuid(), dir, &addr, pid);
  struct timeval tv = {2, 0};
  sys::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bool holds = false;
  Reply hello;
  if (sys::connect(s, reinterpret_cast<struct sockaddr*>(&addr), len) == 0 &&
      sys::call(SYS_recvfrom, s, &hello, sizeof hello, 0, 0, 0) == (long)sizeof hello) {
    Request req{};
    req.magic = kRequestMagic;
    req.op = Op::kGet;
    req.dev = dev;
    req.ino = ino;
    Incoming<Reply, 1> in;
    int fd;
    if (sys::call(SYS_sendto, s, &req, sizeof req, MSG_NOSIGNAL, 0, 0) == (long)sizeof req &&
        sys::recvmsg(s, &in.msg, MSG_CMSG_CLOEXEC) == (long)sizeof in.body) {
      holds = in.body.error == 0;
      if (in.descriptors(&fd) == 1) sys::close(fd);
    }
  }
  sys::close(s);
  return holds;
}

// Whether the record `rec` names a memfd someone still has: one this keeper
// holds, or one its holder's /proc/PID/fd/FD still is.  Anything that cannot
// be judged counts as live: only a record proven stale is ever removed.
bool record_is_live(const Record& rec) {
  if (find_memfd(rec.dev, rec.ino) != nullptr) return true;
  if (rec.keeper_pid != 0 && rec.keeper_pid != sys::getpid() &&
      other_keeper_holds(rec.keeper_pid, rec.dev, rec.ino))
    return true;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", rec.holder_pid, rec.holder_fd);
  int m = sys::openat(AT_FDCWD, path, O_PATH | O_CLOEXEC);
  if (m == -ENOENT) return false;
  if (m < 0) return true;
  struct stat st;
  bool same = sys::fstat(m, &st) == 0 && (uint64_t)st.st_dev == rec.dev &&
              (uint64_t)st.st_ino == rec.ino;
  sys::close(m);
  return same;
}

// Removes the record (rec_dev, rec_ino) at `name` if it is stale: 0, or
// -EEXIST when it is live.  Nothing links a name but creators, so between our
// look and the removal another creator may have replaced it: the record is
// first renamed aside, checked there, and put back if it is not the one.
int do_clear(const Request& req) {
  int fd = sys::openat(kDirFd, req.name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return 0;  // gone: the creator tries again
  struct stat st;
  Record rec;
  bool that_record = sys::fstat(fd, &st) == 0 && (uint64_t)st.st_dev == req.rec_dev &&
                     (uint64_t)st.st_ino == req.rec_ino && looks_like_record(st) &&
                     sys::pread(fd, &rec, sizeof rec, 0) == sizeof rec &&
                     memcmp(rec.magic, kRecordMagic, sizeof rec.magic) == 0;
  sys::close(fd);
  if (!that_record) return 0;  // replaced meanwhile: the creator looks again
  if (record_is_live(rec)) return -EEXIST;
  static unsigned counter;
  char aside[64];
  snprintf(aside, sizeof aside, ".lambshm-stale-%d-%u", (int)sys::getpid(), counter++);
  if (int r = sys::renameat2(kDirFd, req.name, kDirFd, aside, 0); r < 0)
    return r == -ENOENT ? 0 : -EEXIST;
  if (record_linked(aside, req.rec_dev, req.rec_ino)) {
    log("removed stale record %s", req.name);
    sys::unlinkat(kDirFd, aside, 0);
    return 0;
  }
  // Not the stale record: somebody's object, which goes back, unless yet
  // another has taken the name (then it stays at `aside`, listed by `lambshm ls`).
  if (sys::renameat2(kDirFd, aside, kDirFd, req.name, RENAME_NOREPLACE) < 0)
    log("%s was replaced twice while being cleared; the displaced one is %s", req.name, aside);
  return 0;
}

void reply(int conn, int error, int fd) {
  Reply r{error};
  struct iovec iov = {&r, sizeof r};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  sys::sendmsg(conn, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void drain();
bool must_retire();

// Whether one more hand-over may be read: before retiring, up to half the
// limit (must_retire); once retired, up to all but a few descriptors.
bool room() {
  return g_retired ? (long)(g_held.count + g_clients.count) + kReserve < g_fd_limit
                   : !must_retire();
}

// Messages read by serve() since the run loop last looked.
size_t g_served = 0;

// Handles every message queued on client `i`: false when it has hung up.
bool serve(size_t i, int64_t now) {
  int conn = g_clients[i].fd;
  for (;; ++g_served) {
    if (!room()) return true;
    // A hand-over carries one descriptor; anything more is closed unread.
    Incoming<Request, 1> in;
    Request& req = in.body;
    struct msghdr& msg = in.msg;
    long n = sys::recvmsg(conn, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n == -EAGAIN) return true;
    if (n <= 0) return false;
    int fds[1];
    int nfds = in.descriptors(fds);
    bool valid = n == (long)sizeof req && req.magic == kRequestMagic;
    if (valid) req.name[NAME_MAX] = '\0';
    if ((msg.msg_flags & MSG_CTRUNC) != 0) {
      // Out of descriptors: the object lives only while its creator holds it.
      log("no descriptor left to hold %s", valid ? req.name : "an object");
      for (int k = 0; k < nfds; ++k) sys::close(fds[k]);
    } else if (!valid) {
      for (int k = 0; k < nfds; ++k) sys::close(fds[k]);
    } else if (req.op == Op::kHold) {
      g_clients[i].kept = true;
      do_hold(req, fds, nfds, now);
    } else {
      for (int k = 0; k < nfds; ++k) sys::close(fds[k]);
      if (req.op == Op::kDrop) {
        g_clients[i].kept = true;
        do_drop(req);
      } else if (req.op == Op::kGet) {
        drain();
        Held* h = find_memfd(req.dev, req.ino);
        reply(conn, h != nullptr ? 0 : -ENOENT, h != nullptr ? h->memfd : -1);
        if (h != nullptr && !h->rewritten) rewrite_record(h);
      } else if (req.op == Op::kClear) {
        drain();
        reply(conn, do_clear(req), -1);
      }
    }
  }
}

// Handles what every client has sent so far (not recursively: a question
// asked while draining is answered with what is known by then).
bool g_draining = false;
void drain() {
  if (g_draining) return;
  g_draining = true;
  int64_t now = now_ms();
  for (size_t i = 0; i < g_clients.count; ++i) {
    struct pollfd p = {g_clients[i].fd, POLLIN, 0};
    struct timespec zero = {0, 0};
    if (sys::ppoll(&p, 1, &zero) > 0 && (p.revents & POLLIN)) serve(i, now);
  }
  g_draining = false;
}

// Until when listeners are not polled: accept4 found no descriptor free, and
// a connection left pending would make every poll return at once.
int64_t g_accept_paused_until = 0;

void accept_clients(int listener) {
  for (;;) {
    int c = (int)sys::call(SYS_accept4, listener, 0, 0, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c == -EMFILE || c == -ENFILE) g_accept_paused_until = now_ms() + 50;
    if (c < 0) return;
    struct ucred cred;
    socklen_t cred_len = sizeof cred;
    if (sys::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 ||
        cred.uid != sys::geteuid() || !g_clients.push({c, false})) {
      sys::close(c);
      continue;
    }
    // The greeting: from now on, what it sends is read.
    reply(c, g_inotify >= 0 ? Reply::kWatching : 0, -1);
  }
}


// At half its descriptor limit a keeper retires, so that the hand-overs
// already sent find descriptors free: it releases the election's name (the
// next creator starts a fresh keeper), and shuts its clients' connections for
// sending (their next message fails, and goes to the fresh keeper), after
// which it reads what they had sent.  It goes on holding its objects,
// answering for them at its own name (the records name it), and watching for
// their unlinks, and exits empty.  (Were more in flight than the other half
// of its descriptors, they would wait in their sockets, alive, until
// unlinks make room.)
bool must_retire() {
  return !g_retired && !g_draining &&
         (long)(g_held.count + g_clients.count) + kReserve >= g_fd_limit / 2;
}
void retire(int election) {
  log("%zu objects held, half the limit of %ld descriptors: retiring", g_held.count, g_fd_limit);
  sys::close(election);
  // Nothing more can be sent; what was is read as room allows (serve()),
  // and each connection closes once it is empty.
  for (size_t i = 0; i < g_clients.count; ++i) sys::call(SYS_shutdown, g_clients[i].fd, SHUT_RD);
  g_retired = true;
  drain();
}

// `election`: the directory's name, until it retires; `own`: its own name.
int run(int election, int own) {
  Array<struct pollfd> pfds;
  int64_t idle_since = now_ms();
  int64_t last_sweep = idle_since;
  int64_t nap_until = 0;
  constexpr size_t kFirstClient = 3;
  for (;;) {
    int64_t now = now_ms();
    bool napping = now < nap_until;
    pfds.count = 0;
    bool paused = now < g_accept_paused_until;
    if (!pfds.push({g_retired || paused ? -1 : election, POLLIN, 0}) ||
        !pfds.push({paused ? -1 : own, POLLIN, 0}) ||
        !pfds.push({napping ? -1 : g_inotify, POLLIN, 0}))
      return 1;
    for (size_t i = 0; i < g_clients.count; ++i)
      if (!pfds.push({g_clients[i].kept && (napping || !room()) ? -1 : g_clients[i].fd, POLLIN, 0}))
        return 1;
    int64_t deadline = last_sweep + kSweepMs;
    bool idle = g_held.count == 0 && g_clients.count == 0;
    if (idle) deadline = idle_since + kIdleExitMs;
    if (napping && nap_until < deadline) deadline = nap_until;
    if (paused && g_accept_paused_until < deadline) deadline = g_accept_paused_until;
    int64_t wait = deadline > now ? deadline - now : 0;
    struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000};
    int r = sys::ppoll(pfds.items, (unsigned)pfds.count, &ts);
    if (r < 0 && r != -EINTR) return 1;
    now = now_ms();
    bool batch = false;
    g_served = 0;
    // Clients by descriptor: serving one may drain (and so serve) others.
    for (size_t k = kFirstClient; k < pfds.count; ++k) {
      if (pfds[k].revents == 0) continue;
      size_t i = 0;
      while (i < g_clients.count && g_clients[i].fd != pfds[k].fd) ++i;
      if (i == g_clients.count) continue;
      if (!serve(i, now)) {
        sys::close(g_clients[i].fd);
        g_clients.remove_at(i);
      } else {
        batch = batch || g_clients[i].kept;
      }
    }
    // After the hand-overs: an unlink seen here is of a record whose memfd
    // came before it (creators send, then link).
    if (pfds[2].revents & POLLIN) {
      read_unlinks(now);
      batch = true;
    }
    if (r > 0 && (pfds[0].revents & POLLIN) && !g_retired) accept_clients(election);
    if (r > 0 && (pfds[1].revents & POLLIN)) accept_clients(own);
    if (must_retire()) retire(election);
    // A batch that filled a good part of a sender's buffer means a stream
    // faster than naps can keep up with: read on at once (each send wakes us).
    // A batch of many means a stream faster than naps keep up with: read on
    // at once, so that what is in flight (which a retiring keeper must find
    // room for) stays short.
    if (batch) nap_until = g_served >= kBusyBatch ? 0 : now + kBatchMs;
    if (now - last_sweep >= kSweepMs) {
      sweep(now);
      last_sweep = now;
    }
    if (g_held.count != 0 || g_clients.count != 0) {
      idle_since = now;
    } else if (now - idle_since >= kIdleExitMs) {
      // Closing the listener resets any client not yet greeted, which then
      // starts another keeper; nothing is held, nothing is lost.
      log("idle, exiting");
      if (!g_retired) sys::close(election);
      sys::close(own);
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
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    g_fd_limit = (long)lim.rlim_cur;
  // Unlinks seen as they happen, so nobody has to tell us; without inotify
  // (out of instances), unlinkers send kDrop and the sweep catches the rest.
  g_inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (g_inotify >= 0) {
    char path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", kDirFd);
    if (inotify_add_watch(g_inotify, path, IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR) < 0) {
      sys::close(g_inotify);
      g_inotify = -1;
    }
  }
  // Our own name first: a keeper that loses the election exits anyway.
  int own = sys::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int election = sys::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (own < 0 || election < 0) return 1;
  struct sockaddr_un addr;
  socklen_t len = socket_address(sys::geteuid(), dir, &addr, sys::getpid());
  if (sys::call(SYS_bind, own, &addr, len) < 0 || sys::call(SYS_listen, own, 128) < 0) return 1;
  len = socket_address(sys::geteuid(), dir, &addr);
  int r = (int)sys::call(SYS_bind, election, &addr, len);
  if (r == -EADDRINUSE) {
    log("another keeper is running");
    report(kBusy);
    return 0;
  }
  if (r < 0 || sys::call(SYS_listen, election, 128) < 0) return 1;
  log("listening");
  report(kReady);
  return run(election, own);
}
