// A hostile or broken backing directory: planted symbolic links and FIFOs at
// object names, the directory replaced while in use, a read-only or full
// filesystem, no descriptors left.  Each gives a clear errno, and nothing
// outside the backing directory is created, changed or removed.
// (The refusals of a symlinked, non-directory or foreign-writable directory at
// start-up are in tests/api/process_test.cpp.)
#include "old_abi.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "api_env.h"
#include "test_util.h"

namespace lambshm::test {
namespace {

std::string probe() { return helper("LAMBSHM_PROBE"); }

std::string sem_file(const std::string& name) { return backing_dir() + "/sem." + name; }
std::string shm_file(const std::string& name) { return backing_dir() + "/" + name; }
bool exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}
int err(int r) { return r < 0 ? errno : 0; }

// The backing directory is created on first use; tests that plant files in
// it first make sure it is there.
void ensure_backing_dir() { sem_unlink("no-such-semaphore"); }
int sem_err(sem_t* s) {
  if (s == SEM_FAILED) return errno;
  sem_close(s);
  return 0;
}

// A directory the attacker wants us to write into, with one file in it; its
// state (names, sizes, contents) must not change.
struct VictimDir {
  TempDir dir{"victim"};
  VictimDir() {
    int fd = open((dir / "precious").c_str(), O_CREAT | O_WRONLY, 0644);
    EXPECT_EQ(write(fd, "precious", 8), 8);
    close(fd);
  }
  std::string state() const {
    std::string s;
    for (const std::string& e : list_dir(dir.path())) {
      struct stat st;
      lstat((dir / e).c_str(), &st);
      s += e + ":" + std::to_string(st.st_size) + " ";
    }
    return s;
  }
};

// --- Planted files at object names -----------------------------------------

int plant_file(const std::string& path, size_t size) {
  int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  std::string zeros(size, '\0');
  int r = write(fd, zeros.data(), size) == (ssize_t)size ? 0 : EIO;
  close(fd);
  return r;
}

TEST(PlantedAtTheName, ASymlinkToAMissingFileIsNeverFollowedToCreateIt) {
  VictimDir victim;
  std::string before = victim.state();
  std::string target = victim.dir / "created-by-lambshm";
  std::string name = unique_name("dangling");
  ensure_backing_dir();
  ASSERT_EQ(symlink(target.c_str(), sem_file(name).c_str()), 0);
  ASSERT_EQ(symlink(target.c_str(), shm_file(name).c_str()), 0);
  EXPECT_EQ(sem_err(sem_open(name.c_str(), O_CREAT, 0600, 1)), ELOOP);
  EXPECT_EQ(sem_err(sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 1)), EEXIST);
  EXPECT_EQ(sem_err(sem_open(name.c_str(), 0)), ELOOP);
  EXPECT_EQ(err(shm_open(name.c_str(), O_CREAT | O_RDWR, 0600)), ELOOP);
  EXPECT_EQ(err(shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600)), EEXIST);
  EXPECT_EQ(err(shm_open(name.c_str(), O_RDONLY, 0)), ELOOP);
  EXPECT_EQ(victim.state(), before);
  // Removal removes the link, never its target.
  EXPECT_EQ(sem_unlink(name.c_str()), 0);
  EXPECT_EQ(shm_unlink(name.c_str()), 0);
  EXPECT_EQ(victim.state(), before);
}

TEST(PlantedAtTheName, ASymlinkToADirectoryOrAFileIsRefusedAndLeftAlone) {
  VictimDir victim;
  std::string before = victim.state();
  ensure_backing_dir();
  for (std::string target : {victim.dir.path(), victim.dir / "precious"}) {
    std::string name = unique_name("link");
    ASSERT_EQ(symlink(target.c_str(), sem_file(name).c_str()), 0);
    ASSERT_EQ(symlink(target.c_str(), shm_file(name).c_str()), 0);
    EXPECT_EQ(sem_err(sem_open(name.c_str(), O_CREAT, 0600, 1)), ELOOP) << target;
    EXPECT_EQ(err(shm_open(name.c_str(), O_RDWR | O_TRUNC, 0)), ELOOP) << target;
    EXPECT_EQ(err(shm_open(name.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600)), ELOOP) << target;
    EXPECT_EQ(sem_unlink(name.c_str()), 0);
    EXPECT_EQ(shm_unlink(name.c_str()), 0);
  }
  EXPECT_EQ(victim.state(), before);
}

