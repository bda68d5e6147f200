// Helpers for the aio suites: descriptors, aiocbs, waiting with generous
// bounds, signals, thread counts, and running a body in a forked child.
// Nothing here calls an aio function itself: callers pass the implementation
// (ours, bound with aio_bind.h, or stock glibc's) as function pointers.
#pragma once

#include <aio.h>
#include <signal.h>

#include <functional>
#include <string>

namespace lambshm::aio_test {

using ErrorFn = int (*)(const struct aiocb*);
using SuspendFn = int (*)(const struct aiocb* const[], int, const struct timespec*);

// Threads of this process (entries of /proc/self/task).
int thread_count();

// The thread of this process blocked in read(fd) (from
// /proc/self/task/*/syscall), or 0; whether there is one: proof that a
// request on `fd` has a worker.
pid_t reader_of(int fd);
bool blocked_in_read(int fd);

// The number /proc/PID/syscall shows for a task blocked in read(2).  The
// kernel shows the system call it is serving: natively SYS_read, but under
// a user-mode emulator the emulator's own, of the host's architecture
// (qemu-aarch64 on x86_64 blocks in x86_64's read, 0, not aarch64's 63).
// Learned once from a child process known to be blocked in read.
long read_syscall_number();

// Waits until pred() holds, polling every 10 ms for at most `seconds`.
bool eventually(const std::function<bool()>& pred, int seconds = 30);

// Waits (with `suspend`) until `cb` has a result; false after 60 seconds.
bool wait_done(const struct aiocb* cb, SuspendFn suspend, ErrorFn error);

struct Pipe {
  Pipe();
  ~Pipe();
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  int r = -1, w = -1;
};

// A read-write regular file in /tmp, already unlinked; `flags` are added to O_RDWR.
struct TempFile {
  explicit TempFile(int flags = 0);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int fd = -1;
  std::string contents() const;  // the whole file
  // Another descriptor for the same file, opened with `flags` (O_RDONLY, O_WRONLY, ...).
  int reopen(int flags) const;
  std::string path;
};

struct aiocb make_cb(int fd, volatile void* buf, size_t n, off_t offset = 0, int opcode = LIO_READ);

// A realtime signal for the tests, blocked in the calling thread (and so in
// every thread it creates from then on).
int test_signal(int index);
void block(int sig);
// Takes one instance of `sig` queued to this thread or the process, waiting
// at most `seconds`; false if none came.
bool take_signal(int sig, siginfo_t* info, int seconds);
// How many instances of `sig` are queued now (and takes them).
int drain(int sig);

// Runs `body` in a forked child that is killed after `seconds`; returns a
// description of how the child ended ("" when it exited 0).
std::string in_child(const std::function<int()>& body, int seconds = 60);

// Child bodies report the first failed check on stderr and exit non-zero.
#define CHILD_CHECK(cond)                                                    \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                              \
    }                                                                        \
  } while (0)

}  // namespace lambshm::aio_test
