// aio_suspend and aio_suspend64: a cancellation point, as in glibc.
#include <aio.h>

#include "aio_internal.h"
#include "export.h"

LAMBSHM_EXPORT int aio_suspend(const struct aiocb* const list[], int nent,
                               const struct timespec* timeout) {
  return lambshm::posix_result(lambshm::aio::suspend(lambshm::opaque(list), nent, timeout));
}

LAMBSHM_EXPORT int aio_suspend64(const struct aiocb64* const list[], int nent,
                                 const struct timespec* timeout) {
  return lambshm::posix_result(lambshm::aio::suspend(
      lambshm::opaque(reinterpret_cast<const struct aiocb* const*>(list)), nent,
      timeout));
}