// sem_open opens with O_NONBLOCK and checks the type: a FIFO planted at a
// semaphore's name is refused at once instead of blocking the caller.
TEST(PlantedAtTheName, AFifoIsRefusedWithoutBlocking) {
  std::string name = unique_name("fifo");
  ensure_backing_dir();
  ASSERT_EQ(mkfifo(sem_file(name).c_str(), 0666), 0);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);  // a blocked open is a failure, not a hang of the suite
    sem_t* s = sem_open(name.c_str(), O_CREAT, 0600, 1);
    _exit(s == SEM_FAILED && errno == EINVAL ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(sem_unlink(name.c_str()), 0);
}

// A file planted with a lease on it: opening it for writing would wait for
// the lease holder to let go (up to /proc/sys/fs/lease-break-time, 45 s by
// default).  sem_open opens with O_NONBLOCK and says EAGAIN at once.
TEST(PlantedAtTheName, ALeasedFileMakesSemOpenFailAtOnceNotWait) {
  ensure_backing_dir();
  std::string name = unique_name("lease");
  ASSERT_EQ(plant_file(sem_file(name), 32), 0);
  int fd = open(sem_file(name).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  if (fcntl(fd, F_SETLEASE, F_RDLCK) != 0) {
    close(fd);
    sem_unlink(name.c_str());
    GTEST_SKIP() << "cannot take a lease here: " << strerror(errno);
  }
  signal(SIGIO, SIG_IGN);  // the break notice; the lease is kept regardless
  // Another program (a child would share the leased descriptor).  Had it
  // waited, it would have opened the file once the lease was broken.
  ProcResult r = run({probe(), "sem_open " + name + " 0"});
  EXPECT_EQ(r.out, "sem_open " + name + " 0 -> -1 EAGAIN\n");
  close(fd);
  signal(SIGIO, SIG_DFL);
  EXPECT_EQ(sem_unlink(name.c_str()), 0);
}

// --- The directory changed while in use ------------------------------------

// Runs the probe with LAMBSHM_DIR=dir and LAMBSHM_DEBUG=1.
ProcResult probe_in(const std::string& dir, const std::vector<std::string>& calls) {
  std::vector<std::string> argv = {probe()};
  argv.insert(argv.end(), calls.begin(), calls.end());
  return run(argv, {"LAMBSHM_DIR=" + dir, "LAMBSHM_DEBUG=1"});
}

TEST(DirectoryReplacedWhileInUse, ByASymlinkToAnotherDirectoryIsRefused) {
  TempDir root("replaced");
  VictimDir victim;
  std::string before = victim.state();
  std::string dir = root / "shm";
  ProcResult r = probe_in(dir, {"sem_open a O_CREAT 0600 1", "shm_open a O_CREAT|O_RDWR 0600",
                                "sh rm -rf " + dir + " && ln -s " + victim.dir.path() + " " + dir,
                                "sem_open b O_CREAT 0600 1", "shm_open b O_CREAT|O_RDWR 0600",
                                "sem_unlink a", "shm_unlink a"});
  EXPECT_EQ(r.out, "sem_open a O_CREAT 0600 1 -> sem\n"
                   "shm_open a O_CREAT|O_RDWR 0600 -> fd cloexec\n"
                   "sh rm -rf " + dir + " && ln -s " + victim.dir.path() + " " + dir + " -> 0\n"
                   "sem_open b O_CREAT 0600 1 -> -1 EACCES\n"
                   "shm_open b O_CREAT|O_RDWR 0600 -> -1 EACCES\n"
                   "sem_unlink a -> -1 EACCES\n"
                   "shm_unlink a -> -1 EACCES\n");
  EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << r.err;
  EXPECT_EQ(victim.state(), before);
}

TEST(DirectoryReplacedWhileInUse, ByAForeignWritableDirectoryIsRefused) {
  if (!is_root()) GTEST_SKIP() << "needs root to chown";
  TempDir root("foreign");
  std::string dir = root / "shm";
  ProcResult r = probe_in(dir, {"sem_open a O_CREAT 0600 1",
                                "sh rm -rf " + dir + " && mkdir -m 0777 " + dir +
                                    " && chown 65534 " + dir,
                                "sem_open b O_CREAT 0600 1", "shm_open b O_CREAT|O_RDWR 0600"});
  EXPECT_NE(r.out.find("sem_open b O_CREAT 0600 1 -> -1 EACCES\n"
                       "shm_open b O_CREAT|O_RDWR 0600 -> -1 EACCES\n"),
            std::string::npos) << r.out;
  EXPECT_NE(r.err.find("sticky"), std::string::npos) << r.err;
  EXPECT_TRUE(list_dir(dir).empty());
}

TEST(DirectoryReplacedWhileInUse, MadeForeignAndWritableInPlaceIsRefused) {
  if (!is_root()) GTEST_SKIP() << "needs root to chown";
  TempDir root("chowned");
  std::string dir = root / "shm";
  ProcResult r = probe_in(dir, {"sem_open a O_CREAT 0600 1",
                                "sh chown 65534 " + dir + " && chmod 0777 " + dir,
                                "sem_open b O_CREAT 0600 1", "sh chmod 01777 " + dir,
                                "sem_open c O_CREAT 0600 1"});
  EXPECT_NE(r.out.find("sem_open b O_CREAT 0600 1 -> -1 EACCES\n"), std::string::npos) << r.out;
  // With the sticky bit back it is acceptable again, like /tmp.
  EXPECT_NE(r.out.find("sem_open c O_CREAT 0600 1 -> sem\n"), std::string::npos) << r.out;
}

// Renamed away and a symlink put in its place: the process keeps using the
// directory it validated (its descriptor), never the symlink's target.  New
// processes refuse the symlink.
TEST(DirectoryReplacedWhileInUse, RenamedAwayTheValidatedDirectoryKeepsBeingUsed) {
  TempDir root("renamed");
  VictimDir victim;
  std::string before = victim.state();
  std::string dir = root / "shm", moved = root / "moved";
  ProcResult r = probe_in(dir, {"sem_open a O_CREAT 0600 1",
                                "sh mv " + dir + " " + moved + " && ln -s " +
                                    victim.dir.path() + " " + dir,
                                "sem_open b O_CREAT 0600 1", "shm_open c O_CREAT|O_RDWR 0600"});
  EXPECT_NE(r.out.find("sem_open b O_CREAT 0600 1 -> sem\n"), std::string::npos) << r.out;
  std::vector<std::string> in_moved = {"sem.a", "sem.b"};
  EXPECT_EQ(list_dir(moved), in_moved);  // librt's first use (shm_open c) refuses the symlink
  EXPECT_NE(r.out.find("shm_open c O_CREAT|O_RDWR 0600 -> -1 EACCES"), std::string::npos) << r.out;
  EXPECT_EQ(victim.state(), before);
}

int count_fds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1;
}

