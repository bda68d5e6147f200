#include "rt_util.h"

#include <dlfcn.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "test_util.h"

namespace lambshm::test {

int in_child(const std::function<int()>& fn, int timeout_s) {
  settle_threads();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) _exit(fn());
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

bool eventually(const std::function<bool()>& pred, int timeout_ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::string library_of(const void* address) {
  Dl_info info;
  if (dladdr(address, &info) == 0 || info.dli_fname == nullptr) return "";
  return info.dli_fname;
}

void* ours(const char* name, const char* version) {
  static void* librt = dlopen("librt.so.1", RTLD_NOW | RTLD_NOLOAD);
  return librt == nullptr ? nullptr : dlvsym(librt, name, version);
}

bool drop_privileges() {
  if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) return false;
  if (getuid() != 65534 || geteuid() != 65534) return false;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("CapEff:", 0) == 0) return line.find_first_not_of("0\t ", 7) == std::string::npos;
  return false;
}

bool deny_syscalls(std::initializer_list<long> syscalls, int error) {
#if defined(__x86_64__)
  const unsigned arch = AUDIT_ARCH_X86_64;
#else
  const unsigned arch = AUDIT_ARCH_AARCH64;
#endif
  std::vector<struct sock_filter> f = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
  };
  for (long nr : syscalls) {
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1));
    f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)error));
  }
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  struct sock_fprog prog = {(unsigned short)f.size(), f.data()};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

bool forbid_new_threads() {
  if (!drop_privileges()) return false;
  struct rlimit none = {0, 0};
  return setrlimit(RLIMIT_NPROC, &none) == 0;
}

std::string no_seccomp_reason() {
  if (emulator() != nullptr)
    return std::string(emulator()) + " cannot install a seccomp filter (prctl: EINVAL)";
  return "no seccomp here";
}

struct timespec deadline_in(double seconds, clockid_t clock) {
  struct timespec now;
  ::clock_gettime(clock, &now);
  long long ns = now.tv_nsec + (long long)(seconds * 1e9);
  now.tv_sec += ns / 1000000000;
  now.tv_nsec = ns % 1000000000;
  if (now.tv_nsec < 0) {
    now.tv_nsec += 1000000000;
    now.tv_sec -= 1;
  }
  return now;
}

ThreadTraits this_thread_traits() {
  ThreadTraits t;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    int state;
    pthread_attr_getdetachstate(&attr, &state);
    t.detached = state == PTHREAD_CREATE_DETACHED;
    pthread_attr_getstacksize(&attr, &t.stacksize);
    pthread_attr_getguardsize(&attr, &t.guardsize);
    pthread_attr_destroy(&attr);
  }
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  t.sigusr2_blocked = sigismember(&mask, SIGUSR2) == 1;
  return t;
}

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "{" << o.result << ", errno " << o.error << "}";
}

int wait_for(int sig, siginfo_t* info, int seconds) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  struct timespec limit = {seconds, 0};
  return sigtimedwait(&set, info, &limit);
}

void block(int sig) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace lambshm::test
