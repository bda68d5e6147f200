/* POSIX asynchronous I/O on a pool of threads, with glibc's semantics.
 * docs/design.md ("The thread pool") tells the whole design; the invariants:
 *
 * - Requests are queued per descriptor, by priority then submission order,
 *   and only a queue's head runs: one request per descriptor at a time.
 * - One lock, g_pool.mutex, guards the queues, the run list, the idle slots,
 *   the thread count and every lio_listio group count.  It is never held while
 *   calling the program or sleeping, and never taken by aio_error, aio_return
 *   or aio_suspend (async-signal-safe).  Nothing is locked after it; futex
 *   words are only woken.
 * - A result is published under the lock together with the request's removal
 *   from its queue: a request is queued (findable by aio_cancel) or final,
 *   never neither.
 * - Completion order: I/O (unlocked); known notification failures become the
 *   result and a SIGEV_THREAD thread is created but held; publish and unqueue
 *   (locked); release the thread or queue the signal; wake aio_suspend; finish
 *   the lio_listio group.  So whoever is notified sees the final result.
 * - Workers block every signal but SIGCANCEL and SIGSETXID: a program's
 *   handler must never run on a worker, and setuid() must not hang.
 * - A pthread_atfork handler holds the lock across fork(); the child, which
 *   has no workers, cancels what it inherited (POSIX: not inherited).
 * - Unused, it costs nothing: all state is static and zero-initialised.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <ctime>

#include "aio_internal.h"
#include "aio_syscall.h"
#include "futex.h"
#include "mutex.h"
#include "notify.h"
#include "notify/notify_thread.h"

namespace lambshm::aio {
namespace {

enum class State : uint8_t {
  kQueued,    // behind the head of its descriptor's queue
  kRunnable,  // head of its queue, in the run list
  kRunning,   // head of its queue, given to a worker
};

// What must happen to a lio_listio group once the pool lock is dropped.
struct GroupAction {
  std::atomic<uint32_t>* finish = nullptr;  // a LIO_WAIT caller sleeps on this word
  Group* deliver = nullptr;                 // a LIO_NOWAIT group to notify and free
};

struct Request {
  struct aiocb* cb;
  int fd;
  int op;
  int prio;
  int policy;
  State state;
  bool notify_ok;  // set when a canceled request's result is published
  struct sigevent sev;  // copied from the aiocb when the request completes
  Group* group;
  GroupAction group_action;
  Request* next_in_fd;  // the descriptor's queue; also links canceled requests
  Request* next_head;   // the bucket's chain of queue heads
  Request* next_run;    // the run list
};

// An idle worker waits on `handed` until a request is put in `request`.
struct IdleSlot {
  std::atomic<uint32_t> handed{0};
  Request* request = nullptr;
  IdleSlot* next = nullptr;
};

constexpr int kBuckets = 32;

struct Pool {
  Mutex mutex;
  Request* heads[kBuckets] = {};
  Request* run_first = nullptr;
  Request* run_last = nullptr;
  IdleSlot* idle = nullptr;
  int threads = 0;
  int finishing = 0;     // workers between their last request and the run list
  int max_threads = 20;  // glibc's default aio_threads
  int idle_seconds = 1;  // glibc's default aio_idle_time
  bool used = false;     // aio_init may change aio_threads only before the first request
};

constinit Pool g_pool;

uint32_t* word(std::atomic<uint32_t>& a) { return reinterpret_cast<uint32_t*>(&a); }

// --- Queues (all under the pool lock) ----------------------------------------

// The link that points at `fd`'s queue head, or the bucket's terminal null link.
Request** head_link(int fd) {
  Request** link = &g_pool.heads[(unsigned)fd % kBuckets];
  while (*link != nullptr && (*link)->fd != fd) link = &(*link)->next_head;
  return link;
}

void run_insert(Request* r) {
  r->state = State::kRunnable;
  r->next_run = nullptr;
  if (g_pool.run_last == nullptr || g_pool.run_last->prio >= r->prio) {
    (g_pool.run_last ? g_pool.run_last->next_run : g_pool.run_first) = r;
    g_pool.run_last = r;
    return;
  }
  Request** link = &g_pool.run_first;
  while ((*link)->prio >= r->prio) link = &(*link)->next_run;
  r->next_run = *link;
  *link = r;
}

Request* run_pop() {
  Request* r = g_pool.run_first;
  if (r == nullptr) return nullptr;
  g_pool.run_first = r->next_run;
  if (g_pool.run_first == nullptr) g_pool.run_last = nullptr;
  r->state = State::kRunning;
  return r;
}

void run_remove(Request* r) {
  Request* prev = nullptr;
  for (Request** link = &g_pool.run_first; *link != nullptr; link = &(*link)->next_run) {
    if (*link == r) {
      *link = r->next_run;
      if (g_pool.run_last == r) g_pool.run_last = prev;
      return;
    }
    prev = *link;
  }
}

// Removes the head `h` from its queue (`link` points at it); the next request
// of the descriptor, if any, becomes the head and runnable.
void unqueue_head(Request** link, Request* h) {
  if (Request* successor = h->next_in_fd) {
    successor->next_head = h->next_head;
    *link = successor;
    run_insert(successor);
  } else {
    *link = h->next_head;
  }
}

GroupAction drop_group_ref(Group* g, bool failed) {
  GroupAction action;
  if (g == nullptr) return action;
  if (failed) g->failed.store(true, std::memory_order_relaxed);
  if (g->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    if (g->heap)
      action.deliver = g;
    else
      action.finish = &g->finished;
  }
  return action;
}

void finish_group(const GroupAction& action) {
  if (action.finish != nullptr) {
    // The LIO_WAIT caller may return, and its group vanish, as soon as it
    // sees the store: the wake only names the address.
    uint32_t* w = word(*action.finish);
    action.finish->store(1, std::memory_order_release);
    futex::wake(w, 1, /*shared=*/false);
  }
  if (action.deliver != nullptr) deliver_group(action.deliver);
}

