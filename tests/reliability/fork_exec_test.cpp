// fork and exec: every descriptor lambshm creates is close-on-exec at every
// instant (a thread may fork and exec while another is inside sem_open);
// children see the right objects and descriptors; and the named-semaphore
// table stays usable in children of a multithreaded parent that forks while
// its threads are inside sem_open and sem_close.
#include "old_abi.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "api_env.h"
#include "test_util.h"
#include "tracer.h"
#include "victim_run.h"

namespace lambshm::test {
namespace {

struct Call {
  const char* label;
  std::vector<std::string> options;
  bool exists;
  std::vector<std::string> argv;  // NAME is replaced by the test's name
};

void PrintTo(const Call& c, std::ostream* os) { *os << c.label; }

class CloseOnExec : public ::testing::TestWithParam<Call> {};

// Stops the victim at every system call of the call, entry and exit, and
// reads the flags of each of its descriptors from /proc/PID/fdinfo.
TEST_P(CloseOnExec, EveryDescriptorLambshmHoldsIsCloseOnExecAtEveryInstant) {
  static const std::string problem = ptrace_unavailable();
  if (!problem.empty()) GTEST_SKIP() << problem;
  const Call& c = GetParam();
  TempDir root("cloexec");
  std::string dir = root / "shm";
  std::string name = unique_name("cloexec");
  if (c.exists) {
    ASSERT_EQ(mkdir(dir.c_str(), 01777), 0);
    ASSERT_EQ(plant_semaphore(dir, name, 2), 0);
  }
  std::vector<std::string> argv = c.argv;
  for (std::string& a : argv) {
    if (a == "NAME") a = name;
  }
  Tracee t(victim_argv(c.options, argv), victim_env(dir));
  SyscallStop s;
  int stops = 0, seen = 0;
  while (t.next(&s)) {
    ++stops;
    for (const FdInfo& f : fds_of(t.pid())) {
      if (f.fd <= 2) continue;  // the victim's standard streams
      ++seen;
      EXPECT_TRUE(f.flags & O_CLOEXEC)
          << "descriptor " << f.fd << " (" << f.target << ") without O_CLOEXEC at the "
          << (s.entry ? "entry" : "exit") << " of system call " << s.nr;
    }
  }
  t.finish();
  EXPECT_TRUE(parse_victim(t.output()).ok) << t.output();
  EXPECT_GT(seen, 0) << "the call never held a descriptor: nothing was checked";
  printf("[ figures ] %s: %d stops, %d descriptor observations\n", c.label, stops, seen);
}

INSTANTIATE_TEST_SUITE_P(
    Calls, CloseOnExec,
    ::testing::Values(
        Call{"sem_open_creates_first_use", {}, false, {"sem_open", "NAME", "64", "600", "1"}},
        Call{"sem_open_creates_no_O_TMPFILE_first_use", {"--fallback"}, false,
             {"sem_open", "NAME", "64", "600", "1"}},
        Call{"sem_open_opens_first_use", {}, true, {"sem_open", "NAME", "0", "0"}},
        Call{"shm_open_creates_first_use", {}, false, {"shm_open", "NAME", "66", "600"}}),
    [](const ::testing::TestParamInfo<Call>& info) { return std::string(info.param.label); });

std::vector<std::string> fds_in_new_program() {
  ProcResult r = run({"/bin/sh", "-c", "ls /proc/$$/fd"});
  std::vector<std::string> fds;
  size_t start = 0;
  for (size_t nl; (nl = r.out.find('\n', start)) != std::string::npos; start = nl + 1)
    fds.push_back(r.out.substr(start, nl - start));
  return fds;
}

TEST(Exec, ANewProgramInheritsNoDescriptorFromLambshm) {
  std::string name = unique_name("exec");
  sem_t* s = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0);  // opens the directory
  ASSERT_NE(s, SEM_FAILED);
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);  // librt's own directory too
  ASSERT_GE(fd, 0);
  // test_util's run() gives the program exactly 0, 1 and 2; anything else came through exec.
  std::vector<std::string> expected = {"0", "1", "2"};
  EXPECT_EQ(fds_in_new_program(), expected);
  close(fd);
  shm_unlink(name.c_str());
  sem_close(s);
  sem_unlink(name.c_str());
}

