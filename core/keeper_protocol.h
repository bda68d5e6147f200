// What the memfd store (memfd_store.cpp) and its keeper (keeper/keeper.cpp)
// agree on: the record file that names an object, and the keeper's socket and
// messages.  docs/design.md explains the design.
#pragma once

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "linux_syscall.h"
#include "name_table.h"

namespace lambshm::keeper {

inline constexpr uint32_t kTableSlots = name_table::kSlots;

// The file at an object's name when its pages are a memfd held by a keeper.
// It is trusted only as far as its owner (trusted_record below): a file
// anyone else made, could have written, or copied from another name is not a
// record of ours, whatever its bytes say.  Its mode is always 0600|S_ISVTX:
// the object's mode is the memfd's, checked when an opener reopens the memfd
// (so fchmod on the object narrows or widens it, as on a file).
//
// The holder is a process that has the memfd open as descriptor holder_fd:
// the creator when it links the record; the keeper rewrites these two fields
// to name itself once it has been asked for the memfd (the creator had let
// go), so that later openers find it without asking.  keeper_pid is the
// keeper the creator hands the memfd to, which an opener asks by its own
// socket name (below): a keeper that retired (keeper.cpp) still answers
// there.  net_ns and pid_ns are that keeper's namespaces (the inode numbers
// of /proc/self/ns/net and /pid): its socket is reachable only from its
// network namespace, and its pid means something only in its pid namespace,
// so a keeper elsewhere never judges the record stale (keeper.cpp).  dev and
// ino never change, so a torn read of a rewrite fails the inode check and the
// reader asks the keeper.
struct Record {
  char magic[8];
  int32_t holder_pid;
  int32_t holder_fd;  // /proc/PID/fd/FD reopens the memfd ...
  uint64_t dev;       // ... when it is still this inode
  uint64_t ino;
  int32_t keeper_pid;
  uint32_t reserved;          // 0
  uint64_t rec_dev, rec_ino;  // the record file itself: a copy elsewhere is not a record
  uint64_t net_ns, pid_ns;    // the keeper's namespaces
};
static_assert(sizeof(Record) == 72);
inline constexpr char kRecordMagic[8] = {'L', 'S', 'H', 'M', 'F', 'D', '4', '\0'};
inline constexpr mode_t kRecordMode = S_ISVTX | S_IRUSR | S_IWUSR;

// Whether `st` may be a record: what a plain object file created by shm_open
// never is (S_ISVTX, and exactly a record's size).
inline bool looks_like_record(const struct stat& st) {
  return S_ISREG(st.st_mode) && (st.st_mode & S_ISVTX) != 0 && st.st_size == sizeof(Record);
}

// Whether the file `st` whose first bytes are `bytes` (n of them) is a record
// `euid` can trust, copied to *out: owned by euid, writable by nobody else,
// its magic, and naming its own inode.
inline bool trusted_record(const struct stat& st, const void* bytes, size_t n, uid_t euid,
                           Record* out) {
  if (!looks_like_record(st) || st.st_uid != euid || (st.st_mode & 07777) != kRecordMode ||
      n != sizeof(Record))
    return false;
  __builtin_memcpy(out, bytes, sizeof *out);
  return __builtin_memcmp(out->magic, kRecordMagic, sizeof out->magic) == 0 &&
         out->rec_dev == (uint64_t)st.st_dev && out->rec_ino == (uint64_t)st.st_ino &&
         out->holder_pid > 0 && out->holder_fd >= 0 && out->keeper_pid >= 0;
}

// Messages on a SOCK_SEQPACKET connection.  The keeper greets every
// connection it accepts with one Reply; a client sends only after reading it,
// so nothing it sends can be lost in a listener that is closing.  A process
// keeps one connection for its one-way messages (its forked children share
// it); a request that needs an answer opens a connection of its own.
//
// The keeper reads the kept connections in batches (keeper.cpp), so a
// one-way message costs its sender a send and no wake-up; a request wakes it
// at once, and it reads everything already sent before it answers.
enum class Op : uint32_t {
  // One-way, with the memfd as its one descriptor.  The keeper keeps it
  // until the record (rec_dev, rec_ino), which the creator links at `name`
  // after sending this, is unlinked from there.
  kHold = 1,
  // One-way: the record (rec_dev, rec_ino) at `name` was unlinked.  Sent
  // only to a keeper that does not watch the directory (Reply::kWatching).
  kDrop = 2,
  // Answered with the memfd whose inode is (dev, ino) as the Reply's one
  // descriptor, or -ENOENT.
  kGet = 3,
  // Answered.  The record (rec_dev, rec_ino) at `name` looked stale to a
  // creator: the keeper removes it if it is (0), or says -EEXIST if it names
  // a live object.  0 also when the name no longer holds that record.
  kClear = 4,
  // One-way, with the memfd as its one descriptor: the object of name-table
  // slot `slot` (name_table.h), live at generation `gen`.  The keeper keeps
  // it exactly while that slot is live at that generation, and writes itself
  // into the slot as its holder.
  kHoldSlot = 5,
  // One-way, on a process's pool connection: asks for `flags` (1 to
  // kBatchMax) fresh memfds, which come back as one Batch.
  kRefill = 7,
};
// Bumped, with the socket name's version (socket_address), whenever a
// message or the record changes: keepers of two versions never meet.
inline constexpr uint32_t kRequestMagic = 0x4c534b35;  // "LSK5"

struct Request {
  uint32_t magic;
  Op op;
  uint64_t rec_dev, rec_ino;  // the record
  uint64_t dev, ino;          // the memfd (kHold, kGet)
  char name[NAME_MAX + 1];    // the record's name in the directory
  uint32_t flags;             // 0, or (kHold) kForwarded
  static constexpr uint32_t kForwarded = 1;  // from a full retired keeper: rewrite the record
  uint32_t slot, gen;         // kHoldSlot
};

// Memfds made in advance for one process's creates (memfd_store.cpp), with
// their descriptors in the keeper, which holds a copy of each.  A create
// names the keeper's copy in its slot (keeper_pid, keeper_fd) and sends
// nothing; the keeper finds out which it used from the table, and closes
// the unused ones when the process's pool connection closes.
inline constexpr int kBatchMax = 16;
inline constexpr uint32_t kBatchMagic = 0x4c534235;  // "LSB5"
struct Batch {
  uint32_t magic;
  uint32_t count;  // descriptors in the message, in this order; 0: none to spare
  struct Entry {
    int32_t keeper_fd;
    uint32_t reserved;
    uint64_t dev, ino;
  } entries[kBatchMax];
};

struct Reply {
  int32_t error;  // 0 or -errno; the greeting's is a set of flags:
  static constexpr int32_t kWatching = 1;  // sees unlinks itself (inotify): no kDrop
};

// The descriptors in the control data `control` (len bytes, as recvmsg left
// it): the first `max` into `out`, the rest to `discard`.  Checks every
// length against the buffer rather than trusting a header.
template <typename Discard>
int take_descriptors(const char* control, size_t len, int* out, int max, Discard discard) {
  int count = 0;
  size_t off = 0;
  while (len - off >= sizeof(struct cmsghdr)) {
    struct cmsghdr c;
    __builtin_memcpy(&c, control + off, sizeof c);
    if (c.cmsg_len < CMSG_LEN(0) || c.cmsg_len > len - off) break;
    if (c.cmsg_level == SOL_SOCKET && c.cmsg_type == SCM_RIGHTS) {
      size_t n = (c.cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t k = 0; k < n; ++k) {
        int fd;
        __builtin_memcpy(&fd, control + off + CMSG_LEN(0) + k * sizeof(int), sizeof fd);
        if (count < max) out[count++] = fd;
        else discard(fd);
      }
    }
    size_t step = CMSG_ALIGN(c.cmsg_len);
    if (step > len - off) break;
    off += step;
  }
  return count;
}

// One message to receive: `body`, and room for up to N descriptors
// (SCM_RIGHTS).  Not copyable: `msg` points into it.
// The most descriptors one message can carry (the kernel's SCM_MAX_FD).
inline constexpr int kMaxDescriptors = 253;

template <typename Body, int N>
struct Incoming {
  Body body;
  // Room for every descriptor a message can carry, so that each one is
  // received, and then kept or closed: none is left where nobody sees it (an
  // emulator such as qemu-user may install them all and pass on only what
  // fits).
  alignas(struct cmsghdr) char control[CMSG_SPACE(kMaxDescriptors * sizeof(int))];
  struct iovec iov;
  struct msghdr msg;
  Incoming() : iov{&body, sizeof body}, msg{} {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  Incoming(const Incoming&) = delete;
  Incoming& operator=(const Incoming&) = delete;
  // The descriptors received: up to N in `out` (how many is returned), and
  // every other one in any SCM_RIGHTS message passed to `discard` (close).
  // Call only after a successful recvmsg.
  template <typename Discard>
  int descriptors(int* out, Discard discard) {
    return take_descriptors(control, msg.msg_controllen, out, N, discard);
  }
};

// Whether `req`, `n` bytes received, is a message this keeper understands:
// its magic, a known operation, and a name that is one file in the directory
// (the keeper looks it up there).
inline bool valid_request(Request* req, long n) {
  if (n != (long)sizeof *req || req->magic != kRequestMagic) return false;
  if (req->op != Op::kHold && req->op != Op::kDrop && req->op != Op::kGet &&
      req->op != Op::kClear && req->op != Op::kHoldSlot &&
      req->op != Op::kRefill)
    return false;
  if (req->op == Op::kRefill) return req->flags >= 1 && req->flags <= (uint32_t)kBatchMax;
  req->name[NAME_MAX] = '\0';
  const char* name = req->name;
  if (req->op == Op::kHoldSlot) return req->slot < kTableSlots;
  bool needs_name = req->op != Op::kGet;
  if (!needs_name) return true;
  if (name[0] == '\0' || __builtin_strcmp(name, ".") == 0 || __builtin_strcmp(name, "..") == 0)
    return false;
  return __builtin_strchr(name, '/') == nullptr;
}

// Descriptors the keeper is handed at exec: the backing directory, and one
// end of a socket pair on which it writes one status byte once it listens
// (kReady) or finds another keeper listening (kBusy), then closes it.
inline constexpr int kDirFd = 3;
inline constexpr int kStatusFd = 4;
inline constexpr char kReady = 'R';
inline constexpr char kBusy = 'B';

// One keeper per user per backing directory: an abstract Unix socket name
// (no file, gone when the keeper dies; bind() is the election).  Anyone may
// bind any abstract name: whoever answers is trusted only once SO_PEERCRED
// says it is the caller's user (and, at a keeper's own name, that pid).
inline constexpr unsigned kVersion = 5;
inline socklen_t socket_address(uid_t uid, const struct stat& dir, struct sockaddr_un* out,
                                pid_t pid = 0) {
  out->sun_family = AF_UNIX;
  out->sun_path[0] = '\0';
  int n = snprintf(out->sun_path + 1, sizeof out->sun_path - 1, "lambshm-keeper:%u:%u:%llx:%llx",
                   kVersion, (unsigned)uid, (unsigned long long)dir.st_dev, (unsigned long long)dir.st_ino);
  // Each keeper also answers at a name of its own: the election's name plus
  // ":PID", kept when it retires and releases the election's.
  if (pid != 0)
    n += snprintf(out->sun_path + 1 + n, sizeof out->sun_path - 1 - n, ":%d", (int)pid);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

// Whether process `pid` (of this pid namespace) is a keeper of the directory
// `dir`: its descriptor kDirFd is that directory.  Asked before connecting to
// a keeper's own name, which anyone may have bound once that keeper is gone.
inline bool is_keeper_of(pid_t pid, const struct stat& dir) {
  char path[48];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, kDirFd);
  struct stat st;
  return sys::fstatat(AT_FDCWD, path, &st, 0) == 0 && st.st_dev == dir.st_dev &&
         st.st_ino == dir.st_ino;
}

}  // namespace lambshm::keeper
