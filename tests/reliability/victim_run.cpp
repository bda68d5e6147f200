#include "victim_run.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <sstream>

#include "test_util.h"

namespace lambshm::test {

VictimReport parse_victim(const std::string& output) {
  VictimReport r;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key;
    words >> key;
    if (key == "result") {
      std::string what;
      words >> what;
      r.parsed = true;
      r.ok = what == "ok";
      if (!r.ok) words >> r.error;
    } else if (key == "sem") {
      std::string addr;
      words >> addr >> r.inode >> r.value;
      r.addr = strtoul(addr.c_str(), nullptr, 16);
      r.has_sem = true;
    } else if (key == "peer") {
      std::string what;
      words >> what;
      r.peer_reported = true;
      r.peer_ok = what == "ok";
      if (r.peer_ok) {
        std::string addr;
        words >> addr >> r.peer_inode;
        r.peer_addr = strtoul(addr.c_str(), nullptr, 16);
      } else {
        words >> r.peer_error;
      }
    } else if (key == "peer-still-mapped") {
      words >> r.peer_still_mapped;
    } else if (key == "leak") {
      r.leaks.push_back(line.substr(5));
    }
  }
  return r;
}

std::vector<std::string> victim_argv(const std::vector<std::string>& options,
                                     const std::vector<std::string>& call) {
  std::vector<std::string> argv = {helper("LAMBSHM_VICTIM")};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.insert(argv.end(), call.begin(), call.end());
  return argv;
}

std::vector<std::string> victim_env(const std::string& dir) {
  return {"PATH=/usr/bin:/bin", "LAMBSHM_DIR=" + dir};
}

int plant_semaphore(const std::string& dir, const std::string& name, unsigned value) {
  unsigned char image[32] = {};
  uint64_t data = value;
  uint32_t shared = 128;
  memcpy(image, &data, 8);
  memcpy(image + 8, &shared, 4);
  std::string tmp = dir + "/.planted-" + name;
  int fd = open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  bool written = write(fd, image, sizeof image) == (ssize_t)sizeof image;
  close(fd);
  int r = written ? (link(tmp.c_str(), (dir + "/sem." + name).c_str()) == 0 ? 0 : errno) : EIO;
  unlink(tmp.c_str());
  return r;
}

long semaphore_file_value(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  unsigned char image[33];
  ssize_t n = read(fd, image, sizeof image);
  close(fd);
  if (n != 32) return -1;
  uint64_t data;
  uint32_t shared;
  memcpy(&data, image, 8);
  memcpy(&shared, image + 8, 4);
  if (shared != 128 || (data >> 32) != 0) return -1;
  return (long)(data & 0xffffffffu);
}

}  // namespace lambshm::test
