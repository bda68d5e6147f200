#!/usr/bin/env python3
"""One source of truth for lambshm's ABI: glibc 2.26's abilists in abi/glibc-2.26/.

Every version script we link with, every link stub we link against and every
ABI check we run is derived here from those unmodified lists plus one small
file per library naming the functions that library implements
(abi/<lib>.exports).  Nothing about versions is written by hand anywhere else.

Subcommands
  version-script  the --version-script for one of our libraries
  forward-table   C X-macro of every name@VERSION a library forwards to the
                  stock library (the shim)
  versions-header C macros: each exported name's default and compat versions,
                  and an X-macro per name for binding implementations (core/symver.h),
                  and the version to bind an import to where a plain reference
                  would bind to our own definition of the same name
  stub            assembly + version script for a link stub of a glibc 2.26
                  library (we link against these, never against the build
                  machine's glibc, so no import can be newer than 2.26)
  check-exports   the defined dynamic symbols of a built library, as a set of
                  name@VERSION / name@@VERSION, equal the expected set; its
                  version nodes equal the expected nodes
  check-imports   every imported symbol exists at that version in glibc 2.26;
                  no C++ runtime is needed; no copy relocations
  check-nodes     our version nodes equal a real stock library's
  check-defaults  our default/compat rule against a real library's table
  check-overlay   the overlay against a real glibc's library directory
  check-init      the library runs no code of its own when it is loaded

Several --abilist files may be given: their symbols are merged (the preload
library takes shm_* from librt's list and sem_* from libpthread's).

Abilist format (glibc 2.26): "VERSION NAME F|D SIZE|A".  Where a name has
several versions, the newest is the default (@@) and the others are compat
(@): that is glibc's rule and it holds for every list we use.
"""
import argparse
import os
import re
import subprocess
import sys

PRIVATE = "GLIBC_PRIVATE"


def version_key(v):
    if v == PRIVATE:
        return (1, [])
    return (0, [int(x) for x in v[len("GLIBC_"):].split(".")])


class Abilist:
    def __init__(self, paths):
        self.paths = args_list(paths)
        self.nodes = []          # version nodes, oldest first
        self.symbols = {}        # name -> list of (version, kind, size), oldest first
        for path in args_list(paths):
            self._read(path)
        self.nodes.sort(key=version_key)
        for versions in self.symbols.values():
            versions.sort(key=lambda v: version_key(v[0]))

    def _read(self, path):
        with open(path) as f:
            for line in f:
                fields = line.split()
                if not fields:
                    continue
                version, name, kind = fields[0], fields[1], fields[2]
                if version not in self.nodes:
                    self.nodes.append(version)
                if kind == "A":
                    continue
                size = int(fields[3], 16) if len(fields) > 3 else 0
                self.symbols.setdefault(name, []).append((version, kind, size))

    def default_version(self, name):
        return self.symbols[name][-1][0]

    def compat_versions(self, name):
        return [v for v, _, _ in self.symbols[name][:-1]]


VERSION_NAME = re.compile(r"^GLIBC_\d+(\.\d+)+$")


def sibling_abilists(abilist):
    """The same library's abilists for the other architectures (glibc-2.26/<arch>/)."""
    for path in abilist.paths:
        here = os.path.dirname(os.path.abspath(path))
        top = os.path.dirname(here)
        for arch in sorted(os.listdir(top)):
            other = os.path.join(top, arch, os.path.basename(path))
            if os.path.join(top, arch) != here and os.path.isfile(other):
                yield Abilist(other)


