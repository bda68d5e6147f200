// sem_open, sem_close and sem_unlink on the backing directory (see
// interpose.h).  sem_close is ours because the table of open semaphores is:
// libc's sem_close would not find a semaphore it did not map.  Everything that
// acts on a sem_t in memory (sem_wait, sem_post, sem_clockwait, ...) is left to
// libc: our semaphores are glibc's sem_t, byte for byte.
#include <fcntl.h>
#include <semaphore.h>

#include <cstdarg>

#include "export.h"
#include "interpose.h"
#include "named_sem.h"

extern "C" sem_t* lambshm_preload_sem_open(const char* name, int oflag, ...) noexcept {
  va_list ap;
  va_start(ap, oflag);
  sem_t* sem = lambshm::named_sem::open_from_c(name, oflag, ap);
  va_end(ap);
  return sem;
}
LAMBSHM_INTERPOSE(sem_open)

extern "C" int lambshm_preload_sem_close(sem_t* sem) noexcept {
  return lambshm::posix_result(lambshm::named_sem::close(sem));
}
LAMBSHM_INTERPOSE(sem_close)

extern "C" int lambshm_preload_sem_unlink(const char* name) noexcept {
  return lambshm::posix_result(lambshm::named_sem::unlink(name));
}
LAMBSHM_INTERPOSE(sem_unlink)
