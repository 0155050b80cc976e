#include "cli/commands/workspace.h"

#include <atomic>
#include <iterator>
#include <set>
#include <future>
#include <cstdio>
#include <mutex>
#include <iostream>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands/backend.h"
#include "cli/engine/moves.h"
#include "cli/state/file_store.h"
#include "cli/state/pg_store.h"
#include "cli/config/input_files.h"
#include "cli/state/stack_binding.h"
#include "cli/views/error_view.h"
#include "cli/views/render.h"
#include "core/files.h"
#include "core/time.h"

namespace keel::commands {

std::map<std::string, std::string> parse_vars(const std::vector<std::string>& vars, std::string& bad) {
  std::map<std::string, std::string> out;
  for (const auto& v : vars) {
    auto eq = v.find('=');
    if (eq == std::string::npos || eq == 0) {
      bad = v;
      continue;
    }
    out[v.substr(0, eq)] = v.substr(eq + 1);
  }
  return out;
}

views::ErrorView& error_view(Context& ctx) {
  if (!ctx.error_view) ctx.error_view = views::make_error_view(ctx.global.json, streams_of(ctx));
  return *ctx.error_view;
}

int report_error(Context& ctx, const Error& e) {
  error_view(ctx).error(e);
  return e.code() == ErrorCode::Locked ? kExitLocked : kExitError;
}

bool confirm(Context& ctx, const std::string& question) {
  if (!ctx.in_is_tty) return false;
  write(ctx.dialogue(), "\n" + question + " Only 'yes' will be accepted.\n  Enter a value: ");
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "yes";
}

std::string work_dir_of(const GlobalOptions& g) { return state::work_dir_for(files::absolute(g.file, "."), g.environment); }

namespace {

// The saved state (nullopt: none yet) and where it was looked for.
struct SavedState {
  std::optional<state::State> state;
  std::string where;
};

Result<SavedState> read_saved(const GlobalOptions& g) {
  const std::string work_dir = work_dir_of(g);
  auto outside = backend_outside_stack(g);
  if (!outside) return fail(outside.error());
  // The stack names the state's key (its project), its backend unless one
  // is given outside it, and the environments -e must choose from: parsed,
  // not validated (no plugin is started).
  auto loaded = config::load_stack_file(g.file);
  hide_backend_secrets(loaded.stack);
  if (auto problem = loaded.stack.environment_problem(g.environment); !problem.empty())
    return fail(ErrorCode::InvalidConfig, problem);
  std::optional<BackendChoice> choice = *outside;
  if (!choice || choice->postgres) {
    auto chosen = choose_backend(*outside, loaded.stack, g.environment);
    if (!chosen) return fail(chosen.error());
    choice = std::move(*chosen);
  }
  SavedState saved;
  if (!choice->postgres) {
    auto local = state::read_saved_state(work_dir);
    if (!local) return fail(local.error());
    saved = SavedState{std::move(*local), work_dir};
  } else {
    state::PostgresStateStore store(*choice->postgres, work_dir);
    auto remote = store.read_saved();
    if (!remote) return fail(remote.error());
    saved = SavedState{std::move(*remote), store.where()};
  }
  // exec, deploy, health and backups act on the hosts a state names: only
  // this stack's and this environment's (a copied state file must not send
  // `keel -e staging exec` to production's servers). A stack that does not
  // parse names no project: these commands work from the state alone.
  if (saved.state && !loaded.stack.project.empty())
    if (auto s = state::check_binding(*saved.state, loaded.stack.project, g.file, g.environment, saved.where); !s)
      return fail(s.error());
  return saved;
}

}  // namespace

Result<std::optional<state::State>> read_saved_state(const GlobalOptions& g) {
  auto saved = read_saved(g);
  if (!saved) return fail(saved.error());
  return std::move(saved->state);
}

Result<state::State> saved_state(const GlobalOptions& g, const std::string& what_to_do) {
  auto saved = read_saved(g);
  if (!saved) return fail(saved.error());
  if (!saved->state) return fail(ErrorCode::NotFound, fmt::format("no state in {}: {}", saved->where, what_to_do));
  return std::move(*saved->state);
}

namespace {

struct LockWait {
  std::chrono::milliseconds timeout{0};  // 0: refuse at once
  std::FILE* progress = stderr;          // where "waiting for the lock" goes
};

// Takes the lock, retrying while another keel holds it until `wait.timeout`
// has passed: a line when the wait starts (naming the holder) and every 30 s.
Status lock_waiting(state::StateStore& store, const std::string& command, const LockWait& wait) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now(), deadline = start + wait.timeout;
  auto next_note = start;
  for (;;) {
    auto s = store.lock(command);
    if (s || s.error().code() != ErrorCode::Locked) return s;
    if (wait.timeout.count() == 0)
      return fail(ErrorCode::Locked, s.error().message() + " (--lock-timeout DURATION waits for it)");
    if (Clock::now() >= deadline) return s;
    if (Clock::now() >= next_note) {
      const auto left = std::chrono::ceil<std::chrono::seconds>(deadline - Clock::now()).count();
      std::fprintf(wait.progress, "Waiting for the state lock (%lld s left): %s\n", static_cast<long long>(left),
                   s.error().message().c_str());
      std::fflush(wait.progress);
      next_note = Clock::now() + std::chrono::seconds(30);
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(500), deadline - Clock::now()));
  }
}

