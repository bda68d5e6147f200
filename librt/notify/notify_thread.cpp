#include "notify_thread.h"

#include <sched.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "linux_syscall.h"

namespace lambshm::notify {
namespace {

// Enough for the helpers (a loop around a system call and pthread_create)
// and the aio workers (pread/pwrite, their bookkeeping and pthread_create for
// notifications); glibc gives its helpers the minimum stack too.
// pthread_create refuses it (EINVAL) only when the program's static TLS is
// large, and then the default size is used.
constexpr size_t kSmallStack = 64 * 1024;

long set_kernel_mask(int how, const KernelSigset* set, KernelSigset* old) {
  return sys::call(SYS_rt_sigprocmask, how, set, old, sizeof(KernelSigset));
}

bool all_cpus(const cpu_set_t& set) {
  cpu_set_t full;
  memset(&full, 0xff, sizeof full);
  return memcmp(&set, &full, sizeof set) == 0;
}

// The stack: an address (the user's memory) or a size different from the
// default.  pthread_attr_getstackaddr is the only way to ask whether an
// address was set at all (it returns null otherwise).
int copy_stack(const pthread_attr_t* user, pthread_attr_t* out) {
  void* top = nullptr;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  pthread_attr_getstackaddr(user, &top);
#pragma GCC diagnostic pop
  void* low;
  size_t size;
  if (top != nullptr) {
    int r = pthread_attr_getstack(user, &low, &size);
    return r != 0 ? r : pthread_attr_setstack(out, low, size);
  }
  size_t default_size;
  if (pthread_attr_getstacksize(user, &size) != 0 ||
      pthread_attr_getstacksize(out, &default_size) != 0 || size == default_size)
    return 0;
  return pthread_attr_setstacksize(out, size);
}

int copy_scheduling(const pthread_attr_t* user, pthread_attr_t* out) {
  int value;
  int r = pthread_attr_getscope(user, &value);
  if (r == 0) r = pthread_attr_setscope(out, value);
  if (r == 0) r = pthread_attr_getinheritsched(user, &value);
  if (r == 0) r = pthread_attr_setinheritsched(out, value);
  // Policy and priority matter only with PTHREAD_EXPLICIT_SCHED.
  if (r == 0 && value == PTHREAD_EXPLICIT_SCHED) {
    struct sched_param param;
    r = pthread_attr_getschedpolicy(user, &value);
    if (r == 0) r = pthread_attr_setschedpolicy(out, value);
    if (r == 0) r = pthread_attr_getschedparam(user, &param);
    if (r == 0) r = pthread_attr_setschedparam(out, &param);
  }
  return r;
}

int copy_from(const pthread_attr_t* user, pthread_attr_t* out) {
  int r = copy_scheduling(user, out);
  size_t guard;
  if (r == 0) r = pthread_attr_getguardsize(user, &guard);
  if (r == 0) r = pthread_attr_setguardsize(out, guard);
  if (r == 0) r = copy_stack(user, out);
  // An attribute without a CPU set reports all CPUs: copy only a real set.
  cpu_set_t cpus;
  if (r == 0 && pthread_attr_getaffinity_np(user, sizeof cpus, &cpus) == 0 && !all_cpus(cpus))
    r = pthread_attr_setaffinity_np(out, sizeof cpus, &cpus);
  return r;
}

}  // namespace

int copy_attributes(const pthread_attr_t* user, pthread_attr_t* out) {
  int r = pthread_attr_init(out);
  if (r != 0) return -r;
  if (user != nullptr) r = copy_from(user, out);
  if (r == 0) r = pthread_attr_setdetachstate(out, PTHREAD_CREATE_DETACHED);
  if (r != 0) {
    pthread_attr_destroy(out);
    return -r;
  }
  return 0;
}

int start_thread(void* (*fn)(void*), void* arg, KernelSigset mask) {
  pthread_attr_t attr;
  int r = pthread_attr_init(&attr);
  if (r != 0) return -r;
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, kSmallStack);

  // The new thread inherits the mask in force while it is created, so no
  // signal outside `mask` reaches it before it sets its own.
  KernelSigset old;
  set_kernel_mask(SIG_SETMASK, &mask, &old);
  pthread_t thread;
  r = pthread_create(&thread, &attr, fn, arg);
  if (r == EINVAL) {
    // A program with a large static TLS needs more than our small stack.
    pthread_attr_destroy(&attr);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    r = pthread_create(&thread, &attr, fn, arg);
  }
  set_kernel_mask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  return -r;
}

int start_helper(void* (*fn)(void*), void* arg) {
  // glibc 2.32+ unblocks SIGCANCEL in the new thread anyway: see
  // block_helper_signals.
  return start_thread(fn, arg, ~sig_bit(kSigSetXid));
}

void block_helper_signals() {
  KernelSigset all_but_setxid = ~sig_bit(kSigSetXid);
  set_kernel_mask(SIG_SETMASK, &all_but_setxid, nullptr);
}

void unblock_all_signals() {
  KernelSigset none = 0;
  set_kernel_mask(SIG_SETMASK, &none, nullptr);
}

namespace {

struct Notification {
  void (*function)(union sigval);
  union sigval value;
};

void* run_notification(void* arg) {
  unblock_all_signals();
  Notification n = *static_cast<Notification*>(arg);
  free(arg);
  n.function(n.value);
  return nullptr;
}

}  // namespace

int start_notification(const pthread_attr_t* attributes, void (*function)(union sigval),
                       union sigval value) {
  auto* n = static_cast<Notification*>(malloc(sizeof(Notification)));
  if (n == nullptr) return -ENOMEM;
  *n = {function, value};
  pthread_t thread;
  int r = pthread_create(&thread, attributes, run_notification, n);
  if (r != 0) {
    free(n);
    return -r;
  }
  return 0;
}

int init_callback(const struct sigevent& sev, Callback* cb) {
  int r = copy_attributes(static_cast<const pthread_attr_t*>(sev.sigev_notify_attributes),
                          &cb->attr);
  if (r < 0) return r;
  cb->function = sev.sigev_notify_function;
  cb->value = sev.sigev_value;
  return 0;
}

void destroy_callback(Callback* cb) { pthread_attr_destroy(&cb->attr); }

void fire(const Callback& cb) { start_notification(&cb.attr, cb.function, cb.value); }

}  // namespace lambshm::notify
