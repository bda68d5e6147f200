// aio_cancel and aio_cancel64.
#include <aio.h>

#include "aio_internal.h"
#include "export.h"

LAMBSHM_EXPORT int aio_cancel(int fd, struct aiocb* cb) noexcept {
  return lambshm::posix_result(lambshm::aio::cancel(fd, cb));
}

LAMBSHM_EXPORT int aio_cancel64(int fd, struct aiocb64* cb) noexcept {
  return lambshm::posix_result(lambshm::aio::cancel(fd, reinterpret_cast<struct aiocb*>(cb)));
}
