#include "tracer.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "test_util.h"

namespace lambshm::test {

namespace {

int wait_for(pid_t pid, int* status) {
  for (;;) {
    pid_t r = waitpid(pid, status, __WALL);
    if (r >= 0 || errno != EINTR) return r < 0 ? -errno : 0;
  }
}

}  // namespace

std::string ptrace_unavailable() {
  pid_t pid = fork();
  if (pid == 0) {
    if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) _exit(errno & 0x7f);  // never 0
    raise(SIGSTOP);
    syscall(SYS_getppid);
    _exit(0);
  }
  int status = 0;
  if (wait_for(pid, &status) < 0 || !WIFSTOPPED(status)) {
    int error = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    if (!WIFEXITED(status)) wait_for(pid, &status);
    std::string why = "ptrace(PTRACE_TRACEME) fails";
    if (error != 0) why += std::string(" (") + strerror(error) + ")";
    // qemu-user does not implement ptrace for its guest (ENOSYS): nothing
    // of a guest's system calls can be traced there.
    if (emulator() != nullptr) return std::string(emulator()) + " cannot trace a guest: " + why;
    return why + " here";
  }
  std::string why;
  ptrace(PTRACE_SETOPTIONS, pid, nullptr, (void*)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL));
  if (ptrace(PTRACE_SYSCALL, pid, nullptr, nullptr) != 0 || wait_for(pid, &status) < 0 ||
      !WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80)) {
    why = "ptrace(PTRACE_SYSCALL) does not stop at system calls";
  } else {
    __ptrace_syscall_info info{};
    if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void*)sizeof info, &info) <= 0)
      why = "PTRACE_GET_SYSCALL_INFO is missing (Linux before 5.3)";
  }
  kill(pid, SIGKILL);
  while (wait_for(pid, &status) == 0 && !WIFEXITED(status) && !WIFSIGNALED(status)) {
  }
  return why;
}

Tracee::Tracee(const std::vector<std::string>& argv, const std::vector<std::string>& env,
               const std::vector<std::pair<int, int>>& pass) {
  out_fd_ = memfd_create("tracee-output", MFD_CLOEXEC);
  if (out_fd_ < 0) throw std::runtime_error("memfd_create failed");
  std::vector<char*> cargv, cenv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const std::string& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // Only 0-2 and the descriptors asked for: the program's own accounting
    // of descriptors starts from a known set.  Everything passed is first
    // moved out of the way, so that no target number clobbers a source.
    constexpr int kParking = 900;
    for (size_t i = 0; i < pass.size(); ++i) dup2(pass[i].first, kParking + (int)i);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(out_fd_, 1);
    dup2(out_fd_, 2);
    for (int fd = 3; fd < kParking; ++fd) close(fd);
    for (size_t i = 0; i < pass.size(); ++i) {
      dup2(kParking + (int)i, pass[i].second);  // dup2 clears FD_CLOEXEC
      close(kParking + (int)i);
    }
    for (int fd = kParking + (int)pass.size(); fd < 1024; ++fd) close(fd);
    if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) _exit(126);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  int status;
  if (wait_for(pid_, &status) < 0 || !WIFSTOPPED(status)) {
    ended_ = true;
    status_ = status;
    throw std::runtime_error("the traced program did not stop after execve");
  }
  ptrace(PTRACE_SETOPTIONS, pid_, nullptr,
         (void*)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL));
}

Tracee::~Tracee() {
  if (!ended_) kill();
  if (out_fd_ >= 0) close(out_fd_);
}