// Takes the state lock and loads the state, on its own thread: parsing a
// large state.json costs as much as parsing the stack, and the two are
// independent until planning.
std::future<Result<state::State>> load_state_async(state::StateStore& store, const std::string& command,
                                                   bool read_only, const LockWait& wait) {
  return std::async(std::launch::async, [&store, command, read_only, wait]() -> Result<state::State> {
    if (auto s = lock_waiting(store, command, wait); !s) return fail(s.error());
    // Before the load, which may save (a crashed run's journal compacted)
    // and so clear the mark.
    auto retired = store.is_retired();
    if (!retired) return fail(retired.error());
    if (*retired) return fail(state::retired_error(store.where()));
    return store.load(/*compact=*/!read_only);
  });
}

}  // namespace

// A state in .keel/ that a backend elsewhere would leave behind: a stack
// that gained `backend:` (or runs with KEEL_BACKEND) while its state is
// still local would plan to create everything again. Refused until the
// state is migrated (or the local one moved away).
Status check_no_stranded_local_state(const state::State& chosen, const std::string& work_dir,
                                     const state::StateStore& store) {
  const bool chosen_empty = chosen.serial == 0 && chosen.resources.empty();
  if (!chosen_empty) return {};
  for (const char* name : {"state.json", "state.journal"}) {
    const std::string path = work_dir + "/" + name;
    if (!files::exists_no_follow(path)) continue;
    return fail(ErrorCode::Conflict,
                fmt::format("the state is in {}, but this run keeps its state in {}, which holds none: keel would "
                            "plan to create everything again. Copy it there with `keel state migrate --from local "
                            "--to backend`, or move {} away to start over",
                            path, store.where(), path));
  }
  return {};
}

namespace {

// A stack applied without an environment keeps its state in .keel/: an
// environment's first run (a new `environments:` block, a KEEL_ENV left set
// in a CI job) would plan creating everything again beside it, under
// another project name.
Status check_no_state_left_outside_environments(const state::State& state, const config::Stack& stack,
                                                const GlobalOptions& g) {
  if (g.environment.empty() || state.serial > 0 || !state.resources.empty()) return {};
  const std::string outside = state::work_dir_for(files::absolute(g.file, "."), "");
  if (!state::holds_local_state(outside)) return {};
  return fail(ErrorCode::Conflict,
              fmt::format("environment `{}` (-e or KEEL_ENV) has no state yet, and {} holds the state this stack "
                          "was applied with without an environment: planning `{}` would create everything again "
                          "beside it. {} that state into the environment it belongs to "
                          "(docs/environments.md#moving-a-stack-into-environments)",
                          g.environment, outside + "/state.json", g.environment,
                          stack.environments.empty() ? "Run without -e and KEEL_ENV to use it, or move" : "Move"));
}

}  // namespace