class Exports:
    """abi/<lib>.exports, one entry per line:
      name                 at every version the abilist gives it ('*' = every name)
      GLIBC_PRIVATE name   a private export the abilists do not list
      VERSION name...      also at VERSION, a version glibc 2.26 does not have
                           (the preload library: glibc 2.34 moved shm_* and sem_*
                           into libc.so.6 at a new version)
      VERSION              a node glibc 2.26 does not have, defined empty (the
                           shim: libpthread nodes of glibc 2.28 to 2.33 that a
                           program may need even though we define nothing in them)
      forward RELEASE...   also export every other name@VERSION a real library of
                           RELEASE defines (abi/RELEASE/<arch>/<lib>.so.*.dyn-syms.txt,
                           readelf dumps of real libraries), as a forwarder to the
                           stock library (the shim: see libpthread_shim/forward.cpp)
    Where a name ends up with several versions, the newest is the default."""

    def __init__(self, path, abilist):
        public = set()
        self.private = []
        self.extra = {}          # name -> versions the abilist does not have
        self.empty_nodes = set()  # nodes beyond the abilist's that hold none of our names
        forward_from = []
        with open(path) as f:
            for raw in f:
                line = raw.split("#", 1)[0].strip()
                if not line:
                    continue
                parts = line.split()
                if parts[0] == PRIVATE:
                    self.private.extend(parts[1:])
                elif parts[0] == "forward":
                    forward_from.extend(parts[1:])
                elif VERSION_NAME.match(parts[0]):
                    if parts[0] in abilist.nodes:
                        sys.exit(f"{path}: {parts[0]} is a glibc 2.26 version: "
                                 "list the names alone, the abilist gives their versions")
                    if len(parts) < 2:
                        self.empty_nodes.add(parts[0])
                    for name in parts[1:]:
                        self.extra.setdefault(name, []).append(parts[0])
                elif parts[0] == "*":
                    public.update(abilist.symbols)
                elif len(parts) == 1 and parts[0] in abilist.symbols:
                    public.add(parts[0])
                elif len(parts) == 1 and any(parts[0] in other.symbols
                                             for other in sibling_abilists(abilist)):
                    # Exported where this architecture's glibc has it (librt's
                    # clock_* exist on x86_64 only); a typo is still an error.
                    continue
                else:
                    sys.exit(f"{path}: {line} is not a name in any glibc 2.26 abilist")
        # name -> every version it is exported at, oldest first.
        self.versions = {}
        for name in public:
            self.versions[name] = [v for v, _, _ in abilist.symbols[name]]
        for name, versions in self.extra.items():
            self.versions.setdefault(name, []).extend(versions)
        for name in self.versions:
            self.versions[name] = sorted(set(self.versions[name]), key=version_key)
        self.public = sorted(self.versions)
        # name -> the versions forwarded, oldest first.
        self.forwards = self._forwards(path, abilist, forward_from)

    def _forwards(self, path, abilist, releases):
        """Every name@VERSION the real libraries of `releases` define that is
        not ours: name -> (versions oldest first, the default or None).  The
        default is the oldest release's (fcntl is a default in 2.26 and only a
        compat symbol in 2.31; fork is a compat symbol in both).  A name is
        ours at all its versions or at none: a program bound to an old
        version of one of our names must get ours too."""
        ours = set(self.versions) | set(self.private)
        found = {}
        for dump in real_dumps(abilist, releases, path):
            fresh = {}
            for kind, symbol in dump_definitions(dump, with_kind=True):
                name, version = re.split(r"@+", symbol)
                if kind not in ("FUNC", "IFUNC"):
                    sys.exit(f"{dump}: {symbol} is {kind}: a forwarder can only be a "
                             "function (a data object must stay one object)")
                if name in ours:
                    if version not in self.versions.get(name, []) and \
                            not (version == PRIVATE and name in self.private):
                        sys.exit(f"{path}: we define {name} but not at {version}, "
                                 f"which {os.path.basename(dump)} has")
                    continue
                versions, default = fresh.get(name, (set(), None))
                versions.add(version)
                fresh[name] = (versions, version if "@@" in symbol else default)
            for name, (versions, default) in fresh.items():
                known, known_default = found.get(name, (set(), default))
                found[name] = (known | versions, known_default)
        return {n: (sorted(vs, key=version_key), d) for n, (vs, d) in sorted(found.items())}

    def all_versions(self, name):
        """Every version a name is exported at, ours or forwarded, oldest first."""
        if name in self.forwards:
            return self.forwards[name][0]
        if name in self.private:
            return [PRIVATE]
        return self.versions[name]

    def default_version(self, name):
        return self.versions[name][-1]

    def compat_versions(self, name):
        return self.versions[name][:-1]

    def extra_nodes(self, abilist):
        forwarded = {v for vs, _ in self.forwards.values() for v in vs if v != PRIVATE}
        return sorted(({v for vs in self.extra.values() for v in vs} | self.empty_nodes
                       | forwarded) - set(abilist.nodes), key=version_key)

    def expected(self, abilist=None):
        """The exact set of 'name@VER' (compat) and 'name@@VER' (default)."""
        out = set()
        for name in self.public:
            for version in self.compat_versions(name):
                out.add(f"{name}@{version}")
            out.add(f"{name}@@{self.default_version(name)}")
        for name in self.private:
            out.add(f"{name}@@{PRIVATE}")
        for name, (versions, default) in self.forwards.items():
            out.update(f"{name}{'@@' if v == default else '@'}{v}" for v in versions)
        return out


def nodes_for(abilist, exports, with_private, only_used=False):
    """The version nodes a library defines, oldest first.  A replacement for a
    glibc library defines every node the abilist has (a program may need any of
    them); an interposer (--only-used-nodes) replaces no library, so it defines
    exactly the nodes its own exports use."""
    if only_used:
        nodes = sorted({v for vs in exports.versions.values() for v in vs}, key=version_key)
    else:
        nodes = list(abilist.nodes) + (exports.extra_nodes(abilist) if exports else [])
        nodes.sort(key=version_key)
    if with_private or (exports and (exports.private or any(
            PRIVATE in vs for vs, _ in exports.forwards.values()))):
        nodes.append(PRIVATE)
    return nodes


