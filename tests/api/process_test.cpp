// Many processes at once, fork and exec, sharing with stock glibc processes,
// and the backing directory as chosen by LAMBSHM_DIR (probe processes, so that
// each starts with its own environment).
#include "old_abi.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "api_env.h"
#include "stock.h"
#include "test_util.h"

namespace lambshm::test {
namespace {

std::string probe() { return helper("LAMBSHM_PROBE"); }
std::string probe_stock() { return helper("LAMBSHM_PROBE_STOCK"); }

int count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t pos = 0; (pos = haystack.find(needle, pos)) != std::string::npos; pos += needle.size())
    ++n;
  return n;
}

// Starts `n` copies of the probe, each running `calls`, all at once, and
// returns their combined output.  Every child is forked from this thread
// while no other thread runs: qemu-user (7.2) can deadlock a child forked
// while another thread runs (it blocks in the emulator's own futex before
// execve).  The probes still run at once: each is started before any output
// is read.
std::string run_many(int n, const std::vector<std::string>& calls,
                     const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv = {probe()};
  argv.insert(argv.end(), calls.begin(), calls.end());
  std::vector<Started> children;
  for (int i = 0; i < n; ++i) children.push_back(start(argv, env));
  std::string all;
  for (const Started& child : children) {  // each pipe holds its child's output meanwhile
    ProcResult r = finish(child);
    all += r.out + (r.signal() ? "killed by signal " + std::to_string(r.signal()) : "");
  }
  return all;
}

TEST(Processes, ExclusiveCreationRaceHasExactlyOneWinner) {
  for (int round = 0; round < 5; ++round) {
    std::string name = unique_name("excl");
    std::string out = run_many(24, {"sem_open " + name + " O_CREAT|O_EXCL 0600 7"});
    EXPECT_EQ(count(out, "-> sem"), 1) << out;
    EXPECT_EQ(count(out, "-> -1 EEXIST"), 23) << out;
    sem_t* s = sem_open(name.c_str(), 0);
    ASSERT_NE(s, SEM_FAILED);
    int v;
    sem_getvalue(s, &v);
    EXPECT_EQ(v, 7);
    sem_close(s);
    sem_unlink(name.c_str());
  }
}

TEST(Processes, ConcurrentCreatorsShareOneSemaphore) {
  std::string name = unique_name("shared");
  std::vector<std::string> before = list_dir(backing_dir());
  std::string out = run_many(24, {"sem_open " + name + " O_CREAT 0600 0", "sem_post"});
  EXPECT_EQ(count(out, "-> sem"), 24) << out;
  EXPECT_EQ(count(out, "sem_post -> 0"), 24) << out;
  sem_t* s = sem_open(name.c_str(), 0);
  ASSERT_NE(s, SEM_FAILED);
  int v;
  sem_getvalue(s, &v);
  EXPECT_EQ(v, 24);
  sem_close(s);
  sem_unlink(name.c_str());
  EXPECT_EQ(list_dir(backing_dir()), before);  // one file came and went; no temporaries
}

TEST(Processes, CreateOpenAndUnlinkRacingNeverExposeABrokenSemaphore) {
  std::string name = unique_name("churn");
  std::vector<std::string> calls;
  for (int i = 0; i < 40; ++i) {
    calls.push_back("sem_open " + name + " O_CREAT 0600 1");
    calls.push_back("sem_getvalue");
    calls.push_back("sem_close");
    calls.push_back("sem_unlink " + name);
  }
  std::string out = run_many(12, calls);
  EXPECT_EQ(count(out, "killed by signal"), 0) << out;
  EXPECT_EQ(count(out, "sem_open " + name + " O_CREAT 0600 1 -> sem"), 12 * 40) << out;
  // A freshly created semaphore has value 1; nobody waits, so every read is 1.
  EXPECT_EQ(count(out, "sem_getvalue -> 1\n"), 12 * 40) << out;
  EXPECT_EQ(count(out, "sem_close -> 0"), 12 * 40) << out;
  EXPECT_EQ(count(out, "-> -1 ") - count(out, "-> -1 ENOENT"), 0) << out;
  sem_unlink(name.c_str());
}

