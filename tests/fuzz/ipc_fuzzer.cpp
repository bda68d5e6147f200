// libFuzzer target: IPC names and flags, through make_ipc_name and the real
// shm_open / shm_unlink / sem_open / sem_close / sem_unlink paths of the core,
// against a temporary backing directory.  Built with ASan and UBSan.
//
// Input: op (1 byte), flags (4), mode (2), value (4), then the name (the rest;
// a NUL ends it early).  Checked for every input:
//   - make_ipc_name agrees with an independent statement of the rules
//     (docs/differences.md: leading slashes stripped; empty, embedded '/', "." and ".."
//     are EINVAL; past NAME_MAX with the prefix, ENAMETOOLONG);
//   - an invalid name fails before anything is touched, with the errno each
//     call gives for it (EINVAL from the opens, ENOENT from the unlinks);
//   - a successful open made exactly the file the name stands for, directly
//     in the backing directory (a sem_open's, 32 bytes);
//   - nothing appears beside the backing directory, nothing in it is ever
//     anything but a regular file, and no descriptor or semaphore mapping
//     outlives the input.
#include <dirent.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "ipc_name.h"
#include "name_table.h"
#include "named_sem.h"
#include "sem_ops.h"
#include "shm.h"
#include "testing.h"

namespace {

char g_root[64];
std::string g_dir;

[[noreturn]] void fail(const char* what, const std::string& name) {
  fprintf(stderr, "ipc_fuzzer: %s (name of %zu bytes: \"", what, name.size());
  for (unsigned char c : name.substr(0, 80)) {
    fprintf(stderr, c >= 32 && c < 127 ? "%c" : "\\x%02x", c);
  }
  fprintf(stderr, "\")\n");
  abort();
}

// The rules, restated independently of core/ipc_name.cpp.
int expected_name(const std::string& name, const std::string& prefix, std::string* file) {
  size_t start = 0;
  while (start < name.size() && name[start] == '/') ++start;
  std::string rest = name.substr(start);
  if (rest.empty() || rest.find('/') != std::string::npos || rest == "." || rest == "..")
    return -EINVAL;
  if (prefix.empty() && (rest == ".lambshm-dir" || rest.compare(0, 17, ".lambshm-names.5.") == 0))
    return -EINVAL;  // the directory's marker and name tables are nobody's object
  if (prefix.size() + rest.size() > NAME_MAX) return -ENAMETOOLONG;
  *file = prefix + rest;
  return 0;
}

int lowest_free_fd() {
  int fd = dup(2);
  close(fd);
  return fd;
}

void remove_root() {
  std::string cmd = std::string("rm -rf '") + g_root + "'";
  if (system(cmd.c_str()) != 0) fprintf(stderr, "ipc_fuzzer: could not remove %s\n", g_root);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  snprintf(g_root, sizeof g_root, "/tmp/lambshm-fuzz-XXXXXX");
  if (mkdtemp(g_root) == nullptr) abort();
  g_dir = std::string(g_root) + "/shm";
  setenv("LAMBSHM_DIR", g_dir.c_str(), 1);  // read once, on first use
  atexit(remove_root);
  // The directory's descriptor is opened on first use and kept: open it now,
  // so that it does not count as a leak of the first input.
  lambshm::shm::unlink("no-such-object");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t head[11] = {};
  memcpy(head, data, size < sizeof head ? size : sizeof head);
  unsigned op = head[0];
  int flags;
  uint16_t mode;
  uint32_t value;
  memcpy(&flags, head + 1, 4);
  memcpy(&mode, head + 5, 2);
  memcpy(&value, head + 7, 4);
  std::string name;
  if (size > sizeof head) {
    const char* p = reinterpret_cast<const char*>(data + sizeof head);
    name.assign(p, strnlen(p, size - sizeof head));
  }

  std::string shm_file, sem_file;
  int shm_rule = expected_name(name, lambshm::kShmPrefix, &shm_file);
  int sem_rule = expected_name(name, lambshm::kSemPrefix, &sem_file);
  for (const char* prefix : {lambshm::kShmPrefix, lambshm::kSemPrefix}) {
    lambshm::IpcName out;
    std::string want;
    int rule = expected_name(name, prefix, &want);
    int got = lambshm::make_ipc_name(name.c_str(), prefix, &out);
    if (got != rule) fail("make_ipc_name disagrees with the rules", name);
    if (got == 0 && (want != out.file || strlen(out.file) != want.size()))
      fail("make_ipc_name made the wrong file name", name);
  }

  int fd_before = lowest_free_fd();
  size_t sems_before = lambshm::named_sem::open_count();
  std::string made;  // the file the call must have made, if it succeeded
  switch (op % 4) {
    case 0: {
      int fd = lambshm::shm::open(name.c_str(), flags, mode);
      if (shm_rule != 0 && fd != shm_rule) fail("shm_open of a bad name", name);
      if (fd >= 0) {
        made = shm_file;
        close(fd);
      }
      break;
    }
    case 1: {
      int r = lambshm::shm::unlink(name.c_str());
      if (shm_rule != 0 && r != (shm_rule == -EINVAL ? -ENOENT : shm_rule))
        fail("shm_unlink of a bad name", name);
      break;
    }
    case 2: {
      int error = 0;
      sem_t* s = lambshm::named_sem::open(name.c_str(), flags, mode, value, &error);
      if (sem_rule != 0 && (s != nullptr || error != sem_rule))
        fail("sem_open of a bad name", name);
      // The directory is emptied after every input: O_CREAT always creates.
      if ((flags & O_CREAT) && value > SEM_VALUE_MAX && sem_rule == 0 &&
          (s != nullptr || error != -EINVAL))
        fail("sem_open past SEM_VALUE_MAX", name);
      if (s != nullptr) {
        int v = -1;
        lambshm::sem::getvalue(s, &v);
        if ((unsigned)v != value) fail("a new semaphore with the wrong value", name);
        made = sem_file;
        if (lambshm::named_sem::close(s) != 0) fail("sem_close failed", name);
      }
      break;
    }
    case 3: {
      int r = lambshm::named_sem::unlink(name.c_str());
      if (sem_rule != 0 && r != (sem_rule == -EINVAL ? -ENOENT : sem_rule))
        fail("sem_unlink of a bad name", name);
      break;
    }
  }
  if (lowest_free_fd() != fd_before) fail("a descriptor leaked", name);
  if (lambshm::named_sem::open_count() != sems_before) fail("a semaphore stayed open", name);

  // Beside the backing directory: nothing.  In it: regular files only, the
  // one made among them; then empty it for the next input.
  DIR* root = opendir(g_root);
  while (dirent* e = readdir(root)) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "shm"))
      fail("a file appeared beside the backing directory", name);
  }
  closedir(root);
  bool found = made.empty();
  // A name in the table (memfds on a disk: core/name_table.h) is no file: it
  // is found there, and unlinked through the API, which keeps the table.
  if (int dfd = open(g_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    struct stat dst;
    const lambshm::name_table::Table* t =
        fstat(dfd, &dst) == 0
            ? lambshm::name_table::table_for(dfd, dst.st_dev, dst.st_ino, geteuid(), false)
            : nullptr;
    for (uint32_t i = 0; t != nullptr && i < lambshm::name_table::kSlots; ++i) {
      const lambshm::name_table::Slot* slot = t->slot(i);
      if (slot->state.load() != lambshm::name_table::kLive) continue;
      std::string live = slot->name;
      if (live == made) found = true;
      if (live.compare(0, 4, "sem.") == 0) lambshm::named_sem::unlink(live.c_str() + 4);
      else lambshm::shm::unlink(live.c_str());
    }
    close(dfd);
  }
  if (DIR* d = opendir(g_dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      if (lambshm::name_table::is_table_file(e->d_name)) continue;
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
        fail("something other than a regular file in the backing directory", name);
      if (e->d_name == made) {
        found = true;
        if (op % 4 == 2 && st.st_size != (off_t)sizeof(sem_t))
          fail("a semaphore file of the wrong size", name);
      }
      unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
  }
  if (!found) fail("a successful open left no file under the name", name);
  return 0;
}
