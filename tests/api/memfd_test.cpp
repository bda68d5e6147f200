// Shared memory objects as memfds (docs/design.md), through the built
// librt: what a program sees when the backing directory is on a disk.
// Real processes throughout; the keeper is the built lambshm-keeper.
#include "old_abi.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "api_env.h"
#include "test_util.h"

namespace lambshm::test {
namespace {

std::string probe() { return helper("LAMBSHM_PROBE"); }

// Why memfd objects cannot be tested here, or "".

std::string fd_target(int fd) {
  char link[64], target[256];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  return n < 0 ? "" : std::string(target, n);
}

char* map(int fd, size_t size, int prot = PROT_READ | PROT_WRITE) {
  void* p = mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

// Runs `body` in a child and returns its exit status (0 = ok).
template <typename F>
int in_child(F body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Creates `name` (0640), checks it is a memfd of that mode that grows like a
// file, and unlinks it; `named` says how the directory names it meanwhile.
template <typename Named>
void check_memfd_life(const std::string& name, Named named) {
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0640);
  ASSERT_GE(fd, 0) << strerror(errno);
  EXPECT_EQ(fd_target(fd).rfind("/memfd:", 0), 0u) << fd_target(fd);
  EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u & ~0022u & 07777);
  named();
  ASSERT_EQ(ftruncate(fd, 1 << 20), 0);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 1 << 20);
  close(fd);
  EXPECT_EQ(shm_unlink(name.c_str()), 0);
  EXPECT_FALSE(object_named(backing_dir(), name.substr(1)));
  EXPECT_EQ(shm_open(name.c_str(), O_RDWR, 0), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST(MemfdObject, LivesInMemoryAndIsNamedByATableSlot) {
  REQUIRE_MEMFD();
  std::string name = "/" + unique_name("mem");
  check_memfd_life(name, [&] {
    // A short name is a slot of the name table: no file at the name.
    EXPECT_TRUE(in_name_table(backing_dir(), name.substr(1)));
    struct stat rec;
    EXPECT_EQ(stat((backing_dir() + name).c_str(), &rec), -1);
  });
}

TEST(MemfdObject, LivesInMemoryAndIsNamedByARecordWhenTheNameIsLong) {
  REQUIRE_MEMFD();
  std::string name = "/" + unique_name("mem-record") + std::string(80, 'r');  // > 79 bytes
  check_memfd_life(name, [&] {
    struct stat rec;
    ASSERT_EQ(stat((backing_dir() + name).c_str(), &rec), 0);
    EXPECT_EQ(rec.st_mode & 07777, 01600u);  // the owner's alone: its bytes are trusted
    EXPECT_FALSE(in_name_table(backing_dir(), name.substr(1)));
  });
}

TEST(MemfdObject, PersistsAfterEveryProcessClosedItUntilUnlinked) {
  REQUIRE_MEMFD();
  std::string name = "/" + unique_name("persist");
  ASSERT_EQ(in_child([&] {
              int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
              if (fd < 0 || ftruncate(fd, 4096) != 0) return 1;
              char* p = map(fd, 4096);
              if (p == nullptr) return 2;
              strcpy(p, "written by a process that exited");
              return 0;
            }),
            0);
  int fd = shm_open(name.c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0) << strerror(errno);
  char* p = map(fd, 4096);
  ASSERT_NE(p, nullptr);
  EXPECT_STREQ(p, "written by a process that exited");
  // The same pages, not a copy: a write here is seen by the next opener.
  strcpy(p, "second");
  close(fd);
  EXPECT_EQ(in_child([&] {
              int f = shm_open(name.c_str(), O_RDONLY, 0);
              char* q = f < 0 ? nullptr : map(f, 4096, PROT_READ);
              return q != nullptr && strcmp(q, "second") == 0 ? 0 : 1;
            }),
            0);
  EXPECT_EQ(shm_unlink(name.c_str()), 0);
  EXPECT_STREQ(p, "second");  // a mapping outlives the name, as with a file
  munmap(p, 4096);
}

TEST(MemfdObject, ReadOnlyOpenGivesAReadOnlyDescription) {
  REQUIRE_MEMFD();
  std::string name = "/" + unique_name("ro");
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  int ro = shm_open(name.c_str(), O_RDONLY, 0);
  ASSERT_GE(ro, 0);
  EXPECT_EQ(fcntl(ro, F_GETFL) & O_ACCMODE, O_RDONLY);
  EXPECT_EQ(map(ro, 4096), nullptr);
  EXPECT_EQ(errno, EACCES);
  EXPECT_NE(map(ro, 4096, PROT_READ), nullptr);
  EXPECT_EQ(ftruncate(ro, 0), -1);
  // Created read-only: the same.
  std::string name2 = "/" + unique_name("ro-create");
  int ro2 = shm_open(name2.c_str(), O_CREAT | O_EXCL | O_RDONLY, 0600);
  ASSERT_GE(ro2, 0);
  EXPECT_EQ(fcntl(ro2, F_GETFL) & O_ACCMODE, O_RDONLY);
  close(ro2);
  close(ro);
  close(fd);
  shm_unlink(name.c_str());
  shm_unlink(name2.c_str());
}

TEST(MemfdObject, TruncAndExclAsWithFiles) {
  REQUIRE_MEMFD();
  std::string name = "/" + unique_name("trunc");
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 8192), 0);
  EXPECT_EQ(shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600), -1);
  EXPECT_EQ(errno, EEXIST);
  int again = shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(again, 0);
  struct stat st;
  fstat(again, &st);
  EXPECT_EQ(st.st_size, 8192);
  close(again);
  int t = shm_open(name.c_str(), O_RDWR | O_TRUNC, 0);
  ASSERT_GE(t, 0);
  fstat(fd, &st);
  EXPECT_EQ(st.st_size, 0);
  close(t);
  close(fd);
  EXPECT_EQ(shm_unlink(name.c_str()), 0);
  EXPECT_EQ(shm_unlink(name.c_str()), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST(MemfdObject, PermissionsAreCheckedAsForFiles) {
  REQUIRE_MEMFD();
  if (geteuid() == 0) GTEST_SKIP() << "root passes every permission check";
  std::string name = "/" + unique_name("perm");
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0400);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(shm_open(name.c_str(), O_RDWR, 0), -1);
  EXPECT_EQ(errno, EACCES);
  close(fd);
  shm_unlink(name.c_str());
}

TEST(MemfdObject, SurvivesItsCreatorBeingKilled) {
  REQUIRE_MEMFD();
  std::string name = "/" + unique_name("killed");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t creator = fork();
  if (creator == 0) {
    int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, 4096) != 0) _exit(1);
    char* p = map(fd, 4096);
    strcpy(p, "alive");
    write(ready[1], "x", 1);
    for (;;) pause();
  }
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  // Another process holds it open while the creator dies.
  int holder = shm_open(name.c_str(), O_RDWR, 0);
  ASSERT_GE(holder, 0);
  char* held = map(holder, 4096);
  kill(creator, SIGKILL);
  int status;
  waitpid(creator, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_STREQ(held, "alive");
  close(holder);
  // Nobody has it open now, and the name still leads to the same pages.
  EXPECT_EQ(in_child([&] {
              int f = shm_open(name.c_str(), O_RDWR, 0);
              char* q = f < 0 ? nullptr : map(f, 4096);
              if (q == nullptr || strcmp(q, "alive") != 0) return 1;
              strcpy(q, "seen");
              return 0;
            }),
            0);
  EXPECT_STREQ(held, "seen");
  EXPECT_EQ(shm_unlink(name.c_str()), 0);
  close(ready[0]);
  close(ready[1]);
}

TEST(MemfdObject, SharedAcrossForkAndExec) {
  REQUIRE_MEMFD();
  std::string name = "/" + unique_name("exec");
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  char* p = map(fd, 4096);
  EXPECT_EQ(in_child([&] {
              strcpy(p, "from the child");
              return 0;
            }),
            0);
  EXPECT_STREQ(p, "from the child");
  // exec: a fresh program opens it by name (the probe, through this librt).
  ProcResult r = run({probe(), "shm_open " + name.substr(1) + " O_RDWR 0"}, {});
  EXPECT_EQ(r.out, "shm_open " + name.substr(1) + " O_RDWR 0 -> fd cloexec\n") << r.err;
  close(fd);
  shm_unlink(name.c_str());
}

}  // namespace
}  // namespace lambshm::test
