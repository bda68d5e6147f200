// The reader, table by table (elf_reader.h says what it reads and why that
// way): read_elf calls one function per ELF table in the order each needs
// the last (header, program headers, dynamic section, DT_NEEDED, version
// definitions, version needs, dynamic symbols), and stops at the first that
// finds the file damaged.  The version tables are chains walked by one
// helper, walk_chain.
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

// What the dynamic section says where to find, as file offsets (-1: absent).
struct DynamicTable {
  const Elf64_Dyn* entries = nullptr;
  size_t count = 0;
  int64_t strtab = -1, symtab = -1, hash = -1, gnu_hash = -1, versym = -1, verdef = -1,
          verneed = -1;
  uint64_t strsz = 0, verdefnum = 0, verneednum = 0;
};

// DT_STRTAB: names by offset, each checked to end inside the table.
class StringTable {
 public:
  StringTable(const Reader& r, const DynamicTable& d)
      : r_(r), base_((uint64_t)d.strtab), limit_((uint64_t)d.strtab + d.strsz) {}
  const char* at(uint64_t index) const { return r_.str(base_ + index, limit_); }

 private:
  const Reader& r_;
  uint64_t base_;
  uint64_t limit_;
};

// A version index (as DT_VERSYM gives it) and its name.
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

// --- One function per table ------------------------------------------------------

// The ELF header: an ELF file, for this machine, with program headers we can read.
ElfStatus read_header(const MappedFile& file, const Reader& r, const Elf64_Ehdr** out) {
  const auto* eh = r.at<Elf64_Ehdr>(0);
  if (eh == nullptr || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
    bool magic = file.size() >= 4 && memcmp(file.data(), ELFMAG, SELFMAG) == 0;
    return magic ? ElfStatus::kDamaged : ElfStatus::kNotElf;
  }
  if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
      eh->e_machine != native_machine())
    return ElfStatus::kOtherMachine;
  if (eh->e_phentsize != sizeof(Elf64_Phdr)) return ElfStatus::kDamaged;
  *out = eh;
  return ElfStatus::kOk;
}

// The program headers: PT_INTERP into `out`, PT_DYNAMIC into `dyn`; the
// segments become the reader's map from addresses to offsets.
ElfStatus read_program_headers(const Elf64_Ehdr& eh, Reader* r, DynamicTable* dyn, ElfInfo* out) {
  const auto* ph = r->at<Elf64_Phdr>(eh.e_phoff, eh.e_phnum);
  if (ph == nullptr) return ElfStatus::kDamaged;
  r->set_segments(ph, eh.e_phnum);
  for (size_t i = 0; i < eh.e_phnum; ++i) {
    if (ph[i].p_type == PT_INTERP) {
      out->interp = r->str(ph[i].p_offset, ph[i].p_offset + ph[i].p_filesz);
      if (out->interp == nullptr) return ElfStatus::kDamaged;
    } else if (ph[i].p_type == PT_DYNAMIC) {
      dyn->count = ph[i].p_filesz / sizeof(Elf64_Dyn);
      dyn->entries = r->at<Elf64_Dyn>(ph[i].p_offset, dyn->count);
      if (dyn->entries == nullptr) return ElfStatus::kDamaged;
    }
  }
  return ElfStatus::kOk;
}

// The dynamic section's pointers to the other tables.
ElfStatus read_dynamic(const Reader& r, DynamicTable* d) {
  for (size_t i = 0; i < d->count && d->entries[i].d_tag != DT_NULL; ++i) {
    uint64_t v = d->entries[i].d_un.d_val;
    switch (d->entries[i].d_tag) {
      case DT_STRTAB: d->strtab = r.offset_of(v); break;
      case DT_STRSZ: d->strsz = v; break;
      case DT_SYMTAB: d->symtab = r.offset_of(v); break;
      case DT_HASH: d->hash = r.offset_of(v); break;
      case DT_GNU_HASH: d->gnu_hash = r.offset_of(v); break;
      case DT_VERSYM: d->versym = r.offset_of(v); break;
      case DT_VERDEF: d->verdef = r.offset_of(v); break;
      case DT_VERDEFNUM: d->verdefnum = v; break;
      case DT_VERNEED: d->verneed = r.offset_of(v); break;
      case DT_VERNEEDNUM: d->verneednum = v; break;
      default: break;
    }
  }
  return d->strtab < 0 ? ElfStatus::kDamaged : ElfStatus::kOk;
}

