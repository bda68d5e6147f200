// glibc-private: stock librt.so.1 (2.26 to 2.33) asks libpthread where shm
// objects live.  Answering with the backing directory makes a stock librt
// loaded beside the shim use it too.
#include <cstddef>

#include "backing_dir.h"
#include "export.h"

LAMBSHM_EXPORT const char* __shm_directory(size_t* length) noexcept {
  int error = 0;
  const char* path = lambshm::backing_dir_path(length, &error);
  if (path == nullptr) errno = error;
  return path;
}
