// foundation_bench: times the keel binary end to end on generated stacks of
// the example plugin's `files`, and prints each figure against its target.
//
//   build/bench/foundation_bench [--keel PATH] [--runs N] [--quick] [--no-apply] [--dir DIR] [--keep]
//
// Every figure is a real `keel` child process (posix_spawn), timed with
// steady_clock from spawn to reap; its peak RSS comes from wait4's rusage
// (ru_maxrss, KiB), which on Linux is the largest of the child and the
// descendants it reaped (keel and its keel-provider-example plugin). A
// second column samples keel's own VmHWM from /proc while it runs, and the
// CPU column is user+sys time of keel and its plugin (less sensitive than
// wall time to other load on the machine).
//
// Every apply runs in a stack directory of its own, and nothing is deleted
// until the end: on ext4, creating files right after deleting thousands
// makes the kernel scan past the recently deleted inodes
// (__ext4_new_inode -> find_inode_bit -> recently_deleted), which would
// charge the bench's own clean-up to the next apply. For the same reason the
// temp dir is not in /tmp by default but beside this binary: /tmp is where
// compilers and test suites create and delete files all day, and an apply
// there measured 2-3x slower (all of it kernel time in that scan).
//
// A figure that misses its target is reported as MISS, not as a failure:
// the exit status is non-zero only when a keel command itself fails (or the
// no-op plan is not a no-op), with that command's output printed.
// See bench/README.md for what each figure means.

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// --- options ---------------------------------------------------------------------

struct Options {
  std::string keel;
  int runs = 5;
  bool quick = false;
  bool no_apply = false;  // startup, validate and the no-op plan only (one untimed apply)
  std::string dir;    // where the temp dir goes (default: beside this binary)
  bool keep = false;  // leave the temp dir behind (for debugging)
};

std::string self_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  return fs::path(std::string(buf, static_cast<size_t>(n))).parent_path().string();
}

[[noreturn]] void usage(const char* why) {
  if (why) std::fprintf(stderr, "foundation_bench: %s\n", why);
  std::fprintf(stderr,
               "usage: foundation_bench [--keel PATH] [--runs N] [--quick] [--no-apply] [--dir DIR] [--keep]\n"
               "  --keel PATH  the keel binary (default: ../keel from this binary, i.e. the build dir)\n"
               "  --runs N     timed runs per figure (default 5; `keel --version` runs max(21, N))\n"
               "  --quick      smoke run: 100/1000 resources instead of 1000/10000\n"
               "  --no-apply   time startup, validate and the no-op plan only (one untimed apply\n"
               "               makes the plan's state): side-by-side runs of two builds\n"
               "  --dir DIR    create the temporary directory in DIR (default: beside this binary,\n"
               "               build/bench/, not /tmp: see bench/README.md)\n"
               "  --keep       keep the temporary directory\n");
  std::exit(why ? 2 : 0);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage((a + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "--keel") o.keel = value();
    else if (a.rfind("--keel=", 0) == 0) o.keel = a.substr(7);
    else if (a == "--runs" || a.rfind("--runs=", 0) == 0) {
      std::string v = a == "--runs" ? value() : a.substr(7);
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 1 || n > 1000) usage("--runs must be a number from 1 to 1000");
      o.runs = static_cast<int>(n);
    } else if (a == "--quick") o.quick = true;
    else if (a == "--no-apply") o.no_apply = true;
    else if (a == "--keep") o.keep = true;
    else if (a == "--dir") o.dir = value();
    else if (a.rfind("--dir=", 0) == 0) o.dir = a.substr(6);
    else if (a == "-h" || a == "--help") usage(nullptr);
    else usage(("unknown argument " + a).c_str());
  }
  if (o.keel.empty()) o.keel = (fs::path(self_dir()).parent_path() / "keel").string();
  return o;
}

// --- temp dir and failure ------------------------------------------------------------

std::string g_tmp;  // removed at exit unless --keep
bool g_keep = false;

void cleanup() {
  if (g_tmp.empty()) return;
  if (g_keep) {
    std::printf("(kept %s)\n", g_tmp.c_str());
  } else {
    std::error_code ec;
    fs::remove_all(g_tmp, ec);
    if (ec) std::fprintf(stderr, "foundation_bench: could not remove %s: %s\n", g_tmp.c_str(), ec.message().c_str());
  }
  g_tmp.clear();
}

