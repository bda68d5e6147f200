// A lookup of name@version in one loaded object's dynamic symbol table, by
// its GNU (or SysV) hash table and its version definitions, as ld.so does it.
// The objects are found in the dynamic linker's list of loaded objects
// (_r_debug.r_map): they are all mapped before anything is relocated.
#include "stock_symbol.h"

#include <elf.h>
#include <link.h>

#include <atomic>
#include <cstdint>
#include <utility>

// <link.h> declares _r_debug, the dynamic linker's list of loaded objects,
// and _DYNAMIC, this object's own dynamic section: hidden, so it is reached
// PC-relative, with no relocation.
extern ElfW(Dyn) _DYNAMIC[] __attribute__((visibility("hidden")));

namespace lambshm::shim {
namespace {

bool same(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) ++a, ++b;
  return *a == *b;
}

bool base_name_is(const char* path, const char* name) {
  if (path == nullptr) return false;
  const char* base = path;
  for (const char* p = path; *p != '\0'; ++p)
    if (*p == '/') base = p + 1;
  return same(base, name);
}

// One loaded object's tables.
class Image {
 public:
  explicit Image(const link_map* map) : base_(map->l_addr) {
    for (const ElfW(Dyn)* d = map->l_ld; d->d_tag != DT_NULL; ++d) {
      switch (d->d_tag) {
        case DT_SYMTAB: symtab_ = at<ElfW(Sym)>(d->d_un.d_ptr); break;
        case DT_STRTAB: strtab_ = at<char>(d->d_un.d_ptr); break;
        case DT_GNU_HASH: gnu_hash_ = at<uint32_t>(d->d_un.d_ptr); break;
        case DT_HASH: sysv_hash_ = at<uint32_t>(d->d_un.d_ptr); break;
        case DT_VERSYM: versym_ = at<ElfW(Half)>(d->d_un.d_ptr); break;
        case DT_VERDEF: verdef_ = at<ElfW(Verdef)>(d->d_un.d_ptr); break;
        case DT_SONAME: soname_ = d->d_un.d_val; break;
      }
    }
  }

  bool usable() const {
    return symtab_ != nullptr && strtab_ != nullptr && versym_ != nullptr && verdef_ != nullptr &&
           (gnu_hash_ != nullptr || sysv_hash_ != nullptr);
  }

  bool soname_is(const char* name) const {
    return strtab_ != nullptr && soname_ != 0 && same(strtab_ + soname_, name);
  }

  void* find(const char* name, const char* version) const {
    return gnu_hash_ != nullptr ? find_gnu(name, version) : find_sysv(name, version);
  }

 private:
  // ld.so rewrites most d_ptr entries to run-time addresses when it maps an
  // object (glibc before 2.35 in place; not DT_VERDEF, nor on every
  // architecture), so a value below the load address is still an offset.
  template <typename T>
  const T* at(ElfW(Addr) value) const {
    return reinterpret_cast<const T*>(value < base_ ? base_ + value : value);
  }

  const char* version_name(ElfW(Half) index) const {
    const ElfW(Verdef)* d = verdef_;
    for (;;) {
      if (d->vd_ndx == index) {
        auto aux = reinterpret_cast<const ElfW(Verdaux)*>(reinterpret_cast<const char*>(d) +
                                                            d->vd_aux);
        return strtab_ + aux->vda_name;
      }
      if (d->vd_next == 0) return nullptr;
      d = reinterpret_cast<const ElfW(Verdef)*>(reinterpret_cast<const char*>(d) + d->vd_next);
    }
  }

  void* match(uint32_t index, const char* name, const char* version) const {
    const ElfW(Sym)& sym = symtab_[index];
    if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0) return nullptr;
    int type = ELF64_ST_TYPE(sym.st_info);
    if (type != STT_FUNC && type != STT_GNU_IFUNC) return nullptr;
    if (!same(strtab_ + sym.st_name, name)) return nullptr;
    const char* defined_at = version_name(versym_[index] & 0x7fff);
    if (defined_at == nullptr || !same(defined_at, version)) return nullptr;
    auto address = reinterpret_cast<void*>(base_ + sym.st_value);
    if (type == STT_GNU_IFUNC) address = reinterpret_cast<void* (*)()>(address)();
    return address;
  }

  void* find_gnu(const char* name, const char* version) const {
    uint32_t hash = 5381;
    for (const char* p = name; *p != '\0'; ++p) hash = hash * 33 + static_cast<unsigned char>(*p);
    uint32_t nbuckets = gnu_hash_[0], symoffset = gnu_hash_[1], bloom_words = gnu_hash_[2];
    auto bloom = reinterpret_cast<const ElfW(Addr)*>(gnu_hash_ + 4);
    const uint32_t* buckets = reinterpret_cast<const uint32_t*>(bloom + bloom_words);
    const uint32_t* chain = buckets + nbuckets;
    for (uint32_t i = buckets[hash % nbuckets]; i >= symoffset && i != 0; ++i) {
      uint32_t entry = chain[i - symoffset];
      if ((entry | 1) == (hash | 1))
        if (void* found = match(i, name, version)) return found;
      if (entry & 1) break;
    }
    return nullptr;
  }

  void* find_sysv(const char* name, const char* version) const {
    uint32_t hash = 0;
    for (const char* p = name; *p != '\0'; ++p) {
      hash = (hash << 4) + static_cast<unsigned char>(*p);
      hash ^= (hash >> 24) & 0xf0;
    }
    hash &= 0x0fffffff;
    uint32_t nbuckets = sysv_hash_[0];
    const uint32_t* buckets = sysv_hash_ + 2;
    const uint32_t* chain = buckets + nbuckets;
    for (uint32_t i = buckets[hash % nbuckets]; i != 0; i = chain[i])
      if (void* found = match(i, name, version)) return found;
    return nullptr;
  }

  ElfW(Addr) base_;
  const ElfW(Sym)* symtab_ = nullptr;
  const char* strtab_ = nullptr;
  const uint32_t* gnu_hash_ = nullptr;
  const uint32_t* sysv_hash_ = nullptr;
  const ElfW(Half)* versym_ = nullptr;
  const ElfW(Verdef)* verdef_ = nullptr;
  ElfW(Xword) soname_ = 0;
};

// The first loaded object, other than this shim, loaded as `file` (by its
// path's last component) whose SONAME is `file`.
const link_map* find_loaded(const char* file) {
  for (const link_map* map = _r_debug.r_map; map != nullptr; map = map->l_next) {
    if (map->l_ld == _DYNAMIC || !base_name_is(map->l_name, file)) continue;
    if (Image(map).soname_is(file)) return map;
  }
  return nullptr;
}

// Found once; the objects stay loaded as long as the shim does (they are
// its dependencies).  Racing threads find the same answer.
const link_map* cached(std::atomic<const link_map*>& slot, const char* file) {
  const link_map* map = slot.load(std::memory_order_acquire);
  if (map == nullptr) {
    map = find_loaded(file);
    slot.store(map, std::memory_order_release);
  }
  return map;
}

constinit std::atomic<const link_map*> g_libpthread{nullptr};
constinit std::atomic<const link_map*> g_libc{nullptr};

}  // namespace

void* stock_symbol(const char* name, const char* version) noexcept {
  for (auto [slot, file] : {std::pair{&g_libpthread, "libpthread.so.0"},
                            std::pair{&g_libc, "libc.so.6"}}) {
    const link_map* map = cached(*slot, file);
    if (map == nullptr) continue;
    Image image(map);
    if (!image.usable()) continue;
    if (void* found = image.find(name, version)) return found;
  }
  return nullptr;
}

}  // namespace lambshm::shim
