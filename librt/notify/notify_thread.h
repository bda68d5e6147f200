// What SIGEV_THREAD notification needs, shared by POSIX timers and message
// queues.  The kernel cannot start threads: for both, a helper thread of ours
// waits for the kernel's event (a signal for timers, a netlink message for
// message queues) and starts a new thread running the user's function, with
// the attributes the user gave (sigevent.sigev_notify_attributes).
#pragma once

#include <pthread.h>
#include <signal.h>

#include <cstdint>

namespace lambshm::notify {

// glibc's internal real-time signals (reserved from applications, which see
// SIGRTMIN = 34): SIGCANCEL (32) doubles as SIGTIMER, the signal glibc's own
// timer helper waits for; SIGSETXID (33) makes every thread run setuid() and
// friends, so no thread may block it for long.
inline constexpr int kSigCancel = 32;
inline constexpr int kSigSetXid = 33;

// The kernel's sigset_t: one bit per signal, 64 signals on x86_64 and aarch64.
using KernelSigset = uint64_t;
inline constexpr KernelSigset sig_bit(int sig) { return KernelSigset{1} << (sig - 1); }

// Initialises *out (for pthread_create) from `user` (nullptr: defaults),
// copying every attribute the public API can read, and makes it detached:
// nobody joins a notification thread.  The copy owns nothing of `user`, which
// the caller may destroy right after timer_create or mq_notify returns.
// 0 or -errno; on failure *out is not initialised.
int copy_attributes(const pthread_attr_t* user, pthread_attr_t* out);

// Starts a detached thread running fn(arg), with a small stack (the default
// one if the program's static TLS leaves no room in it), and with the signals
// in `mask` blocked from its first instruction: the mask is set with a raw
// system call (glibc's pthread_sigmask would leave SIGCANCEL and SIGSETXID
// alone) around pthread_create, and restored after.  0 or -errno.
int start_thread(void* (*fn)(void*), void* arg, KernelSigset mask);

// Starts a detached helper thread running fn(arg), with a small stack and
// every signal blocked but SIGSETXID while it starts.  0 or -errno.
int start_helper(void* (*fn)(void*), void* arg);

// First thing in a helper thread: block every signal but SIGSETXID, with a
// raw system call since pthread_sigmask refuses SIGCANCEL (which the timer
// helper waits for).  The mask inherited from start_helper is not enough:
// glibc 2.32 and later unblock SIGCANCEL in every new thread.
void block_helper_signals();

// Unblocks every signal in the calling thread (a raw system call: SIGCANCEL
// and SIGSETXID too), as glibc 2.26's notification threads run.
void unblock_all_signals();

// Starts a notification thread with `attributes` (from copy_attributes)
// running function(value), with every signal unblocked as in glibc 2.26 (its
// creator, a helper, blocks them all).  0 or -errno; the helpers have nobody to
// report a failure to, so, like glibc, they lose that notification.
int start_notification(const pthread_attr_t* attributes, void (*function)(union sigval),
                       union sigval value);

// A registered SIGEV_THREAD notification (a timer's, a message queue's): the
// user's function and value, and our copy of the attributes.
struct Callback {
  void (*function)(union sigval);
  union sigval value;
  pthread_attr_t attr;
};

// Initialises *cb from `sev` (its function, value and a copy_attributes copy
// of its attributes).  0 or -errno; on failure *cb is not initialised.
int init_callback(const struct sigevent& sev, Callback* cb);

// Destroys an initialised *cb (not the memory it lives in).
void destroy_callback(Callback* cb);

// Starts a notification thread running cb.function(cb.value).  Nobody is told
// of a failure: like glibc, the notification is lost.
void fire(const Callback& cb);

}  // namespace lambshm::notify