def cmd_version_script(args):
    abilist = Abilist(args.abilist)
    exports = Exports(args.exports, abilist)
    nodes = nodes_for(abilist, exports, args.private_node, args.only_used_nodes)
    # Each name is listed in its default node: a plain definition takes that
    # version.  Compat versions (name@VER) are bound in the sources with
    # LAMBSHM_SYMVER; they survive because 'local: *' sits in the newest node,
    # never one that holds a compat version (ld matches a bound name@VER
    # against node VER's patterns, and a 'local: *' there would hide it).
    by_node = {n: [] for n in nodes}
    for name in exports.public:
        by_node[exports.default_version(name)].append(name)
    by_node.setdefault(PRIVATE, []).extend(exports.private)
    for name, (_, default) in exports.forwards.items():
        if default:
            by_node[default].append(name)
    names = [os.path.basename(p) for p in args.abilist + [args.exports]]
    sources = ", ".join(names[:-1]) + " and " + names[-1]
    out = [f"/* Generated by abi/abitool.py from {sources}: do not edit. */"]
    previous = None
    newest = nodes[-1]
    for node in nodes:
        names = sorted(by_node.get(node, []))
        globl = f"  global:\n" + "".join(f"    {n};\n" for n in names) if names else ""
        local = "  local:\n    *;\n" if node == newest else ""
        parent = f" {previous}" if previous else ""
        out.append(f"{node} {{\n{globl}{local}}}{parent};")
        previous = node
    write(args.output, "\n".join(out) + "\n")


def macro_version(v):
    return v.replace("GLIBC_", "").replace(".", "_")


def cmd_versions_header(args):
    abilist = Abilist(args.abilist)
    exports = Exports(args.exports, abilist)
    lines = ["/* Generated by abi/abitool.py: do not edit. */", "#pragma once", ""]
    lines.append(f'#define LAMBSHM_BASE_VERSION "{abilist.nodes[0]}"')
    for name in exports.public:
        lines.append(f'#define LAMBSHM_VERSION_{name} "{exports.default_version(name)}"')
        for v in exports.compat_versions(name):
            lines.append(f'#define LAMBSHM_COMPAT_{name}_{macro_version(v)} "{v}"')
    lines += ["", "/* LAMBSHM_VERSIONS_<name>(X) expands X(name, TAG, \"VERSION\", \"@@\" or \"@\")",
              "   once per version of name, the default (@@) first; TAG is the version",
              "   as an identifier, for naming one alias per version (core/symver.h). */"]
    for name in exports.public:
        versions = list(reversed(exports.versions[name]))
        xs = " ".join(f'X({name}, {macro_version(v)}, "{v}", "{"@@" if i == 0 else "@"}")'
                      for i, v in enumerate(versions))
        lines.append(f"#define LAMBSHM_VERSIONS_{name}(X) {xs}")
    # A library that exports a name and also calls another library's function
    # of that name (librt's clock_gettime calls libc's) must reference it at an
    # explicit version: the default version of the name in that library's
    # abilist.  A name the other library lacks on this architecture gets no
    # macro, and sources test for it.
    if args.import_names:
        if not args.import_from:
            sys.exit("versions-header: --import needs --import-from")
        other = Abilist(args.import_from)
        lines.append("")
        for name in sorted(set(args.import_names)):
            if name in other.symbols:
                lines.append(f'#define LAMBSHM_IMPORT_{name} "{other.default_version(name)}"')
    write(args.output, "\n".join(lines) + "\n")


def cmd_forward_table(args):
    abilist = Abilist(args.abilist)
    exports = Exports(args.exports, abilist)
    if not exports.forwards:
        sys.exit(f"{args.exports}: no 'forward' line, nothing to forward")
    lines = ["/* Generated by abi/abitool.py: do not edit. */", "#pragma once", "",
             "/* LAMBSHM_FORWARDS(X) expands X(name, TAG, \"VERSION\", \"@@\" or \"@\") once",
             "   per name@VERSION forwarded to the stock library; TAG is the version as",
             "   an identifier. */",
             "#define LAMBSHM_FORWARDS(X) \\"]
    for name, (versions, default) in exports.forwards.items():
        for v in versions:
            at = "@@" if v == default else "@"
            lines.append(f'  X({name}, {macro_version(v)}, "{v}", "{at}") \\')
    lines.append("")
    write(args.output, "\n".join(lines) + "\n")


def cmd_stub(args):
    abilist = Abilist(args.abilist)
    sources = " and ".join(os.path.basename(p) for p in args.abilist)
    asm = [f"/* Link stub for {args.soname}, generated from {sources}. */",
           ".text"]
    for index, (name, versions) in enumerate(sorted(abilist.symbols.items())):
        for vindex, (version, kind, size) in enumerate(versions):
            impl = f"__lambshm_stub_{index}_{vindex}"
            if kind == "F":
                asm.append(f".globl {impl}\n.type {impl},%function\n{impl}:\n.byte 0")
            else:
                asm.append(f".data\n.globl {impl}\n.type {impl},%object\n.size {impl},{size}\n"
                           f"{impl}:\n.zero {max(size, 1)}\n.text")
            at = "@@" if vindex == len(versions) - 1 else "@"
            asm.append(f".symver {impl},{name}{at}{version}")
    write(args.output, "\n".join(asm) + "\n")
    nodes = nodes_for(abilist, None, args.private_node)
    write(args.map, "".join(f"{n} {{ }};\n" for n in nodes))


