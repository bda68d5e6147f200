// mq_notify, with SIGEV_THREAD over the kernel's netlink protocol.
//
// SIGEV_NONE and SIGEV_SIGNAL go to the kernel as they are.  For
// SIGEV_THREAD the kernel does not start threads; it sends a 32-byte
// "cookie" we gave it (NOTIFY_COOKIE_LEN) to a netlink socket of ours when
// the notification fires (last byte NOTIFY_WOKENUP) or is dropped unfired
// (NOTIFY_REMOVED: mq_notify(NULL), mq_close, queue gone).  Either message is
// the last for that registration.  A helper thread reads the socket and, for
// WOKENUP, starts a detached thread with the user's attributes that runs the
// user's function.  Same protocol as glibc; our cookie holds a pointer to a
// record {function, value, attributes} that the message hands back to us, and
// the helper frees it after either message (glibc 2.26 leaks its copy of the
// attributes after WOKENUP).
//
// Locking: `g_lock` guards the socket and the helper's existence.  fork: the
// child has no helper, and the socket it inherits is the parent's (messages
// for the parent's registrations arrive there); a fork handler closes it in
// the child, whose first SIGEV_THREAD registration opens its own.  glibc
// shares the socket with the child, whose helper can then read the parent's
// cookies.
#include <mqueue.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "export.h"
#include "linux_syscall.h"
#include "mutex.h"
#include "notify/notify_thread.h"

namespace lambshm::mq {
namespace {

// From <linux/mqueue.h>, which cannot be included beside <mqueue.h>.
constexpr size_t kCookieLen = 32;  // NOTIFY_COOKIE_LEN
constexpr unsigned char kWokenUp = 1;  // NOTIFY_WOKENUP
constexpr unsigned char kRemoved = 2;  // NOTIFY_REMOVED

Mutex g_lock;
int g_socket = -1;      // guarded by g_lock; a helper reads it while >= 0
bool g_fork_handlers;   // guarded by g_lock

void free_record(notify::Callback* r) {
  notify::destroy_callback(r);
  free(r);
}

void* helper_main(void* arg) {
  notify::block_helper_signals();
  int sock = (int)reinterpret_cast<intptr_t>(arg);
  for (;;) {
    unsigned char cookie[kCookieLen];
    long n = sys::call(SYS_recvfrom, sock, cookie, sizeof cookie, MSG_NOSIGNAL | MSG_WAITALL,
                       nullptr, nullptr);
    if (n == -EINTR || n == -ENOBUFS || (n >= 0 && n < (long)kCookieLen)) continue;
    if (n < 0) break;  // the socket is gone (the program closed it): stop
    notify::Callback* r;
    memcpy(&r, cookie, sizeof r);
    if (cookie[kCookieLen - 1] == kWokenUp) {
      notify::fire(*r);
      free_record(r);
    } else if (cookie[kCookieLen - 1] == kRemoved) {
      free_record(r);
    }
  }
  MutexLock lock(g_lock);
  if (g_socket == sock) g_socket = -1;  // not ours to close any more
  return nullptr;
}

void before_fork() { g_lock.lock(); }
void after_fork_parent() { g_lock.unlock(); }
void after_fork_child() {
  g_lock.reset_after_fork();
  if (g_socket >= 0) sys::close(g_socket);
  g_socket = -1;
}

// The socket the kernel sends cookies to, with a helper reading it; -errno.
int notification_socket() {
  MutexLock lock(g_lock);
  if (g_socket >= 0) return g_socket;
  if (!g_fork_handlers) {
    if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) return -ENOMEM;
    g_fork_handlers = true;
  }
  // Not bound: the kernel sends to it directly.
  int sock = (int)sys::call(SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (sock < 0) return sock;
  int r = notify::start_helper(helper_main, reinterpret_cast<void*>(static_cast<intptr_t>(sock)));
  if (r < 0) {
    sys::close(sock);
    return r;
  }
  g_socket = sock;
  return sock;
}

int notify_thread(mqd_t q, const struct sigevent* notification) {
  // glibc's errno when it cannot provide SIGEV_THREAD at all.
  int sock = notification_socket();
  if (sock < 0) return -ENOSYS;
  // glibc would call a null function from the notification thread.
  if (notification->sigev_notify_function == nullptr) return -EINVAL;

  auto* record = static_cast<notify::Callback*>(malloc(sizeof(notify::Callback)));
  if (record == nullptr) return -ENOMEM;
  if (int r = notify::init_callback(*notification, record); r < 0) {
    free(record);
    return r;
  }

  unsigned char cookie[kCookieLen] = {};
  memcpy(cookie, &record, sizeof record);
  struct sigevent kernel_event = {};
  kernel_event.sigev_notify = SIGEV_THREAD;
  kernel_event.sigev_signo = sock;
  kernel_event.sigev_value.sival_ptr = cookie;
  long k = sys::call(SYS_mq_notify, q, &kernel_event);
  // On success the record is the helper's, and may already be gone.
  if (k < 0) free_record(record);
  return (int)k;
}

}  // namespace
}  // namespace lambshm::mq

LAMBSHM_EXPORT int mq_notify(mqd_t mqdes, const struct sigevent* notification) noexcept {
  if (notification == nullptr || notification->sigev_notify != SIGEV_THREAD)
    return lambshm::posix_result((int)lambshm::sys::call(SYS_mq_notify, mqdes, notification));
  return lambshm::posix_result(lambshm::mq::notify_thread(mqdes, notification));
}