// DT_NEEDED, in order.
ElfStatus read_needed(const DynamicTable& d, const StringTable& strings, ElfInfo* out) {
  for (size_t i = 0; i < d.count && d.entries[i].d_tag != DT_NULL; ++i) {
    if (d.entries[i].d_tag != DT_NEEDED) continue;
    const char* s = strings.at(d.entries[i].d_un.d_val);
    if (s == nullptr) return ElfStatus::kDamaged;
    out->needed.push(s);
  }
  return ElfStatus::kOk;
}

// Walks up to `count` entries of a table chained by byte offsets from each
// entry (verdef's vd_next, verneed's vn_next, vernaux's vna_next; 0 ends
// it), calling f(entry, offset); f returns false for a damaged entry.
template <typename T, typename Next, typename F>
ElfStatus walk_chain(const Reader& r, uint64_t off, uint64_t count, Next next, F f) {
  for (uint64_t n = 0; n < count; ++n) {
    const T* e = r.at<T>(off);
    if (e == nullptr || !f(*e, off)) return ElfStatus::kDamaged;
    if (next(*e) == 0) break;
    off += next(*e);
  }
  return ElfStatus::kOk;
}

// DT_VERDEF: the version nodes the object defines (the base entry is its own name).
ElfStatus read_verdef(const Reader& r, const DynamicTable& d, const StringTable& strings,
                      Vec<VersionName>* defs, ElfInfo* out) {
  if (d.verdef < 0) return ElfStatus::kOk;
  auto next = [](const Elf64_Verdef& def) { return def.vd_next; };
  return walk_chain<Elf64_Verdef>(r, (uint64_t)d.verdef, d.verdefnum, next,
                                  [&](const Elf64_Verdef& def, uint64_t off) {
    const auto* aux = r.at<Elf64_Verdaux>(off + def.vd_aux);
    const char* name = aux != nullptr ? strings.at(aux->vda_name) : nullptr;
    if (name == nullptr) return false;
    if (!(def.vd_flags & VER_FLG_BASE)) {
      defs->push({def.vd_ndx, name, nullptr});
      out->version_defs.push(name);
    }
    return true;
  });
}

// DT_VERNEED: the version nodes the object needs, by library (each
// library's Vernaux chain names its versions).
ElfStatus read_verneed(const Reader& r, const DynamicTable& d, const StringTable& strings,
                       Vec<VersionName>* needs, ElfInfo* out) {
  if (d.verneed < 0) return ElfStatus::kOk;
  auto next_need = [](const Elf64_Verneed& need) { return need.vn_next; };
  auto next_aux = [](const Elf64_Vernaux& aux) { return aux.vna_next; };
  return walk_chain<Elf64_Verneed>(r, (uint64_t)d.verneed, d.verneednum, next_need,
                                   [&](const Elf64_Verneed& need, uint64_t off) {
    const char* file = strings.at(need.vn_file);
    if (file == nullptr) return false;
    return walk_chain<Elf64_Vernaux>(r, off + need.vn_aux, need.vn_cnt, next_aux,
                                     [&](const Elf64_Vernaux& aux, uint64_t) {
             const char* name = strings.at(aux.vna_name);
             if (name == nullptr) return false;
             needs->push({aux.vna_other, name, file});
             out->version_needs.push({file, name, (aux.vna_flags & VER_FLG_WEAK) != 0});
             return true;
           }) == ElfStatus::kOk;
  });
}

