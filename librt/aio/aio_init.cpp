// aio_init (a GNU extension): aio_threads is honoured until the first request
// is submitted, aio_idle_time (seconds an idle worker waits for work before
// it exits; negative: exit at once) whenever it is not zero.  aio_num sizes
// glibc's preallocated request table; we allocate per request, so it is
// accepted and has no effect.
#include <aio.h>

#include "aio_internal.h"
#include "export.h"

LAMBSHM_EXPORT void aio_init(const struct aioinit* init) noexcept {
  lambshm::aio::configure(lambshm::opaque(init));
}
