#include "test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <vector>

#include "name_table.h"

extern char** environ;

namespace lambshm::test {

TempDir::TempDir(const char* tag) {
  std::string tmpl = std::string("/tmp/lambshm-test-") + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
  chmod(path_.c_str(), 0755);  // others (unprivileged test users) may look in
}

TempDir::~TempDir() { remove_tree(path_); }

void remove_tree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    chmod(path.c_str(), 0700);
    for (const std::string& name : list_dir(path, /*with_marker=*/true))
      remove_tree(path + "/" + name);
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

std::vector<std::string> list_dir(const std::string& path, bool with_marker) {
  std::vector<std::string> names;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (!with_marker && (strcmp(e->d_name, ".lambshm-dir") == 0 ||
                         strncmp(e->d_name, ".lambshm-names.", 15) == 0))
      continue;
    names.push_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool in_name_table(const std::string& dir, const std::string& name) {
  namespace nt = lambshm::name_table;
  std::string path = dir + "/.lambshm-names.5." + std::to_string(geteuid());
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  struct stat st;
  // Not this layout's (an older table): no slot of ours is there.
  if (fstat(fd, &st) != 0 || (size_t)st.st_size != nt::kTableSize) {
    close(fd);
    return false;
  }
  void* base = mmap(nullptr, nt::kTableSize, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) return false;
  // Every slot, not only the name's bucket: no hash to agree on with the core.
  const auto* slots = reinterpret_cast<const nt::Slot*>(static_cast<const char*>(base) +
                                                        nt::kSlotsOffset);
  bool live = false;
  for (uint32_t i = 0; i < nt::kSlots && !live; ++i)
    live = slots[i].state.load(std::memory_order_acquire) == nt::kLive &&
           strncmp(slots[i].name, name.c_str(), sizeof slots[i].name) == 0;
  munmap(base, nt::kTableSize);
  return live;
}

bool object_named(const std::string& dir, const std::string& name) {
  struct stat st;
  return lstat((dir + "/" + name).c_str(), &st) == 0 || in_name_table(dir, name);
}

std::string unique_name(const char* tag) {
  // The pid alone is not enough: /dev/shm outlives processes, and a pid comes
  // back; a random per-process part keeps a stale object from a killed run
  // (or another machine user's) from turning into EEXIST.
  // The salt is drawn once; the pid is read on every call so that a forked
  // child never repeats a name its parent will use.
  static const unsigned salt = [] {
    unsigned r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r) r = (unsigned)time(nullptr);
    return r & 0xffff;
  }();
  char buf[16];
  snprintf(buf, sizeof buf, "%04x", salt);
  const std::string process = std::to_string(getpid()) + buf;
  static std::atomic<int> counter{0};
  return "lt" + process + "-" + std::to_string(counter++) + "-" + tag;
}

std::string record_name(const char* tag) { return unique_name(tag) + "-" + std::string(80, 'r'); }

int ProcResult::exit_code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
int ProcResult::signal() const { return WIFSIGNALED(status) ? WTERMSIG(status) : 0; }

Started start(const std::vector<std::string>& argv, const std::vector<std::string>& env,
              const std::string& input) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) envs.push_back(*e);
  for (const std::string& kv : env) {
    std::string key = kv.substr(0, kv.find('=') + 1);
    envs.erase(std::remove_if(envs.begin(), envs.end(),
                              [&](const std::string& s) { return s.rfind(key, 0) == 0; }),
               envs.end());
    if (kv.size() > key.size()) envs.push_back(kv);
  }
  std::vector<char*> cargv, cenv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const std::string& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (!input.empty()) {
    ssize_t ignored = write(in[1], input.data(), input.size());
    (void)ignored;
  }
  close(in[1]);
  return {pid, out[0], err[0]};
}

ProcResult finish(Started child) {
  ProcResult r;
  pollfd fds[2] = {{child.out, POLLIN, 0}, {child.err, POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, (size_t)n);
      }
    }
  }
  waitpid(child.pid, &r.status, 0);
  return r;
}

ProcResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
               const std::string& input) {
  return finish(start(argv, env, input));
}

std::string helper(const char* env_var) {
  const char* p = getenv(env_var);
  if (p == nullptr) throw std::runtime_error(std::string(env_var) + " is not set (run via meson test)");
  return p;
}

bool is_root() { return geteuid() == 0; }

std::string mapping_at(const void* addr) {
  FILE* maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr) return "";
  char line[4096 + 256];
  std::string found;
  while (fgets(line, sizeof line, maps)) {
    // Addresses are printed with at least 8 digits ("0485d000-"): compare numbers.
    if (strtoul(line, nullptr, 16) == reinterpret_cast<uintptr_t>(addr)) {
      found = line;
      if (!found.empty() && found.back() == '\n') found.pop_back();
      break;
    }
  }
  fclose(maps);
  return found;
}

bool maps_object_in(const std::string& maps_line, const std::string& dir) {
  return maps_line.find(" " + dir + "/") != std::string::npos &&
         maps_line.find(" " + dir + "/.lambshm-names.") == std::string::npos;
}

bool process_gone(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return true;
  buf[n] = '\0';
  const char* state = strrchr(buf, ')');
  return state != nullptr && (state[2] == 'Z' || state[2] == 'X');
}

const char* emulator() {
  const char* e = getenv("LAMBSHM_TEST_EMULATOR");
  return e != nullptr && *e != '\0' ? e : nullptr;
}

namespace {
std::vector<long> thread_ids() {
  std::vector<long> ids;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ids.push_back(atol(e->d_name));
    closedir(d);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}
}  // namespace

bool settle_threads(int quiet_ms, int timeout_ms) {
  if (emulator() == nullptr) return true;
  const int step_ms = 5;
  std::vector<long> last = thread_ids();
  for (int waited = 0, quiet = 0; waited < timeout_ms; waited += step_ms) {
    usleep(step_ms * 1000);
    std::vector<long> now = thread_ids();
    quiet = now == last ? quiet + step_ms : 0;
    if (quiet >= quiet_ms) return true;
    last = std::move(now);
  }
  return false;
}

// Runs `body` in a child with its own mount namespace (so that mounts made
// there vanish with it) and returns what it returns; skipped when namespaces
// cannot be made.
std::string in_mount_namespace(const std::function<std::string()>& body) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    std::string out;
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      out = std::string("SKIP: no private mount namespace: ") + strerror(errno);
    else
      out = body();
    ssize_t ignored = write(pipefd[1], out.data(), out.size());
    (void)ignored;
    _exit(0);
  }
  close(pipefd[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) out.append(buf, (size_t)n);
  close(pipefd[0]);
  waitpid(pid, nullptr, 0);
  return out;
}

void fill_filesystem(const std::string& path) {
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  char block[4096] = {};
  while (write(fd, block, sizeof block) > 0) {
  }
  // Whatever partial block is left.
  while (write(fd, block, 1) > 0) {
  }
  fsync(fd);
  close(fd);
}

std::string mount_small_ext4(const std::string& image, const std::string& mnt) {
  std::string make = "truncate -s 2M " + image + " && mkfs.ext4 -q -F -m 0 -N 64 " + image +
                     " >/dev/null 2>&1 && mount -o loop " + image + " " + mnt +
                     " && chmod 1777 " + mnt;
  ProcResult made = run({"/bin/sh", "-c", make});
  if (made.exit_code() == 0) return "";
  return "cannot make and mount an ext4 image: " + made.err.substr(0, made.err.find('\n'));
}

}  // namespace lambshm::test
