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

#include <semaphore.h>
#include <sys/types.h>

namespace lambshm::named_sem {

// sem_open: the semaphore, or nullptr with -errno in *error.
sem_t* open(const char* name, int oflag, mode_t mode, unsigned value, int* error);
int close(sem_t* sem);
int unlink(const char* name);

// Number of distinct semaphore files open in this process (for tests and tools).
size_t open_count();

}  // namespace lambshm::named_sem
