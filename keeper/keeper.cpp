// lambshm-keeper: holds the memfd of every live shared memory object of one
// user in one backing directory, so that an object outlives its creator
// (docs/design.md, "Shared memory objects on a disk", and its threat model).
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
// a new object's memfd once its record is linked, kDrop says its record was
// unlinked (when inotify is missing).  Requests that need an answer (kGet,
// kClear) come on connections of their own, and are answered only after
// every message already queued on any connection has been handled, so an
// answer never misses a hand-over that happened before the question.
// Single-threaded; it never blocks on a client, and waits on another keeper
// for a bounded moment only (kPeerTimeoutMs).  Kept connections are read in
// batches (kBatchMs).
//
// It keeps a memfd exactly while its record is linked at its name: it drops
// one when inotify (or kDrop) says the record was unlinked, when the
// hand-over arrives after the record is already gone, and when a periodic
// sweep finds the record gone.  At half its descriptor limit it retires
// (retire()).  It exits once it has held nothing and had no client for
// kIdleExitMs.  Killed, it takes its objects with it, as a reboot takes
// /dev/shm's: their records are stale, openers get ENOENT and the next
// creator has them removed.
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

#include "growable_array.h"
#include "keeper_protocol.h"
#include "linux_syscall.h"
#include "log_line.h"
#include "name_table.h"

namespace lambshm::keeper {
namespace {

constexpr int kIdleExitMs = 1000;
constexpr int kSweepMs = 2000;
constexpr int kBatchMs = 2;
constexpr int kEventsIdleMs = 256;  // the longest between two reads of the table's events
constexpr int kStuckEventMs = 100;
constexpr size_t kBusyBatch = 64;  // messages in one batch: see run()
constexpr int kPeerTimeoutMs = 250;  // the longest it waits on another keeper
// Descriptors it keeps free for clients and requests, below its limit.
constexpr long kReserve = 16;

bool g_debug = false;  // set once in main

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

void close_fd(int fd) { sys::close(fd); }

// Sends `body` on `sock` with descriptor `fd` (none when -1): sendmsg's result.
long send_with(int sock, void* body, size_t len, int fd, int flags) {
  struct iovec iov = {body, len};
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
  return sys::sendmsg(sock, &msg, flags);
}

uint64_t namespace_id(const char* which) {
  char path[32];
  snprintf(path, sizeof path, "/proc/self/ns/%s", which);
  struct stat st;
  return sys::fstatat(AT_FDCWD, path, &st, 0) == 0 ? (uint64_t)st.st_ino : 0;
}

// A memfd held for a record (rec_dev, rec_ino at `name`), or for a slot of
// the name table (in_table: slot, gen).
struct Held {
  int memfd;
  uint64_t dev, ino;          // the memfd
  uint64_t rec_dev, rec_ino;  // its record
  bool rewritten;             // the record names us (done at the first kGet)
  char name[NAME_MAX + 1];
  bool in_table;
  uint32_t slot, gen;
  // Made in advance and handed to the client on this connection, not yet
  // seen in a slot (resolve_handed()); -1 otherwise.
  int handed_to;
};

// A client connection.  Kept ones (a process's connection, which has sent a
// one-way message) are read in batches: at most once per kBatchMs, so a
// stream of hand-overs wakes the keeper that often, not once each.  Others
// (new ones, and the connection of a request) are read at once.
struct Client {
  int fd;
  bool kept;
};

// Where each descriptor polled sits in the poll set: three fixed ones, then
// one per client (in no fixed order: see run()).
enum PollSlot : size_t { kElectionSlot, kOwnSlot, kInotifySlot, kFirstClientSlot };

class Keeper {
 public:
  // `election`, `own`: listening sockets at the directory's name and at this
  // keeper's own; `inotify`: watching the directory, or -1.
  Keeper(const struct stat& dir, int election, int own, int inotify, long fd_limit)
      : dir_(dir), election_(election), own_(own), inotify_(inotify), fd_limit_(fd_limit),
        net_ns_(namespace_id("net")), pid_ns_(namespace_id("pid")), self_(sys::getpid()),
        euid_(sys::geteuid()) {}
  int run();

 private:
  // --- What it holds -------------------------------------------------------
  void drop_at(size_t i);
  bool record_linked(const char* name, uint64_t rec_dev, uint64_t rec_ino);
  void sweep();
  Held* find_memfd(uint64_t dev, uint64_t ino);
  void do_hold(const Request& req, const int* fds, int nfds);
  void do_drop(const Request& req);
  // --- Slots of the name table ----------------------------------------------
  const name_table::Table* table();
  bool slot_live(const Held& h);
  void do_hold_slot(const Request& req, const int* fds, int nfds);
  void read_events();
  void register_in_table();
  void event(const name_table::Event& e);
  bool still_named(const Held& h);
  void do_refill(int conn, const Request& req);
  void resolve_handed(int gone);
  void unlinked(const char* name);
  void read_unlinks();
  void rewrite_record(Held* h, bool keeper_too = false);
  bool forward(const Request& req, int memfd);
  bool connect_successor();
  bool start_successor();
  // --- Records: live or stale ----------------------------------------------
  int open_trusted(const char* name, struct stat* st, Record* rec);
  int other_keeper_holds(pid_t pid, uint64_t dev, uint64_t ino);
  bool record_is_live(const Record& rec);
  int do_clear(const Request& req);
  // --- Clients -------------------------------------------------------------
  bool room() const;
  bool must_retire() const;
  void retire();
  bool serve(size_t i);
  void answer(int conn, Request& req);
  void drain();
  void accept_clients(int listener);