def readelf(args, lib):
    return subprocess.run([args.readelf, "-W"] + args_list(lib), check=True,
                          capture_output=True, text=True).stdout


def args_list(x):
    return x if isinstance(x, list) else [x]


DYNSYM = re.compile(r"^\s*\d+:\s+\S+\s+\d+\s+(\w+)\s+(\w+)\s+(\w+)\s+(\S+)\s+(\S+)")


def dynamic_symbols(args, lib):
    """Yields (type, bind, ndx, 'name@VER'/'name@@VER'/'name') of the dynamic symbol table."""
    for line in readelf(args, ["--dyn-syms", lib]).splitlines():
        m = DYNSYM.match(line)
        if not m or m.group(5) == "":
            continue
        kind, bind, _vis, ndx, name = m.groups()
        # readelf prints "name@VER (n)" for imports on newer binutils.
        yield kind, bind, ndx, name


def defined_versions(args, lib):
    """Names of the version nodes a library defines (excluding the base/soname entry)."""
    return versions_in(readelf(args, ["-V", lib]))


def versions_in(out):
    """The version nodes defined in the text of 'readelf -V'."""
    section = out.split("Version definition section", 1)
    if len(section) < 2:
        return set()
    section = section[1].split("Version needs section", 1)[0]
    nodes = set()
    for m in re.finditer(r"Flags: (\S+)\s+Index: \d+\s+Cnt: \d+\s+Name: (\S+)", section):
        if "BASE" not in m.group(1):
            nodes.add(m.group(2))
    return nodes


def verneed_entries(out):
    """(file, version name, version index) of each entry in the text of
    'readelf -V': the version needs section."""
    current = None
    section = out.split("Version needs section", 1)
    for line in section[1].splitlines() if len(section) > 1 else []:
        m = re.search(r"File: (\S+)", line)
        if m:
            current = m.group(1)
            continue
        m = re.search(r"Name: (\S+)\s+Flags: \S+\s+Version: (\d+)", line)
        if m and current:
            yield current, m.group(1), m.group(2)


def needed_versions(args, lib):
    """{file: version names} of the version needs section."""
    needs = {}
    for file, name, _ in verneed_entries(readelf(args, ["-V", lib])):
        needs.setdefault(file, set()).add(name)
    return needs


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        self.n += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {what}")
        if not ok:
            self.failed += 1
            for line in detail.splitlines():
                print(f"# {line}")

    def done(self):
        print(f"1..{self.n}")
        return 1 if self.failed else 0


def cmd_check_exports(args):
    abilist = Abilist(args.abilist)
    exports = Exports(args.exports, abilist)
    expected = exports.expected(abilist)
    expected_nodes = set(nodes_for(abilist, exports, args.private_node, args.only_used_nodes))
    tap = Tap()
    got = set()
    for kind, bind, ndx, name in dynamic_symbols(args, args.lib):
        if ndx == "UND" or bind == "LOCAL" or kind == "SECTION":
            continue  # imports, and the section symbols aarch64's linker adds
        if ndx == "ABS" and kind == "OBJECT" and name.split("@")[0] in expected_nodes:
            continue  # the absolute symbol ld makes for each version node
        got.add(name)
    missing = sorted(expected - got)
    extra = sorted(got - expected)
    tap.check(not missing, f"{os.path.basename(args.lib)}: every expected name@VERSION is exported",
              "missing: " + " ".join(missing))
    tap.check(not extra, f"{os.path.basename(args.lib)}: nothing else is exported",
              "unexpected: " + " ".join(extra))
    # The part a program built on glibc 2.26 (Amazon Linux 2) binds to: our
    # names at 2.26's nodes are exactly 2.26's versions of them (compat or
    # default alike: a newer version makes a 2.26 default a compat one).
    plain = lambda names: {re.sub(r"@+", "@", n) for n in names}
    # (A name 2.26 lacks altogether, forwarded from a newer real library, such
    # as 2.28's __libpthread_version_placeholder@GLIBC_2.2.6, is not compared.)
    at_226 = lambda names: {n for n in plain(names) if n.split("@")[1] in abilist.nodes
                            and (n.split("@")[0] in abilist.symbols
                                 or n.split("@")[0] not in exports.forwards)}
    table_226 = {f"{name}@{v}" for name in list(exports.public) + list(exports.forwards)
                 if name in abilist.symbols for v, _, _ in abilist.symbols[name]}
    tap.check(at_226(got) == table_226,
              f"{os.path.basename(args.lib)}: at glibc 2.26's nodes, exactly 2.26's "
              f"{len(table_226)} name@VERSION of the names we export",
              f"missing: {sorted(table_226 - at_226(got))}\nextra: {sorted(at_226(got) - table_226)}")
    nodes = defined_versions(args, args.lib)
    tap.check(nodes == expected_nodes, f"{os.path.basename(args.lib)}: version nodes are exactly "
              + " ".join(sorted(expected_nodes, key=version_key)),
              f"missing: {sorted(expected_nodes - nodes)}\nextra: {sorted(nodes - expected_nodes)}")
    if args.soname:
        dyn = readelf(args, ["-d", args.lib])
        m = re.search(r"\(SONAME\)\s+Library soname: \[(.*)\]", dyn)
        tap.check(m is not None and m.group(1) == args.soname, f"SONAME is {args.soname}",
                  f"got {m.group(1) if m else None}")
    return tap.done()