// --- Workers -----------------------------------------------------------------

void* worker_main(void* arg);

// Starts a worker whose first request is `first`.  Returns 0 or -errno.
int spawn(Request* first) {
  // Everything (but glibc's own two) is blocked before the thread is
  // created, so it starts with them blocked: no signal can reach it even for
  // an instant.
  constexpr lambshm::notify::KernelSigset kAllButInternal =
      ~(lambshm::notify::sig_bit(lambshm::notify::kSigCancel) |
        lambshm::notify::sig_bit(lambshm::notify::kSigSetXid));
  return lambshm::notify::start_thread(worker_main, first, kAllButInternal);
}

bool hand_to_idle(Request* r) {
  IdleSlot* slot = g_pool.idle;
  if (slot == nullptr) return false;
  g_pool.idle = slot->next;
  r->state = State::kRunning;
  slot->request = r;
  slot->handed.store(1, std::memory_order_release);
  futex::wake(word(slot->handed), 1, /*shared=*/false);
  return true;
}

// Gives a new queue head to a worker, or to the run list.  Returns -errno
// only when no worker exists and none can be started (glibc: EAGAIN).
int dispatch(Request* r) {
  if (hand_to_idle(r)) return 0;
  // A worker that just finished looks at the run list before going idle:
  // starting another thread for this request would only add an idle one.
  if (g_pool.finishing == 0 && g_pool.threads < g_pool.max_threads) {
    r->state = State::kRunning;
    int rc = spawn(r);
    if (rc == 0) {
      ++g_pool.threads;
      return 0;
    }
    // Some worker will come back to the run list; with none, nobody would.
    if (g_pool.threads == 0) return rc;
  }
  run_insert(r);
  return 0;
}

// After a worker took a request from the run list: the requests still there
// go to idle workers, or to new ones while fewer than aio_threads exist.
void spread_runnable() {
  while (g_pool.run_first != nullptr &&
         (g_pool.idle != nullptr || g_pool.threads < g_pool.max_threads)) {
    Request* r = run_pop();
    if (hand_to_idle(r)) continue;
    if (spawn(r) == 0) {
      ++g_pool.threads;
      continue;
    }
    r->state = State::kRunnable;  // no thread to be had now: back to the front
    r->next_run = g_pool.run_first;
    g_pool.run_first = r;
    if (g_pool.run_last == nullptr) g_pool.run_last = r;
    break;
  }
}

struct Sched {
  int policy;
  int prio;
};

void adopt_priority(Sched& current, const Request& r) {
  if (r.policy == current.policy && r.prio == current.prio) return;
  current = {r.policy, r.prio};
  struct sched_param param {};
  param.sched_priority = r.prio;
  pthread_setschedparam(pthread_self(), r.policy, &param);
}

template <typename F>
long retry(F f) {
  long r;
  do r = f();
  while (r == -EINTR);
  return r;
}

// The I/O itself: the result or -errno.  Like glibc, only the low 7 bits of a
// read or write opcode count, and a descriptor without offsets (a pipe or
// socket: ESPIPE) is read or written at its current position.
long perform(const Request& r) {
  struct aiocb* cb = r.cb;
  void* buf = const_cast<void*>(cb->aio_buf);
  size_t n = cb->aio_nbytes;
  off_t off = cb->aio_offset;
  long ret;
  if ((r.op & 127) == LIO_READ) {
    ret = retry([&] { return sys::pread(r.fd, buf, n, off); });
    if (ret == -ESPIPE) ret = retry([&] { return sys::read(r.fd, buf, n); });
  } else if ((r.op & 127) == LIO_WRITE) {
    ret = retry([&] { return sys::pwrite(r.fd, buf, n, off); });
    if (ret == -ESPIPE) ret = retry([&] { return sys::write(r.fd, buf, n); });
  } else if (r.op == kOpDsync) {
    ret = retry([&] { return sys::fdatasync(r.fd); });
  } else if (r.op == kOpSync) {
    ret = retry([&] { return sys::fsync(r.fd); });
  } else {
    ret = -EINVAL;
  }
  return ret;
}

