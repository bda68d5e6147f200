/* Binds this translation unit's calls to the pre-2.34 versions of the shm_*
 * and sem_* functions, the versions lambshm's librt.so.1 and libpthread.so.0
 * define.  Without this, anything compiled on glibc 2.34 or later binds to
 * libc.so.6's GLIBC_2.34 versions and never reaches lambshm.  Include it
 * before any use; only in files that mean to call lambshm. */
#pragma once

#include "symver.h"

#if defined(__x86_64__)
#define LAMBSHM_TEST_BASE_VERSION "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define LAMBSHM_TEST_BASE_VERSION "GLIBC_2.17"
#else
#error "unsupported architecture"
#endif

#define LAMBSHM_BIND_OLD(name) LAMBSHM_SYMVER(name, #name "@" LAMBSHM_TEST_BASE_VERSION)
LAMBSHM_BIND_OLD(shm_open);
LAMBSHM_BIND_OLD(shm_unlink);
LAMBSHM_BIND_OLD(sem_open);
LAMBSHM_BIND_OLD(sem_close);
LAMBSHM_BIND_OLD(sem_unlink);
LAMBSHM_BIND_OLD(sem_init);
LAMBSHM_BIND_OLD(sem_destroy);
LAMBSHM_BIND_OLD(sem_post);
LAMBSHM_BIND_OLD(sem_wait);
LAMBSHM_BIND_OLD(sem_trywait);
LAMBSHM_BIND_OLD(sem_timedwait);
LAMBSHM_BIND_OLD(sem_getvalue);
#undef LAMBSHM_BIND_OLD
// glibc 2.30 added it to libpthread at GLIBC_2.30 on every architecture.
LAMBSHM_SYMVER(sem_clockwait, "sem_clockwait@GLIBC_2.30");