def cmd_check_nodes(args):
    """Our version nodes against a real stock library's: every node it defines
    must be ours too (a program may need any), and we define none it lacks."""
    tap = Tap()
    ours = defined_versions(args, args.lib)
    if args.dump:
        with open(args.dump) as f:
            real = versions_in(f.read())
        source = os.path.relpath(args.dump, os.path.dirname(os.path.dirname(os.path.dirname(args.dump))))
    else:
        if not os.path.exists(args.stock):
            print(f"1..0 # SKIP no stock library at {args.stock}")
            return 0
        real = defined_versions(args, args.stock)
        source = args.stock
    base = os.path.basename(args.lib)
    tap.check(bool(real), f"{source} defines version nodes", "none found")
    tap.check(real <= ours, f"{base} defines every node of {source}: "
              + " ".join(sorted(real, key=version_key)),
              "missing: " + " ".join(sorted(real - ours, key=version_key)))
    tap.check(ours <= real, f"{base} defines no node {source} lacks",
              "extra: " + " ".join(sorted(ours - real, key=version_key)))
    return tap.done()


DUMP_SYM = re.compile(r"^\s*\d+:\s+\S+\s+\d+\s+(\w+)\s+\w+\s+\w+\s+\d+\s+(\S+)")


def dump_definitions(path, with_kind=False):
    """name@VER / name@@VER defined in a 'readelf --dyn-syms' dump of a real
    library; with_kind, (symbol type, name@VER) pairs."""
    out = set()
    with open(path) as f:
        for line in f:
            m = DUMP_SYM.match(line)
            if m and "@" in m.group(2):
                out.add((m.group(1), m.group(2)) if with_kind else m.group(2))
    return out


def real_dumps(abilist, releases, what):
    """abi/RELEASE/<arch>/<lib>.so.*.dyn-syms.txt for the abilist's arch and library."""
    for path in abilist.paths:
        arch_dir = os.path.dirname(os.path.abspath(path))
        arch = os.path.basename(arch_dir)
        top = os.path.dirname(os.path.dirname(arch_dir))
        lib = os.path.basename(path)[:-len(".abilist")]
        for release in releases:
            folder = os.path.join(top, release, arch)
            dumps = sorted(f for f in os.listdir(folder) if f.startswith(lib + ".so.")
                           and f.endswith(".dyn-syms.txt")) if os.path.isdir(folder) else []
            if len(dumps) != 1:
                sys.exit(f"{what}: forward {release}: no single {lib} dump in {folder}")
            yield os.path.join(folder, dumps[0])


def live_definitions(args, lib):
    """name@VER / name@@VER defined by a real library, read with readelf now."""
    return {name for _kind, _bind, ndx, name in dynamic_symbols(args, lib)
            if ndx not in ("UND", "ABS") and "@" in name}


def cmd_check_defaults(args):
    """Our rule (newest version is the default) against a real library's table.
    With --exact, the real library must also define no other version of our names."""
    abilist = Abilist(args.abilist)
    exports = Exports(args.exports, abilist)
    if (args.dump is None) == (args.lib is None):
        sys.exit("check-defaults: give exactly one of --dump and --lib")
    real = dump_definitions(args.dump) if args.dump else live_definitions(args, args.lib)
    source = os.path.basename(args.dump or args.lib)
    real_names = {re.split(r"@+", s)[0] for s in real}
    tap = Tap()
    # Forwarded names copy a real library's table (check-forwards); this
    # checks the rule for the names we implement.
    expected = {s for s in exports.expected(abilist) if PRIVATE not in s
                and re.split(r"@+", s)[0] not in exports.forwards}
    comparable = {s for s in expected if re.split(r"@+", s)[0] in real_names}
    mismatches = sorted(s for s in comparable if s not in real)
    tap.check(not mismatches, f"{source}: default and compat versions "
              f"as derived from the abilist ({len(comparable)} compared)",
              "not so in the real library: " + " ".join(mismatches))
    if args.exact:
        ours = set(exports.public)
        absent = sorted(set(exports.public) - real_names)
        tap.check(not absent, f"{source} defines every one of our names", " ".join(absent))
        more = sorted(s for s in real if re.split(r"@+", s)[0] in ours and s not in expected)
        tap.check(not more, f"{source} defines no other version of our names",
                  "only in the real library: " + " ".join(more))
    return tap.done()


