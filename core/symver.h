/* Binding a symbol to one version: the only place lambshm writes the
 * assembler's .symver directive (glibc has shlib-compat.h, libfuse
 * FUSE_SYMVER).  C and C++.
 *
 *   LAMBSHM_SYMVER(impl, "name@@VERSION")  defines name at VERSION, the
 *                                          default, as an alias of impl;
 *   LAMBSHM_SYMVER(impl, "name@VERSION")   defines it at a compat VERSION, or,
 *                                          when impl is only declared,
 *                                          makes calls to impl reference
 *                                          name at exactly that VERSION.
 *
 * The versions come from the headers abi/abitool.py generates from the
 * abilists, never from a literal in a library's source.  impl is
 * macro-expanded first, so it may be built with ##. */
#pragma once

#define LAMBSHM_SYMVER_STRING_(x) #x
#define LAMBSHM_SYMVER(impl, name_at_version) \
  __asm__(".symver " LAMBSHM_SYMVER_STRING_(impl) "," name_at_version)
