// Runs a helper program under ptrace and stops it at each of its system calls
// in turn, so that a test can act at every point of a call deterministically:
// kill it there (crash tests), make that system call fail (fault injection),
// let another party act while it is frozen (interleavings), or inspect its
// descriptors (O_CLOEXEC at every instant).
//
// The helper marks the stretch of interest with two raw getppid() system
// calls (lambshm never makes one); `Window` yields only the stops between the
// marks.  Only the traced thread stops: other threads of the helper run on.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lambshm::test {

// Why tracing cannot work here, or empty when it can (ptrace may be forbidden
// by a container's seccomp policy or by Yama).
std::string ptrace_unavailable();

struct SyscallStop {
  bool entry = false;  // syscall-entry stop: the call has not run yet; exit stop: it has
  long nr = -1;
  std::array<uint64_t, 6> args{};  // of the call, at entry and exit alike
  long ret = 0;                    // exit stops only
};

class Tracee {
 public:
  // Starts argv[0] (a path) with exactly `env`, stdin from /dev/null, stdout
  // and stderr captured, and each {ours, theirs} of `pass` given to it as
  // descriptor `theirs`.  Returns once the program is stopped right after
  // execve.
  Tracee(const std::vector<std::string>& argv, const std::vector<std::string>& env,
         const std::vector<std::pair<int, int>>& pass = {});
  ~Tracee();  // kills the program if it still runs
  Tracee(const Tracee&) = delete;
  Tracee& operator=(const Tracee&) = delete;

  // Runs to the next stop inside the window (after the first getppid mark,
  // before the second one).  False once the window is over: the program is
  // then stopped at the second mark, or has ended.
  bool next(SyscallStop* stop);

  // At an entry stop: the call does not run and returns -err instead.
  // Implemented for x86_64 (false elsewhere).
  bool fail_current(int err);

  // At an exit stop: writes `bytes` into the program's memory at `addr`.
  bool poke(uint64_t addr, const void* bytes, size_t length);

  // SIGKILL now; waits for the end.
  void kill();

  // Lets the program run to its end without further stops; its wait status.
  int finish();

  pid_t pid() const { return pid_; }
  const std::string& output();  // stdout and stderr so far, once it ended

 private:
  bool step(SyscallStop* stop);  // to the next syscall stop; false once ended
  pid_t pid_ = -1;
  int status_ = -1;
  bool ended_ = false;
  int marks_ = 0;          // getppid entries seen
  int pending_signal_ = 0;
  bool injecting_ = false;
  int inject_err_ = 0;
  int out_fd_ = -1;
  std::string output_;
};

// What a descriptor of a stopped program is (readlink of /proc/PID/fd/N) and
// its open flags (from /proc/PID/fdinfo/N).
struct FdInfo {
  int fd;
  std::string target;
  unsigned flags;
};
std::vector<FdInfo> fds_of(pid_t pid);

}  // namespace lambshm::test
