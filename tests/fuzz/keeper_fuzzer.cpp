// libFuzzer target: what the keeper and the store decode from others, in
// core/keeper_protocol.h, built with ASan and UBSan:
//   - take_descriptors over arbitrary control data (as recvmsg may leave it):
//     never reads outside the buffer, keeps at most `max` descriptors and
//     hands every other one of every SCM_RIGHTS message to `discard`, so that
//     a caller closing those leaks none;
//   - valid_request over an arbitrary message: a name it accepts is one file
//     of the directory (not empty, ".", ".." or with a '/'), NUL-terminated;
//   - trusted_record over arbitrary bytes and file identity: it accepts only
//     a record owned by the caller, mode 0600|S_ISVTX, of a record's size,
//     with the magic and naming its own inode.
//
// Input: a selector byte, then bytes the three readers share.
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "keeper_protocol.h"

using namespace lambshm::keeper;

namespace {

void check_descriptors(const uint8_t* data, size_t size) {
  if (size < 1) return;
  int max = data[0] % 4;
  alignas(struct cmsghdr) char control[512];
  size_t len = size - 1 < sizeof control ? size - 1 : sizeof control;
  memcpy(control, data + 1, len);
  // Every int of every SCM_RIGHTS payload that fits, counted independently.
  size_t total = 0;
  for (size_t off = 0; len - off >= sizeof(struct cmsghdr);) {
    struct cmsghdr c;
    memcpy(&c, control + off, sizeof c);
    if (c.cmsg_len < CMSG_LEN(0) || c.cmsg_len > len - off) break;
    if (c.cmsg_level == SOL_SOCKET && c.cmsg_type == SCM_RIGHTS)
      total += (c.cmsg_len - CMSG_LEN(0)) / sizeof(int);
    size_t step = CMSG_ALIGN(c.cmsg_len);
    if (step > len - off) break;
    off += step;
  }
  int out[4];
  size_t discarded = 0;
  int kept = take_descriptors(control, len, out, max, [&](int) { ++discarded; });
  if (kept < 0 || kept > max) abort();
  if ((size_t)kept + discarded != total) abort();  // every descriptor kept or discarded
}

void check_request(const uint8_t* data, size_t size) {
  Request req;
  memset(&req, 0, sizeof req);
  memcpy(&req, data, size < sizeof req ? size : sizeof req);
  long n = size > sizeof req + 4 ? (long)sizeof req : (long)size;
  if (!valid_request(&req, n)) return;
  if (n != (long)sizeof req || req.magic != kRequestMagic) abort();
  if (req.name[NAME_MAX] != '\0') abort();
  if (req.op != Op::kGet) {
    if (req.name[0] == '\0' || strchr(req.name, '/') != nullptr || strcmp(req.name, ".") == 0 ||
        strcmp(req.name, "..") == 0)
      abort();
  }
}

void check_record(const uint8_t* data, size_t size) {
  if (size < 24) return;
  struct stat st;
  memset(&st, 0, sizeof st);
  uint32_t mode, uid, dev, ino, euid, n;
  memcpy(&mode, data, 4);
  memcpy(&uid, data + 4, 4);
  memcpy(&dev, data + 8, 4);
  memcpy(&ino, data + 12, 4);
  memcpy(&euid, data + 16, 4);
  memcpy(&n, data + 20, 4);
  st.st_mode = S_IFREG | (mode & 07777);
  st.st_uid = uid % 4;
  st.st_dev = dev % 4;
  st.st_ino = ino % 4;
  st.st_size = n % 2 ? (off_t)sizeof(Record) : (off_t)(n % 200);
  const uint8_t* bytes = data + 24;
  size_t count = size - 24;
  Record rec;
  if (!trusted_record(st, bytes, count, euid % 4, &rec)) return;
  if (st.st_uid != euid % 4 || (st.st_mode & 07777) != kRecordMode || count != sizeof(Record) ||
      memcmp(rec.magic, kRecordMagic, 8) != 0 || rec.rec_dev != (uint64_t)st.st_dev ||
      rec.rec_ino != (uint64_t)st.st_ino)
    abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  switch (data[0] % 3) {
    case 0: check_descriptors(data + 1, size - 1); break;
    case 1: check_request(data + 1, size - 1); break;
    case 2: check_record(data + 1, size - 1); break;
  }
  return 0;
}
