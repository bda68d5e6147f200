// The keeper of memfd objects (docs/design.md) under failure: killed, racing
// another keeper, out of descriptors, and a fork in the middle of a handshake.
// Real processes: the built lambshm-keeper, the probe, this test's threads.
#include "old_abi.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api_env.h"
#include "test_util.h"

namespace lambshm::test {
namespace {

std::string probe() { return helper("LAMBSHM_PROBE"); }
std::string probe_stock() { return helper("LAMBSHM_PROBE_STOCK"); }


// core/keeper_protocol.h's record: who holds the memfd (its creator, or the
// keeper once an opener had to ask it), and the memfd's inode.
struct Record {
  char magic[8];
  int32_t pid, fd;
  uint64_t dev, ino;
  int32_t keeper, reserved;
  uint64_t rec_dev, rec_ino, net_ns, pid_ns;
};
constexpr char kMagic[] = "LSHMFD4";

// The keepers of the directory `dir` (their descriptor 3 is the directory),
// by the name the kernel gives them (under qemu-user, /proc/PID/exe is qemu).
std::vector<pid_t> keepers_of(const std::string& dir) {
  std::vector<pid_t> found;
  for (const std::string& e : list_dir("/proc")) {
    if (e.find_first_not_of("0123456789") != std::string::npos) continue;
    char comm[64] = {}, target[4096] = {};
    int fd = open(("/proc/" + e + "/comm").c_str(), O_RDONLY);
    if (fd < 0) continue;
    ssize_t n = read(fd, comm, sizeof comm - 1);
    close(fd);
    if (n <= 0 || std::string(comm, n) != "lambshm-keeper\n") continue;
    if (readlink(("/proc/" + e + "/fd/3").c_str(), target, sizeof target - 1) <= 0) continue;
    if (dir == target) found.push_back((pid_t)std::stoi(e));
  }
  return found;
}

// The keeper of `dir`, or 0 (the test makes sure there is at most one).
pid_t keeper_of(const std::string& dir) {
  std::vector<pid_t> all = keepers_of(dir);
  return all.empty() ? 0 : all[0];
}

// The record at `path`, or magic "" when it is not one.
Record read_record(const std::string& path) {
  Record r{};
  struct stat st;
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return r;
  if (fstat(fd, &st) != 0 || !(st.st_mode & S_ISVTX) || pread(fd, &r, sizeof r, 0) != sizeof r)
    memset(&r, 0, sizeof r);
  close(fd);
  return r;
}

// Gone, and its descriptors with it: a process whose main thread is a zombie
// may still have other threads exiting, holding its descriptors (qemu-user's
// own threads, under emulation).
bool wait_gone(pid_t pid, int ms) {
  std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  for (int i = 0; i < ms; ++i) {
    if (process_gone(pid) && list_dir(fds).empty()) return true;
    usleep(1000);
  }
  return false;
}

// Killed, the keeper takes with it every object nobody else has open, as a
// reboot takes /dev/shm's; an object its creator still has open stays
// reachable by name through the creator.  Stale names are reusable.  Names
// with records here (table_test.cpp has the table's slots).
TEST(Keeper, KilledLosesItsObjectsLikeARebootAndNamesAreReusable) {
  REQUIRE_MEMFD();
  std::string name = record_name("keeper-killed");
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  char* p = static_cast<char*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(p, MAP_FAILED);
  strcpy(p, "before");
  Record rec = read_record(backing_dir() + "/" + name);
  ASSERT_EQ(std::string(rec.magic), kMagic);
  EXPECT_EQ(rec.pid, getpid());  // its creator holds it, until it lets go
  pid_t keeper = keeper_of(backing_dir());
  ASSERT_GT(keeper, 0);
  EXPECT_EQ(rec.keeper, keeper);
  ASSERT_EQ(kill(keeper, SIGKILL), 0);
  ASSERT_TRUE(wait_gone(keeper, 5000));
  // What this process holds still works, and so does its name while we hold it.
  EXPECT_STREQ(p, "before");
  strcpy(p, "after");
  int reopened = shm_open(name.c_str(), O_RDWR, 0);
  ASSERT_GE(reopened, 0) << strerror(errno);
  char seen[8] = {};
  pread(reopened, seen, 5, 0);
  EXPECT_STREQ(seen, "after");
  close(reopened);
  EXPECT_EQ(shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600), -1);
  EXPECT_EQ(errno, EEXIST);
  // Let go: now it is lost, and the name stale: ENOENT, reusable.
  munmap(p, 4096);
  close(fd);
  EXPECT_EQ(shm_open(name.c_str(), O_RDWR, 0), -1);
  EXPECT_EQ(errno, ENOENT);
  int fresh = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fresh, 0) << strerror(errno);
  struct stat st;
  fstat(fresh, &st);
  EXPECT_EQ(st.st_size, 0);  // a new object, not the lost one
  EXPECT_NE(read_record(backing_dir() + "/" + name).ino, rec.ino);
  EXPECT_GT(keeper_of(backing_dir()), 0);  // a new keeper
  close(fresh);
  int opened = shm_open(name.c_str(), O_RDWR, 0);  // from the new keeper
  EXPECT_GE(opened, 0) << strerror(errno);
  close(opened);
  EXPECT_EQ(shm_unlink(name.c_str()), 0);
  // O_CREAT without O_EXCL steps over a stale record too.
  std::string name2 = record_name("keeper-killed2");
  int fd2 = shm_open(name2.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd2, 0);
  close(fd2);
  keeper = keeper_of(backing_dir());
  ASSERT_EQ(kill(keeper, SIGKILL), 0);
  ASSERT_TRUE(wait_gone(keeper, 5000));
  int fd3 = shm_open(name2.c_str(), O_CREAT | O_RDWR, 0600);
  EXPECT_GE(fd3, 0) << strerror(errno);
  close(fd3);
  EXPECT_EQ(shm_unlink(name2.c_str()), 0);
}

