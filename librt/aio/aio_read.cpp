// aio_read and aio_read64: the same function (aiocb64 is aiocb on LP64).
#include <aio.h>

#include "aio_internal.h"
#include "export.h"

LAMBSHM_EXPORT int aio_read(struct aiocb* cb) noexcept {
  return lambshm::posix_result(lambshm::aio::submit(lambshm::opaque(cb), LIO_READ, nullptr));
}

LAMBSHM_EXPORT int aio_read64(struct aiocb64* cb) noexcept {
  return lambshm::posix_result(
      lambshm::aio::submit(lambshm::opaque(reinterpret_cast<struct aiocb*>(cb)), LIO_READ, nullptr));
}