[[noreturn]] void die(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "foundation_bench: %s\n", message.c_str());
  cleanup();
  std::exit(1);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) die("cannot write " + path);
}

// --- running keel ---------------------------------------------------------------------

struct Run {
  double wall_ms = 0;
  long maxrss_kb = 0;      // wait4: max over keel and the children it reaped
  long keel_hwm_kb = 0;    // sampled VmHWM of keel itself (0: exited before a sample)
  double cpu_ms = 0;       // user + sys of keel and the children it reaped
  int exit_code = -1;
  std::string out, err;
};

long read_vmhwm_kb(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* p = std::strstr(buf, "VmHWM:");
  return p ? std::strtol(p + 6, nullptr, 10) : 0;
}

// How a run is watched: startup figures (a few ms) are not sampled, since a
// sampler thread started beside a 9 ms child costs the parent about a
// millisecond of the two cores, which the figure would charge to keel.
enum class Sampling { none, vmhwm };

// Runs `keel ARGS` in `cwd` with stdout and stderr to files, and waits.
// posix_spawn (vfork-like: no copy of the bench's page tables, which grow
// with the stacks it generates) so that the figure is keel's, not the
// bench's fork: measured here, fork+exec of /bin/true 2.9 ms, posix_spawn
// 1.8 ms.
Run run_keel(const Options& o, const std::vector<std::string>& args, const std::string& cwd,
             Sampling sampling = Sampling::vmhwm) {
  const std::string out_path = g_tmp + "/last.stdout", err_path = g_tmp + "/last.stderr";
  std::vector<std::string> argv_s{o.keel};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());

  std::fflush(stdout);
  std::fflush(stderr);
  const auto start = Clock::now();
  pid_t pid = 0;
  const int spawn_error = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) die("cannot execute " + o.keel + ": " + std::strerror(spawn_error) + " (build it, or pass --keel PATH)");

  // keel's own peak, sampled (wait4 cannot tell keel from its plugin).
  std::atomic<bool> done{false};
  std::atomic<long> hwm{0};
  std::thread sampler;
  if (sampling == Sampling::vmhwm)
    sampler = std::thread([&] {
      // Sleeps first: a short run should not share its CPU with the
      // sampler; a long one is sampled every 5 ms (VmHWM only grows).
      for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (done.load()) break;
        long v = read_vmhwm_kb(pid);
        if (v > hwm.load()) hwm.store(v);
      }
    });

  int status = 0;
  struct rusage ru {};
  pid_t w;
  do w = ::wait4(pid, &status, 0, &ru);
  while (w < 0 && errno == EINTR);
  const auto end = Clock::now();
  done.store(true);
  if (sampler.joinable()) sampler.join();
  if (w < 0) die(std::string("wait4: ") + std::strerror(errno));

  Run r;
  r.wall_ms = std::chrono::duration<double, std::milli>(end - start).count();
  r.maxrss_kb = ru.ru_maxrss;
  r.cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
  r.keel_hwm_kb = hwm.load();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_text(out_path);
  r.err = read_text(err_path);
  if (WIFSIGNALED(status)) r.err += "\n(killed by signal " + std::to_string(WTERMSIG(status)) + ")";
  return r;
}

std::string describe_cmd(const std::vector<std::string>& args) {
  std::string s = "keel";
  for (const auto& a : args) s += " " + a;
  return s;
}

std::string tail(const std::string& text, size_t max_chars = 4000) {
  return text.size() <= max_chars ? text : "...\n" + text.substr(text.size() - max_chars);
}

// A keel run that must succeed.
Run run_ok(const Options& o, const std::vector<std::string>& args, const std::string& cwd = "",
           Sampling sampling = Sampling::vmhwm) {
  Run r = run_keel(o, args, cwd, sampling);
  if (r.exit_code != 0)
    die(describe_cmd(args) + " failed (exit " + std::to_string(r.exit_code) + ")\n--- stderr ---\n" +
        tail(r.err) + "\n--- stdout ---\n" + tail(r.out));
  return r;
}