Result<std::unique_ptr<Workspace>> Workspace::open(Context& ctx, const GlobalOptions& g, const std::string& command,
                                                   bool lock_state, bool check_binding, bool read_only) {
  std::unique_ptr<Workspace> ws(new Workspace());
  ws->work_dir = work_dir_of(g);
  auto outside = backend_outside_stack(g);
  if (!outside) return fail(outside.error());
  LockWait wait;
  wait.progress = ctx.err;
  if (!g.lock_timeout.empty() && g.lock_timeout != "0") {
    auto timeout = timeutil::parse_duration(g.lock_timeout);
    if (!timeout) return fail(timeout.error().with_context("--lock-timeout"));
    wait.timeout = *timeout;
  }
  // A local state loads while the stack parses, unless the command line or
  // the environment chose another backend (the stack may yet choose one:
  // then the load was wasted). A new one is made only after the stack
  // validates: an invalid stack leaves no .keel/ behind.
  // Declared before the future: an early return destroys the future first,
  // which waits for the load that uses the store.
  const bool maybe_local = !*outside || !(*outside)->postgres;
  std::unique_ptr<state::StateStore> local_store;
  std::future<Result<state::State>> loading;
  if (lock_state && maybe_local) local_store = make_store(BackendChoice{}, ws->work_dir);
  // Only where a key or a state exists: locking an empty .keel/ would make
  // a key there, which a PostgreSQL backend would then take for the team's.
  // (Where the key exists, the load overlapping the parse saves the ~2 ms
  // of loading libcrypto for it.)
  // The guess does not wait for a lock: if the stack then chooses .keel/
  // and it was locked, the load is made again with --lock-timeout's wait.
  if (local_store && (state::holds_local_state(ws->work_dir) || files::exists_no_follow(ws->work_dir + "/state.key")))
    loading = load_state_async(*local_store, command, read_only, LockWait{std::chrono::milliseconds(0), ctx.err});
  auto loaded = config::load_stack_file(g.file);
  hide_backend_secrets(loaded.stack);  // before validation starts the plugins
  ws->stack = std::move(loaded.stack);
  ws->registry = std::make_unique<providers::Registry>(providers::default_plugin_dirs(ws->work_dir));
  Diagnostics diags = std::move(loaded.diagnostics);
  std::string bad;
  config::ValidateOptions options;
  options.var_overrides = parse_vars(g.vars, bad);
  if (!bad.empty()) return fail(ErrorCode::InvalidConfig, "--var " + bad + ": expected NAME=VALUE");
  options.environment = g.environment;
  // Together no more than one stack's worth: a saved plan keeps them all.
  size_t var_file_bytes = 0;
  auto use_var_file = [&](config::VarFileResult var_file, const std::string& name) {
    const bool was_within = var_file_bytes <= config::kMaxStackBytes;
    var_file_bytes += var_file.text.size();
    if (was_within && var_file_bytes > config::kMaxStackBytes)
      diags.error({name, 0, 0}, fmt::format("the var files hold more than {} MiB together", config::kMaxStackBytes >> 20));
    diags.add(std::move(var_file.diagnostics));
    for (auto& value : var_file.values) options.var_file_values.push_back(std::move(value));
    ws->var_files.emplace_back(name, std::move(var_file.text));
  };
  for (const auto& path : g.var_files) use_var_file(config::load_var_file(path), path);
  for (const auto& [name, text] : g.saved_var_files) use_var_file(config::load_var_text(text, name), name);
  {  // even after structural errors: every problem is reported at once
    auto validated = config::validate(ws->stack, ws->registry->schema_source(), options);
    ws->config = std::move(validated.config);
    ws->config.stack = &ws->stack;
    diags.add(std::move(validated.diagnostics));
  }
  if (diags.has_errors()) {
    error_view(ctx).invalid_stack(diags);
    return fail(ErrorCode::InvalidConfig, "the stack " + g.file + " is not valid");
  }
  error_view(ctx).warnings(diags);
  if (!lock_state) return ws;
  auto choice = choose_backend(*outside, ws->stack, g.environment);
  if (!choice) return fail(choice.error());
  if (choice->postgres) {
    // The guess was wrong: its result (a state, or a refusal such as
    // "migrated away") is not this run's.
    if (loading.valid()) (void)loading.get();
    local_store.reset();  // its lock: this run does not write there
    ws->store = make_store(*choice, ws->work_dir);
    loading = load_state_async(*ws->store, command, read_only, wait);
    auto st = loading.get();
    if (!st) return fail(st.error());
    if (auto s = check_no_stranded_local_state(*st, ws->work_dir, *ws->store); !s) return fail(s.error());
    ws->state = std::move(*st);
  } else {
    ws->store = std::move(local_store);
    // No .keel/ yet: a new state (and its key) for what writes; nothing at
    // all for what only reads.
    if (!loading.valid() && !read_only) loading = load_state_async(*ws->store, command, false, wait);
    if (!loading.valid()) return ws;
    auto st = loading.get();
    if (!st && st.error().code() == ErrorCode::Locked && wait.timeout.count() > 0)
      st = load_state_async(*ws->store, command, read_only, wait).get();
    if (!st) return fail(st.error());
    ws->state = std::move(*st);
  }
  if (auto s = check_no_state_left_outside_environments(ws->state, ws->stack, g); !s) return fail(s.error());
  if (check_binding) {
    if (auto s = state::check_binding(ws->state, ws->stack.project, g.file, g.environment, ws->work_dir); !s)
      return fail(s.error());
    const config::Stack& stack = ws->stack;
    auto declares = [&stack](const std::string& resource) {
      const auto dot = resource.find('.');
      return dot != std::string::npos && stack.find_resource(resource.substr(0, dot), resource.substr(dot + 1));
    };
    if (auto s = state::check_unbound(ws->state, g.file, declares); !s) return fail(s.error());
  }
  state::bind(ws->state, ws->stack.project, g.file, g.environment);  // recorded by the next save
  return ws;
}