def cmd_check_abidiff(args):
    """abidiff (libabigail) between a real stock library and ours: none of the
    symbols we export may be reported removed (a stock library also exports
    what we deliberately leave to it, so removals outside our set are fine)."""
    abilist = Abilist(args.abilist)
    exports = Exports(args.exports, abilist)
    expected = exports.expected(abilist)
    tap = Tap()
    if not os.path.exists(args.stock):
        print(f"1..0 # SKIP no stock library at {args.stock}")
        return 0
    r = subprocess.run(["abidiff", "--no-show-locs", args.stock, args.lib],
                       capture_output=True, text=True)
    removed = set()
    section = None
    for line in r.stdout.splitlines():
        if re.match(r"^\d+ Removed (function|variable) symbol", line):
            section = "removed"
        elif re.match(r"^\d+ Added ", line) or re.match(r"^\d+ \w+ (function|variable)", line):
            section = None
        m = re.match(r"^\s+\[D\] (\S+?)(,|$)", line)
        if m and section == "removed":
            removed.add(m.group(1))
            for alias in re.findall(r"(?:aliases |, )(\S+?@\S+?)(?=,|$)", line):
                removed.add(alias)
    ours_removed = sorted(expected & removed)
    # abidiff's status is a bit mask: 4 a change, 8 an incompatible one; 0
    # with no output means identical symbol tables.
    tap.check(r.returncode == 0 or (r.returncode in (4, 8, 12) and
                                    "Functions changes summary" in r.stdout),
              "abidiff ran", r.stdout + r.stderr)
    tap.check(not ours_removed,
              f"abidiff {os.path.basename(args.stock)} -> ours: none of our {len(expected)} "
              f"exports is removed ({len(removed)} stock symbols left to the stock library)",
              "removed: " + " ".join(ours_removed))
    return tap.done()


def symbol_needs(args, lib):
    """(name@VERSION, file) for each import of lib bound to a version need:
    the file is the one the verneed names (the library ld.so looks in).
    Needs are told apart by their index, as one version name (GLIBC_2.2.5)
    is usually needed from several files."""
    index_file = {index: file for file, _, index in verneed_entries(readelf(args, ["-V", lib]))}
    needs = []
    for line in readelf(args, ["--dyn-syms", lib]).splitlines():
        m = re.match(r"^\s*\d+:\s+\S+\s+\d+\s+\w+\s+\w+\s+\w+\s+UND\s+(\S+)@(\S+) \((\d+)\)", line)
        if m and m.group(3) in index_file:
            needs.append((f"{m.group(1)}@{m.group(2)}", index_file[m.group(3)]))
    return needs


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def cmd_check_overlay(args):
    """The overlay against a real glibc's library directory (an ld.so before
    2.30 looks a versioned name up only in the object loaded under the
    verneed's file name): our libpthread.so.0 defines every name@VERSION the
    stock one does, the default one the same; and every versioned import
    that any library there binds to libpthread.so.0 or librt.so.1 is defined
    by ours."""
    tap = Tap()
    if not os.path.isdir(args.stock_dir):
        print(f"1..0 # SKIP no stock glibc at {args.stock_dir}")
        return 0
    ours = {"libpthread.so.0": live_definitions(args, args.libpthread),
            "librt.so.1": live_definitions(args, args.librt)}
    plain = {file: {re.sub(r"@+", "@", s) for s in defs} for file, defs in ours.items()}
    stock = live_definitions(args, os.path.join(args.stock_dir, "libpthread.so.0"))
    # Where we implement a name ourselves (sem_*), its default may follow
    # our own rule; the rest copy the stock table.
    own = {re.split(r"@+", s)[0] for s in ours["libpthread.so.0"]} - \
        {re.split(r"@+", s)[0] for s in stock}
    missing = sorted(s for s in stock if s not in ours["libpthread.so.0"]
                     and re.sub(r"@+", "@", s) not in plain["libpthread.so.0"])
    tap.check(not missing, f"ours defines every one of the {len(stock)} name@VERSION of "
              f"{args.stock_dir}/libpthread.so.0", "missing: " + " ".join(missing))
    flags = sorted(s for s in stock if s not in ours["libpthread.so.0"] and s not in missing
                   and re.split(r"@+", s)[0] not in own | set(args.allow_default)
                   and not s.startswith("sem_"))
    tap.check(not flags, "each default (@@) and compat (@) version as the stock library has it",
              "differs: " + " ".join(flags))
    unmet = []
    checked = 0
    for entry in sorted(os.listdir(args.stock_dir)):
        path = os.path.join(args.stock_dir, entry)
        if os.path.islink(path) or not os.path.isfile(path) or not is_elf(path):
            continue
        for symbol, file in symbol_needs(args, path):
            if file in plain:
                checked += 1
                if symbol not in plain[file]:
                    unmet.append(f"{entry}: {symbol} from {file}")
    tap.check(checked > 0 and not unmet, f"every one of the {checked} versioned imports the "
              f"libraries there bind to libpthread.so.0 or librt.so.1 is ours",
              "\n".join(unmet) or "no imports found")
    return tap.done()


