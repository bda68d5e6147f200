#!/usr/bin/env python3
"""One source of truth for lambshm's ABI: glibc 2.26's abilists in abi/glibc-2.26/.

Every version script we link with, every link stub we link against and every
ABI check we run is derived here from those unmodified lists plus one small
file per library naming the functions that library implements
(abi/<lib>.exports).  Nothing about versions is written by hand anywhere else.

Subcommands
  version-script  the --version-script for one of our libraries
  versions-header C macros: each exported name's default and compat versions,
                  and the version to bind an import to where a plain reference
                  would bind to our own definition of the same name
  stub            assembly + version script for a link stub of a glibc 2.26
                  library (we link against these, never against the build
                  machine's glibc, so no import can be newer than 2.26)
  check-exports   the defined dynamic symbols of a built library, as a set of
                  name@VERSION / name@@VERSION, equal the expected set; its
                  version nodes equal the expected nodes
  check-imports   every imported symbol exists at that version in glibc 2.26;
                  no C++ runtime is needed

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
    def __init__(self, path):
        self.path = path
        self.nodes = []          # version nodes, oldest first
        self.symbols = {}        # name -> list of (version, kind, size), oldest first
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
        self.nodes.sort(key=version_key)
        for versions in self.symbols.values():
            versions.sort(key=lambda v: version_key(v[0]))

    def default_version(self, name):
        return self.symbols[name][-1][0]

    def compat_versions(self, name):
        return [v for v, _, _ in self.symbols[name][:-1]]


def sibling_abilists(abilist):
    """The same library's abilists for the other architectures (glibc-2.26/<arch>/)."""
    here = os.path.dirname(os.path.abspath(abilist.path))
    top = os.path.dirname(here)
    name = os.path.basename(abilist.path)
    for arch in sorted(os.listdir(top)):
        other = os.path.join(top, arch, name)
        if os.path.join(top, arch) != here and os.path.isfile(other):
            yield Abilist(other)


class Exports:
    """abi/<lib>.exports: one name per line ('*' = every name of the abilist);
    'GLIBC_PRIVATE name' for a private export the abilists do not list.
    A name this architecture's abilist lacks but another architecture's has
    (librt's clock_* exist on x86_64 only) is skipped; a name no abilist of
    that library has is an error (a typo)."""

    def __init__(self, path, abilist):
        self.public = []
        self.private = []
        with open(path) as f:
            for raw in f:
                line = raw.split("#", 1)[0].strip()
                if not line:
                    continue
                parts = line.split()
                if parts[0] == PRIVATE:
                    self.private.append(parts[1])
                elif parts[0] == "*":
                    self.public.extend(sorted(abilist.symbols))
                elif parts[0] in abilist.symbols:
                    self.public.append(parts[0])
                elif not any(parts[0] in other.symbols for other in sibling_abilists(abilist)):
                    sys.exit(f"{path}: {parts[0]} is not in any glibc 2.26 abilist")
        self.public = sorted(set(self.public))

    def expected(self, abilist):
        """The exact set of 'name@VER' (compat) and 'name@@VER' (default)."""
        out = set()
        for name in self.public:
            for version in abilist.compat_versions(name):
                out.add(f"{name}@{version}")
            out.add(f"{name}@@{abilist.default_version(name)}")
        for name in self.private:
            out.add(f"{name}@@{PRIVATE}")
        return out


def nodes_for(abilist, exports, with_private):
    nodes = list(abilist.nodes)
    if with_private or (exports and exports.private):
        nodes.append(PRIVATE)
    return nodes


def cmd_version_script(args):
    abilist = Abilist(args.abilist)
    exports = Exports(args.exports, abilist)
    nodes = nodes_for(abilist, exports, args.private_node)
    by_node = {n: [] for n in nodes}
    for name in exports.public:
        by_node[abilist.default_version(name)].append(name)
    by_node.setdefault(PRIVATE, []).extend(exports.private)
    out = [f"/* Generated by abi/abitool.py from {os.path.basename(args.abilist)}"
           f" and {os.path.basename(args.exports)}: do not edit. */"]
    # 'local: *' goes in the newest node, never one that holds a compat
    # version: ld matches a .symver'ed name@VERSION against node VERSION's
    # patterns, so a 'local: *' there would hide every compat symbol.  (A
    # compat version is older than its name's default, so the newest node
    # holds none.)
    previous = None
    for node in nodes:
        names = sorted(by_node.get(node, []))
        globl = f"  global:\n" + "".join(f"    {n};\n" for n in names) if names else ""
        local = "  local:\n    *;\n" if node == nodes[-1] else ""
        parent = f" {previous}" if previous is not None else ""
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
        lines.append(f'#define LAMBSHM_VERSION_{name} "{abilist.default_version(name)}"')
        for v in abilist.compat_versions(name):
            lines.append(f'#define LAMBSHM_COMPAT_{name}_{macro_version(v)} "{v}"')
    # A library that exports a name and also calls another library's function
    # of that name (librt's clock_gettime calls libc's) must reference it at an
    # explicit version: the default version of the name in that library's
    # abilist.  A name the other library lacks on this architecture gets no
    # macro, and sources test for it.
    if args.import_names:
        if not args.import_from:
            sys.exit("versions-header: --import needs --import-from")
        other = Abilist(args.import_from)
        for name in sorted(set(args.import_names)):
            if name in other.symbols:
                lines.append(f'#define LAMBSHM_IMPORT_{name} "{other.default_version(name)}"')
    write(args.output, "\n".join(lines) + "\n")