  const struct stat dir_;
  int election_;  // -1 once retired
  const int own_;
  const int inotify_;
  const long fd_limit_;  // descriptors it may have open
  const uint64_t net_ns_, pid_ns_;
  const pid_t self_;
  const uid_t euid_;
  GrowableArray<Held> held_;
  GrowableArray<Client> clients_;
  const name_table::Table* table_ = nullptr;  // mapped at the first slot handed over
  uint64_t events_tail_ = 0;    // the next event to read
  int64_t stuck_since_ = 0;     // since when the event at events_tail_ is unwritten
  int events_every_ms_ = kBatchMs;
  int64_t next_events_at_ = 0;
  bool retired_ = false;  // see retire()
  bool draining_ = false;
  size_t served_ = 0;  // messages read by serve() since run() last looked
  // Until when listeners are not polled: accept4 found no descriptor free,
  // and a connection left pending would make every poll return at once.
  int64_t accept_paused_until_ = 0;
  unsigned aside_counter_ = 0;
  int successor_ = -1;  // a connection to the keeper that took the election after us, or -1
  int64_t pass_on_retry_at_ = 0;  // when to try passing hand-overs on again
};

void Keeper::drop_at(size_t i) {
  log("dropping %s (fd %d)", held_[i].name, held_[i].memfd);
  sys::close(held_[i].memfd);
  held_.remove_at(i);
}

// Whether the record file (rec_dev, rec_ino) is linked at `name`.
bool Keeper::record_linked(const char* name, uint64_t rec_dev, uint64_t rec_ino) {
  struct stat st;
  return sys::fstatat(kDirFd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         (uint64_t)st.st_dev == rec_dev && (uint64_t)st.st_ino == rec_ino;
}

// Drops the memfds whose records are gone (what inotify missed, or all of
// them without inotify).  A creator links before it hands over, so a record
// not linked is never merely late.
void Keeper::sweep() {
  // The table deleted (or the directory): its names are gone, and so is
  // every object only it named.
  if (table_ != nullptr && !name_table::still_linked(table_, kDirFd, euid_)) {
    log("the name table is gone: letting its objects go");
    for (size_t i = 0; i < held_.size();) {
      if (held_[i].in_table) drop_at(i);
      else ++i;
    }
    name_table::unmap_table(table_);
    table_ = nullptr;
  }
  resolve_handed(-1);
  for (size_t i = 0; i < held_.size();) {
    if (!still_named(held_[i])) drop_at(i);
    else ++i;
  }
}

// Whether what `h` was handed over for still names it: its record is
// linked, or its slot is live at its generation.
bool Keeper::still_named(const Held& h) {
  if (h.handed_to >= 0) return true;  // resolve_handed() decides
  return h.in_table ? slot_live(h) : record_linked(h.name, h.rec_dev, h.rec_ino);
}

// Memfds made in advance for the client on `conn` (keeper_protocol.h,
// Batch): each is held from now on, as handed to that connection.  None when
// there is no room: the client then makes its own and hands it over.
void Keeper::do_refill(int conn, const Request& req) {
  Batch batch{};
  batch.magic = kBatchMagic;
  int fds[kBatchMax];
  uint32_t want = req.flags;
  while (batch.count < want && room() && !retired_ && table() != nullptr) {
    int m = sys::memfd_create("lambshm", MFD_CLOEXEC);
    struct stat st;
    if (m < 0) break;
    if (sys::fstat(m, &st) < 0) {
      sys::close(m);
      break;
    }
    Held h{m, (uint64_t)st.st_dev, (uint64_t)st.st_ino, 0, 0, false, {}, true, 0, 0, conn};
    if (!held_.push(h)) {
      sys::close(m);
      break;
    }
    batch.entries[batch.count] = {m, 0, h.dev, h.ino};
    fds[batch.count++] = m;
  }
  struct iovec iov = {&batch, sizeof batch};
  alignas(struct cmsghdr) char control[CMSG_SPACE(kBatchMax * sizeof(int))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (batch.count > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(batch.count * sizeof(int));
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(batch.count * sizeof(int));
    memcpy(CMSG_DATA(c), fds, batch.count * sizeof(int));
  }
  // Not sent (the client is gone, or its buffer is full): the connection's
  // end reclaims them.
  sys::sendmsg(conn, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

// Which memfds handed out in advance were used: a live slot names this
// keeper and that descriptor, with its inode.  Those become held for their
// slot; those handed to connection `gone` (-1: none) and unused are closed,
// since the process that had them is gone.  One pass over the table.
void Keeper::resolve_handed(int gone) {
  bool any = false;
  for (const Held& h : held_) any = any || h.handed_to >= 0;
  if (!any || table() == nullptr) return;
  for (uint32_t i = 0; i < name_table::kSlots; ++i) {
    const name_table::Slot* s = table_->slot(i);
    if (s->state.load(std::memory_order_acquire) != name_table::kLive || s->keeper_pid != self_)
      continue;
    for (Held& h : held_) {
      if (h.handed_to >= 0 && h.memfd == s->keeper_fd && h.dev == s->dev && h.ino == s->ino) {
        h.handed_to = -1;
        h.slot = i;
        h.gen = s->gen;
        memcpy(h.name, s->name, sizeof s->name);
        h.name[sizeof s->name - 1] = '\0';
        // Live at that generation after our read of it, or not: slot_live decides.
        if (!slot_live(h)) h.gen = ~0u;
        break;
      }
    }
  }
  for (size_t i = 0; i < held_.size();) {
    if (held_[i].handed_to >= 0 && held_[i].handed_to == gone) drop_at(i);
    else if (held_[i].handed_to < 0 && held_[i].in_table && !slot_live(held_[i])) drop_at(i);
    else ++i;
  }
}

const name_table::Table* Keeper::table() {
  if (table_ == nullptr) {
    table_ = name_table::map_table(kDirFd, euid_, /*create=*/false);
    // Events before now are of memfds this keeper never had.
    if (table_ != nullptr) events_tail_ = table_->header()->events_head.load();
    if (table_ != nullptr) register_in_table();
  }
  return table_;
}

// Lists this keeper among the table's keepers (name_table.h), in a free
// entry or one whose keeper is gone, so that openers can ask it.
void Keeper::register_in_table() {
  auto* keepers = table_->header()->keepers;
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < name_table::kKeepers; ++i) {
      int32_t was = keepers[i].load(std::memory_order_relaxed);
      if (was == self_) return;
      bool free = was == 0 || (pass == 1 && !is_keeper_of(was, dir_));
      if (free && keepers[i].compare_exchange_strong(was, self_)) return;
    }
  }
  log("no room among the table's keepers: openers find this one only by its slots");
}

// A slot is reused only at a new generation, so once it is not live at
// `gen` it never is again.
bool Keeper::slot_live(const Held& h) {
  const name_table::Slot* s = table()->slot(h.slot);
  return s->state.load(std::memory_order_acquire) == name_table::kLive && s->gen == h.gen &&
         s->dev == h.dev && s->ino == h.ino;
}

// A memfd for a slot: kept when the slot is live at that generation with that
// inode, and the slot then names us.  The bucket's lock is waited for a
// moment only (a client may be stopped holding it): without it the memfd is
// kept all the same, and openers that miss it in the slot ask us (kGet).
void Keeper::do_hold_slot(const Request& req, const int* fds, int nfds) {
  struct stat st;
  if (nfds != 1 || table() == nullptr || sys::fstat(fds[0], &st) < 0 || !S_ISREG(st.st_mode) ||
      (uint64_t)st.st_dev != req.dev || (uint64_t)st.st_ino != req.ino) {
    log("refusing a malformed hand-over of slot %u", req.slot);
    for (int k = 0; k < nfds; ++k) sys::close(fds[k]);
    return;
  }
  Held h{fds[0], req.dev, req.ino, 0, 0, false, {}, true, req.slot, req.gen, -1};
  name_table::Slot* s = table_->slot(req.slot);
  {
    name_table::Locked lock(table_, req.slot / name_table::kSlotsPerBucket, self_,
                           kPeerTimeoutMs);
    if (!slot_live(h)) {
      log("slot %u was unlinked before its hand-over", req.slot);
      sys::close(fds[0]);
      return;
    }
    if (lock.held()) {
      s->keeper_fd = fds[0];
      s->keeper_pid = self_;
    }
  }
  memcpy(h.name, s->name, sizeof s->name);
  h.name[sizeof s->name - 1] = '\0';
  if (!held_.push(h)) {
    log("out of memory: %s lives only as long as its creator holds it", h.name);
    sys::close(fds[0]);
    return;
  }
  log("holding %s (slot %u) as fd %d", h.name, req.slot, fds[0]);
}

// The events clients posted in the table (name_table.h) since the last
// read: a memfd made in advance now names a slot; a slot was unlinked.  Read
// often while they come, less and less often while none do.  An entry whose
// writer died before finishing it is skipped after kStuckEventMs.
void Keeper::read_events() {
  if (table() == nullptr) return;
  int64_t now = now_ms();
  uint64_t head = table_->header()->events_head.load(std::memory_order_acquire);
  if (head - events_tail_ > name_table::kEvents) {
    log("%llu events lost: reading the whole table", (unsigned long long)(head - events_tail_));
    events_tail_ = head - name_table::kEvents;
    resolve_handed(-1);
  }
  bool any = false;
  while (events_tail_ < head) {
    const name_table::Event* e = table_->event(events_tail_);
    if (e->seq.load(std::memory_order_acquire) != (uint32_t)events_tail_) {
      if (stuck_since_ == 0) stuck_since_ = now;
      if (now - stuck_since_ < kStuckEventMs) break;
    } else {
      any = true;
      name_table::Event copy;
      copy.slot = e->slot;
      copy.keeper_pid = e->keeper_pid;
      copy.keeper_fd = e->keeper_fd;
      copy.ino = e->ino;
      copy.kind = e->kind;
      // Overwritten while we read it (we are kEvents behind): the whole table says.
      std::atomic_thread_fence(std::memory_order_acquire);
      if (e->seq.load(std::memory_order_relaxed) != (uint32_t)events_tail_) {
        events_tail_ = table_->header()->events_head.load(std::memory_order_acquire);
        resolve_handed(-1);
        break;
      }
      if (copy.keeper_pid == self_ && copy.slot < name_table::kSlots) event(copy);
    }
    stuck_since_ = 0;
    ++events_tail_;
  }
  events_every_ms_ = any ? kBatchMs : (events_every_ms_ * 2 > kEventsIdleMs ? kEventsIdleMs
                                                                            : events_every_ms_ * 2);
  next_events_at_ = now + events_every_ms_;
}

void Keeper::event(const name_table::Event& e) {
  for (size_t i = 0; i < held_.size(); ++i) {
    Held& h = held_[i];
    // The descriptor and its inode: a number closed since is reused.
    if (h.memfd != e.keeper_fd || h.ino != e.ino || !h.in_table) continue;
    const name_table::Slot* s = table_->slot(e.slot);
    if (h.handed_to >= 0) {
      // Made in advance and used for slot e.slot: held for it from now on
      // (or dropped at once, if it is no longer live there).
      h.handed_to = -1;
      h.slot = e.slot;
      h.gen = s->gen;
      memcpy(h.name, s->name, sizeof s->name);
      h.name[sizeof s->name - 1] = '\0';
      if (e.kind == name_table::kUnlinkedEvent || s->keeper_fd != h.memfd) h.gen = ~0u;
    }
    if (!slot_live(h)) drop_at(i);
    return;
  }
}

Held* Keeper::find_memfd(uint64_t dev, uint64_t ino) {
  for (Held& h : held_)
    if (h.dev == dev && h.ino == ino) return &h;
  return nullptr;
}

void Keeper::do_hold(const Request& req, const int* fds, int nfds) {
  struct stat st;
  if (nfds != 1 || sys::fstat(fds[0], &st) < 0 || !S_ISREG(st.st_mode) ||
      (uint64_t)st.st_dev != req.dev || (uint64_t)st.st_ino != req.ino) {
    log("refusing a malformed hand-over of %s", req.name);
    for (int k = 0; k < nfds; ++k) sys::close(fds[k]);
    return;
  }
  // Unlinked before it came (its unlink event may be read already).
  if (!record_linked(req.name, req.rec_dev, req.rec_ino)) {
    log("%s was unlinked before its hand-over", req.name);
    sys::close(fds[0]);
    return;
  }
  Held h{fds[0], req.dev, req.ino, req.rec_dev, req.rec_ino, false, {}, false, 0, 0, -1};
  memcpy(h.name, req.name, sizeof h.name);
  if (!held_.push(h)) {
    log("out of memory: %s lives only as long as its creator holds it", h.name);
    sys::close(fds[0]);
    return;
  }
  log("holding %s as fd %d", h.name, fds[0]);
  // Passed on by a full keeper that the record names: name ourselves.
  if ((req.flags & Request::kForwarded) != 0) rewrite_record(&held_[held_.size() - 1], true);
}

// The record at `name`, opened, when it is one this keeper trusts
// (keeper_protocol.h): the descriptor (its identity in *st, its content in
// *rec), -ENOENT when nothing is there, -EACCES when something else is, or
// -errno.
int Keeper::open_trusted(const char* name, struct stat* st, Record* rec) {
  int fd = sys::openat(kDirFd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fd;
  char bytes[sizeof(Record)];
  long n = sys::fstat(fd, st) == 0 ? sys::pread(fd, bytes, sizeof bytes, 0) : -1;
  if (n < 0 || !trusted_record(*st, bytes, (size_t)n, euid_, rec)) {
    sys::close(fd);
    return -EACCES;
  }
  return fd;
}

// Makes the record of `h` name this keeper as its holder, so that openers
// find the memfd without asking.
void Keeper::rewrite_record(Held* h, bool keeper_too) {
  h->rewritten = true;
  struct stat st;
  Record rec;
  int fd = open_trusted(h->name, &st, &rec);
  if (fd < 0) return;
  if ((uint64_t)st.st_ino == h->rec_ino && (uint64_t)st.st_dev == h->rec_dev) {
    char path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int w = sys::openat(AT_FDCWD, path, O_WRONLY | O_CLOEXEC);
    if (w >= 0) {
      int32_t holder[2] = {(int32_t)self_, (int32_t)h->memfd};
      sys::pwrite(w, holder, sizeof holder, offsetof(Record, holder_pid));
      if (keeper_too) sys::pwrite(w, &self_, sizeof self_, offsetof(Record, keeper_pid));
      sys::close(w);
    }
  }
  sys::close(fd);
}

void Keeper::do_drop(const Request& req) {
  for (size_t i = 0; i < held_.size(); ++i) {
    Held& h = held_[i];
    if (!h.in_table && h.rec_ino == req.rec_ino && h.rec_dev == req.rec_dev) {
      if (!record_linked(h.name, h.rec_dev, h.rec_ino)) drop_at(i);
      return;
    }
  }
}

// `name` was unlinked or renamed away (inotify): drops what it named.
void Keeper::unlinked(const char* name) {
  for (size_t i = 0; i < held_.size();) {
    Held& h = held_[i];
    if (!h.in_table && strcmp(h.name, name) == 0 && !record_linked(h.name, h.rec_dev, h.rec_ino))
      drop_at(i);
    else ++i;
  }
}

void Keeper::read_unlinks() {
  alignas(struct inotify_event) char buf[4096];
  for (;;) {
    long n = sys::read(inotify_, buf, sizeof buf);
    if (n <= 0) return;
    for (long off = 0; off < n;) {
      auto* e = reinterpret_cast<struct inotify_event*>(buf + off);
      if (e->mask & IN_Q_OVERFLOW) sweep();
      else if (e->len > 0) unlinked(e->name);
      off += sizeof(struct inotify_event) + e->len;
    }
  }
}

// Whether the keeper `pid` (one that retired), asked at its own name, holds
// the memfd (dev, ino): 1, 0 (no, or no keeper is there: its name goes with
// it), or -1 when it cannot tell within kPeerTimeoutMs (a stopped keeper, a
// full backlog).  It never asks back, so this cannot deadlock.
int Keeper::other_keeper_holds(pid_t pid, uint64_t dev, uint64_t ino) {
  int s = sys::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct sockaddr_un addr;
  socklen_t len = socket_address(euid_, dir_, &addr, pid);
  // Before connect: a full backlog makes connect wait, for this long.
  struct timeval tv = {0, kPeerTimeoutMs * 1000};
  sys::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sys::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int holds = -1;
  int r = sys::connect(s, reinterpret_cast<struct sockaddr*>(&addr), len);
  struct ucred cred;
  socklen_t cred_len = sizeof cred;
  Reply hello;
  if (r == -ECONNREFUSED || r == -ENOENT) {
    holds = 0;
  } else if (r == 0 &&
             (sys::getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 ||
              cred.uid != euid_ || cred.pid != pid)) {
    holds = 0;  // somebody else took the name: the keeper that had it is gone
  } else if (r == 0 && sys::call(SYS_recvfrom, s, &hello, sizeof hello, 0, 0, 0) == (long)sizeof hello) {
    Request req{};
    req.magic = kRequestMagic;
    req.op = Op::kGet;
    req.dev = dev;
    req.ino = ino;
    Incoming<Reply, 1> in;
    if (sys::call(SYS_sendto, s, &req, sizeof req, MSG_NOSIGNAL, 0, 0) == (long)sizeof req &&
        sys::recvmsg(s, &in.msg, MSG_CMSG_CLOEXEC) == (long)sizeof in.body) {
      holds = in.body.error == 0 ? 1 : 0;
      int fd;
      if (in.descriptors(&fd, close_fd) == 1) sys::close(fd);
    }
  }
  sys::close(s);
  return holds;
}

// Whether the record `rec` names a memfd someone still has: one this keeper
// holds, one the keeper it names holds, or one its holder's /proc/PID/fd/FD
// still is.  Anything that cannot be judged counts as live: only a record
// proven stale is ever removed.  A record made in another pid namespace
// cannot be judged at all (its pids are not ours).
bool Keeper::record_is_live(const Record& rec) {
  if (find_memfd(rec.dev, rec.ino) != nullptr) return true;
  if (rec.pid_ns != 0 && pid_ns_ != 0 && rec.pid_ns != pid_ns_) return true;
  // The keeper it names, unless that pid is no keeper of this directory
  // (then whoever answers at its name is not it); one in another network
  // namespace cannot be asked, and alive it may hold the memfd.
  if (rec.keeper_pid != 0 && rec.keeper_pid != self_ && is_keeper_of(rec.keeper_pid, dir_)) {
    if (rec.net_ns != net_ns_ || other_keeper_holds(rec.keeper_pid, rec.dev, rec.ino) != 0)
      return true;
  }
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
// -EEXIST when it is live or not a record of ours.  Nothing links a name but
// creators, so between our look and the removal another creator may have
// replaced it: the record is first renamed aside, checked there, and put
// back if it is not the one.
int Keeper::do_clear(const Request& req) {
  struct stat st;
  Record rec;
  int fd = open_trusted(req.name, &st, &rec);
  if (fd == -ENOENT) return 0;  // gone: the creator tries again
  if (fd < 0) return -EEXIST;   // not ours to judge, or no descriptor to judge it
  sys::close(fd);
  if ((uint64_t)st.st_dev != req.rec_dev || (uint64_t)st.st_ino != req.rec_ino)
    return 0;  // replaced meanwhile: the creator looks again
  if (record_is_live(rec)) return -EEXIST;
  char aside[64];
  snprintf(aside, sizeof aside, ".lambshm-stale-%d-%u", (int)self_, aside_counter_++);
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

// Passes the hand-over `req` of `memfd` on to the keeper now at the
// directory's name, which then names itself in the record: true when sent
// (`memfd` closed here).  For a retired keeper with no room left, whose
// clients had sent more than it can hold.
bool Keeper::connect_successor() {
  if (successor_ >= 0) return true;
  for (int attempt = 0; attempt < 2; ++attempt) {
    int s = sys::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    struct sockaddr_un addr;
    socklen_t len = socket_address(euid_, dir_, &addr);
    struct timeval tv = {0, kPeerTimeoutMs * 1000};
    sys::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sys::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct ucred cred;
    socklen_t cred_len = sizeof cred;
    Reply hello;
    int r = sys::connect(s, reinterpret_cast<struct sockaddr*>(&addr), len);
    if (r == 0 && sys::getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0 &&
        cred.uid == euid_ && cred.pid != self_ &&
        sys::call(SYS_recvfrom, s, &hello, sizeof hello, 0, 0, 0) == (long)sizeof hello) {
      successor_ = s;
      return true;
    }
    sys::close(s);
    if (r != -ECONNREFUSED || attempt > 0 || !start_successor()) return false;
  }
  return false;
}

// Starts a keeper for the directory, as a creator would (memfd_store.cpp):
// this program again, with the directory and a status socket; true once it
// says it listens (or another does).
bool Keeper::start_successor() {
  int sv[2];
  if (sys::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return false;
  pid_t pid = fork();
  if (pid == 0) {
    sys::dup3(sv[1], kStatusFd, 0);  // kDirFd is ours already, without FD_CLOEXEC
    char* argv[] = {const_cast<char*>("lambshm-keeper"), nullptr};
    char debug[] = "LAMBSHM_DEBUG=1";
    char* envp[] = {g_debug ? debug : nullptr, nullptr};
    execve("/proc/self/exe", argv, envp);
    _exit(127);
  }
  sys::close(sv[1]);
  if (pid > 0) {
    while (sys::wait4(pid, nullptr, 0) == -EINTR) {
    }
  }
  char byte = 0;
  struct pollfd p = {sv[0], POLLIN, 0};
  struct timespec timeout = {1, 0};
  bool started = pid > 0 && sys::ppoll(&p, 1, &timeout) > 0 && sys::read(sv[0], &byte, 1) == 1;
  sys::close(sv[0]);
  log(started ? "started a successor" : "could not start a successor");
  return started;
}

// Passes the hand-over `req` of `memfd` on to the keeper now at the
// directory's name, which then names itself in the record: true when sent
// (`memfd` closed here).  For a retired keeper with no room left, whose
// clients had sent more than it can hold.
bool Keeper::forward(const Request& req, int memfd) {
  if (!connect_successor()) return false;
  Request out = req;
  out.flags |= Request::kForwarded;
  if (send_with(successor_, &out, sizeof out, memfd, MSG_NOSIGNAL) == (long)sizeof out) {
    log("passed %s on to the next keeper", req.name);
    sys::close(memfd);
    return true;
  }
  sys::close(successor_);  // it retired or died too
  successor_ = -1;
  return false;
}

void reply(int conn, int error, int fd) {
  Reply r{error};
  send_with(conn, &r, sizeof r, fd, MSG_DONTWAIT | MSG_NOSIGNAL);
}

// Whether one more hand-over may be read: before retiring, up to half the
// limit (must_retire); once retired, up to all but a few descriptors.
bool Keeper::room() const {
  return retired_ ? (long)(held_.size() + clients_.size()) + kReserve < fd_limit_
                  : !must_retire();
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
bool Keeper::must_retire() const {
  return !retired_ && !draining_ &&
         (long)(held_.size() + clients_.size()) + kReserve >= fd_limit_ / 2;
}

void Keeper::retire() {
  log("%zu objects held, half the limit of %ld descriptors: retiring", held_.size(), fd_limit_);
  sys::close(election_);
  election_ = -1;
  // Nothing more can be sent; what was is read as room allows (serve()),
  // and each connection closes once it is empty.
  for (const Client& c : clients_) sys::call(SYS_shutdown, c.fd, SHUT_RD);
  retired_ = true;
  drain();
}

// A question (kGet, kClear) or a one-way message without a descriptor.
void Keeper::answer(int conn, Request& req) {
  if (req.op == Op::kDrop) {
    do_drop(req);
  } else if (req.op == Op::kRefill) {
    do_refill(conn, req);
  } else if (req.op == Op::kGet) {
    drain();
    Held* h = find_memfd(req.dev, req.ino);
    // Only to the record it was handed over with: a copy elsewhere gets nothing.
    if (h != nullptr && req.rec_ino != 0 && (h->rec_dev != req.rec_dev || h->rec_ino != req.rec_ino))
      h = nullptr;
    reply(conn, h != nullptr ? 0 : -ENOENT, h != nullptr ? h->memfd : -1);
    if (h != nullptr && !h->rewritten) rewrite_record(h);
  } else if (req.op == Op::kClear) {
    drain();
    reply(conn, do_clear(req), -1);
  }
}

// Handles every message queued on client `i`: false when it has hung up.
// Without room for a descriptor it still answers questions, which need none:
// a connection whose next message is a hand-over is then left unread (and
// unpolled: it becomes kept) until there is room.
bool Keeper::serve(size_t i) {
  Client& client = clients_[i];
  for (;; ++served_) {
    // Retired and full, it passes hand-overs still in flight on to its
    // successor (forward()), with a descriptor of its reserve for a moment.
    bool passing_on = retired_ && !room();
    if (passing_on && !connect_successor()) {
      // Nobody to pass on to: read again later, and meanwhile only questions.
      passing_on = false;
      pass_on_retry_at_ = now_ms() + 50;
    }
    if (!room() && !passing_on) {
      if (client.kept) return true;
      Request peek;
      long n = sys::call(SYS_recvfrom, client.fd, &peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT, 0, 0);
      if (n == -EAGAIN) return true;
      if (n <= 0) return false;
      if (n == (long)sizeof peek && peek.magic == kRequestMagic &&
          (peek.op == Op::kHold || peek.op == Op::kHoldSlot)) {
        client.kept = true;
        return true;
      }
    }
    // A hand-over carries one descriptor; any other is closed unread.
    Incoming<Request, 1> in;
    long n = sys::recvmsg(client.fd, &in.msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n == -EAGAIN) return true;
    if (n < 0) return false;
    int fds[1];
    int nfds = in.descriptors(fds, close_fd);
    if (n == 0) {
      // The end of the connection, or an empty message (junk, which may
      // carry descriptors): either way it is done with.
      for (int k = 0; k < nfds; ++k) sys::close(fds[k]);
      return false;
    }
    Request& req = in.body;
    bool valid = valid_request(&req, n);
    bool truncated = (in.msg.msg_flags & MSG_CTRUNC) != 0;
    bool hold = req.op == Op::kHold || req.op == Op::kHoldSlot;
    if (valid && hold && !truncated) {
      client.kept = true;
      if (passing_on && nfds == 1 && forward(req, fds[0])) continue;
      if (req.op == Op::kHold) do_hold(req, fds, nfds);
      else do_hold_slot(req, fds, nfds);
      continue;
    }
    for (int k = 0; k < nfds; ++k) sys::close(fds[k]);
    if (!valid) continue;
    if (hold) {
      // Out of descriptors: the object lives only while its creator holds it.
      log("no descriptor left to hold %s", req.name);
      continue;
    }
    if (req.op == Op::kDrop) client.kept = true;
    answer(client.fd, req);
  }
}

// Handles what every client has sent so far (not recursively: a question
// asked while draining is answered with what is known by then).
void Keeper::drain() {
  if (draining_) return;
  draining_ = true;
  for (size_t i = 0; i < clients_.size(); ++i) {
    struct pollfd p = {clients_[i].fd, POLLIN, 0};
    struct timespec zero = {0, 0};
    if (sys::ppoll(&p, 1, &zero) > 0 && (p.revents & POLLIN)) serve(i);
  }
  draining_ = false;
}

void Keeper::accept_clients(int listener) {
  for (;;) {
    int c = (int)sys::call(SYS_accept4, listener, 0, 0, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c == -EMFILE || c == -ENFILE) accept_paused_until_ = now_ms() + 50;
    if (c < 0) return;
    struct ucred cred;
    socklen_t cred_len = sizeof cred;
    if (sys::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 ||
        cred.uid != euid_ || !clients_.push({c, false})) {
      sys::close(c);
      continue;
    }
    // The greeting: from now on, what it sends is read.
    reply(c, inotify_ >= 0 ? Reply::kWatching : 0, -1);
  }
}

int Keeper::run() {
  GrowableArray<struct pollfd> pfds;
  int64_t idle_since = now_ms();
  int64_t last_sweep = idle_since;
  int64_t nap_until = 0;
  for (;;) {
    int64_t now = now_ms();
    bool napping = now < nap_until;
    bool paused = now < accept_paused_until_;
    bool full = !room();
    pfds.clear();
    if (!pfds.reserve(kFirstClientSlot + clients_.size())) return 1;
    pfds.push({paused ? -1 : election_, POLLIN, 0});
    pfds.push({paused ? -1 : own_, POLLIN, 0});
    pfds.push({napping ? -1 : inotify_, POLLIN, 0});
    for (const Client& c : clients_)
      pfds.push({c.kept && (napping || (full && (!retired_ || now < pass_on_retry_at_))) ? -1 : c.fd,
                 POLLIN, 0});
    int64_t deadline = last_sweep + kSweepMs;
    bool idle = held_.empty() && clients_.empty();
    if (idle) deadline = idle_since + kIdleExitMs;
    if (napping && nap_until < deadline) deadline = nap_until;
    if (paused && accept_paused_until_ < deadline) deadline = accept_paused_until_;
    if (full && now < pass_on_retry_at_ && pass_on_retry_at_ < deadline) deadline = pass_on_retry_at_;
    if (table_ != nullptr && !held_.empty() && next_events_at_ < deadline) deadline = next_events_at_;
    int64_t wait = deadline > now ? deadline - now : 0;
    struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000};
    int r = sys::ppoll(pfds.data(), (unsigned)pfds.size(), &ts);
    if (r < 0 && r != -EINTR) return 1;
    now = now_ms();
    bool batch = false;
    served_ = 0;
    // Clients by descriptor: serving one may drain (and so serve) others.
    for (size_t k = kFirstClientSlot; k < pfds.size(); ++k) {
      if (pfds[k].revents == 0) continue;
      size_t i = 0;
      while (i < clients_.size() && clients_[i].fd != pfds[k].fd) ++i;
      if (i == clients_.size()) continue;
      if (!serve(i)) {
        resolve_handed(clients_[i].fd);  // before its number can be reused
        sys::close(clients_[i].fd);
        clients_.remove_at(i);
      } else {
        batch = batch || clients_[i].kept;
      }
    }
    // After the hand-overs: an unlink seen here is of a record whose memfd
    // came before it, or that do_hold found gone.
    if (pfds[kInotifySlot].revents & POLLIN) {
      read_unlinks();
      batch = true;
    }
    if (r > 0 && (pfds[kElectionSlot].revents & POLLIN) && election_ >= 0)
      accept_clients(election_);
    if (r > 0 && (pfds[kOwnSlot].revents & POLLIN)) accept_clients(own_);
    if (must_retire()) retire();
    // Passed on what was in flight: let the successor go idle when it can.
    if (successor_ >= 0) {
      sys::close(successor_);
      successor_ = -1;
    }
    // A batch of many means a stream faster than naps keep up with: read on
    // at once, so that what is in flight (which a retiring keeper must find
    // room for) stays short.
    if (batch) nap_until = served_ >= kBusyBatch ? 0 : now + kBatchMs;
    if (table_ != nullptr && now >= next_events_at_) read_events();
    if (now - last_sweep >= kSweepMs) {
      sweep();
      last_sweep = now;
    }
    if (!held_.empty() || !clients_.empty()) {
      idle_since = now;
    } else if (now - idle_since >= kIdleExitMs) {
      // Closing the listener resets any client not yet greeted, which then
      // starts another keeper; nothing is held, nothing is lost.
      log("idle, exiting");
      if (election_ >= 0) sys::close(election_);
      sys::close(own_);
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
  if (sys::call(SYS_close_range, kStatusFd + 1, ~0u, 0) != 0) {
    long top = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 65536 ? (long)lim.rlim_cur
                                                                              : 65536;
    for (long fd = kStatusFd + 1; fd < top; ++fd) sys::close((int)fd);
  }
  // Every object costs one descriptor: take all the kernel allows us.
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  long fd_limit = 1024;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    fd_limit = (long)lim.rlim_cur;
  // Unlinks seen as they happen, so nobody has to tell us; without inotify
  // (out of instances), unlinkers send kDrop and the sweep catches the rest.
  int inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify >= 0) {
    char path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", kDirFd);
    if (inotify_add_watch(inotify, path, IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR) < 0) {
      sys::close(inotify);
      inotify = -1;
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
  Keeper keeper(dir, election, own, inotify, fd_limit);
  return keeper.run();
}