ABILIST_FOR = [
    (re.compile(r"(^|/)libc\.so\.6$"), "libc"),
    (re.compile(r"(^|/)libpthread\.so\.0$"), "libpthread"),
    (re.compile(r"(^|/)librt\.so\.1$"), "librt"),
    (re.compile(r"(^|/)libdl\.so\.2$"), "libdl"),
    (re.compile(r"(^|/)libm\.so\.6$"), "libm"),
    (re.compile(r"(^|/)ld-linux-(x86-64|aarch64)\.so\.[12]$"), "ld"),
]
RUNTIME_LIBS = re.compile(r"libstdc\+\+|libgcc_s|libc\+\+|libunwind")
# Unversioned weak references every GCC-built shared object carries.
HARMLESS_UNVERSIONED = {"_ITM_deregisterTMCloneTable", "_ITM_registerTMCloneTable",
                        "__gmon_start__"}


def cmd_check_imports(args):
    tap = Tap()
    lib = args.lib
    base = os.path.basename(lib)
    dyn = readelf(args, ["-d", lib])
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", dyn)
    runtime = [n for n in needed if RUNTIME_LIBS.search(n)]
    tap.check(not runtime, f"{base}: needs no C++ runtime", "NEEDED: " + " ".join(runtime))
    unknown = [n for n in needed if not any(p.search(n) for p, _ in ABILIST_FOR)]
    tap.check(not unknown, f"{base}: needs only glibc libraries", "NEEDED: " + " ".join(unknown))
    if args.only_needs:
        beyond = [n for n in needed if n not in args.only_needs]
        tap.check(not beyond, f"{base}: needs nothing but {' '.join(args.only_needs)}",
                  "NEEDED: " + " ".join(needed))

    lists = {}
    for n in needed:
        for pattern, stem in ABILIST_FOR:
            if pattern.search(n):
                lists[n] = Abilist(os.path.join(args.abidir, stem + ".abilist"))
    needs = needed_versions(args, lib)
    bad_versions = []
    for file, versions in needs.items():
        al = lists.get(file)
        for v in versions:
            if al is None or v not in al.nodes:
                bad_versions.append(f"{file}: {v}")
    tap.check(not bad_versions, f"{base}: every version it needs exists in glibc 2.26",
              "\n".join(bad_versions))

    # Each import must exist at its version in some needed 2.26 library.
    bad = []
    unversioned = []
    for kind, bind, ndx, name in dynamic_symbols(args, lib):
        if ndx != "UND":
            continue
        name = name.split(" ")[0]
        if "@" not in name:
            if name not in HARMLESS_UNVERSIONED:
                unversioned.append(name)
            continue
        sym, version = re.split(r"@+", name, maxsplit=1)
        if not any(any(v == version for v, _, _ in al.symbols.get(sym, []))
                   for al in lists.values()):
            bad.append(name)
    tap.check(not bad, f"{base}: every imported name@VERSION exists in glibc 2.26",
              "not in 2.26: " + " ".join(sorted(bad)))
    tap.check(not unversioned, f"{base}: no unversioned imports",
              "unversioned: " + " ".join(sorted(unversioned)))
    # A copy relocation copies one data symbol into the program; the link
    # stubs cannot say which of glibc's variables are aliases (environ and
    # __environ), so glibc would go on writing a variable the program no
    # longer reads.  Shared libraries never have them; executables must be
    # built with -fPIC to avoid them.
    copies = re.findall(r"R_(?:X86_64|AARCH64)_COPY\s.*?\s(\S+@\S+)",
                        readelf(args, ["-r", lib]))
    tap.check(not copies, f"{base}: no copy relocations",
              "copied: " + " ".join(sorted(copies)))
    return tap.done()


SECTION = re.compile(r"^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)")
SYMTAB_FUNC = re.compile(r"^\s*\d+:\s+([0-9a-f]+)\s+\d+\s+FUNC\s+\w+\s+\w+\s+\S+\s+(\S+)")


def init_functions(args, lib):
    """The functions .init_array makes the dynamic linker run at load time, by name."""
    sections = {}
    for line in readelf(args, ["-S", lib]).splitlines():
        m = SECTION.match(line)
        if m:
            sections[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16))
    if ".init_array" not in sections:
        return []
    addr, offset, size = sections[".init_array"]
    with open(lib, "rb") as f:
        f.seek(offset)
        raw = f.read(size)
    slots = {addr + i: int.from_bytes(raw[i:i + 8], "little") for i in range(0, size, 8)}
    # Position-independent: the address is the addend of a RELATIVE relocation.
    for line in readelf(args, ["-r", lib]).splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2].endswith("RELATIVE"):
            where = int(fields[0], 16)
            if where in slots:
                slots[where] = int(fields[3], 16)
    names = {}
    for line in readelf(args, ["-s", lib]).splitlines():
        m = SYMTAB_FUNC.match(line)
        if m:
            names.setdefault(int(m.group(1), 16), m.group(2))
    return [names.get(v, hex(v)) for _, v in sorted(slots.items())]


# What the toolchain itself puts in .init_array; none of it can fail.
#   frame_dummy             crtbeginS.o: registers transactional-memory clones, if any
#   init_have_lse_atomics   static libgcc on aarch64 (GCC >= 10, -moutline-atomics):
#                           reads AT_HWCAP to choose LSE or LL/SC for atomics
TOOLCHAIN_INIT = ["frame_dummy", "init_have_lse_atomics"]


