// The verdicts of `lambshm doctor`, from the facts alone (see doctor.h).
//
// Two questions: will shared memory work as things stand (`now`, the exit
// status), and would it under `lambshm run` (`with_run`, the advice)?  For
// a program, each is answered from where its named-object functions bind:
// stock glibc works or fails as /dev/shm allows, lambshm as the backing
// directory allows.  Without --for, for ordinary programs: lambshm's answer
// when this environment activates it, else stock glibc's.
#include <cerrno>

#include "doctor.h"

namespace lambshm::cli {

const char* errno_name(int e) {
  switch (e) {
    case ENOSYS: return "ENOSYS";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EROFS: return "EROFS";
    case ENOTDIR: return "ENOTDIR";
    case ENOSPC: return "ENOSPC";
    case EINVAL: return "EINVAL";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    default: return "error";
  }
}

void errno_text(int e, Str* out) {
  const char* py = e == ENOENT ? "FileNotFoundError" : e == EACCES ? "PermissionError" : "OSError";
  out->appendf("%s (Python: %s: [Errno %d] %s)", errno_name(e), py, e, strerror(e));
}

void stock_failure(const Stock& s, Str* out) {
  errno_text(s.error, out);
  out->appendf(": %s", s.why.c_str());
}

bool creation_problem(const BackingFacts& b, Str* why) {
  const char* path = b.dir.config.path;
  if (b.parent_stat != 0) {
    why->appendf("%s does not exist, and neither does its parent %s", path, b.parent);
  } else if (b.parent_writable != 0) {
    why->appendf("%s does not exist and cannot be created: %s is %s", path, b.parent,
                 b.parent_writable == -EROFS ? "read-only" : "not writable by this user");
  } else {
    return false;
  }
  return true;
}

namespace {

void judge_stock(const Facts& f, Stock* out) {
  const DevShm& d = f.dev_shm;
  if (shm_in_libc(f.glibc)) {
    if (d.stat_result != 0) {
      out->error = ENOENT;
      out->why.append("/dev/shm is missing");
    } else if (!d.is_dir) {
      out->error = ENOTDIR;
      out->why.append("/dev/shm is not a directory");
    } else if (d.writable != 0) {
      out->error = -d.writable;
      out->why.appendf("/dev/shm is %s", d.writable == -EROFS ? "read-only" : "not writable");
    } else {
      out->works = true;
    }
    return;
  }
  if (f.shm_dir == nullptr) {
    out->error = ENOSYS;
    out->why.appendf("%s and no tmpfs is mounted anywhere",
                     d.stat_result != 0 ? "/dev/shm is missing" : "/dev/shm is not a tmpfs");
  } else if (f.shm_dir_writable != 0) {
    out->error = -f.shm_dir_writable;
    out->why.appendf("its shm directory %s is %s", f.shm_dir,
                     f.shm_dir_writable == -EROFS ? "read-only" : "not writable");
  } else {
    out->works = true;
  }
}

void judge_backing(const BackingFacts& b, Backing* out) {
  const char* path = b.dir.config.path;
  bool full = b.space.known && b.space.avail == 0;
  if (b.dir.config.error != 0) {
    out->why.appendf("the backing directory '%s' is unusable: %s", path,
                     b.dir.config.error == EINVAL ? "LAMBSHM_DIR must be an absolute path"
                                                  : strerror(b.dir.config.error));
  } else if (b.opened == -ENOENT) {
    out->works = !creation_problem(b, &out->why);
    if (full) {
      out->works = false;
      out->why.appendf("%s%s has no free space", out->why.empty() ? "" : "; ", b.parent);
    }
  } else if (b.opened < 0) {
    out->why.appendf("the backing directory %s is refused: %s", path,
                     b.refused != nullptr ? b.refused : strerror(-b.opened));
  } else if (b.create < 0 || full) {
    int e = full ? ENOSPC : -b.create;
    out->why.appendf("objects cannot be created in %s: %s", path,
                     e == EROFS ? "read-only filesystem" : e == ENOSPC ? "no space left"
                     : e == EACCES ? "no write permission for this user" : strerror(e));
  } else {
    out->works = true;
  }
}

// Whether shared memory works for the program in scenario `s`.
void judge_scenario(const Facts& f, const Scenario& s, const Verdicts& v, Judgement* out) {
  if (!s.load_problems.empty()) {
    out->works = false;
    out->why.appendf("it would not start: %s", s.load_problems[0]);
  }
  for (const Binding& b : s.bindings) {
    out->uses = true;
    bool ok = b.provider == nullptr ? false : b.lambshm ? v.backing.works : v.stock.works;
    if (ok || !out->works) continue;
    out->works = false;
    if (b.provider == nullptr) {
      out->why.appendf("%s (in %s) is defined by nothing it loads", b.symbol, b.user);
    } else if (b.lambshm) {
      out->why.appendf("%s goes to lambshm, but %s", b.symbol, v.backing.why.c_str());
    } else {
      out->why.appendf("%s (in %s) goes to stock glibc (%s), which fails with ", b.symbol, b.user,
                       b.provider);
      stock_failure(v.stock, &out->why);
    }
  }
  // Python's multiprocessing.Value and Array need /dev/shm itself, not shm_open.
  bool dev_shm_usable =
      v.stock.works && f.shm_dir != nullptr && strcmp(f.shm_dir, "/dev/shm") == 0;
  if (out->works && f.prog.python && !dev_shm_usable && s.python_hook == 0) {
    out->works = false;
    out->why.append("Python's multiprocessing.Value and Array call os.statvfs(\"/dev/shm\") "
                    "themselves and will fail; lambshm's multiprocessing hook is not loaded");
  }
}

void judge_static(const Facts& f, Verdicts* v) {
  v->now.works = v->with_run.works = v->stock.works;
  v->now.uses = true;  // unknown: its calls are not in a symbol table
  if (v->stock.works) return;
  v->now.why.appendf("%s is statically linked and stock glibc fails with ", f.prog.path);
  stock_failure(v->stock, &v->now.why);
  v->with_run.why.append(v->now.why.c_str());
}

void judge_program(const Facts& f, Verdicts* v) {
  const ProgramReport& p = f.prog;
  if (p.static_binary) {
    judge_static(f, v);
    return;
  }
  judge_scenario(f, p.now, *v, &v->now);
  // What run would do is what is judged (gather_program).
  const Scenario& run = p.run_preload ? p.with_run_preload : p.with_run;
  if (f.run_ok) judge_scenario(f, run, *v, &v->with_run);
  if (!p.now.inspected) {
    v->now.works = false;
    v->now.why.appendf("%s could not be inspected: %s", p.path, p.now.problem.c_str());
  }
  if (f.run_ok && !run.inspected) {
    v->with_run.works = false;
    v->with_run.why.append("it could not be inspected under lambshm run");
  }
}

// Without --for: ordinary programs, which bind as this environment says.
void judge_programs(const Facts& f, Verdicts* v) {
  v->now.works = f.active ? v->backing.works : v->stock.works;
  if (!v->now.works) {
    if (f.active) {
      v->now.why.appendf("lambshm is active but %s", v->backing.why.c_str());
    } else {
      v->now.why.append("stock glibc fails with ");
      stock_failure(v->stock, &v->now.why);
    }
  }
  v->with_run.works = v->backing.works;
  if (!v->backing.works) v->with_run.why.append(v->backing.why.c_str());
}

}  // namespace

void judge(const Facts& facts, Verdicts* out) {
  judge_stock(facts, &out->stock);
  judge_backing(facts.backing, &out->backing);
  if (facts.program != nullptr) {
    judge_program(facts, out);
  } else {
    judge_programs(facts, out);
  }
  if (!facts.run_ok) {
    out->with_run.works = false;
    out->with_run.why.clear();
    out->with_run.why.append(facts.run_problem.c_str());
  }
}

}  // namespace lambshm::cli
