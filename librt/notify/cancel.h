// Cancellation points around raw system calls.
//
// glibc 2.26 makes a blocking system call a cancellation point by switching
// the calling thread to asynchronous cancellation for the duration of the
// call (LIBC_CANCEL_ASYNC around the syscall): a cancellation already pending
// is acted on at the switch, and one that arrives while the thread sleeps in
// the kernel interrupts the call and unwinds the thread.  We do the same with
// the public pthread API, so mq_send and friends behave as glibc 2.26's on
// any glibc from 2.26.  Known limit, shared with glibc 2.26: a cancellation
// that arrives after the kernel finished the call but before the switch back
// acts anyway, and the call's effect (a message sent or received) is lost
// with the thread.
//
// Only the system call may run inside the window: nothing that takes a lock,
// allocates or owns a resource, since any instruction there may be the last.
#pragma once

#include <pthread.h>

namespace lambshm::cancel {

template <typename Syscall>
inline auto point(Syscall&& syscall) {
  int old_type;
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old_type);
  auto r = syscall();
  pthread_setcanceltype(old_type, &old_type);
  return r;
}

}  // namespace lambshm::cancel
