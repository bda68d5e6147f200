// This machine's stock glibc implementation of the same functions (libc.so.6,
// GLIBC_2.34 versions, on /dev/shm), for differential and interoperability
// tests.  Defined in a translation unit that does not include old_abi.h.
#pragma once

#include <semaphore.h>
#include <sys/types.h>
#include <time.h>

namespace stock {
int shm_open(const char* name, int oflag, mode_t mode);
int shm_unlink(const char* name);
sem_t* sem_open(const char* name, int oflag, mode_t mode, unsigned value);
sem_t* sem_open_existing(const char* name, int oflag);
int sem_close(sem_t* sem);
int sem_unlink(const char* name);
int sem_init(sem_t* sem, int pshared, unsigned value);
int sem_post(sem_t* sem);
int sem_wait(sem_t* sem);
int sem_trywait(sem_t* sem);
int sem_timedwait(sem_t* sem, const struct timespec* abstime);
int sem_clockwait(sem_t* sem, clockid_t clock, const struct timespec* abstime);
int sem_getvalue(sem_t* sem, int* value);
}  // namespace stock
