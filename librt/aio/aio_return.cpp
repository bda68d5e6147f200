// aio_return and aio_return64: a request's published result, read without
// any lock (async-signal-safe in POSIX).  A null aiocb is EINVAL rather than
// a crash.
#include <aio.h>

#include <cerrno>

#include "aio_internal.h"
#include "export.h"

namespace lambshm::aio {
namespace {

int return_value(const struct aiocb* cb, ssize_t* value) {
  if (cb == nullptr) return -EINVAL;
  *value = return_of(cb);
  return 0;
}

}  // namespace
}  // namespace lambshm::aio

// The return value may itself be -1 (a failed request): errno is then left
// alone, as glibc does; only a null aiocb sets it.
LAMBSHM_EXPORT ssize_t aio_return(struct aiocb* cb) noexcept {
  ssize_t value;
  if (int r = lambshm::aio::return_value(lambshm::opaque(cb), &value); r < 0) return lambshm::posix_result(r);
  return value;
}

LAMBSHM_EXPORT ssize_t aio_return64(struct aiocb64* cb) noexcept {
  return aio_return(reinterpret_cast<struct aiocb*>(cb));
}
