// Memfds made in advance by the keeper, so that a create neither makes one
// nor hands one over (keeper_protocol.h, Batch; docs/small-objects.md).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>

namespace lambshm::memfd_store {

struct Premade {
  int fd;          // ours: high, O_CLOEXEC; the caller closes it
  pid_t keeper;    // the keeper holding the other copy ...
  int keeper_fd;   // ... as this descriptor
  uint64_t dev, ino;
};

// `euid`: the caller's effective uid (a pool is one user's).

// Makes sure this process has a pool connection to the keeper of `dir`
// (started if need be), which asks for a first batch.  May wait for the
// keeper: call it holding no lock.
void prepare_pool(int dir, const struct stat& dirst, uid_t euid);

// Whether this process has a pool connection for `dirst` (a keeper answered it).
bool pool_connected(const struct stat& dirst, uid_t euid);

// A memfd made in advance by the keeper of `dirst`, for one create: true with
// it in *out.  Never waits: with none at hand it asks for more and says false
// (the caller makes its own).  A forked child starts a pool of its own.
bool take_premade(const struct stat& dirst, uid_t euid, Premade* out);

}  // namespace lambshm::memfd_store