bool mapped(const void* addr) { return !mapping_at(addr).empty(); }

// The child inherits the table: its references are the parent's, counted
// separately from then on.
TEST(Fork, AChildInheritsTheTableAndCountsItsReferencesApart) {
  std::string name = unique_name("forkref");
  sem_t* s = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(s, SEM_FAILED);
  ASSERT_EQ(sem_open(name.c_str(), 0), s);  // two references
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  pid_t pid = fork();
  if (pid == 0) {
    int code = 0;
    if (sem_open(name.c_str(), 0) != s) code |= 1;  // three, in the child
    for (int i = 0; i < 3; ++i) {
      if (sem_close(s) != 0) code |= 2;
    }
    if (mapped(s)) code |= 4;                              // the last reference unmaps
    if (sem_close(s) == 0 || errno != EINVAL) code |= 8;  // and no fourth
    char byte = 'c';
    if (pwrite(fd, &byte, 1, 0) != 1) code |= 16;          // the inherited shm descriptor
    _exit(code);
  }
  int status;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(mapped(s));  // the parent's two references are untouched
  EXPECT_EQ(sem_post(s), 0);
  EXPECT_EQ(sem_close(s), 0);
  EXPECT_TRUE(mapped(s));
  EXPECT_EQ(sem_close(s), 0);
  EXPECT_FALSE(mapped(s));
  char byte = 0;
  EXPECT_EQ(pread(fd, &byte, 1, 0), 1);
  EXPECT_EQ(byte, 'c');
  close(fd);
  shm_unlink(name.c_str());
  sem_unlink(name.c_str());
}

// Waits for a child for up to `seconds`; a child still running then is
// taken to be deadlocked, killed, and reported as -1.
int wait_bounded(pid_t pid, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int status;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return status;
}

TEST(Fork, ChildrenOfAMultithreadedParentCanUseTheTable) {
  constexpr int kThreads = 3, kForks = 150, kNames = 4;
  std::vector<std::string> names;
  for (int i = 0; i < kNames; ++i) names.push_back(unique_name("forkmt"));
  sem_t* held = sem_open(names[0].c_str(), O_CREAT, 0600, 1);  // open throughout
  ASSERT_NE(held, SEM_FAILED);
  std::atomic<bool> stop{false};
  std::atomic<long> calls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      unsigned n = (unsigned)t;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::string& name = names[n++ % kNames];
        sem_t* s = sem_open(name.c_str(), O_CREAT, 0600, 1);
        if (s != SEM_FAILED) sem_close(s);
        if (n % 7 == 0 && name != names[0]) sem_unlink(name.c_str());
        calls.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  int deadlocked = 0, failed = 0;
  for (int i = 0; i < kForks; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      int code = 0;
      if (sem_open(names[0].c_str(), 0) != held) code |= 1;
      std::string fresh = names[0] + "-child" + std::to_string(getpid());
      sem_t* s = sem_open(fresh.c_str(), O_CREAT | O_EXCL, 0600, 3);
      int v = -1;
      if (s == SEM_FAILED || sem_getvalue(s, &v) != 0 || v != 3) code |= 2;
      if (s != SEM_FAILED && sem_close(s) != 0) code |= 4;
      if (sem_unlink(fresh.c_str()) != 0) code |= 8;
      if (sem_close(held) != 0) code |= 16;
      _exit(code);
    }
    int status = wait_bounded(pid, 20);
    if (status == -1) ++deadlocked;
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(deadlocked, 0) << "children stuck in sem_open (a lock held across fork)";
  EXPECT_EQ(failed, 0);
  printf("[ figures ] %d forks while %d threads made %ld sem_open/sem_close calls\n", kForks,
         kThreads, calls.load());
  sem_close(held);
  for (const std::string& n : names) sem_unlink(n.c_str());
}

}  // namespace
}  // namespace lambshm::test
