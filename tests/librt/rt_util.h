// Helpers for the librt suite.
#pragma once

#include <signal.h>
#include <stddef.h>
#include <time.h>

#include <functional>
#include <initializer_list>
#include <ostream>
#include <string>

namespace lambshm::test {

// Runs fn() in a forked child and returns its exit code; a child killed by
// a signal gives 128 + signal, one still running after `timeout_s` is killed
// and gives -1.  For tests that need a fresh single-threaded process (signal
// delivery to "the process", fork behaviour, dropped privileges).
int in_child(const std::function<int()>& fn, int timeout_s = 60);

// Polls pred() until it holds or `timeout_ms` passed: a bound against hangs,
// never a timing assertion.
bool eventually(const std::function<bool()>& pred, int timeout_ms = 30000);

// The path of the shared object that defines the code at `address`.
std::string library_of(const void* address);

// name@version in our librt.so.1 (the one this executable loaded), or null.
void* ours(const char* name, const char* version);

// In a child: become nobody (uid/gid 65534) with no capabilities left.
// False if that did not fully work (the caller then skips).
bool drop_privileges();

// In a child: makes the listed system calls fail with `error` from now on
// (a seccomp filter).  False if seccomp is not available.
bool deny_syscalls(std::initializer_list<long> syscalls, int error);

// In a child: makes thread and process creation fail with EAGAIN from now
// on, without seccomp: becomes nobody (root ignores the limit) with
// RLIMIT_NPROC 0.  False if that did not work.
bool forbid_new_threads();

// Why deny_syscalls() failed, for a skip: qemu-user refuses every seccomp
// filter (prctl(PR_SET_SECCOMP) is EINVAL there, so that the guest cannot
// deny the emulator its own system calls).
std::string no_seccomp_reason();

// What a SIGEV_THREAD notification thread looks like from inside: the
// attributes it runs with and whether SIGUSR2 is blocked in it.  Called by
// the timer and mq notification callbacks.
struct ThreadTraits {
  bool detached = false;
  size_t stacksize = 0;
  size_t guardsize = 0;
  bool sigusr2_blocked = true;
};
ThreadTraits this_thread_traits();

// A call's result and errno, compared and printed by the expectations.
struct Outcome {
  long result;
  int error;
  bool operator==(const Outcome&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Outcome& o);

// A timespec in nanoseconds.
inline long long ns(const struct timespec& t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

// Blocks `sig` in this thread.
void block(int sig);
// Waits up to `seconds` for `sig` (blocked): sigtimedwait's result.
int wait_for(int sig, siginfo_t* info, int seconds = 30);

// Now + seconds on `clock`, as an absolute timeout.
struct timespec deadline_in(double seconds, clockid_t clock = CLOCK_REALTIME);

}  // namespace lambshm::test
