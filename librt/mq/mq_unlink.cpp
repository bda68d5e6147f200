// mq_unlink (see mq_name.h).
#include <mqueue.h>

#include "export.h"
#include "mq/mq_name.h"

LAMBSHM_EXPORT int mq_unlink(const char* name) noexcept {
  return lambshm::posix_result(lambshm::mq::unlink(name));
}
