// shm_open / shm_unlink through lambshm's librt.so.1 (bound to the pre-2.34
// versions, so these calls cannot reach this machine's libc), compared with
// this machine's stock glibc where both answer the same call.
#include "old_abi.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "api_env.h"
#include "stock.h"
#include "test_util.h"

namespace lambshm::test {
namespace {

std::string in_backing(const std::string& name) { return backing_dir() + "/" + name; }
std::string in_stock(const std::string& name) { return std::string(kStockShmDir) + "/" + name; }
bool exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// What a call did: its result (-1 or not) and errno.
struct Outcome {
  bool ok;
  int error;
  bool operator==(const Outcome&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << (o.ok ? "ok" : strerror(o.error));
}
Outcome outcome(int r) { return Outcome{r >= 0, r >= 0 ? 0 : errno}; }

TEST(ShmOpen, CreatesTheObjectInTheBackingDirectoryNotInDevShm) {
  std::string name = unique_name("create");
  int fd = shm_open(("/" + name).c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0) << strerror(errno);
  EXPECT_TRUE(object_named(backing_dir(), name));
  EXPECT_FALSE(exists(in_stock(name)));
  struct stat by_fd, by_path;
  ASSERT_EQ(fstat(fd, &by_fd), 0);
  if (memfd_unavailable().empty()) {
    // A memfd object (backing directory on disk) with a short name: a slot
    // of the name table, and no file at the name (docs/small-objects.md).
    EXPECT_TRUE(in_name_table(backing_dir(), name));
    EXPECT_FALSE(exists(in_backing(name)));
    EXPECT_EQ(by_fd.st_mode & 0777, 0600u);
  } else {
    ASSERT_EQ(stat(in_backing(name).c_str(), &by_path), 0);
    EXPECT_EQ(by_fd.st_ino, by_path.st_ino);
  }
  EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  struct stat dir;
  ASSERT_EQ(stat(backing_dir().c_str(), &dir), 0);
  EXPECT_EQ(dir.st_mode & 07777, 01777u);  // created on first use, like /dev/shm
  close(fd);
  EXPECT_EQ(shm_unlink(name.c_str()), 0);
  EXPECT_FALSE(object_named(backing_dir(), name));
}

TEST(ShmOpen, LeadingSlashesAreStripped) {
  std::string name = unique_name("slashes");
  int a = shm_open(("///" + name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(a, 0);
  int b = shm_open(name.c_str(), O_RDWR, 0);
  ASSERT_GE(b, 0);
  struct stat sa, sb;
  fstat(a, &sa);
  fstat(b, &sb);
  EXPECT_EQ(sa.st_ino, sb.st_ino);
  close(a);
  close(b);
  EXPECT_EQ(shm_unlink(("/" + name).c_str()), 0);
}

TEST(ShmOpen, MemoryIsSharedAcrossOpensAndFork) {
  std::string name = unique_name("share");
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  auto* p = static_cast<char*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(p, MAP_FAILED);
  pid_t pid = fork();
  if (pid == 0) {
    int cfd = shm_open(name.c_str(), O_RDWR, 0);
    if (cfd < 0) _exit(1);
    auto* c = static_cast<char*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0));
    if (c == MAP_FAILED) _exit(2);
    strcpy(c + 100, "from the child");
    _exit(0);
  }
  int status;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_STREQ(p + 100, "from the child");
  munmap(p, 4096);
  close(fd);
  shm_unlink(name.c_str());
}

TEST(ShmOpen, AnotherProgramFindsTheObjectByName) {
  std::string name = unique_name("byname");
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0640);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 12345), 0);
  ProcResult r = run({helper("LAMBSHM_PROBE"), "shm_open /" + name + " O_RDWR 0", "fstat"});
  EXPECT_EQ(r.out, "shm_open /" + name + " O_RDWR 0 -> fd cloexec\nfstat -> mode 640 size 12345\n")
      << r.err;
  close(fd);
  shm_unlink(name.c_str());
}

TEST(ShmOpen, ExclusiveCreationAndMissingObjects) {
  std::string name = unique_name("excl");
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_EQ(outcome(shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600)),
            (Outcome{false, EEXIST}));
  shm_unlink(name.c_str());
  EXPECT_EQ(outcome(shm_open(name.c_str(), O_RDWR, 0)), (Outcome{false, ENOENT}));
  EXPECT_EQ(outcome(shm_unlink(name.c_str())), (Outcome{false, ENOENT}));
}