// --- statistics and the table -------------------------------------------------------------

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Figure {
  std::string name;
  std::vector<Run> runs;
  double med_ms() const {
    std::vector<double> v;
    for (const auto& r : runs) v.push_back(r.wall_ms);
    return median(v);
  }
  double med_cpu_ms() const {
    std::vector<double> v;
    for (const auto& r : runs) v.push_back(r.cpu_ms);
    return median(v);
  }
  double min_ms() const {
    double m = runs.empty() ? 0 : runs[0].wall_ms;
    for (const auto& r : runs) m = std::min(m, r.wall_ms);
    return m;
  }
  double max_ms() const {
    double m = 0;
    for (const auto& r : runs) m = std::max(m, r.wall_ms);
    return m;
  }
  double peak_rss_mb() const {
    long m = 0;
    for (const auto& r : runs) m = std::max(m, r.maxrss_kb);
    return m / 1024.0;
  }
  double keel_hwm_mb() const {
    long m = 0;
    for (const auto& r : runs) m = std::max(m, r.keel_hwm_kb);
    return m / 1024.0;
  }
};

void print_header() {
  std::printf("%-40s %4s %10s %9s %9s %9s %9s %9s\n", "figure", "runs", "median ms", "min ms", "max ms", "cpu ms",
              "peak RSS", "keel RSS");
  std::printf("%-40s %4s %10s %9s %9s %9s %9s %9s\n", "", "", "(wall)", "", "", "(median)", "MB (tree)",
              "MB (own)");
}

void print_row(const Figure& f) {
  char own[32];
  if (f.keel_hwm_mb() > 0) std::snprintf(own, sizeof own, "%9.1f", f.keel_hwm_mb());
  else std::snprintf(own, sizeof own, "%9s", "-");
  std::printf("%-40s %4zu %10.1f %9.1f %9.1f %9.1f %9.1f %s\n", f.name.c_str(), f.runs.size(), f.med_ms(), f.min_ms(),
              f.max_ms(), f.med_cpu_ms(), f.peak_rss_mb(), own);
  std::fflush(stdout);
}

// --- stacks ---------------------------------------------------------------------------------

// A stack dir holding keel.yaml with `n` files f0..f(n-1) of the example
// plugin under <dir>/files. With `refs`, every 10th file's content is the
// sha256 of the one before it (a reference, so an edge in the graph).
std::string make_stack(const std::string& name, int n, bool refs, const std::string& delay) {
  const std::string dir = g_tmp + "/" + name;
  fs::create_directories(dir);
  std::string y;
  y.reserve(static_cast<size_t>(n) * 80 + 256);
  y += "keel: 1\nproject: bench\nproviders:\n  ex: { type: example, root: \"" + dir + "/files\" }\nfiles:\n";
  for (int i = 0; i < n; ++i) {
    const std::string id = std::to_string(i);
    y += "  f" + id + ": { provider: ex, path: f" + id + ", content: ";
    if (refs && i % 10 == 9) y += "\"${files.f" + std::to_string(i - 1) + ".sha256}\"";
    else y += "\"file " + id + " of " + name + "\"";
    if (!delay.empty()) y += ", delay: " + delay;
    y += " }\n";
  }
  write_text(dir + "/keel.yaml", y);
  return dir;
}

std::string load_average() {
  std::string s = read_text("/proc/loadavg");
  size_t third = 0;
  for (int spaces = 0; third < s.size() && spaces < 3; ++third)
    if (s[third] == ' ') ++spaces;
  return s.substr(0, third ? third - 1 : 0);
}

std::string fs_type(const std::string& path) {
  struct statfs sf {};
  if (::statfs(path.c_str(), &sf) != 0) return "?";
  switch (static_cast<unsigned long>(sf.f_type)) {
    case 0xEF53: return "ext4";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794C7630: return "overlayfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(sf.f_type));
      return buf;
    }
  }
}

std::uintmax_t dir_bytes(const std::string& dir) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  return total;
}

// --- targets ---------------------------------------------------------------------------------

struct Target {
  std::string what, measured;
  bool pass;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  g_keep = o.keep;
  if (::access(o.keel.c_str(), X_OK) != 0) usage(("no executable keel at " + o.keel + " (pass --keel PATH)").c_str());

  const int small = o.quick ? 100 : 1000, large = o.quick ? 1000 : 10000;
  const int par_n = o.quick ? 100 : 1000, par = 50, delay_ms = 50;
  const int version_runs = std::max(101, o.runs);  // ~1 s each: a median of 101 is steady on a shared machine

  std::string tmpl = (!o.dir.empty() ? o.dir : self_dir()) + "/foundation_bench.tmp.XXXXXX";
  if (!::mkdtemp(tmpl.data())) die("mkdtemp " + tmpl + ": " + std::strerror(errno));
  g_tmp = fs::canonical(tmpl).string();