// The keeper SIGKILLed again and again while a thread creates, reopens and
// unlinks objects: creators always succeed (a new keeper, or a plain file),
// a reopened object is always the one created (never another object behind a
// reused pid or descriptor number), and a lost one is ENOENT.
TEST(Keeper, KilledAtAnyMomentCreatorsCarryOnAndNothingIsCrossed) {
  REQUIRE_MEMFD();
  std::atomic<bool> stop{false};
  int created = 0, create_failed = 0, same = 0, lost = 0, crossed = 0, other = 0;
  std::thread worker([&] {
    for (int i = 0; !stop.load(); ++i) {
      std::string name = unique_name("kill-loop");
      int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
      if (fd < 0) {
        ++create_failed;
        ADD_FAILURE() << "shm_open O_CREAT|O_EXCL: " << strerror(errno);
        continue;
      }
      ++created;
      char value[32];
      int n = snprintf(value, sizeof value, "object %d", i);
      pwrite(fd, value, n, 0);
      int again = shm_open(name.c_str(), O_RDONLY, 0);
      if (again >= 0) {
        char seen[32] = {};
        pread(again, seen, n, 0);
        if (memcmp(seen, value, n) == 0) ++same; else ++crossed;
        close(again);
      } else if (errno == ENOENT) {
        ++lost;
      } else {
        ++other;
      }
      close(fd);
      shm_unlink(name.c_str());
    }
  });
  int kills = 0;
  for (int round = 0; round < 40; ++round) {
    usleep(25 * 1000);
    pid_t pid = keeper_of(backing_dir());
    if (pid > 0 && kill(pid, SIGKILL) == 0) ++kills;
  }
  stop.store(true);
  worker.join();
  printf("[ figures ] %d keepers killed; %d objects created (%d failed), reopened %d, lost %d, "
         "crossed %d, other errors %d\n",
         kills, created, create_failed, same, lost, crossed, other);
  EXPECT_GT(kills, 5);
  EXPECT_EQ(create_failed, 0);
  EXPECT_EQ(crossed, 0);
  EXPECT_EQ(other, 0);
  EXPECT_GT(same, 0);
}