// Finishes the request this worker performed (steps 2 to 6 of the design
// comment) and returns the next runnable request, taken in the same lock hold.
Request* complete(Request* r, long ret) {
  r->sev = r->cb->aio_sigevent;
  ssize_t value = ret < 0 ? -1 : ret;
  int error = ret < 0 ? (int)-ret : 0;
  notify::HeldThread* held = nullptr;
  bool deliver = false;
  if (int bad = notify::check(r->sev); bad < 0) {
    value = -1;
    error = -bad;
  } else if (r->sev.sigev_notify == SIGEV_THREAD) {
    int failure = 0;
    held = notify::start_held(r->sev, &failure);
    if (held == nullptr) {
      value = -1;
      error = -failure;
    }
  } else {
    deliver = true;
  }

  Request* next;
  GroupAction group;
  {
    MutexLock lock(g_pool.mutex);
    publish(r->cb, value, error);
    unqueue_head(head_link(r->fd), r);
    group = drop_group_ref(r->group, value == -1);
    next = run_pop();
    if (next != nullptr)
      spread_runnable();
    else
      ++g_pool.finishing;  // until wait_for_work() has looked at the run list
  }
  if (held != nullptr)
    notify::release(held);
  else if (deliver)
    notify::deliver(r->sev);
  announce_completion();
  finish_group(group);
  free(r);
  return next;
}

// Waits for a request to be handed over; null when the idle time ran out (the
// thread has then been removed from the count and must exit).
Request* wait_for_work() {
  g_pool.mutex.lock();
  --g_pool.finishing;
  Request* r = run_pop();
  if (r != nullptr) spread_runnable();
  if (r == nullptr && g_pool.idle_seconds >= 0) {
    IdleSlot slot;
    slot.next = g_pool.idle;
    g_pool.idle = &slot;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += g_pool.idle_seconds;
    for (;;) {
      g_pool.mutex.unlock();
      futex::WaitResult w = futex::wait(word(slot.handed), 0, &deadline, CLOCK_MONOTONIC,
                                        /*shared=*/false);
      g_pool.mutex.lock();
      if (slot.handed.load(std::memory_order_acquire) != 0) {
        r = slot.request;  // the giver took the slot off the idle list
        break;
      }
      if (w == futex::WaitResult::kTimedOut || w == futex::WaitResult::kFailed) {
        IdleSlot** link = &g_pool.idle;
        while (*link != &slot) link = &(*link)->next;
        *link = slot.next;
        break;
      }
    }
  }
  if (r == nullptr) --g_pool.threads;
  g_pool.mutex.unlock();
  return r;
}

void* worker_main(void* arg) {
  Sched current;
  struct sched_param param;
  pthread_getschedparam(pthread_self(), &current.policy, &param);
  current.prio = param.sched_priority;
  for (auto* r = static_cast<Request*>(arg); r != nullptr;) {
    adopt_priority(current, *r);
    r = complete(r, perform(*r));
    if (r == nullptr) r = wait_for_work();
  }
  return nullptr;
}

// --- fork() --------------------------------------------------------------------

void before_fork() { g_pool.mutex.lock(); }
void after_fork_in_parent() { g_pool.mutex.unlock(); }

void after_fork_in_child() {
  g_pool.mutex.reset_after_fork();
  for (Request*& head : g_pool.heads) {
    for (Request* h = head; h != nullptr;) {
      Request* next_head = h->next_head;
      for (Request* r = h; r != nullptr;) {
        Request* next = r->next_in_fd;
        publish(r->cb, -1, ECANCELED);
        Group* g = r->group;
        if (g != nullptr && g->heap && g->remaining.fetch_sub(1) == 1) free(g);
        free(r);
        r = next;
      }
      h = next_head;
    }
    head = nullptr;
  }
  g_pool.run_first = g_pool.run_last = nullptr;
  g_pool.idle = nullptr;
  g_pool.threads = 0;
  g_pool.finishing = 0;
  reset_suspend_after_fork();
}

pthread_once_t g_fork_handlers_once = PTHREAD_ONCE_INIT;

void ensure_fork_safety() {
  pthread_once(&g_fork_handlers_once,
               [] { pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child); });
}

}  // namespace

// --- Entry points --------------------------------------------------------------

