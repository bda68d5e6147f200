// Where each name resolves, at each version, under LD_PRELOAD: the five the
// preload library interposes to it, the rest to libc; and each version works.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "preload_env.h"

namespace lambshm::test {
namespace {

constexpr const char* kInterposed[] = {"shm_open", "shm_unlink", "sem_open", "sem_close",
                                       "sem_unlink"};
// They act on a sem_t in memory, and ours are glibc's: libc keeps them.
constexpr const char* kLeftToLibc[] = {"sem_init", "sem_destroy", "sem_post", "sem_wait",
                                       "sem_trywait", "sem_timedwait", "sem_getvalue",
                                       "sem_clockwait"};

TEST(Resolution, EveryInterposedNameAtEveryVersionIsThePreloadLibrary) {
  for (const char* name : kInterposed)
    for (const char* version : kVersions)
      EXPECT_EQ(object_of(dlvsym(RTLD_DEFAULT, name, version)), real(preload_library()))
          << name << "@" << version;
}

TEST(Resolution, AnUnversionedLookupFindsThePreloadLibrary) {
  // dlsym, ctypes and the like find the default version: ours, GLIBC_2.34.
  for (const char* name : kInterposed) {
    EXPECT_EQ(object_of(dlsym(RTLD_DEFAULT, name)), real(preload_library())) << name;
    EXPECT_EQ(dlsym(RTLD_DEFAULT, name), dlvsym(RTLD_DEFAULT, name, kNew)) << name;
  }
}

TEST(Resolution, UnnamedSemaphoreFunctionsStayLibcs) {
  for (const char* name : kLeftToLibc) {
    // sem_clockwait appeared in 2.30; every other one at the old version.
    const char* old = std::string(name) == "sem_clockwait" ? "GLIBC_2.30" : kOld;
    for (const char* version : {kNew, old})
      EXPECT_EQ(object_of(dlvsym(RTLD_DEFAULT, name, version)), libc_path())
          << name << "@" << version;
  }
}

TEST(Resolution, ThisProgramsOwnCallsReachThePreloadLibrary) {
  // Compiled against glibc 2.36: these calls are bound to GLIBC_2.34.
  std::string name = unique_name("direct");
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0) << strerror(errno);
  close(fd);
  EXPECT_TRUE(object_named(backing_dir(), name));
  EXPECT_FALSE(exists("/dev/shm/" + name));
  sem_t* sem = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 1);
  ASSERT_NE(sem, SEM_FAILED) << strerror(errno);
  EXPECT_TRUE(object_named(backing_dir(), "sem." + name));
  EXPECT_EQ(sem_close(sem), 0);
  EXPECT_EQ(sem_unlink(name.c_str()), 0);
  EXPECT_EQ(shm_unlink(name.c_str()), 0);
}

TEST(EachVersion, ShmObjectLifeCycle) {
  for (const char* v : kVersions) {
    SCOPED_TRACE(v);
    auto open = version_of<ShmOpen>("shm_open", v);
    auto unlink = version_of<Unlink>("shm_unlink", v);
    std::string name = unique_name("shm");
    int fd = open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0640);
    ASSERT_GE(fd, 0) << strerror(errno);
    EXPECT_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    // The object's mode (on a disk the name is a record, mode 0600: docs/design.md).
    struct stat st;
    EXPECT_TRUE(object_named(backing_dir(), name));
    ASSERT_EQ(fstat(fd, &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    close(fd);
    EXPECT_EQ(unlink(name.c_str()), 0);
    EXPECT_FALSE(object_named(backing_dir(), name));
  }
}

TEST(EachVersion, NamedSemaphoreLifeCycleAcrossVersions) {
  auto open_new = version_of<SemOpen>("sem_open", kNew);
  auto open_old = version_of<SemOpen>("sem_open", kOld);
  std::string name = unique_name("sem");
  sem_t* a = open_new(name.c_str(), O_CREAT | O_EXCL, 0600, 2u);
  ASSERT_NE(a, SEM_FAILED) << strerror(errno);
  // A slot of the name table on a disk with memfds; else a file of one sem_t.
  struct stat st;
  if (!in_name_table(backing_dir(), "sem." + name)) {
    ASSERT_EQ(stat((backing_dir() + "/sem." + name).c_str(), &st), 0);
    EXPECT_EQ(st.st_size, (off_t)sizeof(sem_t));
  }
  // One table behind both versions: the same mapping, closed by either.
  sem_t* b = open_old(name.c_str(), 0);
  EXPECT_EQ(a, b);
  EXPECT_EQ(version_of<SemOp>("sem_close", kOld)(a), 0);
  EXPECT_EQ(version_of<SemOp>("sem_close", kNew)(b), 0);
  errno = 0;
  EXPECT_EQ(version_of<SemOp>("sem_close", kNew)(a), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(version_of<Unlink>("sem_unlink", kOld)(name.c_str()), 0);
  EXPECT_FALSE(object_named(backing_dir(), "sem." + name));
}

TEST(EachVersion, ErrorsComeThroughErrno) {
  for (const char* v : kVersions) {
    SCOPED_TRACE(v);
    errno = 0;
    EXPECT_EQ(version_of<ShmOpen>("shm_open", v)("/a/b", O_RDWR | O_CREAT, 0600), -1);
    EXPECT_EQ(errno, EINVAL);
    errno = 0;
    EXPECT_EQ(version_of<Unlink>("shm_unlink", v)(unique_name("none").c_str()), -1);
    EXPECT_EQ(errno, ENOENT);
    errno = 0;
    EXPECT_EQ(version_of<SemOpen>("sem_open", v)(unique_name("none").c_str(), 0), SEM_FAILED);
    EXPECT_EQ(errno, ENOENT);
    errno = 0;
    EXPECT_EQ(version_of<Unlink>("sem_unlink", v)(unique_name("none").c_str()), -1);
    EXPECT_EQ(errno, ENOENT);
  }
}

}  // namespace
}  // namespace lambshm::test
