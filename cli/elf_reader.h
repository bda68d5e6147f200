// Just enough of an ELF reader for `lambshm doctor --for`: a program's
// interpreter and DT_NEEDED, the version nodes it defines and needs, and its
// dynamic symbols with their versions (what it imports from where, what a
// library defines).
//
// Everything is read through the dynamic segment, as the dynamic linker does
// (section headers may be stripped), from a read-only private mapping, with
// every offset and string checked against the file's size: a damaged or
// hostile file gives an error, never a crash.  64-bit little-endian files for
// this machine only, the only ones our libraries can be loaded into.
#pragma once

#include <cstddef>
#include <cstdint>

#include "support.h"

namespace lambshm::cli {

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Maps a regular file read-only; 0 or -errno.
  int open(const char* path);
  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  // Whether the bytes of `needle` occur anywhere in the file.
  bool contains(const char* needle) const;

 private:
  unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

enum class ElfStatus { kOk, kNotElf, kOtherMachine, kDamaged };

struct DynSymbol {
  const char* name;
  const char* version;  // null: unversioned (or the base version)
  const char* file;     // an import's: the library its version is needed from, or null
  bool defined;
  bool hidden;          // a non-default version (name@VER, not name@@VER)
  bool weak;
};

// A version node an object needs from a library (DT_VERNEED).
struct VersionNeed {
  const char* file;     // "libpthread.so.0"
  const char* version;  // "GLIBC_2.30"
  bool weak;            // VER_FLG_WEAK: the dynamic linker does not insist on it
};

struct ElfInfo {
  const char* interp = nullptr; // PT_INTERP
  bool dynamic = false;         // has a dynamic segment
  Vec<const char*> needed;
  Vec<const char*> version_defs;  // version nodes it defines (not the base entry)
  Vec<VersionNeed> version_needs;
  // Dynamic symbols that passed the filter given to read_elf.
  Vec<DynSymbol> symbols;
};

// Reads `file`.  Strings point into the mapping.  `want` chooses the dynamic
// symbols to keep (null: none).
ElfStatus read_elf(const MappedFile& file, bool (*want)(const DynSymbol& symbol), ElfInfo* out);

}  // namespace lambshm::cli
