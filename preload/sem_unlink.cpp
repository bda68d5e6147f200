// sem_unlink on the backing directory (see interpose.h).
#include <semaphore.h>

#include "export.h"
#include "interpose.h"
#include "named_sem.h"

extern "C" int lambshm_preload_sem_unlink(const char* name) noexcept {
  return lambshm::posix_result(lambshm::named_sem::unlink(name));
}
LAMBSHM_INTERPOSE(sem_unlink)