// Starts the keeper binary directly for `dir`; returns its status socket.
int start_keeper(int dir_fd, pid_t* pid) {
  const char* keeper = getenv("LAMBSHM_TEST_KEEPER");
  int sv[2];
  if (keeper == nullptr || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  *pid = fork();
  if (*pid == 0) {
    dup2(dir_fd, 3);
    dup2(sv[1], 4);
    execl(keeper, "lambshm-keeper", nullptr);
    _exit(127);
  }
  close(sv[1]);
  return sv[0];
}

TEST(Keeper, TwoKeepersRacingToStartEndWithOne) {
  if (getenv("LAMBSHM_TEST_KEEPER") == nullptr) GTEST_SKIP() << "LAMBSHM_TEST_KEEPER is not set";
  for (int round = 0; round < 5; ++round) {
    TempDir root("race");
    int dir = open(root.path().c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(dir, 0);
    constexpr int kKeepers = 6;
    int status_fds[kKeepers];
    pid_t pids[kKeepers];
    for (int i = 0; i < kKeepers; ++i) status_fds[i] = start_keeper(dir, &pids[i]);
    int ready = 0, busy = 0;
    for (int i = 0; i < kKeepers; ++i) {
      char c = 0;
      ASSERT_EQ(read(status_fds[i], &c, 1), 1);
      ready += c == 'R';
      busy += c == 'B';
      close(status_fds[i]);
      waitpid(pids[i], nullptr, 0);
    }
    EXPECT_EQ(ready, 1) << "round " << round;
    EXPECT_EQ(busy, kKeepers - 1) << "round " << round;
    close(dir);
    usleep(1200 * 1000 / 5);  // the winner exits idle on its own
  }
}

// Names with records, too long for the table (core/name_table.h).
std::string long_name(const std::string& prefix, int i) {
  return prefix + std::to_string(i) + "-" + std::string(80, 'r');
}

TEST(Keeper, CreatorsRacingWithNoKeeperShareOne) {
  REQUIRE_MEMFD();
  TempDir root("creators");
  std::string dir = root / "shm";
  constexpr int kCreators = 6;
  std::vector<std::thread> threads;
  std::vector<ProcResult> results(kCreators);
  for (int i = 0; i < kCreators; ++i) {
    threads.emplace_back([&, i] {
      std::string n = long_name("obj", i);
      results[i] = run({probe(), "shm_open " + n + " O_CREAT|O_EXCL|O_RDWR 0600", "pwrite v" + n},
                       {"LAMBSHM_DIR=" + dir});
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kCreators; ++i) {
    std::string n = long_name("obj", i);
    EXPECT_EQ(results[i].out, "shm_open " + n + " O_CREAT|O_EXCL|O_RDWR 0600 -> fd cloexec\n" +
                                  "pwrite v" + n + " -> " + std::to_string(n.size() + 1) + "\n")
        << results[i].err;
    Record r = read_record(dir + "/" + n);
    EXPECT_EQ(std::string(r.magic), kMagic) << n;
  }
  EXPECT_EQ(keepers_of(dir).size(), 1u);
  // The keeper kept none of its starter's pipes (stdout, stderr here).
  pid_t keeper = keeper_of(dir);
  std::string fds = "/proc/" + std::to_string(keeper) + "/fd";
  for (const std::string& e : list_dir(fds)) {
    char target[256] = {};
    readlink((fds + "/" + e).c_str(), target, sizeof target - 1);
    EXPECT_NE(std::string(target).rfind("pipe:", 0), 0u) << "keeper fd " << e << " " << target;
  }
  // All still there after their creators exited: the keeper is asked, and
  // the record then names it, so that the next opener need not ask.
  std::string obj3 = long_name("obj", 3);
  ProcResult check = run({probe(), "shm_open " + obj3 + " O_RDONLY 0", "pread 4"},
                         {"LAMBSHM_DIR=" + dir});
  EXPECT_EQ(check.out, "shm_open " + obj3 + " O_RDONLY 0 -> fd cloexec\npread 4 -> vobj\n")
      << check.err;
  // (It rewrites the record just after answering: allow it a moment.)
  for (int i = 0; i < 100 && read_record(dir + "/" + obj3).pid != keeper; ++i) usleep(10 * 1000);
  EXPECT_EQ(read_record(dir + "/" + obj3).pid, keeper);
  for (int i = 0; i < kCreators; ++i)
    run({probe(), "shm_unlink " + long_name("obj", i)}, {"LAMBSHM_DIR=" + dir});
}

// A keeper retires at half its descriptor limit (keeper.cpp): a fresh one
// takes the name, the old one keeps its objects, and none is lost.
TEST(Keeper, AtItsDescriptorLimitAKeeperHandsOverToAFreshOne) {
  REQUIRE_MEMFD();
  TempDir root("keeper-limit");
  std::string dir = root / "shm";
  // The keeper inherits its starter's limit of 256 descriptors: it retires
  // at 111 objects held (256 / 2 - 16 - its one client), so 250 need several.
  constexpr int kObjects = 250;
  std::string script = "ulimit -n 256 && exec \"$0\" \"$@\"";
  std::vector<std::string> argv = {"/bin/sh", "-c", script, probe()};
  for (int i = 0; i < kObjects; ++i) {
    argv.push_back("shm_open " + long_name("k", i) + " O_CREAT|O_EXCL|O_RDWR 0600");
    argv.push_back("pwrite value" + std::to_string(i));
    argv.push_back("close");
  }
  ProcResult r = run(argv, {"LAMBSHM_DIR=" + dir});
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  int records = 0, plain = 0;
  std::set<int> handed_to;
  for (int i = 0; i < kObjects; ++i) {
    std::string n = long_name("k", i);
    struct stat st;
    ASSERT_EQ(stat((dir + "/" + n).c_str(), &st), 0) << n << "\n" << r.out;
    if (st.st_mode & S_ISVTX) ++records; else ++plain;
    std::string want = "value" + std::to_string(i);
    ProcResult c = run({probe(), "shm_open " + n + " O_RDONLY 0",
                        "pread " + std::to_string(want.size())},
                       {"LAMBSHM_DIR=" + dir});
    EXPECT_EQ(c.out, "shm_open " + n + " O_RDONLY 0 -> fd cloexec\npread " +
                         std::to_string(want.size()) + " -> " + want + "\n")
        << c.err;
    Record rec = read_record(dir + "/" + n);
    handed_to.insert(rec.keeper);
  }
  int keepers = (int)keepers_of(dir).size();
  printf("[ figures ] %d objects under a limit of 256 descriptors: %d memfds held by %d keepers, "
         "%d plain files\n", kObjects, records, keepers, plain);
  EXPECT_EQ(records, kObjects);
  EXPECT_GE(keepers, 2);  // each takes 15, and what was in flight when it retired
  // Every record names the keeper it was handed to, retired or not.
  EXPECT_EQ(handed_to.size(), (size_t)keepers);
  for (int i = 0; i < kObjects; ++i)
    run({probe(), "shm_unlink " + long_name("k", i)}, {"LAMBSHM_DIR=" + dir});
  // Empty, every keeper exits.
  for (int i = 0; i < 100 && !keepers_of(dir).empty(); ++i) usleep(50 * 1000);
  EXPECT_TRUE(keepers_of(dir).empty());
}

TEST(Keeper, CallerOutOfDescriptorsAnswersAsStock) {
  REQUIRE_MEMFD();
  // One descriptor left: stock's shm_open succeeds, so must ours (a plain
  // file then); none left: EMFILE from both.
  for (bool one_left : {true, false}) {
    std::string name = unique_name("fds");
    std::vector<std::string> calls = {"shm_open warm" + name + " O_CREAT|O_RDWR 0600", "close",
                                      "shm_unlink warm" + name, "fill_fds"};
    if (one_left) calls.push_back("free_fd");
    calls.push_back("shm_open " + name + " O_CREAT|O_EXCL|O_RDWR 0600");
    auto with = [&](const std::string& p) {
      std::vector<std::string> argv = {p};
      argv.insert(argv.end(), calls.begin(), calls.end());
      return run(argv, {});
    };
    ProcResult ours = with(probe()), theirs = with(probe_stock());
    auto last = [](const std::string& out) {
      size_t end = out.rfind('\n', out.size() - 2);
      return end == std::string::npos ? out : out.substr(end + 1);
    };
    EXPECT_EQ(last(ours.out), last(theirs.out)) << ours.out << ours.err;
    shm_unlink(name.c_str());
    run({probe_stock(), "shm_unlink " + name}, {});
  }
}

TEST(Keeper, ForkDuringAHandshakeNeitherDeadlocksNorLeaksIntoTheChild) {
  REQUIRE_MEMFD();
  std::atomic<bool> stop{false};
  std::atomic<int> cycles{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::string name = unique_name(("fork" + std::to_string(t)).c_str());
      while (!stop.load()) {
        int fd = shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
        if (fd >= 0) close(fd);
        shm_unlink(name.c_str());
        cycles.fetch_add(1);
      }
    });
  }
  int forks = 0, leaks = 0, failures = 0;
  for (; forks < 200; ++forks) {
    pid_t pid = fork();
    if (pid == 0) {
      alarm(10);  // a deadlock fails the child instead of hanging the suite
      // Inherited: the process's kept connection (one), nothing in flight.
      int sockets = 0;
      DIR* d = opendir("/proc/self/fd");
      while (struct dirent* e = readdir(d)) {
        char link[300], target[256];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0 && strncmp(target, "socket:", 7) == 0) ++sockets;
      }
      closedir(d);
      // The child can use shared memory at once.
      std::string name = unique_name("fork-child");
      int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
      bool ok = fd >= 0 && shm_unlink(name.c_str()) == 0;
      _exit(sockets > 1 ? 3 : ok ? 0 : 4);
    }
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) ++leaks;
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  }
  stop.store(true);
  for (auto& t : threads) t.join();
  printf("[ figures ] %d forks during %d create/unlink cycles\n", forks, cycles.load());
  EXPECT_EQ(leaks, 0);
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace lambshm::test
