// sem_open on the backing directory (see interpose.h); sem_close and
// sem_unlink are ours too.  Everything that acts on a sem_t in memory
// (sem_wait, sem_post, sem_clockwait, ...) is left to libc: our semaphores are
// glibc's sem_t, byte for byte.
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