// A program (or a Lambda handler cleaning /tmp between invocations) that
// deletes the directory again and again: re-created each time, and no
// descriptor lost each time.
TEST(DirectoryReplacedWhileInUse, DeletedAgainAndAgainCostsNoDescriptors) {
  constexpr int kTimes = 50;
  pid_t pid = fork();
  if (pid == 0) {
    std::string name = unique_name("again");
    int code = 0;
    sem_t* s = sem_open(name.c_str(), O_CREAT, 0600, 1);
    int fd = shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
    if (s == SEM_FAILED || fd < 0) _exit(1);
    sem_close(s);
    close(fd);
    int fds = count_fds();
    for (int i = 0; i < kTimes; ++i) {
      remove_tree(backing_dir());
      s = sem_open(name.c_str(), O_CREAT, 0600, 1);
      fd = shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
      if (s == SEM_FAILED || fd < 0) code |= 2;
      if (s != SEM_FAILED) sem_close(s);
      if (fd >= 0) close(fd);
    }
    // A directory's memfds made in advance come and go with it (at most two
    // batches and their connection: core/memfd_pool.cpp); anything per round is a leak.
    constexpr int kPool = 2 * 16 + 1;
    if (count_fds() > fds + kPool) code |= 4;
    sem_unlink(name.c_str());
    shm_unlink(name.c_str());
    _exit(code);
  }
  int status;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status) & 2, 0) << "a call failed after the directory was re-created";
  EXPECT_EQ(WEXITSTATUS(status) & 4, 0) << "descriptors were lost";
}