def cmd_check_init(args):
    """Nothing of ours runs when the library is loaded: .init_array holds only
    the toolchain's own entries (TOOLCHAIN_INIT), and there is no
    DT_PREINIT_ARRAY.  Needs the library's .symtab (an unstripped build)."""
    tap = Tap()
    base = os.path.basename(args.lib)
    found = init_functions(args, args.lib)
    ours = [f for f in found if f not in args.allow]
    tap.check(not ours, f"{base}: runs no constructor of its own at load time "
              f"(.init_array: {' '.join(found) or 'empty'})", "not allowed: " + " ".join(ours))
    dyn = readelf(args, ["-d", args.lib])
    tap.check("(PREINIT_ARRAY)" not in dyn, f"{base}: no DT_PREINIT_ARRAY")
    return tap.done()


def write(path, text):
    if os.path.exists(path) and open(path).read() == text:
        return
    with open(path, "w") as f:
        f.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--readelf", default=os.environ.get("READELF", "readelf"))
    sub = p.add_subparsers(dest="cmd", required=True)

    only_used = ("define only the version nodes the exports use (an interposer, "
                 "which replaces no glibc library)")
    s = sub.add_parser("version-script")
    s.add_argument("--abilist", required=True, action="append")
    s.add_argument("--exports", required=True)
    s.add_argument("--private-node", action="store_true",
                   help="define GLIBC_PRIVATE even if nothing in it is exported")
    s.add_argument("--only-used-nodes", action="store_true", help=only_used)
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_version_script)

    s = sub.add_parser("versions-header")
    s.add_argument("--abilist", required=True, action="append")
    s.add_argument("--exports", required=True)
    s.add_argument("--import-from", help="abilist of the library imports come from (libc)")
    s.add_argument("--import", dest="import_names", action="append", default=[],
                   help="a name to emit LAMBSHM_IMPORT_<name> for")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_versions_header)

    s = sub.add_parser("forward-table")
    s.add_argument("--abilist", required=True, action="append")
    s.add_argument("--exports", required=True)
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_forward_table)

    s = sub.add_parser("stub")
    s.add_argument("--abilist", required=True, action="append")
    s.add_argument("--soname", required=True)
    s.add_argument("--private-node", action="store_true")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--map", required=True)
    s.set_defaults(func=cmd_stub)

    s = sub.add_parser("check-exports")
    s.add_argument("--lib", required=True)
    s.add_argument("--abilist", required=True, action="append")
    s.add_argument("--exports", required=True)
    s.add_argument("--private-node", action="store_true")
    s.add_argument("--only-used-nodes", action="store_true", help=only_used)
    s.add_argument("--soname")
    s.set_defaults(func=cmd_check_exports)

    s = sub.add_parser("check-nodes")
    s.add_argument("--lib", required=True)
    s.add_argument("--dump", help="readelf -W -V of a real library")
    s.add_argument("--stock", help="a real library, read now (skipped if absent)")
    s.set_defaults(func=cmd_check_nodes)

    s = sub.add_parser("check-defaults")
    s.add_argument("--abilist", required=True, action="append")
    s.add_argument("--exports", required=True)
    s.add_argument("--dump", help="readelf -W --dyn-syms of a real library")
    s.add_argument("--lib", help="a real library, read now")
    s.add_argument("--exact", action="store_true",
                   help="the real library defines our names at exactly our versions")
    s.set_defaults(func=cmd_check_defaults)

    s = sub.add_parser("check-abidiff")
    s.add_argument("--lib", required=True)
    s.add_argument("--stock", required=True, help="the real stock library to compare with")
    s.add_argument("--abilist", required=True)
    s.add_argument("--exports", required=True)
    s.set_defaults(func=cmd_check_abidiff)

    s = sub.add_parser("check-imports")
    s.add_argument("--lib", required=True)
    s.add_argument("--abidir", required=True, help="abi/glibc-2.26/<arch>")
    s.add_argument("--only-needs", action="append", metavar="SONAME",
                   help="the library needs no other library than these")
    s.set_defaults(func=cmd_check_imports)

    s = sub.add_parser("check-overlay")
    s.add_argument("--libpthread", required=True, help="our libpthread.so.0")
    s.add_argument("--librt", required=True, help="our librt.so.1")
    s.add_argument("--stock-dir", required=True, help="a real glibc's library directory")
    s.add_argument("--allow-default", action="append", default=[], metavar="NAME",
                   help="a name whose default version may differ (it changed across releases)")
    s.set_defaults(func=cmd_check_overlay)

    s = sub.add_parser("check-init")
    s.add_argument("--lib", required=True)
    s.add_argument("--allow", action="append", default=list(TOOLCHAIN_INIT),
                   help="another function .init_array may hold (always: "
                        + ", ".join(TOOLCHAIN_INIT) + ")")
    s.set_defaults(func=cmd_check_init)

    args = p.parse_args()
    sys.exit(args.func(args) or 0)


if __name__ == "__main__":
    main()
