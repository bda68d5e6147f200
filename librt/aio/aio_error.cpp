// aio_error and aio_error64: a request's published error code, read without
// any lock (async-signal-safe in POSIX).  A null aiocb is EINVAL rather than
// a crash.
#include <aio.h>

#include <cerrno>

#include "aio_internal.h"
#include "export.h"

namespace lambshm::aio {
namespace {

int error_or_einval(const struct aiocb* cb) { return cb != nullptr ? error_of(cb) : -EINVAL; }

}  // namespace
}  // namespace lambshm::aio

// An error code is >= 0; only a null aiocb gives -1 (errno EINVAL).
LAMBSHM_EXPORT int aio_error(const struct aiocb* cb) noexcept {
  return lambshm::posix_result(lambshm::aio::error_or_einval(lambshm::opaque(cb)));
}

LAMBSHM_EXPORT int aio_error64(const struct aiocb64* cb) noexcept {
  return aio_error(reinterpret_cast<const struct aiocb*>(cb));
}
