#include <fcntl.h>
#include <semaphore.h>

#include <cstdarg>

#include "export.h"
#include "named_sem.h"

LAMBSHM_EXPORT sem_t* sem_open(const char* name, int oflag, ...) noexcept {
  mode_t mode = 0;
  unsigned value = 0;
  if ((oflag & O_CREAT) != 0) {
    va_list ap;
    va_start(ap, oflag);
    mode = va_arg(ap, mode_t);
    value = va_arg(ap, unsigned);
    va_end(ap);
  }
  int error = 0;
  sem_t* sem = lambshm::named_sem::open(name, oflag, mode, value, &error);
  if (sem == nullptr) {
    errno = -error;
    return SEM_FAILED;
  }
  return sem;
}

LAMBSHM_EXPORT int sem_close(sem_t* sem) noexcept {
  return lambshm::posix_result(lambshm::named_sem::close(sem));
}

LAMBSHM_EXPORT int sem_unlink(const char* name) noexcept {
  return lambshm::posix_result(lambshm::named_sem::unlink(name));
}
