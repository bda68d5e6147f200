// The preload library in whole processes: fork, exec, loaded but never
// called, beside another preload library, and sharing objects with a
// process that uses the overlay instead.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "preload_env.h"

namespace lambshm::test {
namespace {

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
    EXPECT_TRUE(object_named(backing_dir(), name + "-ctor"));
    EXPECT_TRUE(object_named(backing_dir(), "sem." + name + "-ctor"));
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
