// Memfds made in advance by the keeper (memfd_pool.h).
//
// The pool connection is the process's own (unlike the kept connection,
// which forked children share): the keeper holds a copy of every memfd it
// sent there, and when the connection closes it keeps those a slot names and
// closes the rest.  The pool's lock is only taken inside an fd_registry
// Section, and nothing inside blocks (every call is MSG_DONTWAIT or a plain
// descriptor operation); the connection is made outside it.
#include "memfd_pool.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "backing_dir.h"
#include "keeper_client.h"
#include "keeper_protocol.h"
#include "linux_syscall.h"
#include "mutex.h"

namespace lambshm::memfd_store {

namespace {

using fd_registry::InFlight;
using fd_registry::Section;

// Below this floor the pool's descriptors would sit where a program expects
// its own next numbers: no pool (a tiny RLIMIT_NOFILE).
constexpr long kMinFloor = 64;

struct Pool {
  pid_t pid;  // whose it is: 0 none
  dev_t dir_dev;
  ino_t dir_ino;
  uid_t euid;
  int conn;  // -1: none
  dev_t conn_dev;  // its identity: the program may close the number, or reuse it
  ino_t conn_ino;
  pid_t keeper;
  long floor;  // where its descriptors go
  bool pending;  // a refill is asked for
  int want;      // the next refill's size: grows with use
  int count;
  Premade entries[2 * keeper::kBatchMax];
};

Mutex g_mutex;
Pool g_pool{};

long descriptor_floor() {
  struct rlimit limit;
  if (sys::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 512;
  long top = limit.rlim_cur - 1 < 1023 ? (long)limit.rlim_cur - 1 : 1023;
  return top / 2;
}

// Closes what the pool holds (in a forked child: its copies of the parent's).
void clear(Pool* p) {
  for (int i = 0; i < p->count; ++i) sys::close(p->entries[i].fd);
  if (p->conn >= 0) sys::close(p->conn);
  p->count = 0;
  p->conn = -1;
  p->pid = 0;
}

// Reads the batches that have arrived.
void receive(Pool* p) {
  for (;;) {
    keeper::Incoming<keeper::Batch, keeper::kBatchMax> in;
    long n = sys::recvmsg(p->conn, &in.msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n == -EAGAIN || n == -EINTR) return;
    int fds[keeper::kBatchMax];
    int nfds = n > 0 ? in.descriptors(fds, [](int extra) { sys::close(extra); }) : 0;
    if (n != (long)sizeof in.body || in.body.magic != keeper::kBatchMagic ||
        in.body.count != (uint32_t)nfds) {
      for (int k = 0; k < nfds; ++k) sys::close(fds[k]);
      if (n <= 0) {  // the keeper is gone or retired: a new connection next time
        sys::close(p->conn);
        p->conn = -1;
        p->pending = false;
        return;
      }
      continue;
    }
    p->pending = false;
    for (int k = 0; k < nfds; ++k) {
      int high = sys::fcntl(fds[k], F_DUPFD_CLOEXEC, p->floor);
      sys::close(fds[k]);
      if (high < 0 || p->count == (int)(sizeof p->entries / sizeof p->entries[0])) {
        if (high >= 0) sys::close(high);
        continue;
      }
      const auto& e = in.body.entries[k];
      p->entries[p->count++] = Premade{high, p->keeper, e.keeper_fd, e.dev, e.ino};
    }
  }
}

void ask_for_more(Pool* p) {
  keeper::Request req = make_request(keeper::Op::kRefill, nullptr);
  req.flags = (uint32_t)p->want;
  if (sys::call(SYS_sendto, p->conn, &req, sizeof req, MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0) ==
      (long)sizeof req)
    p->pending = true;
}


// The pool of this process for `dirst`, reset when it is another process's
// (a forked child's copy), another directory's or another euid's.  Under the lock.
Pool* pool_for(const struct stat& dirst, uid_t euid) {
  pid_t self = fd_registry::self_pid();
  Pool* p = &g_pool;
  if (p->pid != self || p->dir_dev != dirst.st_dev || p->dir_ino != dirst.st_ino ||
      p->euid != euid) {
    if (p->pid != 0) clear(p);
    *p = Pool{};
    p->pid = self;
    p->dir_dev = dirst.st_dev;
    p->dir_ino = dirst.st_ino;
    p->euid = euid;
    p->conn = -1;
    p->want = 2;
    p->floor = descriptor_floor();
  }
  return p;
}

// In a forked child: the pool's descriptors are copies of the parent's, whose
// keeper holds them for the parent.  Closed at once, so that no child carries
// them (the lock is free: forks wait for every Section to end).
void forget_in_child() {
  if (g_pool.pid != 0) clear(&g_pool);
}

}  // namespace

void prepare_pool(int dir, const struct stat& dirst, uid_t euid) {
  fd_registry::on_fork_child(forget_in_child);
  {
    Section section;
    MutexLock hold(g_mutex);
    Pool* p = pool_for(dirst, euid);
    if (p->floor < kMinFloor || p->conn >= 0) return;
  }
  InFlight sock;
  pid_t keeper = 0;
  if (connect_to_keeper(dir, dirst, /*start=*/true, &sock, &keeper) < 0) return;
  Section section;
  MutexLock hold(g_mutex);
  Pool* p = pool_for(dirst, euid);
  if (p->conn >= 0) return;  // another thread connected meanwhile
  int high = sys::fcntl(sock.get(), F_DUPFD_CLOEXEC, p->floor);
  if (high < 0) return;
  struct stat st;
  if (sys::fstat(high, &st) != 0) {
    sys::close(high);
    return;
  }
  p->conn = high;
  p->conn_dev = st.st_dev;
  p->conn_ino = st.st_ino;
  p->keeper = keeper;
  ask_for_more(p);
}

bool pool_connected(const struct stat& dirst, uid_t euid) {
  Section section;
  MutexLock hold(g_mutex);
  return pool_for(dirst, euid)->conn >= 0;
}

bool take_premade(const struct stat& dirst, uid_t euid, Premade* out) {
  Section section;
  MutexLock hold(g_mutex);
  Pool* p = pool_for(dirst, euid);
  if (p->conn < 0) return false;
  // The keeper holds our memfds only while this connection is open: one the
  // program closed (or replaced) means they are no longer held.  Forgotten,
  // not closed: the numbers may be the program's now.
  struct stat st;
  if (sys::fstat(p->conn, &st) != 0 || st.st_dev != p->conn_dev || st.st_ino != p->conn_ino) {
    p->conn = -1;
    p->count = 0;
    return false;
  }
  // A batch that came, or the keeper's end: a memfd only a dead keeper held
  // would die with our descriptor, and its object would not outlive us.
  struct pollfd ready = {p->conn, POLLIN, 0};
  struct timespec now = {0, 0};
  if (sys::ppoll(&ready, 1, &now) > 0) receive(p);
  if (p->conn < 0) {  // the keeper went: what it made for us is held by nobody else
    clear(p);
    p->pid = fd_registry::self_pid();  // still this process's pool, to be connected anew
    return false;
  }
  if (!p->pending && p->count <= p->want / 2) ask_for_more(p);
  if (p->count == 0) return false;
  *out = p->entries[--p->count];
  // Used: the next batches are larger, up to the most one carries.
  if (p->want < keeper::kBatchMax) p->want *= 2;
  return true;
}

}  // namespace lambshm::memfd_store
