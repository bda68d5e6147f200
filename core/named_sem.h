// Named semaphores: files "sem.NAME" in the backing directory, each holding one
// glibc sem_t, mapped once per process (see sem_table.h).
//
// A new semaphore is never visible half-written: it is initialised in an
// anonymous file (O_TMPFILE; where the filesystem lacks it, a uniquely named
// temporary file) and then hard-linked to its name, which fails if the name
// exists.  So between processes racing on O_CREAT|O_EXCL exactly one links
// and the others get EEXIST; without O_EXCL, the losers open the winner's.
// A creator killed half-way leaves nothing (O_TMPFILE) or at worst a stray
// ".lambshm-tmp-*" file that nobody will open by a semaphore name.
//
// All functions return results as values (-errno), never touching errno.
#pragma once

#include <fcntl.h>
#include <semaphore.h>
#include <sys/types.h>

#include <cstdarg>

#include "export.h"

namespace lambshm::named_sem {

// sem_open: the semaphore, or nullptr with -errno in *error.
sem_t* open(const char* name, int oflag, mode_t mode, unsigned value, int* error);
int close(sem_t* sem);
int unlink(const char* name);

// The C edge of sem_open(name, oflag, ...) for the libraries that export it:
// reads the mode and value that follow oflag when O_CREAT is given, and
// returns SEM_FAILED with errno set on failure.  `ap` is started by the caller.
inline sem_t* open_from_c(const char* name, int oflag, va_list ap) {
  mode_t mode = 0;
  unsigned value = 0;
  if ((oflag & O_CREAT) != 0) {
    mode = va_arg(ap, mode_t);
    value = va_arg(ap, unsigned);
  }
  int error = 0;
  sem_t* sem = open(name, oflag, mode, value, &error);
  if (sem == nullptr) {
    fail_with_errno(-error);
    return SEM_FAILED;
  }
  return sem;
}

}  // namespace lambshm::named_sem