Result<engine::ProviderMap> Workspace::providers_for(const std::vector<std::string>& addresses) {
  std::map<std::string, std::string> blocks;
  for (const auto& a : addresses) {
    if (const auto* inst = config.find(a)) blocks[inst->provider_name] = inst->provider_type;
    else if (const auto* r = state.find(a)) blocks[r->provider] = r->provider_type;
  }
  return registry->configure(config, blocks, work_dir);
}

namespace {

// lifecycle.ignore_changes of what the stack declares for the state's
// `address`: under its new name when a `moved:` entry or a block that
// gained or lost `count` renames it (worked out once, when first needed).
class IgnoredAttributes {
 public:
  IgnoredAttributes(const config::Configuration& config, const state::State& state) : config_(config), state_(state) {}

  std::set<std::string> of(const std::string& address) {
    const config::Instance* inst = config_.find(address);
    if (!inst) {
      if (!renamed_) renamed_ = renames();
      if (auto it = renamed_->find(address); it != renamed_->end()) inst = config_.find(it->second);
    }
    std::set<std::string> out;
    if (inst)
      for (const auto& [name, mark] : inst->block->lifecycle.ignore_changes) out.insert(name);
    return out;
  }

 private:
  std::map<std::string, std::string> renames() const {
    std::map<std::string, std::string> out;
    state::State moved = state_;
    if (auto moves = engine::apply_moves(config_, moved))  // a refused move: plan says so, not this
      for (const auto& m : *moves) out[m.from] = m.to;
    return out;
  }

