// Delivering a struct sigevent: a queued signal to the process (SIGEV_SIGNAL)
// or to one thread (SIGEV_THREAD_ID), both with si_code SI_ASYNCIO, our pid
// and uid, and the sigevent's value; or a new thread running the sigevent's
// function with its attributes (SIGEV_THREAD).  SIGEV_NONE and unknown kinds
// notify nobody, as in glibc.
#pragma once

#include <signal.h>

namespace lambshm::aio::notify {

// glibc turns a notification that cannot be delivered into the request's
// result.  The failures known before delivering are checked here, so that the
// result is final before anyone can see it: a signal number the kernel
// refuses (EINVAL), a SIGEV_THREAD_ID target that is not a thread of this
// process (EINVAL, as timer_create says), a SIGEV_THREAD without a function
// (EINVAL; glibc would call a null pointer).  Returns 0 or -EINVAL.
int check(const struct sigevent& sev);

// A SIGEV_THREAD notification thread, created before the request's result is
// published and held until release(): its function must see the final result,
// and failing to create it must be able to become that result.
class HeldThread;

// Creates the held thread for `sev` (SIGEV_THREAD only).  Returns null and
// sets *error (-errno) if the thread cannot be created.
HeldThread* start_held(const struct sigevent& sev, int* error);
// Lets the thread run the function.  The thread owns and frees `held`.
void release(HeldThread* held);

// Delivers `sev` now.  Returns 0 or -errno (nobody is notified then).
int deliver(const struct sigevent& sev);

}  // namespace lambshm::aio::notify
