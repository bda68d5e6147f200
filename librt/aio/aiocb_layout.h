// struct aiocb is shared with every program compiled against glibc's <aio.h>:
// programs allocate it, we fill in its private fields (__error_code,
// __return_value, __abs_prio, __policy).  These are the offsets of glibc's
// header on both LP64 targets (x86_64 and aarch64 have the same layout), and
// struct aiocb64 is the same structure there.
#pragma once

#include <aio.h>
#include <signal.h>

#include <cstddef>

namespace lambshm::aio::layout {

static_assert(sizeof(void*) == 8 && sizeof(long) == 8, "LP64 targets only");

static_assert(sizeof(union sigval) == 8);
static_assert(sizeof(struct sigevent) == 64);
static_assert(offsetof(struct sigevent, sigev_value) == 0);
static_assert(offsetof(struct sigevent, sigev_signo) == 8);
static_assert(offsetof(struct sigevent, sigev_notify) == 12);
static_assert(offsetof(struct sigevent, _sigev_un._tid) == 16);
static_assert(offsetof(struct sigevent, sigev_notify_function) == 16);
static_assert(offsetof(struct sigevent, sigev_notify_attributes) == 24);

static_assert(sizeof(struct aiocb) == 168);
static_assert(alignof(struct aiocb) == 8);
static_assert(offsetof(struct aiocb, aio_fildes) == 0);
static_assert(offsetof(struct aiocb, aio_lio_opcode) == 4);
static_assert(offsetof(struct aiocb, aio_reqprio) == 8);
static_assert(offsetof(struct aiocb, aio_buf) == 16);
static_assert(offsetof(struct aiocb, aio_nbytes) == 24);
static_assert(offsetof(struct aiocb, aio_sigevent) == 32);
static_assert(offsetof(struct aiocb, __next_prio) == 96);
static_assert(offsetof(struct aiocb, __abs_prio) == 104);
static_assert(offsetof(struct aiocb, __policy) == 108);
static_assert(offsetof(struct aiocb, __error_code) == 112);
static_assert(offsetof(struct aiocb, __return_value) == 120);
static_assert(offsetof(struct aiocb, aio_offset) == 128);
static_assert(offsetof(struct aiocb, __glibc_reserved) == 136);
static_assert(sizeof(((struct aiocb*)nullptr)->aio_offset) == 8);

// aiocb64 is an alias of the same layout on LP64: the *64 entry points
// reinterpret one as the other.
static_assert(sizeof(struct aiocb64) == sizeof(struct aiocb));
static_assert(alignof(struct aiocb64) == alignof(struct aiocb));
static_assert(offsetof(struct aiocb64, aio_fildes) == offsetof(struct aiocb, aio_fildes));
static_assert(offsetof(struct aiocb64, aio_lio_opcode) == offsetof(struct aiocb, aio_lio_opcode));
static_assert(offsetof(struct aiocb64, aio_reqprio) == offsetof(struct aiocb, aio_reqprio));
static_assert(offsetof(struct aiocb64, aio_buf) == offsetof(struct aiocb, aio_buf));
static_assert(offsetof(struct aiocb64, aio_nbytes) == offsetof(struct aiocb, aio_nbytes));
static_assert(offsetof(struct aiocb64, aio_sigevent) == offsetof(struct aiocb, aio_sigevent));
static_assert(offsetof(struct aiocb64, __abs_prio) == offsetof(struct aiocb, __abs_prio));
static_assert(offsetof(struct aiocb64, __policy) == offsetof(struct aiocb, __policy));
static_assert(offsetof(struct aiocb64, __error_code) == offsetof(struct aiocb, __error_code));
static_assert(offsetof(struct aiocb64, __return_value) == offsetof(struct aiocb, __return_value));
static_assert(offsetof(struct aiocb64, aio_offset) == offsetof(struct aiocb, aio_offset));

static_assert(sizeof(struct aioinit) == 32);
static_assert(offsetof(struct aioinit, aio_threads) == 0);
static_assert(offsetof(struct aioinit, aio_num) == 4);
static_assert(offsetof(struct aioinit, aio_idle_time) == 24);

// The numbers programs pass and glibc's private operation codes after them.
static_assert(LIO_READ == 0 && LIO_WRITE == 1 && LIO_NOP == 2);
static_assert(LIO_WAIT == 0 && LIO_NOWAIT == 1);
static_assert(AIO_CANCELED == 0 && AIO_NOTCANCELED == 1 && AIO_ALLDONE == 2);
static_assert(SIGEV_SIGNAL == 0 && SIGEV_NONE == 1 && SIGEV_THREAD == 2 && SIGEV_THREAD_ID == 4);

}  // namespace lambshm::aio::layout