  // Machine and binary, for the record.
  std::string version = run_ok(o, {"--version"}).out;
  while (!version.empty() && (version.back() == '\n' || version.back() == '\r')) version.pop_back();
  std::printf("foundation_bench: %s (%s), %u cores, %d runs per figure%s\n", version.c_str(), o.keel.c_str(),
              std::thread::hardware_concurrency(), o.runs, o.quick ? ", QUICK (100/1000 resources)" : "");
  std::printf("temp dir: %s (%s); load average at start: %s\n\n", g_tmp.c_str(), fs_type(g_tmp).c_str(),
              load_average().c_str());
  print_header();

  std::vector<Target> targets;
  auto add_target = [&](std::string what, std::string measured, bool pass) {
    targets.push_back({std::move(what), std::move(measured), pass});
  };
  auto fmt = [](const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return std::string(buf);
  };

  // 1. Startup, beside the floor: what fork, exec and wait cost here for a
  // program that does nothing (a loaded machine shows up there first).
  if (::access("/bin/true", X_OK) == 0) {
    Options floor_options = o;
    floor_options.keel = "/bin/true";
    Figure floor{"floor: /bin/true", {}};
    for (int i = 0; i < version_runs; ++i) floor.runs.push_back(run_ok(floor_options, {}, "", Sampling::none));
    print_row(floor);
  }
  Figure startup{"keel --version", {}};
  for (int i = 0; i < version_runs; ++i) startup.runs.push_back(run_ok(o, {"--version"}, "", Sampling::none));
  print_row(startup);
  add_target("keel --version median < 10 ms", fmt("%.1f ms", startup.med_ms()), startup.med_ms() < 10);
  Figure help{"keel --help", {}};
  for (int i = 0; i < version_runs; ++i) help.runs.push_back(run_ok(o, {"--help"}, "", Sampling::none));
  print_row(help);
  add_target("keel --help median < 10 ms", fmt("%.1f ms", help.med_ms()), help.med_ms() < 10);

  // The README's stack: `keel plan` of what `keel init quickstart` writes
  // (no state yet, so no refresh: parsing, the local provider's checks of
  // its tools, planning, the view). Left out for a keel without `init`.
  {
    const std::string dir = g_tmp + "/quickstart";
    fs::create_directories(dir);
    if (run_keel(o, {"init", "quickstart"}, dir).exit_code == 0) {
      Figure quickstart{"plan, the quickstart (no state)", {}};
      run_ok(o, {"plan"}, dir);  // warm-up
      for (int i = 0; i < o.runs; ++i) quickstart.runs.push_back(run_ok(o, {"plan"}, dir));
      print_row(quickstart);
    } else {
      std::printf("%-40s (this keel has no `keel init`: skipped)\n", "plan, the quickstart (no state)");
    }
  }

  // 2. validate, apply (zero delay) and a no-op plan, at both sizes.
  struct SizeFigures {
    int n;
    Figure validate, apply, plan;
    std::uintmax_t state_bytes = 0;
  };
  std::vector<SizeFigures> sizes;
  for (int n : {small, large}) {
    SizeFigures s{n, {}, {}, {}};
    const std::string label = std::to_string(n);
    std::string stack = make_stack("refs-" + label + "-validate", n, true, "") + "/keel.yaml";

    s.validate.name = "validate, " + label + " resources";
    run_ok(o, {"-f", stack, "validate"});  // warm-up (page cache, plugin binary)
    for (int i = 0; i < o.runs; ++i) s.validate.runs.push_back(run_ok(o, {"-f", stack, "validate"}));
    print_row(s.validate);

    // Each run from scratch in a directory of its own (see the top comment).
    s.apply.name = "apply, " + label + " x 0 ms (create all)";
    std::string dir;
    for (int i = 0; i < (o.no_apply ? 1 : o.runs); ++i) {
      dir = make_stack("refs-" + label + "-run" + std::to_string(i), n, true, "");
      stack = dir + "/keel.yaml";
      Run r = run_ok(o, {"-f", stack, "apply", "--auto-approve"});
      if (!o.no_apply) s.apply.runs.push_back(std::move(r));
    }
    if (!o.no_apply) print_row(s.apply);
    s.state_bytes = dir_bytes(dir + "/.keel");

    // The no-op plan: on the state the last apply left.

    s.plan.name = "plan --no-refresh, " + label + " (no-op)";
    run_ok(o, {"-f", stack, "plan", "--no-refresh"});  // warm-up
    for (int i = 0; i < o.runs; ++i) {
      Run r = run_ok(o, {"-f", stack, "plan", "--no-refresh"});
      if (r.out.find("No changes") == std::string::npos)
        die("the plan after apply is not a no-op (" + std::to_string(n) + " resources):\n" + tail(r.out));
      s.plan.runs.push_back(std::move(r));
    }
    print_row(s.plan);
    sizes.push_back(std::move(s));
  }

