#include "ipc_name.h"

#include <cerrno>
#include <cstring>

namespace lambshm {

int make_ipc_name(const char* name, const char* prefix, IpcName* out) {
  if (name == nullptr) return -EINVAL;
  while (*name == '/') ++name;
  size_t length = strlen(name);
  if (length == 0 || memchr(name, '/', length) != nullptr) return -EINVAL;
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return -EINVAL;
  size_t prefix_length = strlen(prefix);
  // The directory's own files are no object's: its marker, and the name
  // tables (name_table.h).
  if (prefix_length == 0 && (strcmp(name, kDirMarker) == 0 ||
                             strncmp(name, kTablePrefix, sizeof kTablePrefix - 1) == 0))
    return -EINVAL;
  if (prefix_length + length > NAME_MAX) return -ENAMETOOLONG;
  memcpy(out->file, prefix, prefix_length);
  memcpy(out->file + prefix_length, name, length + 1);
  return 0;
}

}  // namespace lambshm
