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

#include "cli/engine/moves.h"
#include "cli/state/stack_binding.h"
#include "cli/views/error_view.h"
#include "cli/views/render.h"
#include "core/files.h"

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

std::string work_dir_of(const GlobalOptions& g) { return files::dirname(files::absolute(g.file, ".")) + "/.keel"; }

Result<state::State> saved_state(const GlobalOptions& g, const std::string& what_to_do) {
  const std::string work_dir = work_dir_of(g);
  auto loaded = state::read_saved_state(work_dir);
  if (!loaded) return fail(loaded.error());
  if (!*loaded) return fail(ErrorCode::NotFound, fmt::format("no state in {}: {}", work_dir, what_to_do));
  return std::move(**loaded);
}

namespace {

// Takes the state lock and loads the state, on its own thread: parsing a
// large state.json costs as much as parsing the stack, and the two are
// independent until planning.
std::future<Result<state::State>> load_state_async(state::FileStateStore& store, const std::string& command,
                                                   bool read_only) {
  return std::async(std::launch::async, [&store, command, read_only]() -> Result<state::State> {
    if (auto s = store.lock(command); !s) return fail(s.error());
    return store.load(/*compact=*/!read_only);
  });
}

}  // namespace

Result<std::unique_ptr<Workspace>> Workspace::open(Context& ctx, const GlobalOptions& g, const std::string& command,
                                                   bool lock_state, bool check_binding, bool read_only) {
  std::unique_ptr<Workspace> ws(new Workspace());
  ws->work_dir = work_dir_of(g);
  std::future<Result<state::State>> loading;
  // An existing state loads while the stack parses. A new one is made only
  // after the stack validates: an invalid stack leaves no .keel/ behind.
  if (lock_state) ws->store = std::make_unique<state::FileStateStore>(ws->work_dir);
  if (lock_state && files::exists(ws->work_dir)) loading = load_state_async(*ws->store, command, read_only);
  auto loaded = config::load_stack_file(g.file);
  ws->stack = std::move(loaded.stack);
  ws->registry = std::make_unique<providers::Registry>(providers::default_plugin_dirs(ws->work_dir));
  Diagnostics diags = std::move(loaded.diagnostics);
  std::string bad;
  config::ValidateOptions options;
  options.var_overrides = parse_vars(g.vars, bad);
  if (!bad.empty()) return fail(ErrorCode::InvalidConfig, "--var " + bad + ": expected NAME=VALUE");
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
  // No .keel/ yet: a new state (and its key) for what writes; nothing at
  // all for what only reads.
  if (lock_state && !loading.valid() && !read_only) loading = load_state_async(*ws->store, command, false);
  if (loading.valid()) {
    auto st = loading.get();
    if (!st) return fail(st.error());
    ws->state = std::move(*st);
    if (check_binding) {
      if (auto s = state::check_binding(ws->state, ws->stack.project, g.file, ws->work_dir); !s) return fail(s.error());
      const config::Stack& stack = ws->stack;
      auto declares = [&stack](const std::string& resource) {
        const auto dot = resource.find('.');
        return dot != std::string::npos && stack.find_resource(resource.substr(0, dot), resource.substr(dot + 1));
      };
      if (auto s = state::check_unbound(ws->state, g.file, declares); !s) return fail(s.error());
    }
    state::bind(ws->state, ws->stack.project, g.file);  // recorded by the next save
  }
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