  if (o.no_apply) {
    std::printf("\nload average at end: %s\n", load_average().c_str());
    const std::string big = std::to_string(sizes[1].n);
    add_target("validate of " + big + " < 400 ms", fmt("%.1f ms", sizes[1].validate.med_ms()),
               sizes[1].validate.med_ms() < 400);
    add_target("no-op plan of " + big + " < 400 ms", fmt("%.1f ms", sizes[1].plan.med_ms()),
               sizes[1].plan.med_ms() < 400);
    std::printf("\ntargets:\n");
    for (const auto& t : targets)
      std::printf("  %-60s %14s  %s\n", t.what.c_str(), t.measured.c_str(), t.pass ? "PASS" : "MISS");
    cleanup();
    return 0;
  }

  // 3. Parallelism: independent resources whose every operation sleeps.
  Figure parallel{"apply, " + std::to_string(par_n) + " x " + std::to_string(delay_ms) + " ms, --parallelism " +
                      std::to_string(par),
                  {}};
  {
    for (int i = 0; i < o.runs; ++i) {
      const std::string dir = make_stack("delay-" + std::to_string(par_n) + "-run" + std::to_string(i), par_n, false,
                                         std::to_string(delay_ms) + "ms");
      parallel.runs.push_back(
          run_ok(o, {"-f", dir + "/keel.yaml", "apply", "--auto-approve", "--parallelism", std::to_string(par)}));
    }
    print_row(parallel);
  }

  // Derived figures.
  const SizeFigures& S = sizes[0];
  const SizeFigures& L = sizes[1];
  const double ideal_ms = static_cast<double>(par_n) / par * delay_ms;
  const double par_ratio = parallel.med_ms() / ideal_ms;
  const double apply_ratio = L.apply.med_ms() / S.apply.med_ms();

  std::printf("\nload average at end: %s\n", load_average().c_str());
  std::printf("parallel apply: wall %.1f ms, ideal %.1f ms (%d/%d x %d ms), ratio %.3f\n", parallel.med_ms(), ideal_ms,
              par_n, par, delay_ms, par_ratio);
  std::printf("zero-delay apply: %d -> %.1f ms, %d -> %.1f ms, ratio %.2f (x%d resources; linear = %d)\n", S.n,
              S.apply.med_ms(), L.n, L.apply.med_ms(), apply_ratio, L.n / S.n, L.n / S.n);
  for (const auto* s : {&S, &L})
    std::printf("per resource, %d: validate %.1f us, apply %.1f us, no-op plan %.1f us; .keel after apply %.2f MB\n",
                s->n, s->validate.med_ms() * 1000 / s->n, s->apply.med_ms() * 1000 / s->n,
                s->plan.med_ms() * 1000 / s->n, s->state_bytes / 1048576.0);

  const std::string big = std::to_string(L.n);
  add_target("no-op plan of " + big + " < 400 ms", fmt("%.1f ms", L.plan.med_ms()), L.plan.med_ms() < 400);
  add_target("no-op plan of " + big + " < 200 MB peak RSS (tree)", fmt("%.1f MB", L.plan.peak_rss_mb()),
             L.plan.peak_rss_mb() < 200);
  add_target("apply " + std::to_string(par_n) + " x 50 ms @ parallelism 50: wall/ideal <= 1.15",
             fmt("%.3f", par_ratio), par_ratio <= 1.15);
  add_target("apply " + big + " / apply " + std::to_string(S.n) + " (0 ms) <= 12", fmt("%.2f", apply_ratio),
             apply_ratio <= 12);

  std::printf("\ntargets%s:\n", o.quick ? " (QUICK run: sizes are 1/10 of the issue's, figures are not comparable)" : "");
  for (const auto& t : targets)
    std::printf("  %-60s %14s  %s\n", t.what.c_str(), t.measured.c_str(), t.pass ? "PASS" : "MISS");

  cleanup();
  return 0;
}
