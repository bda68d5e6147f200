// What the aio entry points share.  Every function returns a value >= 0 or
// -errno; errno is written only by the exported functions.  See pool.cpp for
// the design (threads, queues, locking, notification order).
#pragma once

#include <aio.h>
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstdint>

#include "aiocb_layout.h"

namespace lambshm::aio {

// glibc's private operation codes, stored in aio_lio_opcode by aio_fsync.
inline constexpr int kOpDsync = LIO_NOP + 1;
inline constexpr int kOpSync = LIO_NOP + 2;

// The completion state of an aiocb, as aio_error and aio_return report it.
// The return value is written first, the error code last with release
// semantics: whoever sees the final error code also sees the return value.
inline int error_of(const struct aiocb* cb) {
  return __atomic_load_n(&cb->__error_code, __ATOMIC_ACQUIRE);
}
inline ssize_t return_of(const struct aiocb* cb) {
  return __atomic_load_n(&cb->__return_value, __ATOMIC_RELAXED);
}
inline void publish(struct aiocb* cb, ssize_t value, int error) {
  __atomic_store_n(&cb->__return_value, value, __ATOMIC_RELAXED);
  __atomic_store_n(&cb->__error_code, error, __ATOMIC_RELEASE);
}

// A lio_listio call's requests, counted down as they complete (under the
// pool lock).  LIO_WAIT keeps it on the caller's stack and sleeps on
// `finished`, which the request that drops the last reference sets after it
// has sent its own notification (glibc's order); LIO_NOWAIT with a
// notification allocates it (`heap`), and that request delivers `sev` and
// frees it.
struct Group {
  std::atomic<uint32_t> remaining;  // one per pending request, plus one while submitting
  std::atomic<bool> failed;         // a request ended with a return value of -1
  std::atomic<uint32_t> finished;   // futex word: 1 once the last request is through
  bool heap;
  struct sigevent sev;
};

// aio_read, aio_write, aio_fsync, and each lio_listio entry: queues `cb` for
// `op` behind the requests already queued for its descriptor.  On failure the
// aiocb's fields are set as glibc sets them.
int submit(struct aiocb* cb, int op, Group* group);

// aio_cancel: AIO_CANCELED, AIO_NOTCANCELED, AIO_ALLDONE or -errno.
int cancel(int fd, struct aiocb* cb);

// aio_suspend.  A cancellation point.
int suspend(const struct aiocb* const list[], int nent, const struct timespec* timeout);

// aio_init.
void configure(const struct aioinit* init);

// lio_listio; `individual_events` false is the GLIBC_2.2.5 ABI.
int listio(int mode, struct aiocb* const list[], int nent, struct sigevent* sig,
           bool individual_events);

// Wakes aio_suspend callers after a request's result was published.
void announce_completion();
// In a child after fork(): no thread of the parent is suspended here.
void reset_suspend_after_fork();

// Drops the reference lio_listio holds while submitting; true if it was the
// last one (nothing is pending any more).
bool release_submission(Group* group);
// Forgets an interrupted LIO_WAIT group: pending requests stop counting it.
// False if there was nothing left to forget: the last request has already
// dropped its reference and is about to set `finished`.
bool detach(Group* group);
// Once the last reference to a LIO_NOWAIT group is gone: delivers its
// notification and frees it.
void deliver_group(Group* group);

}  // namespace lambshm::aio
