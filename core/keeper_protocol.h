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

namespace lambshm::keeper {

// The file at an object's name when its pages are a memfd held by a keeper.
// Its mode has S_ISVTX, which no plain object file created by shm_open has
// unless asked for; the size and the magic confirm it.  Every other mode bit
// is the object's, so opening the record checks the caller's permissions as
// opening a plain object file would.
//
// The holder is a process that has the memfd open as descriptor holder_fd:
// the creator when it links the record; the keeper rewrites these two fields
// to name itself once it has been asked for the memfd (the creator had let
// go), so that later openers find it without asking.  keeper_pid is the
// keeper the creator handed the memfd to, which an opener asks by its own
// socket name (below): a keeper that retired (keeper.cpp) still answers
// there.  dev and ino never change, so a torn read of a rewrite fails the
// inode check and the reader asks the keeper.
struct Record {
  char magic[8];
  int32_t holder_pid;
  int32_t holder_fd;  // /proc/PID/fd/FD reopens the memfd ...
  uint64_t dev;       // ... when it is still this inode
  uint64_t ino;
  int32_t keeper_pid;
  int32_t reserved;
};
static_assert(sizeof(Record) == 40);
inline constexpr char kRecordMagic[8] = {'L', 'S', 'H', 'M', 'F', 'D', '3', '\0'};

inline bool looks_like_record(const struct stat& st) {
  return S_ISREG(st.st_mode) && (st.st_mode & S_ISVTX) != 0 && st.st_size == sizeof(Record);
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
};
inline constexpr uint32_t kRequestMagic = 0x4c534b32;  // "LSK2"

struct Request {
  uint32_t magic;
  Op op;
  uint64_t rec_dev, rec_ino;  // the record
  uint64_t dev, ino;          // the memfd (kHold, kGet)
  char name[NAME_MAX + 1];    // the record's name in the directory
};

struct Reply {
  int32_t error;  // 0 or -errno; the greeting's is a set of flags:
  static constexpr int32_t kWatching = 1;  // sees unlinks itself (inotify): no kDrop
};

// One message to receive: `body`, and room for up to N descriptors
// (SCM_RIGHTS).  Not copyable: `msg` points into it.
template <typename Body, int N>
struct Incoming {
  Body body;
  alignas(struct cmsghdr) char control[CMSG_SPACE(N * sizeof(int))];
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
  // The descriptors received (at most N, in `out`): how many.  Call only
  // after a successful recvmsg.
  int descriptors(int* out) {
    int count = 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      for (int k = 0; k < n && count < N; ++k)
        __builtin_memcpy(&out[count++], CMSG_DATA(c) + k * sizeof(int), sizeof(int));
    }
    return count;
  }
};

// Descriptors the keeper is handed at exec: the backing directory, and one
// end of a socket pair on which it writes one status byte once it listens
// (kReady) or finds another keeper listening (kBusy), then closes it.
inline constexpr int kDirFd = 3;
inline constexpr int kStatusFd = 4;
inline constexpr char kReady = 'R';
inline constexpr char kBusy = 'B';

// One keeper per user per backing directory: an abstract Unix socket name
// (no file, gone when the keeper dies; bind() is the election).
inline socklen_t socket_address(uid_t uid, const struct stat& dir, struct sockaddr_un* out,
                                pid_t pid = 0) {
  out->sun_family = AF_UNIX;
  out->sun_path[0] = '\0';
  int n = snprintf(out->sun_path + 1, sizeof out->sun_path - 1, "lambshm-keeper:%u:%llx:%llx",
                   (unsigned)uid, (unsigned long long)dir.st_dev, (unsigned long long)dir.st_ino);
  // Each keeper also answers at a name of its own: the election's name plus
  // ":PID", kept when it retires and releases the election's.
  if (pid != 0)
    n += snprintf(out->sun_path + 1 + n, sizeof out->sun_path - 1 - n, ":%d", (int)pid);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

}  // namespace lambshm::keeper
