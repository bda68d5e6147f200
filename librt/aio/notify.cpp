#include "notify.h"

#include <pthread.h>
#include <stdlib.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <new>

#include "aio_syscall.h"
#include "futex.h"
#include "notify/notify_thread.h"

namespace lambshm::aio::notify {

class HeldThread {
 public:
  void (*function)(union sigval);
  union sigval value;
  std::atomic<uint32_t> released;  // futex word: 0 while held
};

namespace {

uint32_t* word(HeldThread* h) { return reinterpret_cast<uint32_t*>(&h->released); }

void* notification_main(void* arg) {
  // The thread was created by an aio worker, which blocks every signal; the
  // function runs with none blocked, as glibc's notification threads do.
  lambshm::notify::unblock_all_signals();
  auto* held = static_cast<HeldThread*>(arg);
  while (held->released.load(std::memory_order_acquire) == 0)
    futex::wait(word(held), 0, nullptr, CLOCK_MONOTONIC, /*shared=*/false);
  void (*function)(union sigval) = held->function;
  union sigval value = held->value;
  free(held);
  function(value);
  return nullptr;
}

// pthread_create with the sigevent's attributes, or detached defaults.
int create(const struct sigevent& sev, HeldThread* held) {
  pthread_attr_t defaults;
  pthread_attr_t* attr = sev.sigev_notify_attributes;
  if (attr == nullptr) {
    pthread_attr_init(&defaults);
    pthread_attr_setdetachstate(&defaults, PTHREAD_CREATE_DETACHED);
    attr = &defaults;
  }
  pthread_t thread;
  int rc = pthread_create(&thread, attr, notification_main, held);
  if (attr == &defaults) pthread_attr_destroy(&defaults);
  return -rc;
}

int queue_signal(const struct sigevent& sev, pid_t tid) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  info.si_signo = sev.sigev_signo;
  info.si_code = SI_ASYNCIO;
  info.si_pid = sys::getpid();
  info.si_uid = sys::getuid();
  info.si_value = sev.sigev_value;
  return tid == 0 ? sys::rt_sigqueueinfo(info.si_pid, sev.sigev_signo, &info)
                  : sys::rt_tgsigqueueinfo(info.si_pid, tid, sev.sigev_signo, &info);
}

}  // namespace

int check(const struct sigevent& sev) {
  switch (sev.sigev_notify) {
    case SIGEV_SIGNAL:
      return (unsigned)sev.sigev_signo > sys::kMaxSignal ? -EINVAL : 0;
    case SIGEV_THREAD_ID:
      if ((unsigned)sev.sigev_signo > sys::kMaxSignal || sev._sigev_un._tid <= 0) return -EINVAL;
      return sys::tgkill(sys::getpid(), sev._sigev_un._tid, 0) == 0 ? 0 : -EINVAL;
    case SIGEV_THREAD:
      return sev.sigev_notify_function == nullptr ? -EINVAL : 0;
    default:
      return 0;
  }
}

HeldThread* start_held(const struct sigevent& sev, int* error) {
  auto* held = static_cast<HeldThread*>(malloc(sizeof(HeldThread)));
  if (held == nullptr) {
    *error = -ENOMEM;
    return nullptr;
  }
  new (held) HeldThread{sev.sigev_notify_function, sev.sigev_value, {0}};
  if (int r = create(sev, held); r < 0) {
    free(held);
    *error = r;
    return nullptr;
  }
  return held;
}

void release(HeldThread* held) {
  uint32_t* w = word(held);
  held->released.store(1, std::memory_order_release);
  // The thread may already have seen the store and freed `held`: a wake on a
  // private futex only names the address, it never touches the memory.
  futex::wake(w, 1, /*shared=*/false);
}

int deliver(const struct sigevent& sev) {
  switch (sev.sigev_notify) {
    case SIGEV_SIGNAL:
      return queue_signal(sev, 0);
    case SIGEV_THREAD_ID:
      return queue_signal(sev, sev._sigev_un._tid);
    case SIGEV_THREAD: {
      if (sev.sigev_notify_function == nullptr) return -EINVAL;
      int error = 0;
      HeldThread* held = start_held(sev, &error);
      if (held == nullptr) return error;
      release(held);
      return 0;
    }
    default:
      return 0;
  }
}

}  // namespace lambshm::aio::notify
