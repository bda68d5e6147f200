// victim: one sem_open or shm_open through lambshm's libraries, between two
// getppid() marks for tests/reliability/tracer.h, then an account of what it
// got and what it left behind in this process.
//
//   victim [--fallback] [--peer] [--warm] sem_open NAME FLAGS MODE VALUE
//   victim [--fallback] [--warm] shm_open NAME FLAGS MODE
//
//   --fallback  a seccomp filter makes openat(O_TMPFILE) fail with EOPNOTSUPP,
//               as on filesystems without O_TMPFILE: the named-temporary path
//   --peer      a second thread that, when a byte arrives on descriptor 3,
//               opens NAME itself (sem_open(NAME, 0)) and answers on fd 4
//   --warm      resolve the backing directory before the first mark (in both
//               libraries: each keeps its own descriptor)
//   --vanish    then delete the backing directory, still before the mark: the
//               call finds its cached descriptor stale and opens it again
//
// Output, one fact per line:
//   result ok | result err ERRNO_NUMBER
//   sem ADDR INODE VALUE          the semaphore (address, file inode, value)
//   peer ok ADDR INODE | peer err ERRNO_NUMBER
//   peer-still-mapped yes|no      after our sem_close, the peer's reference remains
//   leak fd N TARGET              a descriptor opened in the window and still open
//                                 ("dirfd" when it is the backing directory,
//                                 "keeper" when it is the connection to the keeper)
//   leak map LINE                 a mapping of a file of the backing directory left
//                                 after every sem_close
#include "old_abi.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <semaphore.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "test_util.h"

namespace {

std::string g_dir;
const char* g_name;
std::atomic<bool> g_peer_done{false};
sem_t* g_peer_sem = SEM_FAILED;
int g_peer_errno = 0;

void mark() { syscall(SYS_getppid); }

void install_no_tmpfile_filter() {
#if defined(__x86_64__)
  constexpr unsigned kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  constexpr unsigned kArch = AUDIT_ARCH_AARCH64;
#endif
  // O_TMPFILE's own bit (the macro also holds O_DIRECTORY, which the
  // backing directory's open uses).
  constexpr unsigned kTmpfileBit = 020000000;
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[2])),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, kTmpfileBit, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EOPNOTSUPP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{(unsigned short)(sizeof filter / sizeof filter[0]), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    perror("victim: seccomp");
    exit(2);
  }
}

std::set<int> open_fds() {
  std::set<int> fds;
  DIR* d = opendir("/proc/self/fd");
  int own = dirfd(d);
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.' && atoi(e->d_name) != own) fds.insert(atoi(e->d_name));
  }
  closedir(d);
  return fds;
}


// Whether `fd` is the connection lambshm keeps to its keeper (an abstract
// Unix socket named "lambshm-keeper:...", core/keeper_protocol.h).
bool is_keeper_connection(int fd) {
  struct sockaddr_un addr = {};
  socklen_t len = sizeof addr;
  if (getpeername(fd, reinterpret_cast<struct sockaddr*>(&addr), &len) != 0) return false;
  return addr.sun_family == AF_UNIX && addr.sun_path[0] == '\0' &&
         strncmp(addr.sun_path + 1, "lambshm-keeper:", 15) == 0;
}

std::string fd_target(int fd) {
  char buf[4096];
  ssize_t n = readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buf, sizeof buf - 1);
  return n < 0 ? "?" : std::string(buf, (size_t)n);
}

// The inode of the file mapped at `addr`, or 0 when nothing is mapped there.
unsigned long mapped_inode(const void* addr) {
  std::string line = lambshm::test::mapping_at(addr);
  unsigned long inode = 0;
  char range[64], perms[8], offset[32], dev[32];
  if (sscanf(line.c_str(), "%63s %7s %31s %31s %lu", range, perms, offset, dev, &inode) != 5)
    return 0;
  return inode;
}