TEST(Processes, AWaiterInAnotherProgramIsWokenByPost) {
  std::string name = unique_name("wake");
  sem_t* s = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(s, SEM_FAILED);
  std::thread poster([&] {
    // Post only once the other program is blocked in sem_wait.
    for (int i = 0; i < 5000; ++i) {
      uint64_t data;
      memcpy(&data, s, sizeof data);
      if ((data >> 32) == 1) break;
      usleep(1000);
    }
    sem_post(s);
  });
  ProcResult r = run({probe(), "sem_open " + name + " 0", "sem_wait", "sem_getvalue"});
  poster.join();
  EXPECT_EQ(r.out, "sem_open " + name + " 0 -> sem\nsem_wait -> 0\nsem_getvalue -> 0\n");
  sem_close(s);
  sem_unlink(name.c_str());
}

// A stock glibc program and a lambshm program share one named semaphore when
// both look in the same directory (stock: /dev/shm; lambshm: LAMBSHM_DIR).
TEST(Processes, ShareANamedSemaphoreWithAStockGlibcProgram) {
  std::string name = unique_name("stock");
  std::vector<std::string> env = {std::string("LAMBSHM_DIR=") + kStockShmDir};
  // lambshm creates, stock opens and posts twice, lambshm reads.
  ProcResult ours = run({probe(), "sem_open " + name + " O_CREAT|O_EXCL 0600 1"}, env);
  EXPECT_EQ(ours.out, "sem_open " + name + " O_CREAT|O_EXCL 0600 1 -> sem\n");
  ProcResult theirs = run({probe_stock(), "sem_open " + name + " 0", "sem_post", "sem_post",
                           "sem_getvalue"});
  EXPECT_EQ(theirs.out, "sem_open " + name + " 0 -> sem\nsem_post -> 0\nsem_post -> 0\n"
                        "sem_getvalue -> 3\n");
  ours = run({probe(), "sem_open " + name + " 0", "sem_wait", "sem_getvalue", "sem_unlink " + name},
             env);
  EXPECT_EQ(ours.out, "sem_open " + name + " 0 -> sem\nsem_wait -> 0\nsem_getvalue -> 2\n"
                      "sem_unlink " + name + " -> 0\n");
  // The other way round: stock creates, lambshm opens.
  theirs = run({probe_stock(), "sem_open " + name + " O_CREAT|O_EXCL 0600 4"});
  ours = run({probe(), "sem_open " + name + " 0", "sem_trywait", "sem_getvalue"}, env);
  EXPECT_EQ(ours.out, "sem_open " + name + " 0 -> sem\nsem_trywait -> 0\nsem_getvalue -> 3\n");
  stock::sem_unlink(name.c_str());
}