def cmd_stub(args):
    abilist = Abilist(args.abilist)
    asm = [f"/* Link stub for {args.soname}, generated from {os.path.basename(args.abilist)}. */",
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
    out = readelf(args, ["-V", lib])
    section = out.split("Version definition section", 1)
    if len(section) < 2:
        return set()
    section = section[1].split("Version needs section", 1)[0]
    nodes = set()
    for m in re.finditer(r"Flags: (\S+)\s+Index: \d+\s+Cnt: \d+\s+Name: (\S+)", section):
        if "BASE" not in m.group(1):
            nodes.add(m.group(2))
    return nodes


def needed_versions(args, lib):
    """{version index name: file} of the version needs section."""
    out = readelf(args, ["-V", lib])
    needs = {}
    current = None
    section = out.split("Version needs section", 1)
    if len(section) < 2:
        return needs
    for line in section[1].splitlines():
        m = re.search(r"File: (\S+)", line)
        if m:
            current = m.group(1)
            continue
        m = re.search(r"Name: (\S+)\s+Flags: \S+\s+Version: (\d+)", line)
        if m and current:
            needs.setdefault(current, set()).add(m.group(1))
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
    expected_nodes = set(nodes_for(abilist, exports, args.private_node))
    tap = Tap()
    got = set()
    for kind, bind, ndx, name in dynamic_symbols(args, args.lib):
        # LOCAL: the section symbols aarch64's ld leaves in .dynsym.
        if ndx in ("UND",) or bind == "LOCAL":
            continue
        if ndx == "ABS" and kind == "OBJECT" and name.split("@")[0] in expected_nodes:
            continue  # the absolute symbol ld makes for each version node
        got.add(name)
    missing = sorted(expected - got)
    extra = sorted(got - expected)
    tap.check(not missing, f"{os.path.basename(args.lib)}: every expected name@VERSION is exported",
              "missing: " + " ".join(missing))
    tap.check(not extra, f"{os.path.basename(args.lib)}: nothing else is exported",
              "unexpected: " + " ".join(extra))
    nodes = defined_versions(args, args.lib)
    tap.check(nodes == expected_nodes, f"{os.path.basename(args.lib)}: version nodes equal glibc 2.26's",
              f"missing: {sorted(expected_nodes - nodes)}\nextra: {sorted(nodes - expected_nodes)}")
    if args.soname:
        dyn = readelf(args, ["-d", args.lib])
        m = re.search(r"\(SONAME\)\s+Library soname: \[(.*)\]", dyn)
        tap.check(m is not None and m.group(1) == args.soname, f"SONAME is {args.soname}",
                  f"got {m.group(1) if m else None}")
    return tap.done()


DUMP_SYM = re.compile(r"^\s*\d+:\s+\S+\s+\d+\s+\w+\s+\w+\s+\w+\s+(\d+)\s+(\S+)")


def dump_definitions(path):
    """name@VER / name@@VER defined in a 'readelf --dyn-syms' dump of a real library."""
    out = set()
    with open(path) as f:
        for line in f:
            m = DUMP_SYM.match(line)
            if m and "@" in m.group(2):
                out.add(m.group(2))
    return out


def cmd_check_defaults(args):
    """Our rule (newest version is the default) against a real library's table."""
    abilist = Abilist(args.abilist)
    exports = Exports(args.exports, abilist)
    real = dump_definitions(args.dump)
    real_names = {re.split(r"@+", s)[0] for s in real}
    tap = Tap()
    expected = {s for s in exports.expected(abilist) if PRIVATE not in s}
    comparable = {s for s in expected if re.split(r"@+", s)[0] in real_names}
    mismatches = sorted(s for s in comparable if s not in real)
    tap.check(not mismatches, f"{os.path.basename(args.dump)}: default and compat versions "
              f"as derived from the abilist ({len(comparable)} compared)",
              "not so in the real library: " + " ".join(mismatches))
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

    s = sub.add_parser("version-script")
    s.add_argument("--abilist", required=True)
    s.add_argument("--exports", required=True)
    s.add_argument("--private-node", action="store_true",
                   help="define GLIBC_PRIVATE even if nothing in it is exported")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_version_script)

    s = sub.add_parser("versions-header")
    s.add_argument("--abilist", required=True)
    s.add_argument("--exports", required=True)
    s.add_argument("--import-from", help="abilist of the library imports come from (libc)")
    s.add_argument("--import", dest="import_names", action="append", default=[],
                   metavar="NAME", help="emit LAMBSHM_IMPORT_NAME (repeatable)")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_versions_header)

    s = sub.add_parser("stub")
    s.add_argument("--abilist", required=True)
    s.add_argument("--soname", required=True)
    s.add_argument("--private-node", action="store_true")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--map", required=True)
    s.set_defaults(func=cmd_stub)

    s = sub.add_parser("check-exports")
    s.add_argument("--lib", required=True)
    s.add_argument("--abilist", required=True)
    s.add_argument("--exports", required=True)
    s.add_argument("--private-node", action="store_true")
    s.add_argument("--soname")
    s.set_defaults(func=cmd_check_exports)

    s = sub.add_parser("check-defaults")
    s.add_argument("--abilist", required=True)
    s.add_argument("--exports", required=True)
    s.add_argument("--dump", required=True, help="readelf -W --dyn-syms of a real library")
    s.set_defaults(func=cmd_check_defaults)

    s = sub.add_parser("check-imports")
    s.add_argument("--lib", required=True)
    s.add_argument("--abidir", required=True, help="abi/glibc-2.26/<arch>")
    s.set_defaults(func=cmd_check_imports)

    args = p.parse_args()
    sys.exit(args.func(args) or 0)


if __name__ == "__main__":
    main()
