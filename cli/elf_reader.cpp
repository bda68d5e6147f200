#include "elf_reader.h"

#include <elf.h>
#include <sys/mman.h>

#include <cerrno>

#include "linux_syscall.h"
#include "unique_fd.h"

namespace lambshm::cli {

MappedFile::~MappedFile() {
  if (data_ != nullptr) munmap(data_, size_);
}

int MappedFile::open(const char* path) {
  UniqueFd fd(sys::openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) return fd.get();
  struct stat st;
  if (int r = sys::fstat(fd.get(), &st); r < 0) return r;
  if (!S_ISREG(st.st_mode)) return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
  if (st.st_size == 0) return -ENOEXEC;
  void* p = mmap(nullptr, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) return -errno;
  data_ = static_cast<unsigned char*>(p);
  size_ = (size_t)st.st_size;
  return 0;
}

bool MappedFile::contains(const char* needle) const {
  return data_ != nullptr && memmem(data_, size_, needle, strlen(needle)) != nullptr;
}

namespace {

// The ELF machine this program was built for.
uint16_t native_machine() {
#if defined(__x86_64__)
  return EM_X86_64;
#else
  return EM_AARCH64;
#endif
}

// Bounds-checked views of the file, addressed by offset or by virtual address.
class Reader {
 public:
  Reader(const MappedFile& f) : data_(f.data()), size_(f.size()) {}

  template <typename T>
  const T* at(uint64_t offset, uint64_t count = 1) const {
    if (offset > size_ || count > (size_ - offset) / sizeof(T)) return nullptr;
    if (offset % alignof(T) != 0) return nullptr;
    return reinterpret_cast<const T*>(data_ + offset);
  }

  // A NUL-terminated string at `offset` within [0, limit).
  const char* str(uint64_t offset, uint64_t limit) const {
    if (limit > size_) limit = size_;
    if (offset >= limit) return nullptr;
    const void* nul = memchr(data_ + offset, '\0', limit - offset);
    return nul != nullptr ? reinterpret_cast<const char*>(data_ + offset) : nullptr;
  }

  void set_segments(const Elf64_Phdr* ph, size_t n) {
    phdr_ = ph;
    phnum_ = n;
  }

  // The file offset of a virtual address inside a PT_LOAD segment, or -1.
  int64_t offset_of(uint64_t vaddr) const {
    for (size_t i = 0; i < phnum_; ++i) {
      const Elf64_Phdr& p = phdr_[i];
      if (p.p_type != PT_LOAD) continue;
      if (vaddr >= p.p_vaddr && vaddr - p.p_vaddr < p.p_filesz)
        return (int64_t)(p.p_offset + (vaddr - p.p_vaddr));
    }
    return -1;
  }