TEST(ShmOpen, ModeIsFilteredByTheUmask) {
  std::string name = unique_name("umask");
  mode_t old = umask(027);
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0666);
  umask(old);
  ASSERT_GE(fd, 0);
  struct stat st;
  fstat(fd, &st);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  close(fd);
  shm_unlink(name.c_str());
}

TEST(ShmOpen, TruncatesWithOTrunc) {
  std::string name = unique_name("trunc");
  int fd = shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_EQ(ftruncate(fd, 8192), 0);
  close(fd);
  fd = shm_open(name.c_str(), O_RDWR | O_TRUNC, 0);
  struct stat st;
  fstat(fd, &st);
  EXPECT_EQ(st.st_size, 0);
  close(fd);
  shm_unlink(name.c_str());
}

// Name rules: lambshm's answer, and stock glibc 2.36's for the same call on
// /dev/shm.  They agree except where lambshm deliberately differs: ".."
// (stock opens the directory above /dev/shm) and names far too long (stock
// says EINVAL once a name outgrows its internal buffer, ENAMETOOLONG below).
struct NameCase {
  std::string name;
  int flags;
  Outcome expected;
  bool same_as_stock;
};

// gtest would otherwise print the struct's bytes, padding included.
void PrintTo(const NameCase& c, std::ostream* os) { *os << c.name.size() << "-byte name"; }

class ShmNames : public ::testing::TestWithParam<NameCase> {};

TEST_P(ShmNames, OpenFollowsTheNameRules) {
  const NameCase& c = GetParam();
  std::string tag = unique_name("n");
  // "@" stands for a unique tag; "#N" for a unique name of exactly N bytes.
  auto subst = [&](const std::string& s) {
    if (s.size() > 1 && s[0] == '#') return tag + std::string(std::stoul(s.substr(1)) - tag.size(), 'x');
    std::string out = s;
    if (size_t pos = out.find("@"); pos != std::string::npos) out.replace(pos, 1, tag);
    return out;
  };
  std::string name = subst(c.name);
  int fd = shm_open(name.c_str(), c.flags, 0600);
  Outcome ours = outcome(fd);
  if (fd >= 0) close(fd);
  EXPECT_EQ(ours, c.expected) << "name of " << name.size() << " bytes";
  int sfd = stock::shm_open(name.c_str(), c.flags, 0600);
  Outcome theirs = outcome(sfd);
  if (sfd >= 0) close(sfd);
  if (c.same_as_stock) EXPECT_EQ(ours, theirs) << "stock glibc differs";
  else EXPECT_NE(ours, theirs) << "a documented divergence is gone";
  if (ours.ok) shm_unlink(name.c_str());
  if (theirs.ok) stock::shm_unlink(name.c_str());
}

const int kCreate = O_CREAT | O_RDWR;
INSTANTIATE_TEST_SUITE_P(
    Rules, ShmNames,
    ::testing::Values(
        NameCase{"", kCreate, {false, EINVAL}, true},
        NameCase{"/", kCreate, {false, EINVAL}, true},
        NameCase{"///", kCreate, {false, EINVAL}, true},
        NameCase{"a/b", kCreate, {false, EINVAL}, true},
        NameCase{"/@/", kCreate, {false, EINVAL}, true},
        NameCase{".", O_RDWR, {false, EINVAL}, true},
        NameCase{".", kCreate, {false, EINVAL}, true},
        NameCase{"..", O_RDONLY, {false, EINVAL}, false},  // stock: the parent directory
        NameCase{"#253", kCreate, {true, 0}, true},
        NameCase{"#256", kCreate, {false, ENAMETOOLONG}, true},
        NameCase{"#300", kCreate, {false, ENAMETOOLONG}, false},
        NameCase{"@%\x01\xff\t", kCreate, {true, 0}, true}));

TEST(ShmOpen, TheLongestNameIs255Bytes) {
  std::string name = unique_name("L");
  name += std::string(255 - name.size(), 'x');
  int fd = shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0) << strerror(errno);
  close(fd);
  EXPECT_EQ(shm_unlink(name.c_str()), 0);
  name += "x";
  EXPECT_EQ(outcome(shm_open(name.c_str(), O_CREAT | O_RDWR, 0600)),
            (Outcome{false, ENAMETOOLONG}));
  EXPECT_EQ(outcome(shm_unlink(name.c_str())), (Outcome{false, ENAMETOOLONG}));
}

