#include "aio_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "test_util.h"

namespace lambshm::aio_test {

int thread_count() {
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

long read_syscall_number() {
  static const long number = [] {
    long found = SYS_read;  // if the child cannot be observed
    int fds[2];
    if (pipe(fds) != 0) return found;
    pid_t child = fork();
    if (child == 0) {
      char c;
      close(fds[1]);
      _exit(read(fds[0], &c, 1) == 1 ? 0 : 1);
    }
    close(fds[0]);
    // The system call and its first argument (the pipe, the same number in
    // the child), seen twice in a row: not a passing call.
    std::string path = "/proc/" + std::to_string(child) + "/syscall";
    long last = -1;
    for (int i = 0; child > 0 && i < 3000; ++i) {
      long nr = -1;
      unsigned long arg0 = 0;
      if (FILE* f = fopen(path.c_str(), "r")) {
        if (fscanf(f, "%ld %lx", &nr, &arg0) != 2 || arg0 != (unsigned long)fds[0]) nr = -1;
        fclose(f);
      }
      if (nr >= 0 && nr == last) {
        found = nr;
        break;
      }
      last = nr;
      usleep(10000);
    }
    if (child > 0) {
      (void)!write(fds[1], "x", 1);
      while (waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    close(fds[1]);
    return found;
  }();
  return number;
}

pid_t reader_of(int fd) {
  const long read_nr = read_syscall_number();
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return 0;
  pid_t reader = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string path = std::string("/proc/self/task/") + e->d_name + "/syscall";
    FILE* f = fopen(path.c_str(), "r");
    if (f == nullptr) continue;
    long nr = -1;
    unsigned long arg0 = 0;
    if (fscanf(f, "%ld %lx", &nr, &arg0) == 2 && nr == read_nr && arg0 == (unsigned long)fd)
      reader = (pid_t)atoi(e->d_name);
    fclose(f);
    if (reader != 0) break;
  }
  closedir(d);
  return reader;
}

bool blocked_in_read(int fd) { return reader_of(fd) != 0; }

bool eventually(const std::function<bool()>& pred, int seconds) {
  for (int i = 0; i < seconds * 100; ++i) {
    if (pred()) return true;
    usleep(10000);
  }
  return pred();
}

bool wait_done(const struct aiocb* cb, SuspendFn suspend, ErrorFn error) {
  const struct aiocb* list[1] = {cb};
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += 60;
  while (error(cb) == EINPROGRESS) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec >= deadline.tv_sec) return false;
    struct timespec slice = {1, 0};
    suspend(list, 1, &slice);
  }
  return true;
}

Pipe::Pipe() {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  r = fds[0];
  w = fds[1];
}

Pipe::~Pipe() {
  close(r);
  close(w);
}

TempFile::TempFile(int flags) {
  char name[] = "/tmp/lambshm-aio-XXXXXX";
  fd = mkostemp(name, flags);
  if (fd < 0) throw std::runtime_error("mkostemp failed");
  path = name;
}

TempFile::~TempFile() {
  close(fd);
  unlink(path.c_str());
}

std::string TempFile::contents() const {
  std::string out;
  char buf[4096];
  for (off_t off = 0;;) {
    ssize_t n = pread(fd, buf, sizeof buf, off);
    if (n <= 0) break;
    out.append(buf, n);
    off += n;
  }
  return out;
}

int TempFile::reopen(int flags) const { return open(path.c_str(), flags); }

struct aiocb make_cb(int fd, volatile void* buf, size_t n, off_t offset, int opcode) {
  struct aiocb cb;
  memset(&cb, 0, sizeof cb);
  cb.aio_fildes = fd;
  cb.aio_buf = buf;
  cb.aio_nbytes = n;
  cb.aio_offset = offset;
  cb.aio_lio_opcode = opcode;
  cb.aio_sigevent.sigev_notify = SIGEV_NONE;
  return cb;
}

int test_signal(int index) { return SIGRTMIN + 4 + index; }

void block(int sig) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

bool take_signal(int sig, siginfo_t* info, int seconds) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  struct timespec timeout = {seconds, 0};
  for (;;) {
    int r = sigtimedwait(&set, info, &timeout);
    if (r == sig) return true;
    if (r < 0 && errno == EINTR) continue;
    return false;
  }
}

int drain(int sig) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  struct timespec zero = {0, 0};
  int n = 0;
  siginfo_t info;
  while (sigtimedwait(&set, &info, &zero) == sig) ++n;
  return n;
}

std::string in_child(const std::function<int()>& body, int seconds) {
  lambshm::test::settle_threads();
  fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    alarm(seconds);
    _exit(body());
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  if (WIFSIGNALED(status))
    return std::string("child killed by signal ") + strsignal(WTERMSIG(status)) +
           (WTERMSIG(status) == SIGALRM ? " (timed out)" : "");
  return "child exited with status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace lambshm::aio_test