 private:
  const unsigned char* data_;
  uint64_t size_;
  const Elf64_Phdr* phdr_ = nullptr;
  size_t phnum_ = 0;
};

struct VersionName {
  uint16_t index;
  const char* name;
  const char* file;  // needs: the library the version is needed from
};

const VersionName* version_entry(const Vec<VersionName>& table, uint16_t index) {
  for (const VersionName& v : table)
    if (v.index == index) return &v;
  return nullptr;
}

// Number of dynamic symbols, from DT_HASH or, failing that, DT_GNU_HASH (whose
// highest chain end is the last symbol).
int64_t symbol_count(const Reader& r, int64_t hash, int64_t gnu_hash) {
  if (hash >= 0) {
    const uint32_t* h = r.at<uint32_t>((uint64_t)hash, 2);
    return h != nullptr ? h[1] : -1;
  }
  if (gnu_hash < 0) return -1;
  const uint32_t* h = r.at<uint32_t>((uint64_t)gnu_hash, 4);
  if (h == nullptr) return -1;
  uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
  uint64_t buckets_off = (uint64_t)gnu_hash + 16 + (uint64_t)bloom_size * 8;
  const uint32_t* buckets = r.at<uint32_t>(buckets_off, nbuckets);
  if (buckets == nullptr) return -1;
  uint32_t last = 0;
  for (uint32_t i = 0; i < nbuckets; ++i)
    if (buckets[i] > last) last = buckets[i];
  if (last < symoffset) return symoffset;
  uint64_t chains_off = buckets_off + (uint64_t)nbuckets * 4;
  for (;;) {
    const uint32_t* c = r.at<uint32_t>(chains_off + (uint64_t)(last - symoffset) * 4);
    if (c == nullptr) return -1;
    if (*c & 1) return (int64_t)last + 1;
    ++last;
  }
}

int64_t dynsym_count_from_sections(const Reader& r, const Elf64_Ehdr& eh) {
  if (eh.e_shoff == 0 || eh.e_shentsize != sizeof(Elf64_Shdr)) return -1;
  const auto* sh = r.at<Elf64_Shdr>(eh.e_shoff, eh.e_shnum);
  if (sh == nullptr) return -1;
  for (size_t i = 0; i < eh.e_shnum; ++i)
    if (sh[i].sh_type == SHT_DYNSYM && sh[i].sh_entsize == sizeof(Elf64_Sym))
      return (int64_t)(sh[i].sh_size / sizeof(Elf64_Sym));
  return -1;
}

}  // namespace

ElfStatus read_elf(const MappedFile& file, bool (*want)(const DynSymbol&), ElfInfo* out) {
  Reader r(file);
  const auto* eh = r.at<Elf64_Ehdr>(0);
  if (eh == nullptr || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
    if (file.size() >= 4 && memcmp(file.data(), ELFMAG, SELFMAG) == 0) return ElfStatus::kDamaged;
    return ElfStatus::kNotElf;
  }
  if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
      eh->e_machine != native_machine())
    return ElfStatus::kOtherMachine;
  if (eh->e_phentsize != sizeof(Elf64_Phdr)) return ElfStatus::kDamaged;
  const auto* ph = r.at<Elf64_Phdr>(eh->e_phoff, eh->e_phnum);
  if (ph == nullptr) return ElfStatus::kDamaged;
  r.set_segments(ph, eh->e_phnum);

  const Elf64_Dyn* dyn = nullptr;
  size_t dyn_count = 0;
  for (size_t i = 0; i < eh->e_phnum; ++i) {
    if (ph[i].p_type == PT_INTERP) {
      out->interp = r.str(ph[i].p_offset, ph[i].p_offset + ph[i].p_filesz);
      if (out->interp == nullptr) return ElfStatus::kDamaged;
    } else if (ph[i].p_type == PT_DYNAMIC) {
      dyn_count = ph[i].p_filesz / sizeof(Elf64_Dyn);
      dyn = r.at<Elf64_Dyn>(ph[i].p_offset, dyn_count);
      if (dyn == nullptr) return ElfStatus::kDamaged;
    }
  }
  if (dyn == nullptr) return ElfStatus::kOk;  // statically linked
  out->dynamic = true;

  int64_t strtab = -1, symtab = -1, hash = -1, gnu_hash = -1, versym = -1, verdef = -1,
          verneed = -1;
  uint64_t strsz = 0, verdefnum = 0, verneednum = 0;
  for (size_t i = 0; i < dyn_count && dyn[i].d_tag != DT_NULL; ++i) {
    uint64_t v = dyn[i].d_un.d_val;
    switch (dyn[i].d_tag) {
      case DT_STRTAB: strtab = r.offset_of(v); break;
      case DT_STRSZ: strsz = v; break;
      case DT_SYMTAB: symtab = r.offset_of(v); break;
      case DT_HASH: hash = r.offset_of(v); break;
      case DT_GNU_HASH: gnu_hash = r.offset_of(v); break;
      case DT_VERSYM: versym = r.offset_of(v); break;
      case DT_VERDEF: verdef = r.offset_of(v); break;
      case DT_VERDEFNUM: verdefnum = v; break;
      case DT_VERNEED: verneed = r.offset_of(v); break;
      case DT_VERNEEDNUM: verneednum = v; break;
      default: break;
    }
  }
  if (strtab < 0) return ElfStatus::kDamaged;
  uint64_t str_limit = (uint64_t)strtab + strsz;
  auto string = [&](uint64_t index) { return r.str((uint64_t)strtab + index, str_limit); };