TEST(ShmUnlink, InvalidNamesAreNoSuchObject) {
  for (const char* name : {"", "/", "a/b", ".", ".."}) {
    EXPECT_EQ(outcome(shm_unlink(name)), (Outcome{false, ENOENT})) << "'" << name << "'";
  }
  // Stock agrees for all but "." and "..", which it passes to unlink(): EISDIR.
  for (const char* name : {"", "/", "a/b"}) {
    EXPECT_EQ(outcome(stock::shm_unlink(name)), (Outcome{false, ENOENT})) << "'" << name << "'";
  }
  EXPECT_EQ(outcome(stock::shm_unlink(".")), (Outcome{false, EISDIR}));
}

TEST(ShmOpen, ADirectoryInTheWayIsEinvalLikeStock) {
  std::string name = unique_name("dir");
  ASSERT_EQ(mkdir(in_backing(name).c_str(), 0700), 0);
  ASSERT_EQ(mkdir(in_stock(name).c_str(), 0700), 0);
  EXPECT_EQ(outcome(shm_open(name.c_str(), O_RDWR, 0)), (Outcome{false, EINVAL}));
  EXPECT_EQ(outcome(stock::shm_open(name.c_str(), O_RDWR, 0)), (Outcome{false, EINVAL}));
  EXPECT_EQ(outcome(shm_unlink(name.c_str())), outcome(stock::shm_unlink(name.c_str())));
  rmdir(in_backing(name).c_str());
  rmdir(in_stock(name).c_str());
}

TEST(ShmOpen, NeverFollowsAPlantedSymlink) {
  TempDir victim("victim");
  std::string target = victim / "precious";
  int t = open(target.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_EQ(write(t, "data", 4), 4);
  close(t);
  std::string name = unique_name("link");
  ASSERT_EQ(symlink(target.c_str(), in_backing(name).c_str()), 0);
  EXPECT_EQ(outcome(shm_open(name.c_str(), O_RDWR | O_TRUNC, 0)), (Outcome{false, ELOOP}));
  EXPECT_EQ(outcome(shm_open(name.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600)),
            (Outcome{false, ELOOP}));
  struct stat st;
  ASSERT_EQ(stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4);  // untouched
  EXPECT_EQ(shm_unlink(name.c_str()), 0);  // removes the link, not the target
  EXPECT_TRUE(exists(target));
}

TEST(ShmUnlink, PermissionErrorsAreEacces) {
  if (!is_root()) GTEST_SKIP() << "needs root to act as another user";
  std::string name = unique_name("perm");
  int fd = shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  close(fd);
  // The sticky bit forbids removing another user's file: the kernel says EPERM.
  EXPECT_EQ(as_nobody([&] { return shm_unlink(name.c_str()) < 0 ? errno : 0; }), EACCES);
  EXPECT_EQ(as_nobody([&] { return shm_open(name.c_str(), O_RDWR, 0) < 0 ? errno : 0; }), EACCES);
  EXPECT_TRUE(object_named(backing_dir(), name));
  shm_unlink(name.c_str());
}

// POSIX: "the lowest numbered file descriptor not currently open".  The
// directory's descriptor that lambshm keeps must not take that number, the
// first time a process resolves the directory (here after a close_range that
// closed it, which is the same path) or ever after.
TEST(ShmOpen, ReturnsTheLowestFreeDescriptor) {
  std::string name = unique_name("lowest");
  auto child = [&](rlim_t soft_limit) {
    if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0) return 90;
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    if (soft_limit != 0) limit.rlim_cur = soft_limit;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return 91;
    int fd = shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
    if (fd != 3) return 10 + (fd < 0 ? 0 : fd);
    int next = open("/dev/null", O_RDONLY);
    if (next != 4) return 30 + (next < 0 ? 0 : next);
    close(fd);
    fd = shm_open(name.c_str(), O_RDWR, 0);
    if (fd != 3) return 50 + (fd < 0 ? 0 : fd);
    // A named semaphore leaves no descriptor behind either, as in glibc.
    sem_t* sem = sem_open(name.c_str(), O_CREAT, 0600, 0);
    if (sem == SEM_FAILED) return 70;
    int after = open("/dev/null", O_RDONLY);
    sem_close(sem);
    sem_unlink(name.c_str());
    return after == 5 ? 0 : 71 + (after < 0 ? 0 : after);
  };
  auto in_child = [&](rlim_t soft_limit) {
    pid_t pid = fork();
    if (pid == 0) _exit(child(soft_limit));
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
  };
  EXPECT_EQ(in_child(0), 0) << "as the process's limit allows";
  EXPECT_EQ(in_child(16), 0) << "under a soft RLIMIT_NOFILE of 16";
  EXPECT_EQ(in_child(8), 0) << "under a soft RLIMIT_NOFILE of 8";
  shm_unlink(name.c_str());
}

}  // namespace
}  // namespace lambshm::test
