// Helpers shared by the GoogleTest suites: temporary directories, unique
// object names, and running helper processes with a chosen environment.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

namespace lambshm::test {

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(const char* tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void remove_tree(const std::string& path);

// Entry names of a directory, sorted, without "." and "..", and without the
// marker of a backing directory lambshm created (core/ownership.h) and the
// name tables (core/name_table.h), which are no objects, unless `with_marker`.
std::vector<std::string> list_dir(const std::string& path, bool with_marker = false);

// Whether the backing directory `dir` has an object named `name` (a file
// name in it: "x" for shm "/x", "sem.x" for a semaphore): a file at the name
// (a plain object or a record), or a live slot of this user's name table,
// where a short name of a memfd object lives (docs/small-objects.md).
bool object_named(const std::string& dir, const std::string& name);
// Whether `name` is a live slot of this user's name table in `dir`.
bool in_name_table(const std::string& dir, const std::string& name);

// A name no other test, test run or process uses: "lt<pid>-<n>-<tag>".
std::string unique_name(const char* tag);
// unique_name() made longer than the name table takes (79 bytes,
// core/name_table.h): a memfd object of this name gets a record file.
std::string record_name(const char* tag);

struct ProcResult {
  int status = -1;  // waitpid status
  std::string out;
  std::string err;
  int exit_code() const;  // -1 unless exited normally
  int signal() const;     // 0 unless killed by a signal
};

// Runs argv[0] (a path) with the current environment plus `env` ("K=V"; "K="
// alone unsets K), feeding `input` to standard input.
ProcResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
               const std::string& input = "");

// run() in two halves, to have several children running at once: start()
// forks and execs, finish() reads the child's output to its end and waits.
struct Started {
  pid_t pid;
  int out;  // read ends of the child's stdout and stderr
  int err;
};
Started start(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
              const std::string& input = "");
ProcResult finish(Started child);

// Path of a helper binary, from an environment variable meson sets.
std::string helper(const char* env_var);

bool is_root();

// Whether process `pid` is gone or a zombie (dead, its parent not told yet).
bool process_gone(pid_t pid);

// Runs `body` in a child that switched to uid and gid 65534 (needs root), and
// returns what it returned: 99 when the switch failed, 100 on a crash.
template <typename Body>
int as_nobody(Body body) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(99);
    _exit(body());
  }
  int status;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

// The /proc/self/maps line of the mapping that starts at `addr`, or "" (by
// address: the kernel may name a mapping after the file as it was created,
// a temporary, not its final name).
std::string mapping_at(const void* addr);

// Whether a /proc/self/maps line maps an object's file in the directory
// `dir`: not the name table, which a process maps once for its life
// (core/name_table.h).
bool maps_object_in(const std::string& maps_line, const std::string& dir);

// The user-mode emulator this test runs under ("qemu-aarch64 version 7.2.x
// ..."; tests/harness/target-exec sets LAMBSHM_TEST_EMULATOR), or nullptr on a
// native machine.  Only for the reason of a skip where the emulator cannot
// do something (qemu-user 7.2 implements neither mq_notify nor io_setup:
// both fail with ENOSYS), never to relax a check.
const char* emulator();

// Under an emulator (emulator()), waits at most `timeout_ms` until no thread
// of this process has started or exited for `quiet_ms`, and returns whether
// it settled; natively returns true at once.  Tests call it before a fork
// whose child starts threads: under qemu-user 7.2, a fork while another
// thread starts or exits leaves the emulator's thread-creation lock taken in
// the child, whose first pthread_create then hangs (18 of 20 children in a
// 40-line reproduction; 0 of 200 natively).  Natively such a fork is what
// real programs do, and the tests keep doing it.
bool settle_threads(int quiet_ms = 50, int timeout_ms = 5000);

// Runs `body` in a child with its own mount namespace (so that mounts made
// there vanish with it) and returns what it returns; "SKIP: why" when
// namespaces cannot be made.
std::string in_mount_namespace(const std::function<std::string()>& body);

// Fills the filesystem of `path`: a file there grown until ENOSPC, to the
// last byte, and synced.
void fill_filesystem(const std::string& path);

// Makes a 2 MiB ext4 image with 64 inodes at `image` and mounts it, mode
// 1777, at `mnt` (inside in_mount_namespace): "" or why it cannot (root of a
// user namespace, as under tests/harness/target-exec, may not mount a block
// device).
std::string mount_small_ext4(const std::string& image, const std::string& mnt);

}  // namespace lambshm::test