  const config::Configuration& config_;
  const state::State& state_;
  std::optional<std::map<std::string, std::string>> renamed_;
};

// The attributes that changed outside keel, but those the stack ignores.
std::string describe_drift(const state::ResourceState& before, const nlohmann::json& after,
                           const std::set<std::string>& ignored) {
  std::string changes;
  for (auto it = after.begin(); it != after.end(); ++it) {
    if (ignored.count(it.key())) continue;
    auto old = before.attributes.find(it.key());
    if (old != before.attributes.end() && *old == it.value()) continue;
    bool secret = before.sensitive.count(it.key()) > 0;
    changes += (changes.empty() ? "" : ", ") + it.key() + " " +
               (secret ? std::string(views::kSensitive)
                       : (old == before.attributes.end() ? "null" : views::render_value(*old)) + " -> " +
                             views::render_value(it.value()));
  }
  return changes;
}

// Moves the first address of each kind to the front, keeping the order
// otherwise. A provider reads a kind with one list call that serves every
// read of it, so the reads of 50 servers all wait on one call: in state's
// order they would fill every worker, and the kinds after them (subnets)
// would start their calls only once it answered. Read first, one of each
// kind sends its call in the first round.
void first_of_each_kind(std::vector<std::string>& addresses, const state::State& state) {
  std::set<std::string> seen;
  std::vector<std::string> first, rest;
  for (auto& address : addresses)
    (seen.insert(state.resources.at(address).kind).second ? first : rest).push_back(std::move(address));
  first.insert(first.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
  addresses = std::move(first);
}

}  // namespace

Result<std::vector<std::string>> Workspace::refresh(const std::vector<std::string>& targets, int parallelism,
                                                    const RefreshProgress& progress) {
  std::vector<std::string> addresses;
  for (const auto& [address, r] : state.resources) {
    if (r.pending()) continue;
    bool wanted = targets.empty();
    for (const auto& t : targets) wanted |= address == t || address.rfind(t + "[", 0) == 0;
    if (wanted) addresses.push_back(address);
  }
  if (addresses.empty()) return std::vector<std::string>{};
  first_of_each_kind(addresses, state);
  auto providers = providers_for(addresses);
  if (!providers) return fail(providers.error());
  std::mutex mu;
  std::vector<std::string> drift;
  std::optional<Error> first_error;
  IgnoredAttributes ignored(config, state);  // used under `mu`
  std::atomic<size_t> next{0};
  size_t done = 0;
  if (progress) progress(0, addresses.size());
  auto worker = [&] {
    for (size_t i = next++; i < addresses.size(); i = next++) {
      state::ResourceState r;
      {
        std::lock_guard lock(mu);
        r = state.resources.at(addresses[i]);
      }
      auto got = providers->at(r.provider)->read({r.kind, r.id, r.attributes, {}, addresses[i]});
      std::lock_guard lock(mu);
      if (progress) progress(++done, addresses.size());
      if (!got) {
        if (!first_error) first_error = got.error().with_context("refresh " + r.address);
        continue;
      }
      if (!got->found) {
        drift.push_back(r.address + ": deleted outside keel");
        state.resources.erase(r.address);
        continue;
      }
      if (auto d = describe_drift(r, got->attributes, ignored.of(r.address)); !d.empty())
        drift.push_back(r.address + ": " + d);
      for (auto it = got->attributes.begin(); it != got->attributes.end(); ++it)
        state.resources[r.address].attributes[it.key()] = it.value();
    }
  };
  std::vector<std::thread> pool;
  int n = std::max(1, std::min<int>(parallelism, static_cast<int>(addresses.size())));
  for (int i = 0; i < n; ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (first_error) return fail(*first_error);
  std::sort(drift.begin(), drift.end());
  return drift;
}

}  // namespace keel::commands