// A symbol's version from DT_VERSYM (`versions`, null when absent): the
// definitions' names for a defined symbol, the needs' for an import.
void apply_version(const uint16_t* versions, int64_t i, const Vec<VersionName>& defs,
                   const Vec<VersionName>& needs, DynSymbol* out) {
  if (versions == nullptr) return;
  uint16_t v = versions[i];
  out->hidden = (v & 0x8000) != 0;
  uint16_t index = v & 0x7fff;
  const VersionName* e = index > 1 ? version_entry(out->defined ? defs : needs, index) : nullptr;
  if (e != nullptr) {
    out->version = e->name;
    out->file = e->file;
  }
}

// DT_SYMTAB with DT_VERSYM: the global dynamic symbols `want` keeps.
//
// .dynsym's section header, where there is one, says how many symbols it
// has; DT_GNU_HASH does not when no symbol is hashed (an executable that
// exports nothing, as aarch64 ones often are: its undefined symbols all
// come before symoffset, whatever symoffset says), so it is the fallback.
ElfStatus read_dynsym(const Reader& r, const Elf64_Ehdr& eh, const DynamicTable& d,
                      const StringTable& strings, const Vec<VersionName>& defs,
                      const Vec<VersionName>& needs, bool (*want)(const DynSymbol&),
                      ElfInfo* out) {
  int64_t count = dynsym_count_from_sections(r, eh);
  if (count < 0) count = symbol_count(r, d.hash, d.gnu_hash);
  if (count < 0) return ElfStatus::kDamaged;
  const auto* syms = r.at<Elf64_Sym>((uint64_t)d.symtab, (uint64_t)count);
  if (syms == nullptr) return ElfStatus::kDamaged;
  const auto* versions =
      d.versym >= 0 ? r.at<uint16_t>((uint64_t)d.versym, (uint64_t)count) : nullptr;
  for (int64_t i = 1; i < count; ++i) {
    const Elf64_Sym& s = syms[i];
    unsigned bind = ELF64_ST_BIND(s.st_info);
    if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) continue;
    const char* name = strings.at(s.st_name);
    if (name == nullptr) continue;
    DynSymbol sym{name, nullptr, nullptr, s.st_shndx != SHN_UNDEF, false, bind == STB_WEAK};
    apply_version(versions, i, defs, needs, &sym);
    if (want(sym)) out->symbols.push(sym);
  }
  return ElfStatus::kOk;
}

}  // namespace

ElfStatus read_elf(const MappedFile& file, bool (*want)(const DynSymbol&), ElfInfo* out) {
  Reader r(file);
  const Elf64_Ehdr* eh = nullptr;
  DynamicTable dyn;
  if (ElfStatus s = read_header(file, r, &eh); s != ElfStatus::kOk) return s;
  if (ElfStatus s = read_program_headers(*eh, &r, &dyn, out); s != ElfStatus::kOk) return s;
  if (dyn.entries == nullptr) return ElfStatus::kOk;  // statically linked
  out->dynamic = true;
  if (ElfStatus s = read_dynamic(r, &dyn); s != ElfStatus::kOk) return s;
  StringTable strings(r, dyn);
  Vec<VersionName> defs, needs;
  if (ElfStatus s = read_needed(dyn, strings, out); s != ElfStatus::kOk) return s;
  if (ElfStatus s = read_verdef(r, dyn, strings, &defs, out); s != ElfStatus::kOk) return s;
  if (ElfStatus s = read_verneed(r, dyn, strings, &needs, out); s != ElfStatus::kOk) return s;
  if (want == nullptr || dyn.symtab < 0) return ElfStatus::kOk;
  return read_dynsym(r, *eh, dyn, strings, defs, needs, want, out);
}

}  // namespace lambshm::cli
