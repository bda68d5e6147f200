// aio_fsync and aio_fsync64.  As glibc 2.26: an operation other than O_SYNC
// or O_DSYNC is EINVAL and a descriptor that is not open is EBADF, both at
// once (a read-only descriptor is accepted, as fsync accepts it); the sync is
// queued behind the descriptor's pending requests, so it covers the writes
// submitted before it.
#include <aio.h>
#include <fcntl.h>

#include <cerrno>

#include "aio_internal.h"
#include "aio_syscall.h"
#include "export.h"

namespace lambshm::aio {
namespace {

int fsync_request(int op, struct aiocb* cb) {
  if (op != O_DSYNC && op != O_SYNC) return -EINVAL;
  if (cb == nullptr) return -EINVAL;
  if (sys::fcntl_getfl(cb->aio_fildes) < 0) return -EBADF;
  return submit(cb, op == O_SYNC ? kOpSync : kOpDsync, nullptr);
}

}  // namespace
}  // namespace lambshm::aio

LAMBSHM_EXPORT int aio_fsync(int op, struct aiocb* cb) noexcept {
  return lambshm::posix_result(lambshm::aio::fsync_request(op, lambshm::opaque(cb)));
}

LAMBSHM_EXPORT int aio_fsync64(int op, struct aiocb64* cb) noexcept {
  return lambshm::posix_result(
      lambshm::aio::fsync_request(op, lambshm::opaque(reinterpret_cast<struct aiocb*>(cb))));
}
