#include <semaphore.h>

#include "export.h"

// glibc's sem_destroy does nothing, and neither need we: a semaphore owns no resources.
LAMBSHM_EXPORT int sem_destroy(sem_t*) noexcept { return 0; }