bool Tracee::step(SyscallStop* s) {
  while (!ended_) {
    if (ptrace(PTRACE_SYSCALL, pid_, nullptr, (void*)(long)pending_signal_) != 0) {
      kill();
      return false;
    }
    pending_signal_ = 0;
    int status;
    if (wait_for(pid_, &status) < 0) {
      ended_ = true;
      return false;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      ended_ = true;
      status_ = status;
      return false;
    }
    if (!WIFSTOPPED(status)) continue;
    int sig = WSTOPSIG(status);
    if (sig != (SIGTRAP | 0x80)) {
      // A ptrace event (none asked for) or a signal for the program: deliver it.
      if ((status >> 16) == 0) pending_signal_ = sig;
      continue;
    }
    __ptrace_syscall_info info{};
    if (ptrace(PTRACE_GET_SYSCALL_INFO, pid_, (void*)sizeof info, &info) <= 0) continue;
    if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
      s->entry = true;
      s->nr = (long)info.entry.nr;
      for (int i = 0; i < 6; ++i) s->args[i] = info.entry.args[i];
      s->ret = 0;
      return true;
    }
    if (info.op == PTRACE_SYSCALL_INFO_EXIT) {
      s->entry = false;  // nr and args stay those of the entry stop
#if defined(__x86_64__)
      if (injecting_) {
        user_regs_struct regs;
        ptrace(PTRACE_GETREGS, pid_, nullptr, &regs);
        regs.rax = (unsigned long long)(long long)-inject_err_;
        ptrace(PTRACE_SETREGS, pid_, nullptr, &regs);
        info.exit.rval = -inject_err_;
      }
#endif
      injecting_ = false;
      s->ret = (long)info.exit.rval;
      return true;
    }
  }
  return false;
}

bool Tracee::next(SyscallStop* s) {
  while (marks_ < 2) {
    if (!step(s)) return false;
    if (s->entry && s->nr == SYS_getppid) {
      if (++marks_ == 2) return false;
      continue;
    }
    if (marks_ == 1) return true;
  }
  return false;
}

bool Tracee::fail_current(int err) {
#if defined(__x86_64__)
  user_regs_struct regs;
  if (ptrace(PTRACE_GETREGS, pid_, nullptr, &regs) != 0) return false;
  regs.orig_rax = (unsigned long long)-1;  // the kernel skips the call
  if (ptrace(PTRACE_SETREGS, pid_, nullptr, &regs) != 0) return false;
  injecting_ = true;
  inject_err_ = err;
  return true;
#else
  (void)err;
  return false;
#endif
}

bool Tracee::poke(uint64_t addr, const void* bytes, size_t length) {
  iovec local{const_cast<void*>(bytes), length};
  iovec remote{reinterpret_cast<void*>(addr), length};
  return process_vm_writev(pid_, &local, 1, &remote, 1, 0) == (ssize_t)length;
}

void Tracee::kill() {
  if (ended_) return;
  ::kill(pid_, SIGKILL);
  int status;
  while (wait_for(pid_, &status) == 0) {
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      status_ = status;
      break;
    }
  }
  ended_ = true;
}

int Tracee::finish() {
  while (!ended_) {
    if (ptrace(PTRACE_CONT, pid_, nullptr, (void*)(long)pending_signal_) != 0) {
      kill();
      break;
    }
    pending_signal_ = 0;
    int status;
    if (wait_for(pid_, &status) < 0) break;
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      ended_ = true;
      status_ = status;
    } else if (WIFSTOPPED(status) && WSTOPSIG(status) != (SIGTRAP | 0x80) &&
               (status >> 16) == 0) {
      pending_signal_ = WSTOPSIG(status);
    }
  }
  return status_;
}

const std::string& Tracee::output() {
  output_.clear();
  char buf[4096];
  off_t off = 0;
  for (;;) {
    ssize_t n = pread(out_fd_, buf, sizeof buf, off);
    if (n <= 0) break;
    output_.append(buf, (size_t)n);
    off += n;
  }
  return output_;
}

std::vector<FdInfo> fds_of(pid_t pid) {
  std::vector<FdInfo> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    FdInfo info{atoi(e->d_name), "", 0};
    char target[4096];
    ssize_t n = readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n < 0) continue;  // closed meanwhile
    info.target.assign(target, (size_t)n);
    std::ifstream fdinfo("/proc/" + std::to_string(pid) + "/fdinfo/" + e->d_name);
    std::string key;
    while (fdinfo >> key) {
      if (key == "flags:") {
        std::string octal;
        fdinfo >> octal;
        info.flags = (unsigned)strtoul(octal.c_str(), nullptr, 8);
        break;
      }
    }
    out.push_back(info);
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const FdInfo& a, const FdInfo& b) { return a.fd < b.fd; });
  return out;
}

}  // namespace lambshm::test