// Mappings of files in the backing directory (the kernel may name a file
// created with O_TMPFILE "#INODE" and a removed one "... (deleted)"), but
// the name table, mapped once for the process's life (core/name_table.h).
void report_mappings() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (lambshm::test::maps_object_in(line, g_dir)) printf("leak map %s\n", line.c_str());
  }
}

void peer() {
  char byte;
  if (read(3, &byte, 1) != 1) return;
  g_peer_sem = sem_open(g_name, 0);
  g_peer_errno = g_peer_sem == SEM_FAILED ? errno : 0;
  g_peer_done = true;
  ssize_t ignored = write(4, "d", 1);
  (void)ignored;
}

}  // namespace

int main(int argc, char** argv) {
  bool fallback = false, with_peer = false, warm = false, vanish = false;
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; ++i) {
    if (strcmp(argv[i], "--fallback") == 0) fallback = true;
    else if (strcmp(argv[i], "--peer") == 0) with_peer = true;
    else if (strcmp(argv[i], "--warm") == 0) warm = true;
    else if (strcmp(argv[i], "--vanish") == 0) vanish = true;
  }
  if (argc - i < 4) {
    fprintf(stderr,
            "usage: victim [--fallback] [--peer] [--warm] [--vanish] OP NAME FLAGS MODE [VALUE]\n");
    return 2;
  }
  const char* dir = getenv("LAMBSHM_DIR");
  g_dir = dir ? dir : "/tmp/shm";
  std::string op = argv[i];
  g_name = argv[i + 1];
  int flags = (int)strtol(argv[i + 2], nullptr, 0);
  mode_t mode = (mode_t)strtol(argv[i + 3], nullptr, 8);
  unsigned value = argc - i > 4 ? (unsigned)strtoul(argv[i + 4], nullptr, 0) : 0;
  setvbuf(stdout, nullptr, _IOFBF, 1 << 16);  // printed at exit: no writes in the window

  if (fallback) install_no_tmpfile_filter();
  if (warm) {
    // librt and the libpthread shim each keep their own descriptor.
    sem_unlink("victim-warm-up-no-such-name");
    shm_unlink("victim-warm-up-no-such-name");
  }
  if (vanish) lambshm::test::remove_tree(g_dir);
  std::thread peer_thread;
  if (with_peer) {
    peer_thread = std::thread(peer);
    peer_thread.detach();
  }
  std::set<int> before = open_fds();

  mark();
  sem_t* sem = SEM_FAILED;
  int fd = -1, error = 0;
  if (op == "sem_open") {
    sem = sem_open(g_name, flags, mode, value);
    if (sem == SEM_FAILED) error = errno;
  } else {
    fd = shm_open(g_name, flags, mode);
    if (fd < 0) error = errno;
  }
  mark();

  if (error != 0) printf("result err %d\n", error);
  else printf("result ok\n");
  if (sem != SEM_FAILED) {
    int v = -1;
    sem_getvalue(sem, &v);
    printf("sem %p %lu %d\n", (void*)sem, mapped_inode(sem), v);
  }
  if (g_peer_done) {
    if (g_peer_sem == SEM_FAILED) printf("peer err %d\n", g_peer_errno);
    else printf("peer ok %p %lu\n", (void*)g_peer_sem, mapped_inode(g_peer_sem));
  }
  if (sem != SEM_FAILED) sem_close(sem);
  if (g_peer_done && g_peer_sem != SEM_FAILED) {
    printf("peer-still-mapped %s\n", mapped_inode(g_peer_sem) != 0 ? "yes" : "no");
    sem_close(g_peer_sem);
  }
  if (fd >= 0) close(fd);

  for (int now : open_fds()) {
    if (before.count(now)) continue;
    std::string target = fd_target(now);
    printf("leak fd %d %s\n", now,
           target == g_dir ? "dirfd" : is_keeper_connection(now) ? "keeper" : target.c_str());
  }
  report_mappings();
  fflush(stdout);
  _exit(0);  // the peer thread may still be blocked in read()
}
