/* Binds this translation unit's calls to librt's clock_*, timer_*, mq_* and
 * __mq_open_2 at the versions our librt.so.1 defines (generated from the
 * abilist: GLIBC_2.2.5/2.3.3/2.3.4/2.7 on x86_64, GLIBC_2.17 on aarch64).
 * Without this, a program compiled on glibc 2.34 or later binds them to
 * libc.so.6's GLIBC_2.34 versions (or clock_* to GLIBC_2.17) and never
 * reaches our librt.  The old x86_64 timer ABI is reached with dlvsym
 * (rt_util.h: ours()).  Include before any use. */
#pragma once

#include <mqueue.h>

#include "librt_versions.h"
#include "symver.h"

extern "C" mqd_t __mq_open_2(const char* name, int oflag);

#define LAMBSHM_BIND(name) LAMBSHM_SYMVER(name, #name "@" LAMBSHM_VERSION_##name)
LAMBSHM_BIND(timer_create);
LAMBSHM_BIND(timer_delete);
LAMBSHM_BIND(timer_settime);
LAMBSHM_BIND(timer_gettime);
LAMBSHM_BIND(timer_getoverrun);
LAMBSHM_BIND(mq_open);
LAMBSHM_BIND(__mq_open_2);
LAMBSHM_BIND(mq_close);
LAMBSHM_BIND(mq_unlink);
LAMBSHM_BIND(mq_getattr);
LAMBSHM_BIND(mq_setattr);
LAMBSHM_BIND(mq_send);
LAMBSHM_BIND(mq_receive);
LAMBSHM_BIND(mq_timedsend);
LAMBSHM_BIND(mq_timedreceive);
LAMBSHM_BIND(mq_notify);
#ifdef LAMBSHM_VERSION_clock_gettime
LAMBSHM_BIND(clock_getres);
LAMBSHM_BIND(clock_gettime);
LAMBSHM_BIND(clock_settime);
LAMBSHM_BIND(clock_nanosleep);
LAMBSHM_BIND(clock_getcpuclockid);
#endif
#undef LAMBSHM_BIND