// --- Read-only, full, out of descriptors --------------------------------------

#define SKIP_IF_SKIPPED(out)                                    \
  if ((out).rfind("SKIP: ", 0) == 0) GTEST_SKIP() << (out).substr(6)

TEST(ReadOnlyFilesystem, EveryChangeFailsWithErofsAndReadingStillWorks) {
  if (!is_root()) GTEST_SKIP() << "needs root to mount";
  TempDir root("rofs");
  std::string mnt = root / "mnt";
  mkdir(mnt.c_str(), 0755);
  std::string out = in_mount_namespace([&] {
    if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m,mode=0755") != 0)
      return std::string("SKIP: cannot mount a tmpfs: ") + strerror(errno);
    std::string dir = mnt + "/shm";
    // A directory with a semaphore and an object, then the whole mount read-only.
    run({probe(), "sem_open old O_CREAT 0600 4", "shm_open old O_CREAT|O_RDWR 0600"},
        {"LAMBSHM_DIR=" + dir});
    if (mount(nullptr, mnt.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0)
      return std::string("SKIP: cannot remount read-only: ") + strerror(errno);
    ProcResult existing =
        run({probe(), "sem_open new O_CREAT 0600 1", "sem_open new O_CREAT|O_EXCL 0600 1",
             "sem_open old 0", "sem_unlink old", "shm_open new O_CREAT|O_RDWR 0600",
             "shm_open old O_RDONLY 0", "shm_open old O_RDWR 0", "shm_unlink old", "ls"},
            {"LAMBSHM_DIR=" + dir});
    ProcResult missing = run({probe(), "sem_open x O_CREAT 0600 1", "shm_open x O_RDONLY 0"},
                             {"LAMBSHM_DIR=" + mnt + "/none"});
    return existing.out + "--\n" + missing.out;
  });
  SKIP_IF_SKIPPED(out);
  // Opening a semaphore needs write access (sem_open maps it shared, read-write):
  // EROFS, as in glibc.
  EXPECT_EQ(out,
            "sem_open new O_CREAT 0600 1 -> -1 EROFS\n"
            "sem_open new O_CREAT|O_EXCL 0600 1 -> -1 EROFS\n"
            "sem_open old 0 -> -1 EROFS\n"
            "sem_unlink old -> -1 EROFS\n"
            "shm_open new O_CREAT|O_RDWR 0600 -> -1 EROFS\n"
            "shm_open old O_RDONLY 0 -> fd cloexec\n"
            "shm_open old O_RDWR 0 -> -1 EROFS\n"
            "shm_unlink old -> -1 EROFS\n"
            "ls -> 2 entries\n  old 600 0\n  sem.old 600 32\n"
            "--\n"
            "sem_open x O_CREAT 0600 1 -> -1 EROFS\n"
            "shm_open x O_RDONLY 0 -> -1 EROFS\n");
}

std::string full_filesystem_calls(const std::string& mnt) {
  std::string dir = mnt + "/shm";
  run({probe(), "sem_open early O_CREAT 0600 2"}, {"LAMBSHM_DIR=" + dir});
  fill_filesystem(mnt + "/filler");
  ProcResult full = run({probe(), "sem_open new O_CREAT 0600 1",
                         "sem_open new O_CREAT|O_EXCL 0600 1", "sem_open early 0", "sem_post",
                         "sem_getvalue", "ls"},
                        {"LAMBSHM_DIR=" + dir});
  unlink((mnt + "/filler").c_str());
  sync();
  ProcResult freed = run({probe(), "sem_open new O_CREAT 0600 1", "sem_getvalue"},
                         {"LAMBSHM_DIR=" + dir});
  return full.out + "--\n" + freed.out;
}

const char kFullExpected[] =
    "sem_open new O_CREAT 0600 1 -> -1 ENOSPC\n"
    "sem_open new O_CREAT|O_EXCL 0600 1 -> -1 ENOSPC\n"
    "sem_open early 0 -> sem\n"
    "sem_post -> 0\n"
    "sem_getvalue -> 3\n"
    "ls -> 1 entries\n  sem.early 600 32\n"
    "--\n"
    "sem_open new O_CREAT 0600 1 -> sem\n"
    "sem_getvalue -> 1\n";

// /tmp full: sem_open says ENOSPC (it writes the semaphore's bytes before
// publishing it) instead of handing out a mapping that faults later.
TEST(FullFilesystem, TmpfsFullGivesEnospcAndLeavesNothing) {
  if (!is_root()) GTEST_SKIP() << "needs root to mount";
  TempDir root("full");
  std::string mnt = root / "mnt";
  mkdir(mnt.c_str(), 0755);
  std::string out = in_mount_namespace([&] {
    if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=256k,mode=01777") != 0)
      return std::string("SKIP: cannot mount a tmpfs: ") + strerror(errno);
    return full_filesystem_calls(mnt);
  });
  SKIP_IF_SKIPPED(out);
  EXPECT_EQ(out, kFullExpected);
}

// The same on ext4, the filesystem of Lambda's /tmp (delayed allocation: a
// write only reserves its block).
TEST(FullFilesystem, Ext4FullGivesEnospcAndLeavesNothing) {
  if (!is_root()) GTEST_SKIP() << "needs root to mount";
  if (system("command -v mkfs.ext4 >/dev/null 2>&1") != 0) GTEST_SKIP() << "mkfs.ext4 is missing";
  TempDir root("ext4");
  std::string mnt = root / "mnt", image = root / "fs.img";
  mkdir(mnt.c_str(), 0755);
  std::string out = in_mount_namespace([&] {
    std::string why = mount_small_ext4(image, mnt);
    if (!why.empty()) return "SKIP: " + why;
    std::string out = full_filesystem_calls(mnt);
    umount2(mnt.c_str(), MNT_DETACH);
    return out;
  });
  SKIP_IF_SKIPPED(out);
  EXPECT_EQ(out, kFullExpected);
}

// Out of inodes: the temporary file itself cannot be made.
TEST(FullFilesystem, NoInodesLeftGivesEnospc) {
  if (!is_root()) GTEST_SKIP() << "needs root to mount";
  TempDir root("inodes");
  std::string mnt = root / "mnt";
  mkdir(mnt.c_str(), 0755);
  std::string out = in_mount_namespace([&] {
    if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m,nr_inodes=8,mode=01777") != 0)
      return std::string("SKIP: cannot mount a tmpfs: ") + strerror(errno);
    std::string dir = mnt + "/shm";
    run({probe(), "sem_open early O_CREAT 0600 2"}, {"LAMBSHM_DIR=" + dir});
    for (int i = 0; i < 16; ++i) {
      close(open((mnt + "/f" + std::to_string(i)).c_str(), O_CREAT | O_WRONLY, 0600));
    }
    return run({probe(), "sem_open new O_CREAT 0600 1", "shm_open new O_CREAT|O_RDWR 0600",
                "sem_open early 0", "sem_getvalue"},
               {"LAMBSHM_DIR=" + dir}).out;
  });
  SKIP_IF_SKIPPED(out);
  EXPECT_EQ(out, "sem_open new O_CREAT 0600 1 -> -1 ENOSPC\n"
                 "shm_open new O_CREAT|O_RDWR 0600 -> -1 ENOSPC\n"
                 "sem_open early 0 -> sem\n"
                 "sem_getvalue -> 2\n");
}

// No descriptor left (RLIMIT_NOFILE): EMFILE, nothing created; a name this
// process already has open still opens (no descriptor needed); and with one
// descriptor free again everything works.
TEST(OutOfDescriptors, EmfileAndNothingCreated) {
  pid_t pid = fork();
  if (pid == 0) {
    std::string held = unique_name("held"), fresh = unique_name("fresh");
    sem_t* h = sem_open(held.c_str(), O_CREAT, 0600, 1);
    int code = h == SEM_FAILED ? 1 : 0;
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = 64;
    setrlimit(RLIMIT_NOFILE, &lim);
    std::vector<int> hog;
    for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) hog.push_back(fd);
    if (sem_open(fresh.c_str(), O_CREAT, 0600, 1) != SEM_FAILED || errno != EMFILE) code |= 2;
    if (sem_open(fresh.c_str(), O_CREAT | O_EXCL, 0600, 1) != SEM_FAILED || errno != EMFILE)
      code |= 2;
    if (shm_open(fresh.c_str(), O_CREAT | O_RDWR, 0600) != -1 || errno != EMFILE) code |= 4;
    if (sem_open(held.c_str(), 0) != h) code |= 8;
    if (exists(sem_file(fresh)) || exists(shm_file(fresh))) code |= 16;
    for (const std::string& e : list_dir(backing_dir())) {
      if (e.rfind(".lambshm-tmp-", 0) == 0) code |= 16;
    }
    close(hog.back());
    sem_t* s = sem_open(fresh.c_str(), O_CREAT, 0600, 1);
    if (s == SEM_FAILED) code |= 32;
    else sem_close(s);
    sem_unlink(fresh.c_str());
    sem_close(h);
    sem_close(h);
    sem_unlink(held.c_str());
    _exit(code);
  }
  int status;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "bits: 2 sem EMFILE, 4 shm EMFILE, 8 open of an open name, "
                                       "16 files created, 32 recovery";
}