  for (size_t i = 0; i < dyn_count && dyn[i].d_tag != DT_NULL; ++i) {
    if (dyn[i].d_tag != DT_NEEDED) continue;
    const char* s = string(dyn[i].d_un.d_val);
    if (s == nullptr) return ElfStatus::kDamaged;
    out->needed.push(s);
  }
  // Version indexes to names: definitions (verdef) and needs (verneed).
  Vec<VersionName> defs, needs;
  uint64_t off = (uint64_t)verdef;
  for (uint64_t n = 0; verdef >= 0 && n < verdefnum; ++n) {
    const auto* d = r.at<Elf64_Verdef>(off);
    if (d == nullptr) return ElfStatus::kDamaged;
    const auto* aux = r.at<Elf64_Verdaux>(off + d->vd_aux);
    if (aux == nullptr) return ElfStatus::kDamaged;
    const char* name = string(aux->vda_name);
    if (name == nullptr) return ElfStatus::kDamaged;
    if (!(d->vd_flags & VER_FLG_BASE)) {
      defs.push({d->vd_ndx, name, nullptr});
      out->version_defs.push(name);
    }
    if (d->vd_next == 0) break;
    off += d->vd_next;
  }
  off = (uint64_t)verneed;
  for (uint64_t n = 0; verneed >= 0 && n < verneednum; ++n) {
    const auto* need = r.at<Elf64_Verneed>(off);
    if (need == nullptr) return ElfStatus::kDamaged;
    const char* file = string(need->vn_file);
    if (file == nullptr) return ElfStatus::kDamaged;
    uint64_t aux_off = off + need->vn_aux;
    for (uint16_t k = 0; k < need->vn_cnt; ++k) {
      const auto* aux = r.at<Elf64_Vernaux>(aux_off);
      if (aux == nullptr) return ElfStatus::kDamaged;
      const char* name = string(aux->vna_name);
      if (name == nullptr) return ElfStatus::kDamaged;
      needs.push({aux->vna_other, name, file});
      out->version_needs.push({file, name, (aux->vna_flags & VER_FLG_WEAK) != 0});
      if (aux->vna_next == 0) break;
      aux_off += aux->vna_next;
    }
    if (need->vn_next == 0) break;
    off += need->vn_next;
  }
  if (want == nullptr || symtab < 0) return ElfStatus::kOk;

  // .dynsym's section header, where there is one, says how many symbols it
  // has; DT_GNU_HASH does not when no symbol is hashed (an executable that
  // exports nothing, as aarch64 ones often are: its undefined symbols all
  // come before symoffset, whatever symoffset says), so it is the fallback.
  int64_t count = dynsym_count_from_sections(r, *eh);
  if (count < 0) count = symbol_count(r, hash, gnu_hash);
  if (count < 0) return ElfStatus::kDamaged;
  const auto* syms = r.at<Elf64_Sym>((uint64_t)symtab, (uint64_t)count);
  const auto* vers = versym >= 0 ? r.at<uint16_t>((uint64_t)versym, (uint64_t)count) : nullptr;
  if (syms == nullptr) return ElfStatus::kDamaged;
  for (int64_t i = 1; i < count; ++i) {
    const Elf64_Sym& s = syms[i];
    unsigned bind = ELF64_ST_BIND(s.st_info);
    if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) continue;
    const char* name = string(s.st_name);
    if (name == nullptr) continue;
    DynSymbol out_sym{name, nullptr, nullptr, s.st_shndx != SHN_UNDEF, false,
                      bind == STB_WEAK};
    if (vers != nullptr) {
      uint16_t v = vers[i];
      out_sym.hidden = (v & 0x8000) != 0;
      uint16_t index = v & 0x7fff;
      const VersionName* e = index > 1 ? version_entry(out_sym.defined ? defs : needs, index)
                                       : nullptr;
      if (e != nullptr) {
        out_sym.version = e->name;
        out_sym.file = e->file;
      }
    }
    if (!want(out_sym)) continue;
    out->symbols.push(out_sym);
  }
  return ElfStatus::kOk;
}

}  // namespace lambshm::cli
