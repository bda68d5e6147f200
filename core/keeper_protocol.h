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
struct Record {
  char magic[8];
  int32_t keeper_pid;  // the keeper holding the memfd ...
  int32_t keeper_fd;   // ... as this descriptor: /proc/PID/fd/FD reopens it
  uint64_t dev;        // the memfd's inode: proves /proc/PID/fd/FD is still it
  uint64_t ino;
};
static_assert(sizeof(Record) == 32);
inline constexpr char kRecordMagic[8] = {'L', 'S', 'H', 'M', 'F', 'D', '1', '\0'};

inline bool looks_like_record(const struct stat& st) {
  return S_ISREG(st.st_mode) && (st.st_mode & S_ISVTX) != 0 && st.st_size == sizeof(Record);
}

// Requests, one per connection (SOCK_SEQPACKET), answered by one Reply.
enum class Op : uint32_t {
  // Descriptors: the memfd, then the record (an O_TMPFILE in the directory,
  // mode already set).  The keeper keeps the memfd, writes the record and
  // links it at `name`; an existing live object there is EEXIST, a stale
  // record (its keeper gone) is replaced.
  kCreate = 1,
  // The record (rec_dev, rec_ino) was unlinked from `name`: close its memfd.
  kDrop = 2,
};
inline constexpr uint32_t kRequestMagic = 0x4c534b31;  // "LSK1"

struct Request {
  uint32_t magic;
  Op op;
  uint64_t rec_dev;
  uint64_t rec_ino;
  char name[NAME_MAX + 1];
};

struct Reply {
  int32_t error;  // 0 or -errno
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
inline socklen_t socket_address(uid_t uid, const struct stat& dir, struct sockaddr_un* out) {
  out->sun_family = AF_UNIX;
  out->sun_path[0] = '\0';
  int n = snprintf(out->sun_path + 1, sizeof out->sun_path - 1, "lambshm-keeper:%u:%llx:%llx",
                   (unsigned)uid, (unsigned long long)dir.st_dev, (unsigned long long)dir.st_ino);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

}  // namespace lambshm::keeper