// The very first call of a process, with no descriptor to spare for the
// directory itself, then one, then two.
TEST(OutOfDescriptors, FirstUseWithoutADescriptorForTheDirectory) {
  TempDir root("emfile");
  std::string dir = root / "shm";
  ProcResult r = run({"/bin/sh", "-c", "ulimit -n 64 && exec \"$0\" \"$@\"", probe(), "fill_fds",
                      "sem_open a O_CREAT 0600 1", "shm_open a O_CREAT|O_RDWR 0600", "free_fd",
                      "sem_open a O_CREAT 0600 1", "shm_open a O_CREAT|O_RDWR 0600", "free_fd",
                      "sem_open a O_CREAT 0600 1", "shm_open a O_CREAT|O_RDWR 0600"},
                     {"LAMBSHM_DIR=" + dir});
  std::string out = r.out;
  size_t after = out.find(" after ");
  ASSERT_NE(after, std::string::npos) << out << r.err;
  out.replace(after, out.find('\n') - after, "");
  EXPECT_EQ(out,
            "fill_fds -> EMFILE\n"
            "sem_open a O_CREAT 0600 1 -> -1 EMFILE\n"           // the directory
            "shm_open a O_CREAT|O_RDWR 0600 -> -1 EMFILE\n"
            "free_fd -> 0\n"
            "sem_open a O_CREAT 0600 1 -> -1 EMFILE\n"           // the semaphore's file
            "shm_open a O_CREAT|O_RDWR 0600 -> -1 EMFILE\n"      // librt's own directory
            "free_fd -> 0\n"
            "sem_open a O_CREAT 0600 1 -> sem\n"
            "shm_open a O_CREAT|O_RDWR 0600 -> -1 EMFILE\n");    // the object itself
  std::vector<std::string> left = {"sem.a"};
  EXPECT_EQ(list_dir(dir), left);
}

}  // namespace
}  // namespace lambshm::test