int submit(struct aiocb* cb, int op, Group* group) {
  if (cb == nullptr) return -EINVAL;
  if (op == kOpSync || op == kOpDsync) {
    cb->aio_reqprio = 0;
  } else if (cb->aio_reqprio < 0 || cb->aio_reqprio > AIO_PRIO_DELTA_MAX) {
    publish(cb, -1, EINVAL);
    return -EINVAL;
  }
  int policy;
  struct sched_param param;
  pthread_getschedparam(pthread_self(), &policy, &param);
  int prio = param.sched_priority - cb->aio_reqprio;
  ensure_fork_safety();

  auto* r = static_cast<Request*>(malloc(sizeof(Request)));
  if (r == nullptr) return -EAGAIN;
  *r = Request{cb, cb->aio_fildes, op, prio, policy, State::kQueued, false, {}, group, {},
               nullptr, nullptr, nullptr};

  MutexLock lock(g_pool.mutex);
  g_pool.used = true;
  cb->__abs_prio = prio;
  cb->__policy = policy;
  cb->aio_lio_opcode = op;
  publish(cb, 0, EINPROGRESS);
  if (group != nullptr) group->remaining.fetch_add(1, std::memory_order_relaxed);
  Request** link = head_link(r->fd);
  if (Request* p = *link) {
    while (p->next_in_fd != nullptr && p->next_in_fd->prio >= prio) p = p->next_in_fd;
    r->next_in_fd = p->next_in_fd;
    p->next_in_fd = r;
    return 0;
  }
  *link = r;
  if (int rc = dispatch(r); rc < 0) {
    *link = nullptr;  // the descriptor had no queue: r was alone in it
    if (group != nullptr) group->remaining.fetch_sub(1, std::memory_order_relaxed);
    __atomic_store_n(&cb->__error_code, -rc, __ATOMIC_RELEASE);  // glibc leaves __return_value 0
    free(r);
    return rc;
  }
  return 0;
}

int cancel(int fd, struct aiocb* cb) {
  if (sys::fcntl_getfl(fd) < 0) return -EBADF;
  ensure_fork_safety();
  Request* canceled = nullptr;  // linked through next_in_fd
  int result = AIO_ALLDONE;
  {
    MutexLock lock(g_pool.mutex);
    Request** link = head_link(fd);
    Request* head = *link;
    if (cb != nullptr) {
      if (cb->aio_fildes != fd) return -EINVAL;
      if (error_of(cb) != EINPROGRESS) return AIO_ALLDONE;
      Request* prev = nullptr;
      Request* r = head;
      while (r != nullptr && r->cb != cb) {
        prev = r;
        r = r->next_in_fd;
      }
      if (r == nullptr) return -EINVAL;  // EINPROGRESS, but not ours: as glibc
      if (r->state == State::kRunning) return AIO_NOTCANCELED;
      if (prev != nullptr) {
        prev->next_in_fd = r->next_in_fd;
      } else {
        run_remove(r);
        unqueue_head(link, r);
      }
      r->next_in_fd = nullptr;
      canceled = r;
      result = AIO_CANCELED;
    } else if (head != nullptr) {
      if (head->state == State::kRunning) {
        canceled = head->next_in_fd;
        head->next_in_fd = nullptr;
        result = AIO_NOTCANCELED;
      } else {
        run_remove(head);
        *link = head->next_head;
        canceled = head;
        result = AIO_CANCELED;
      }
    }
    for (Request* r = canceled; r != nullptr; r = r->next_in_fd) {
      r->sev = r->cb->aio_sigevent;
      r->notify_ok = notify::check(r->sev) == 0;
      publish(r->cb, -1, r->notify_ok ? ECANCELED : EINVAL);
      r->group_action = drop_group_ref(r->group, true);
    }
  }
  while (Request* r = canceled) {
    canceled = r->next_in_fd;
    if (r->notify_ok) notify::deliver(r->sev);
    announce_completion();
    finish_group(r->group_action);
    free(r);
  }
  return result;
}

void configure(const struct aioinit* init) {
  if (init == nullptr) return;
  ensure_fork_safety();
  MutexLock lock(g_pool.mutex);
  if (!g_pool.used) g_pool.max_threads = init->aio_threads < 1 ? 1 : init->aio_threads;
  if (init->aio_idle_time != 0) g_pool.idle_seconds = init->aio_idle_time;
}

bool release_submission(Group* group) {
  MutexLock lock(g_pool.mutex);
  return group->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1;
}

bool detach(Group* group) {
  MutexLock lock(g_pool.mutex);
  if (group->remaining.load(std::memory_order_relaxed) == 0) return false;
  for (Request* h : g_pool.heads)
    for (; h != nullptr; h = h->next_head)
      for (Request* r = h; r != nullptr; r = r->next_in_fd)
        if (r->group == group) r->group = nullptr;
  return true;
}

}  // namespace lambshm::aio
