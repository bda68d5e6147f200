#include <fcntl.h>
#include <semaphore.h>

#include <cstdarg>

#include "export.h"
#include "named_sem.h"

LAMBSHM_EXPORT sem_t* sem_open(const char* name, int oflag, ...) noexcept {
  va_list ap;
  va_start(ap, oflag);
  sem_t* sem = lambshm::named_sem::open_from_c(name, oflag, ap);
  va_end(ap);
  return sem;
}