TEST(Processes, ChildrenAfterForkUseTheSameDirectoryAndObjects) {
  std::string name = unique_name("fork");
  sem_t* s = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(s, SEM_FAILED);
  pid_t pid = fork();
  if (pid == 0) {
    // Same mapping, same table: reopening returns the inherited address.
    sem_t* again = sem_open(name.c_str(), 0);
    int fd = shm_open((name + "-shm").c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    _exit(again == s && sem_post(s) == 0 && fd >= 0 ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  int v;
  sem_getvalue(s, &v);
  EXPECT_EQ(v, 1);
  EXPECT_TRUE(object_named(backing_dir(), name + "-shm"));
  shm_unlink((name + "-shm").c_str());
  sem_close(s);
  sem_unlink(name.c_str());
}

// The program closes lambshm's directory descriptor and gets its number back
// for another directory: objects must still go to the backing directory.
TEST(Processes, SurvivesTheProgramClosingAndReusingTheDirectoryDescriptor) {
  std::string warmup = unique_name("warm");
  int fd = shm_open(warmup.c_str(), O_CREAT | O_RDWR, 0600);  // resolves the directory
  ASSERT_GE(fd, 0);
  close(fd);
  TempDir decoy("decoy");
  pid_t pid = fork();
  if (pid == 0) {
    // Find the cached descriptor, then close it and put the decoy in its place.
    char real[PATH_MAX];
    ssize_t want = (ssize_t)backing_dir().size();
    DIR* d = opendir("/proc/self/fd");
    int victim = -1;
    while (dirent* e = readdir(d)) {
      std::string link = std::string("/proc/self/fd/") + e->d_name;
      ssize_t n = readlink(link.c_str(), real, sizeof real);
      if (n == want && backing_dir().compare(0, n, real, n) == 0) victim = atoi(e->d_name);
    }
    closedir(d);
    if (victim < 0) _exit(10);
    // The number is not the lowest free one (see ShmOpen.ReturnsTheLowestFreeDescriptor):
    // the program takes it over with dup2, closing ours.
    int decoy_fd = open(decoy.path().c_str(), O_RDONLY | O_DIRECTORY);
    if (decoy_fd < 0 || dup2(decoy_fd, victim) != victim) _exit(11);
    close(decoy_fd);
    std::string name = unique_name("hijack");
    int shm = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    sem_t* s = sem_open((name + "s").c_str(), O_CREAT | O_EXCL, 0600, 0);
    bool right = object_named(backing_dir(), name) &&
                 object_named(backing_dir(), "sem." + name + "s");
    shm_unlink(name.c_str());
    sem_unlink((name + "s").c_str());
    _exit(shm >= 0 && s != SEM_FAILED && right ? 0 : 12);
  }
  int status;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(list_dir(decoy.path()).empty());
  shm_unlink(warmup.c_str());
}

// --- LAMBSHM_DIR ---------------------------------------------------------

TEST(BackingDirectory, IsTakenFromLambshmDirAndCreated) {
  TempDir root("env");
  std::string dir = root / "objects";
  // The plain-file layout (a memfd object's record is covered by memfd_test).
  ProcResult r = run({probe(), "shm_open x O_CREAT|O_RDWR 0600", "sem_open y O_CREAT 0600 0", "ls"},
                     {"LAMBSHM_DIR=" + dir, "LAMBSHM_MEMFD=0"});
  EXPECT_EQ(r.out,
            "shm_open x O_CREAT|O_RDWR 0600 -> fd cloexec\n"
            "sem_open y O_CREAT 0600 0 -> sem\n"
            "ls -> 2 entries\n  sem.y 600 32\n  x 600 0\n");
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
}

TEST(BackingDirectory, DefaultsToTmpShm) {
  std::string name = unique_name("default");
  ProcResult r = run({probe(), "shm_open " + name + " O_CREAT|O_EXCL|O_RDWR 0600"},
                     {"LAMBSHM_DIR="});
  EXPECT_EQ(r.out, "shm_open " + name + " O_CREAT|O_EXCL|O_RDWR 0600 -> fd cloexec\n");
  EXPECT_TRUE(object_named("/tmp/shm", name));
  r = run({probe(), "shm_unlink " + name}, {"LAMBSHM_DIR="});
  EXPECT_EQ(r.out, "shm_unlink " + name + " -> 0\n");
  EXPECT_FALSE(object_named("/tmp/shm", name));
}

struct Refusal {
  const char* what;
  std::function<std::string(TempDir&)> setup;  // returns LAMBSHM_DIR
  int error;
  const char* reason;  // in the debug message
};

// gtest would otherwise print the struct's bytes, padding included.
void PrintTo(const Refusal& r, std::ostream* os) { *os << r.what; }

class Refusals : public ::testing::TestWithParam<Refusal> {};

TEST_P(Refusals, FailEveryCallWithAClearErrnoAndAReasonOnlyWhenDebugging) {
  const Refusal& c = GetParam();
  TempDir root("refuse");
  std::string dir = c.setup(root);
  std::string calls[] = {"shm_open x O_CREAT|O_RDWR 0600", "sem_open y O_CREAT 0600 0",
                         "shm_unlink x", "sem_unlink y"};
  std::string expected;
  for (const std::string& call : calls)
    expected += call + " -> -1 " + (c.error == EACCES ? "EACCES" : c.error == EINVAL ? "EINVAL" : "ENOENT") + "\n";
  ProcResult quiet = run({probe(), calls[0], calls[1], calls[2], calls[3]}, {"LAMBSHM_DIR=" + dir});
  EXPECT_EQ(quiet.out, expected);
  EXPECT_EQ(quiet.err, "");
  ProcResult loud = run({probe(), calls[0]}, {"LAMBSHM_DIR=" + dir, "LAMBSHM_DEBUG=1"});
  EXPECT_NE(loud.err.find("lambshm: "), std::string::npos) << loud.err;
  EXPECT_NE(loud.err.find(c.reason), std::string::npos) << loud.err;
  EXPECT_EQ(count(loud.err, "\n"), 1) << "one line: " << loud.err;
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, Refusals,
    ::testing::Values(
        Refusal{"symlink",
                [](TempDir& t) {
                  mkdir((t / "real").c_str(), 01777);
                  symlink((t / "real").c_str(), (t / "link").c_str());
                  return t / "link";
                },
                EACCES, "symbolic link"},
        Refusal{"file",
                [](TempDir& t) {
                  close(open((t / "file").c_str(), O_CREAT | O_WRONLY, 0600));
                  return t / "file";
                },
                EACCES, "not a directory"},
        Refusal{"relative", [](TempDir&) { return std::string("relative/dir"); }, EINVAL,
                "absolute path"},
        Refusal{"missing parent", [](TempDir& t) { return t / "no/such"; }, ENOENT,
                "parent directory does not exist"}),
    [](const ::testing::TestParamInfo<Refusal>& info) {
      std::string n = info.param.what;
      for (char& ch : n)
        if (ch == ' ') ch = '_';
      return n;
    });

TEST(BackingDirectory, ForeignWritableWithoutStickyBitIsRefused) {
  if (!is_root()) GTEST_SKIP() << "needs root to chown";
  TempDir root("foreign");
  std::string dir = root / "open";
  mkdir(dir.c_str(), 0777);
  chmod(dir.c_str(), 0777);
  ASSERT_EQ(chown(dir.c_str(), 65534, 65534), 0);
  ProcResult r = run({probe(), "sem_open y O_CREAT 0600 0"}, {"LAMBSHM_DIR=" + dir, "LAMBSHM_DEBUG=1"});
  EXPECT_EQ(r.out, "sem_open y O_CREAT 0600 0 -> -1 EACCES\n");
  EXPECT_NE(r.err.find("sticky"), std::string::npos) << r.err;
  EXPECT_TRUE(list_dir(dir).empty());
}

TEST(BackingDirectory, IsRecreatedWhenDeletedWhileInUse) {
  TempDir root("deleted");
  std::string dir = root / "shm";
  ProcResult r = run({probe(), "shm_open a O_CREAT|O_RDWR 0600", "rmtree " + dir,
                      "shm_open b O_CREAT|O_RDWR 0600", "ls"},
                     {"LAMBSHM_DIR=" + dir, "LAMBSHM_MEMFD=0"});
  EXPECT_EQ(r.out,
            "shm_open a O_CREAT|O_RDWR 0600 -> fd cloexec\nrmtree " + dir + " -> 0\n"
            "shm_open b O_CREAT|O_RDWR 0600 -> fd cloexec\nls -> 1 entries\n  b 600 0\n");
}

}  // namespace
}  // namespace lambshm::test
