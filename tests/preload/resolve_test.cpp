// Runs under LD_PRELOAD=liblambshm-preload.so (meson sets it): where each name
// resolves at each version, that every version works, and that libc's own
// functions for unnamed semaphores (which the library leaves alone) work on
// the semaphores it creates, within and across processes.
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "preload_env.h"
#include "test_util.h"

namespace lambshm::test {
namespace {

// The versions a program can bind: glibc 2.34's, and the one programs built
// before it reference (librt's and libpthread's first version).
#if defined(__x86_64__)
constexpr const char* kOld = "GLIBC_2.2.5";
#elif defined(__aarch64__)
constexpr const char* kOld = "GLIBC_2.17";
#endif
constexpr const char* kNew = "GLIBC_2.34";
constexpr const char* kVersions[] = {kNew, kOld};
constexpr const char* kInterposed[] = {"shm_open", "shm_unlink", "sem_open", "sem_close",
                                       "sem_unlink"};
// They act on a sem_t in memory, and ours are glibc's: libc keeps them.
constexpr const char* kLeftToLibc[] = {"sem_init", "sem_destroy", "sem_post", "sem_wait",
                                       "sem_trywait", "sem_timedwait", "sem_getvalue",
                                       "sem_clockwait"};

std::string real(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? buf : path;
}

std::string object_of(void* f) {
  Dl_info info;
  if (f == nullptr) return "(not found)";
  if (dladdr(f, &info) == 0 || info.dli_fname == nullptr) return "(unknown)";
  return real(info.dli_fname);
}

std::string libc_path() {
  void* h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  return object_of(dlsym(h, "malloc"));
}

template <typename F>
F version_of(const char* name, const char* version) {
  void* f = dlvsym(RTLD_DEFAULT, name, version);
  if (f == nullptr) ADD_FAILURE() << name << "@" << version << ": " << dlerror();
  return reinterpret_cast<F>(f);
}

// libc's own definition, for what the preload leaves to libc.
template <typename F>
F libc_version_of(const char* name, const char* version) {
  static void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  void* f = dlvsym(libc, name, version);
  if (f == nullptr) ADD_FAILURE() << "libc " << name << "@" << version << ": " << dlerror();
  return reinterpret_cast<F>(f);
}

using ShmOpen = int (*)(const char*, int, mode_t);
using Unlink = int (*)(const char*);
using SemOpen = sem_t* (*)(const char*, int, ...);
using SemOp = int (*)(sem_t*);
using SemTimed = int (*)(sem_t*, const struct timespec*);
using SemClock = int (*)(sem_t*, clockid_t, const struct timespec*);
using SemGet = int (*)(sem_t*, int*);

bool exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

uint32_t waiters(sem_t* sem) {
  return (uint32_t)(std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(sem)).load() >> 32);
}

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
  EXPECT_TRUE(exists(backing_dir() + "/" + name));
  EXPECT_FALSE(exists("/dev/shm/" + name));
  sem_t* sem = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 1);
  ASSERT_NE(sem, SEM_FAILED) << strerror(errno);
  EXPECT_TRUE(exists(backing_dir() + "/sem." + name));
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
    struct stat st;
    ASSERT_EQ(stat((backing_dir() + "/" + name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    close(fd);
    EXPECT_EQ(unlink(name.c_str()), 0);
    EXPECT_FALSE(exists(backing_dir() + "/" + name));
  }
}

TEST(EachVersion, NamedSemaphoreLifeCycleAcrossVersions) {
  auto open_new = version_of<SemOpen>("sem_open", kNew);
  auto open_old = version_of<SemOpen>("sem_open", kOld);
  std::string name = unique_name("sem");
  sem_t* a = open_new(name.c_str(), O_CREAT | O_EXCL, 0600, 2u);
  ASSERT_NE(a, SEM_FAILED) << strerror(errno);
  struct stat st;
  ASSERT_EQ(stat((backing_dir() + "/sem." + name).c_str(), &st), 0);
  EXPECT_EQ(st.st_size, (off_t)sizeof(sem_t));
  // One table behind both versions: the same mapping, closed by either.
  sem_t* b = open_old(name.c_str(), 0);
  EXPECT_EQ(a, b);
  EXPECT_EQ(version_of<SemOp>("sem_close", kOld)(a), 0);
  EXPECT_EQ(version_of<SemOp>("sem_close", kNew)(b), 0);
  errno = 0;
  EXPECT_EQ(version_of<SemOp>("sem_close", kNew)(a), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(version_of<Unlink>("sem_unlink", kOld)(name.c_str()), 0);
  EXPECT_FALSE(exists(backing_dir() + "/sem." + name));
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

TEST(LibcOnOurSemaphores, EveryUnnamedFunctionAtEveryVersion) {
  std::string name = unique_name("libc");
  sem_t* sem = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(sem, SEM_FAILED);
  for (const char* v : kVersions) {
    SCOPED_TRACE(v);
    int value = -1;
    EXPECT_EQ(version_of<SemOp>("sem_post", v)(sem), 0);
    EXPECT_EQ(version_of<SemOp>("sem_post", v)(sem), 0);
    EXPECT_EQ(version_of<SemGet>("sem_getvalue", v)(sem, &value), 0);
    EXPECT_EQ(value, 2);
    EXPECT_EQ(version_of<SemOp>("sem_wait", v)(sem), 0);
    EXPECT_EQ(version_of<SemOp>("sem_trywait", v)(sem), 0);
    errno = 0;
    EXPECT_EQ(version_of<SemOp>("sem_trywait", v)(sem), -1);
    EXPECT_EQ(errno, EAGAIN);
    struct timespec past = {1, 0};
    errno = 0;
    EXPECT_EQ(version_of<SemTimed>("sem_timedwait", v)(sem, &past), -1);
    EXPECT_EQ(errno, ETIMEDOUT);
  }
  // sem_clockwait (glibc 2.30, libc since 2.34) on a monotonic deadline.
  for (const char* v : {kNew, "GLIBC_2.30"}) {
    SCOPED_TRACE(v);
    auto clockwait = version_of<SemClock>("sem_clockwait", v);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    errno = 0;
    EXPECT_EQ(clockwait(sem, CLOCK_MONOTONIC, &now), -1);
    EXPECT_EQ(errno, ETIMEDOUT);
    ASSERT_EQ(sem_post(sem), 0);
    now.tv_sec += 30;
    EXPECT_EQ(clockwait(sem, CLOCK_MONOTONIC, &now), 0);
  }
  EXPECT_EQ(sem_close(sem), 0);
  EXPECT_EQ(sem_unlink(name.c_str()), 0);
}

TEST(LibcOnOurSemaphores, LibcsOwnSemCloseDoesNotKnowThem) {
  // Why sem_close is interposed: libc looks the address up in its own table.
  std::string name = unique_name("close");
  sem_t* sem = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(sem, SEM_FAILED);
  errno = 0;
  EXPECT_EQ(libc_version_of<SemOp>("sem_close", kNew)(sem), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(sem_close(sem), 0);
  EXPECT_EQ(sem_unlink(name.c_str()), 0);
}

TEST(LibcOnOurSemaphores, AWaiterInAnotherProcessIsWoken) {
  // The probe (stock glibc, under the preload library too) opens the
  // semaphore by name and blocks in libc's sem_timedwait; libc's sem_post
  // here must wake it, which takes the shared-futex flag sem_open wrote.
  std::string name = unique_name("wake");
  sem_t* sem = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(sem, SEM_FAILED);
  ProcResult r;
  std::thread waiter([&] {
    r = run({probe_stock(), "sem_open " + name + " 0", "sem_timedwait_ms 30000"});
  });
  for (int i = 0; i < 10000 && waiters(sem) == 0; ++i) usleep(1000);
  EXPECT_EQ(waiters(sem), 1u) << "the probe never blocked";
  EXPECT_EQ(sem_post(sem), 0);
  waiter.join();
  EXPECT_NE(r.out.find("sem_timedwait_ms 30000 -> 0"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(sem_close(sem), 0);
  EXPECT_EQ(sem_unlink(name.c_str()), 0);
}

TEST(ForkAndExec, AChildInheritsTheTable) {
  std::string name = unique_name("fork");
  sem_t* sem = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(sem, SEM_FAILED);
  pid_t pid = fork();
  if (pid == 0) {
    // Exit codes say which step failed.
    if (sem_open(name.c_str(), 0) != sem) _exit(1);
    if (sem_close(sem) != 0 || sem_close(sem) != 0) _exit(2);
    if (sem_close(sem) != -1 || errno != EINVAL) _exit(3);
    int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 || shm_unlink(name.c_str()) != 0) _exit(4);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  // The child unmapped its copy; the parent's reference is untouched.
  EXPECT_EQ(sem_post(sem), 0);
  EXPECT_EQ(sem_close(sem), 0);
  EXPECT_EQ(sem_unlink(name.c_str()), 0);
}

TEST(ForkAndExec, NothingLeaksIntoAnExecutedProgram) {
  // The backing directory's descriptor is open by now; exec must close it.
  std::string name = unique_name("exec");
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ProcResult r = run({"/bin/sh", "-c", "ls -l /proc/$$/fd"});
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out.find(backing_dir()), std::string::npos) << r.out;
  close(fd);
  EXPECT_EQ(shm_unlink(name.c_str()), 0);
}

TEST(Inert, NothingHappensUntilAFunctionIsCalled) {
  TempDir dir("inert");
  // Loaded into programs that never call it: no directory made, no
  // descriptor opened, and not even a bad LAMBSHM_DIR stops them.
  std::string never = dir / "never";
  ProcResult r = run({probe_stock(), "echo hi"}, {"LAMBSHM_DIR=" + never, "LAMBSHM_DEBUG=1"});
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(exists(never));
  r = run({probe_stock(), "echo hi"}, {"LAMBSHM_DIR=relative/dir", "LAMBSHM_DEBUG=1"});
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(r.out + r.err, "hi\n");
  std::string fds = "ls /proc/$$/fd";
  ProcResult with = run({"/bin/sh", "-c", fds});
  ProcResult without = run({"/bin/sh", "-c", fds}, {"LD_PRELOAD="});
  EXPECT_EQ(with.out, without.out);
}

TEST(Compose, WithAnotherPreloadLibraryInEitherOrder) {
  std::string ours = preload_library(), theirs = compose_library();
  for (bool ours_first : {false, true}) {
    SCOPED_TRACE(ours_first ? "lambshm first" : "the other first");
    std::string preload = ours_first ? ours + ":" + theirs : theirs + ":" + ours;
    std::string name = unique_name("compose");
    ProcResult r = run({probe_stock(), "time", "shm_open " + name + " O_CREAT|O_EXCL|O_RDWR 0600",
                        "shm_unlink " + name},
                       {"LD_PRELOAD=" + preload, "COMPOSE_CTOR_NAME=" + name + "-ctor"});
    // Both libraries act: its time(), our shm_open.
    EXPECT_NE(r.out.find("time -> 1234567890"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("O_CREAT|O_EXCL|O_RDWR 0600 -> fd"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("shm_unlink " + name + " -> 0"), std::string::npos) << r.out;
    // Called from its constructor, before main, our functions work.
    EXPECT_NE(r.err.find("compose-ctor: ok"), std::string::npos) << r.err;
    EXPECT_TRUE(exists(backing_dir() + "/" + name + "-ctor"));
    EXPECT_TRUE(exists(backing_dir() + "/sem." + name + "-ctor"));
    EXPECT_FALSE(exists("/dev/shm/" + name + "-ctor"));
    // A wrapper placed before us forwards to us; placed after us, it is
    // never reached: lambshm replaces shm_open and does not call on.
    bool wrapped = r.err.find("compose: shm_open " + name + "\n") != std::string::npos;
    EXPECT_EQ(wrapped, !ours_first) << r.err;
    EXPECT_EQ(shm_unlink((name + "-ctor").c_str()), 0);
    EXPECT_EQ(sem_unlink((name + "-ctor").c_str()), 0);
  }
}

TEST(Overlay, SharesObjectsWithAProcessUsingTheOverlay) {
  // The probe built against lambshm's librt/libpthread (the overlay), without
  // the preload, and probe-stock with it, on one LAMBSHM_DIR.
  std::string name = unique_name("overlay");
  std::vector<std::string> no_preload = {"LD_PRELOAD="};
  ProcResult a = run({probe_overlay(), "sem_open " + name + " O_CREAT|O_EXCL 0600 0",
                      "shm_open " + name + " O_CREAT|O_EXCL|O_RDWR 0600", "ftruncate 4096",
                      "pwrite from-overlay"},
                     no_preload);
  ASSERT_EQ(a.exit_code(), 0) << a.out << a.err;
  ProcResult b, c;
  std::thread preload_side([&] {
    b = run({probe_stock(), "sem_open " + name + " 0", "shm_open " + name + " O_RDWR 0",
             "fstat", "pread 12", "pwrite from-preload", "sem_timedwait_ms 30000"});
  });
  c = run({probe_overlay(), "sem_open " + name + " 0", "await_waiter 10000", "sem_post"},
          no_preload);
  preload_side.join();
  EXPECT_NE(b.out.find("fstat -> mode 600 size 4096"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("pread 12 -> from-overlay"), std::string::npos) << b.out;
  EXPECT_NE(c.out.find("await_waiter 10000 -> 1"), std::string::npos) << c.out;
  EXPECT_NE(b.out.find("sem_timedwait_ms 30000 -> 0"), std::string::npos) << b.out;

  // And the other way round: the overlay waits, the preload posts.
  std::thread overlay_side([&] {
    a = run({probe_overlay(), "sem_open " + name + " 0", "shm_open " + name + " O_RDWR 0",
             "pread 12", "sem_timedwait_ms 30000"},
            no_preload);
  });
  b = run({probe_stock(), "sem_open " + name + " 0", "await_waiter 10000", "sem_post",
           "sem_unlink " + name, "shm_unlink " + name});
  overlay_side.join();
  EXPECT_NE(a.out.find("pread 12 -> from-preload"), std::string::npos) << a.out;
  EXPECT_NE(b.out.find("await_waiter 10000 -> 1"), std::string::npos) << b.out;
  EXPECT_NE(a.out.find("sem_timedwait_ms 30000 -> 0"), std::string::npos) << a.out;
  EXPECT_NE(b.out.find("shm_unlink " + name + " -> 0"), std::string::npos) << b.out;
}

}  // namespace
}  // namespace lambshm::test
