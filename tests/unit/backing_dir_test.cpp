#include "backing_dir.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "test_util.h"

namespace lambshm {
namespace {

using test::TempDir;

TEST(DirConfig, DefaultsToTmpShm) {
  DirConfig c;
  make_dir_config(nullptr, nullptr, &c);
  EXPECT_EQ(c.error, 0);
  EXPECT_STREQ(c.path, "/tmp/shm");
  EXPECT_STREQ(c.path_slash, "/tmp/shm/");
  EXPECT_EQ(c.slash_length, strlen("/tmp/shm/"));
  EXPECT_FALSE(c.debug);
  make_dir_config("", "0", &c);  // empty means unset
  EXPECT_STREQ(c.path, "/tmp/shm");
  EXPECT_FALSE(c.debug);
}

TEST(DirConfig, TakesAnAbsolutePathAndDropsTrailingSlashes) {
  DirConfig c;
  make_dir_config("/var/tmp/x//", "1", &c);
  EXPECT_EQ(c.error, 0);
  EXPECT_STREQ(c.path, "/var/tmp/x");
  EXPECT_STREQ(c.path_slash, "/var/tmp/x/");
  EXPECT_TRUE(c.debug);
  make_dir_config("/", nullptr, &c);
  EXPECT_STREQ(c.path, "/");
  EXPECT_STREQ(c.path_slash, "/");
}

TEST(DirConfig, RefusesRelativeAndOverlongPaths) {
  DirConfig c;
  make_dir_config("tmp/shm", nullptr, &c);
  EXPECT_EQ(c.error, EINVAL);
  make_dir_config("./shm", nullptr, &c);
  EXPECT_EQ(c.error, EINVAL);
  std::string longpath = "/" + std::string(PATH_MAX, 'a');
  make_dir_config(longpath.c_str(), nullptr, &c);
  EXPECT_EQ(c.error, ENAMETOOLONG);
}

struct stat dir_stat(mode_t mode, uid_t uid) {
  struct stat st{};
  st.st_mode = S_IFDIR | mode;
  st.st_uid = uid;
  return st;
}

TEST(DirPolicy, AcceptsPrivateOrStickyOrTrustedOwner) {
  EXPECT_EQ(dir_policy_violation(dir_stat(01777, 1000), 2000), nullptr);  // like /dev/shm
  EXPECT_EQ(dir_policy_violation(dir_stat(0755, 1000), 2000), nullptr);   // not writable by us
  EXPECT_EQ(dir_policy_violation(dir_stat(0777, 0), 2000), nullptr);      // root's
  EXPECT_EQ(dir_policy_violation(dir_stat(0777, 2000), 2000), nullptr);   // our own
  EXPECT_EQ(dir_policy_violation(dir_stat(0700, 2000), 2000), nullptr);
}

TEST(DirPolicy, RefusesForeignWritableWithoutStickyBit) {
  EXPECT_NE(dir_policy_violation(dir_stat(0777, 1000), 2000), nullptr);
  EXPECT_NE(dir_policy_violation(dir_stat(0775, 1000), 2000), nullptr);  // group-writable too
  EXPECT_NE(dir_policy_violation(dir_stat(0757, 1000), 0), nullptr);     // even for root
}

TEST(DirPolicy, RefusesNonDirectories) {
  struct stat st{};
  st.st_mode = S_IFREG | 0644;
  EXPECT_NE(dir_policy_violation(st, 0), nullptr);
}

class OpenBackingDir : public ::testing::Test {
 protected:
  TempDir tmp{"dir"};
  struct stat st {};
  const char* why = nullptr;
};

TEST_F(OpenBackingDir, CreatesTheLastComponentWithMode1777WhateverTheUmask) {
  mode_t old = umask(077);
  std::string path = tmp / "shm";
  int fd = open_backing_dir(path.c_str(), &st, &why);
  umask(old);
  ASSERT_GE(fd, 0) << why;
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  struct stat check;
  ASSERT_EQ(stat(path.c_str(), &check), 0);
  EXPECT_EQ(check.st_mode & 07777, 01777u);
  EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  close(fd);
}

TEST_F(OpenBackingDir, LeavesAnExistingDirectorysModeAlone) {
  std::string path = tmp / "mine";
  ASSERT_EQ(mkdir(path.c_str(), 0700), 0);
  int fd = open_backing_dir(path.c_str(), &st, &why);
  ASSERT_GE(fd, 0) << why;
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  close(fd);
}

TEST_F(OpenBackingDir, CreatesOnlyTheLastComponent) {
  std::string path = tmp / "missing/shm";
  EXPECT_EQ(open_backing_dir(path.c_str(), &st, &why), -ENOENT);
  EXPECT_NE(why, nullptr);
  EXPECT_TRUE(test::list_dir(tmp.path()).empty());
}

TEST_F(OpenBackingDir, WithoutCreateAMissingDirectoryStaysMissing) {
  std::string path = tmp / "shm";
  EXPECT_EQ(open_backing_dir(path.c_str(), &st, &why, /*create=*/false), -ENOENT);
  ASSERT_NE(why, nullptr);
  EXPECT_NE(strstr(why, "does not exist"), nullptr);
  EXPECT_TRUE(test::list_dir(tmp.path()).empty());
  // An existing one opens and is validated as with create.
  ASSERT_EQ(mkdir(path.c_str(), 0700), 0);
  int fd = open_backing_dir(path.c_str(), &st, &why, /*create=*/false);
  ASSERT_GE(fd, 0) << why;
  close(fd);
  std::string link = tmp / "link";
  ASSERT_EQ(symlink(path.c_str(), link.c_str()), 0);
  EXPECT_EQ(open_backing_dir(link.c_str(), &st, &why, /*create=*/false), -EACCES);
}

TEST_F(OpenBackingDir, RefusesASymlinkEvenToAGoodDirectory) {
  std::string target = tmp / "real", link = tmp / "link";
  ASSERT_EQ(mkdir(target.c_str(), 01777), 0);
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  EXPECT_EQ(open_backing_dir(link.c_str(), &st, &why), -EACCES);
  ASSERT_NE(why, nullptr);
  EXPECT_NE(strstr(why, "symbolic link"), nullptr);
}

TEST_F(OpenBackingDir, RefusesADanglingSymlinkWithoutCreatingItsTarget) {
  std::string target = tmp / "elsewhere", link = tmp / "link";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  EXPECT_EQ(open_backing_dir(link.c_str(), &st, &why), -EACCES);
  EXPECT_NE(strstr(why, "symbolic link"), nullptr);
  EXPECT_NE(access(target.c_str(), F_OK), 0);
}

TEST_F(OpenBackingDir, RefusesAFile) {
  std::string path = tmp / "file";
  close(open(path.c_str(), O_CREAT | O_WRONLY, 0600));
  EXPECT_EQ(open_backing_dir(path.c_str(), &st, &why), -EACCES);
  EXPECT_NE(strstr(why, "not a directory"), nullptr);
}

TEST_F(OpenBackingDir, RefusesAForeignWritableDirectoryWithoutStickyBit) {
  if (!test::is_root()) GTEST_SKIP() << "needs root to chown a directory to another user";
  std::string path = tmp / "foreign";
  ASSERT_EQ(mkdir(path.c_str(), 0777), 0);
  ASSERT_EQ(chmod(path.c_str(), 0777), 0);
  ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
  EXPECT_EQ(open_backing_dir(path.c_str(), &st, &why), -EACCES);
  EXPECT_NE(strstr(why, "sticky"), nullptr);
  // With the sticky bit it is acceptable, like /tmp or /dev/shm.
  ASSERT_EQ(chmod(path.c_str(), 01777), 0);
  int fd = open_backing_dir(path.c_str(), &st, &why);
  EXPECT_GE(fd, 0);
  close(fd);
}

TEST_F(OpenBackingDir, AnUnprivilegedCallerTrustsItsOwnWritableDirectory) {
  if (!test::is_root()) GTEST_SKIP() << "needs root to switch to two other users";
  std::string path = tmp / "users";
  ASSERT_EQ(mkdir(path.c_str(), 0777), 0);
  ASSERT_EQ(chmod(path.c_str(), 0777), 0);
  ASSERT_EQ(chown(path.c_str(), 4242, 4242), 0);
  auto result_as = [&](uid_t uid) {
    pid_t pid = fork();
    if (pid == 0) {
      if (setgid(uid) != 0 || setuid(uid) != 0) _exit(99);
      struct stat s;
      const char* w;
      int fd = open_backing_dir(path.c_str(), &s, &w);
      _exit(fd >= 0 ? 0 : -fd);
    }
    int status;
    waitpid(pid, &status, 0);
    return WEXITSTATUS(status);
  };
  EXPECT_EQ(result_as(4242), 0);       // the owner
  EXPECT_EQ(result_as(4343), EACCES);  // someone else
}

// The process-wide descriptor is checked again before each use: a directory
// that turns hostile after the first use is refused from then on, and the
// caller's identity is taken into account when it matters.
TEST(ProcessDir, RevalidatesTheDirectoryBeforeEachUse) {
  if (!test::is_root()) GTEST_SKIP() << "needs root to chown a directory to another user";
  TempDir tmp("revalidate");
  std::string path = tmp / "shm";
  ASSERT_EQ(mkdir(path.c_str(), 01777), 0);
  ASSERT_EQ(chown(path.c_str(), 4242, 4242), 0);
  pid_t pid = fork();
  if (pid == 0) {  // the configuration is read once per process: a fresh one
    setenv("LAMBSHM_DIR", path.c_str(), 1);
    int step = 1;
    if (backing_dir_fd() < 0) _exit(step);
    ++step;  // 2: sticky and writable by all: fine whoever we are
    if (chmod(path.c_str(), 0777) != 0 || backing_dir_fd() != -EACCES) _exit(step);
    ++step;  // 3: without the sticky bit, another user's directory is refused...
    if (setegid(4242) != 0 || seteuid(4242) != 0 || backing_dir_fd() < 0) _exit(step);
    ++step;  // 4: ...but not by its owner
    if (seteuid(0) != 0 || chmod(path.c_str(), 0755) != 0 || backing_dir_fd() < 0) _exit(step);
    _exit(0);  // 5: writable by its owner only: fine for anyone
  }
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "failed at step " << WEXITSTATUS(status);
}

}  // namespace
}  // namespace lambshm
