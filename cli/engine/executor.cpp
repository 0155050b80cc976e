#include "cli/engine/executor.h"

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>

#include "cli/engine/secret_mask.h"

namespace keel::engine {

namespace {

using Clock = std::chrono::steady_clock;

// One run of apply: the ready queue, the workers and the live state.
class Run {
 public:
  Run(const Plan& plan, const config::Configuration* config, state::State& state, state::StateJournal& journal,
      const ProviderMap& providers, ApplyHooks& hooks, const ApplyOptions& options)
      : plan_(plan), config_(config), state_(state), journal_(journal), providers_(providers), hooks_(hooks),
        options_(options) {}

  ApplyResult execute() {
    if (auto s = record_dependencies(); !s) {
      result_.errors.push_back("record dependencies: " + s.error().message());
      for (const auto& c : plan_.changes) result_.skipped += c.action != Action::NoOp;
      return result_;
    }
    build_graph();
    std::thread ticker([this] { tick(); });
    {
      std::lock_guard lock(mu_);
      spawn_needed();
      // Nothing ready at all (a cycle): one worker, to find the run stuck.
      if (workers_.empty() && remaining_ > 0) start_worker();
      if (workers_.empty() && remaining_ > 0) {
        stopping_ = true;
        result_.errors.push_back("cannot start a thread to apply the changes (the system's thread limit?)");
      }
    }
    join_workers();
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    tick_cv_.notify_all();
    ticker.join();
    result_.skipped = static_cast<int>(nodes_.size()) - result_.succeeded - result_.failed;
    return result_;
  }

 private:
  // Live threads at most, whatever --parallelism: changes that only wait each
  // keep one (a worker runs one change at a time).
  static constexpr size_t kMaxWorkers = 256;

  struct Node {
    const ResourceChange* change;
    std::vector<size_t> dependents;
    size_t waiting = 0;
    Clock::time_point started;
    int reported_ticks = 0;
    bool running = false;
    bool only_waiting = false;  // said so through its WaitingFn: holds no slot
    size_t height = 0;          // compute_heights()
  };

  // What an unchanged resource depends on may still have changed (a
  // `depends_on` added, a reference moved to another resource): state keeps
  // the stack's current edges, which later deletes and destroys order by.
  Status record_dependencies() {
    for (const auto& c : plan_.changes) {
      if (c.action != Action::NoOp) continue;
      auto it = state_.resources.find(c.address);
      if (it == state_.resources.end() || it->second.pending()) continue;
      std::vector<std::string> deps(c.dependencies.begin(), c.dependencies.end());
      if (it->second.dependencies == deps) continue;
      state::ResourceState r = it->second;
      r.dependencies = std::move(deps);
      if (auto s = put(std::move(r)); !s) return s;
    }
    return {};
  }

  void build_graph() {
    std::map<std::string, size_t> index;
    for (const auto& c : plan_.changes) {
      if (c.action == Action::NoOp) continue;
      index[c.address] = nodes_.size();
      nodes_.push_back({&c, {}, 0, {}, 0, false, false, 0});
    }
    auto edge = [&](size_t from, const std::string& dep) {
      auto it = index.find(dep);
      if (it == index.end() || it->second == from) return;
      nodes_[it->second].dependents.push_back(from);
      ++nodes_[from].waiting;
    };
    // `first` must finish before `then` starts.
    auto order = [&](size_t first, size_t then) {
      nodes_[first].dependents.push_back(then);
      ++nodes_[then].waiting;
    };
    // What each change used according to state, among the changes.
    auto used_by_state = [&](size_t i, auto&& each) {
      const auto* r = state_.find(nodes_[i].change->address);
      if (!r) return;
      for (const auto& d : r->dependencies)
        if (auto it = index.find(d); it != index.end() && it->second != i) each(it->second);
    };
    for (size_t i = 0; i < nodes_.size(); ++i) {
      for (const auto& d : nodes_[i].change->dependencies) edge(i, d);
      // A resource that is going away waits for whatever still uses it
      // according to state (an update that drops the reference, say).
      if (nodes_[i].change->action != Action::Delete)
        used_by_state(i, [&](size_t d) {
          if (nodes_[d].change->action == Action::Delete) order(i, d);
        });
    }
    // A replaced resource is destroyed before it is made again: what is being
    // deleted and used it goes first, as in a destroy. Unless that deleted
    // resource must itself wait for the replacement (an update it waits for
    // needs the new resource's values): then the plan cannot order both,
    // and the replaced resource is destroyed while its user still stands.
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].change->action != Action::Delete) continue;
      used_by_state(i, [&](size_t x) {
        if (nodes_[x].change->action == Action::Replace && !reaches(x, i)) order(i, x);
      });
    }
    compute_heights();
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i].waiting == 0) make_ready(i);
    remaining_ = nodes_.size();
    index_ = std::move(index);
  }

  // Each change's height: the changes in the longest chain that waits for
  // it (0 when none does).
  void compute_heights() {
    std::vector<int> state(nodes_.size(), 0);  // 0 new, 1 on the path, 2 done
    // Iterative post-order along dependents; a cycle (which stuck() reports)
    // is cut where it closes.
    for (size_t root = 0; root < nodes_.size(); ++root) {
      if (state[root]) continue;
      std::vector<std::pair<size_t, size_t>> stack{{root, 0}};
      state[root] = 1;
      while (!stack.empty()) {
        auto& [n, next] = stack.back();
        if (next < nodes_[n].dependents.size()) {
          size_t d = nodes_[n].dependents[next++];
          if (!state[d]) {
            state[d] = 1;
            stack.push_back({d, 0});
          }
          continue;
        }
        size_t height = 0;
        for (size_t d : nodes_[n].dependents)
          if (state[d] == 2) height = std::max(height, nodes_[d].height + 1);
        nodes_[n].height = height;
        state[n] = 2;
        stack.pop_back();
      }
    }
  }

  // Called with mu_ held (or before the workers start): queues a change
  // whose dependencies are done. The ones that more changes wait for in a
  // row go first: when 50 servers that a load balancer waits for and a
  // server group that nothing waits for become ready together, the
  // servers' requests are not the ones that queue behind the group's for
  // the provider's request budget. Equal heights keep their order.
  void make_ready(size_t i) {
    auto at = std::find_if(ready_.begin(), ready_.end(), [&](size_t r) { return nodes_[r].height < nodes_[i].height; });
    ready_.insert(at, i);
  }

  // A worker: takes ready changes one at a time while a slot is free. The
  // pool grows (spawn_needed) when the changes in flight only wait, so the
  // slots, not the threads, bound the changes that make requests.
  void work() {
    std::unique_lock lock(mu_);
    for (;;) {
      // After a failure no new change starts: idle workers leave, and the
      // ones in flight finish their change first.
      cv_.wait(lock, [&] { return remaining_ == 0 || stopping_ || can_start() || stuck(); });
      if (stuck()) {
        // Nothing runs and nothing can start: the plan's graph has a cycle
        // (stale dependencies in state). Stop rather than wait for ever.
        stopping_ = true;
        result_.errors.push_back("internal: " + std::to_string(remaining_) +
                                 " changes wait on each other in a cycle; nothing more was started");
        break;
      }
      if (remaining_ == 0 || stopping_) break;
      if (interrupt_requested()) break;
      size_t i = ready_.front();
      ready_.pop_front();
      Node& node = nodes_[i];
      node.started = Clock::now();
      node.running = true;
      ++in_flight_;
      ++busy_;
      --idle_;
      lock.unlock();
      hooks_.on_start(*node.change);
      std::string error = run_change(*node.change);
      auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - node.started);
      hooks_.on_finish(*node.change, error, elapsed);
      lock.lock();
      ++idle_;
      finish(i, error);
      // More idle workers than slots: this one is not needed again.
      if (idle_ > slots()) break;
    }
    --idle_;
    --live_;
    cv_.notify_all();
  }

  size_t slots() const { return static_cast<size_t>(std::max(1, options_.parallelism)); }

  // Called with mu_ held.
  bool can_start() const { return !ready_.empty() && busy_ < slots(); }

  // Called with mu_ held: starts the workers that the ready changes need
  // and the idle workers cannot serve, up to kMaxWorkers.
  void spawn_needed() {
    if (stopping_ || busy_ >= slots()) return;
    const size_t startable = std::min(ready_.size(), slots() - busy_);
    while (idle_ < startable && live_ < kMaxWorkers)
      if (!start_worker()) return;
  }

  // Called with mu_ held. Counted at once, so that no other call starts one
  // for the same change; uncounted when the system refuses a thread (the
  // workers already running carry on: fewer at once, nothing lost).
  bool start_worker() {
    ++idle_;
    ++live_;
    try {
      workers_.emplace_back([this] { work(); });
      return true;
    } catch (const std::system_error&) {
      --idle_;
      --live_;
      return false;
    }
  }

  // Joins every worker, those started while joining included: a worker is
  // only ever started by a live one (or while its change runs), so once all
  // of them are joined no more can come.
  void join_workers() {
    for (size_t i = 0;; ++i) {
      std::thread t;
      {
        std::lock_guard lock(mu_);
        if (i == workers_.size()) return;
        t = std::move(workers_[i]);
      }
      t.join();
    }
  }

  // The change `i` only waits from now on: its slot goes to another change.
  void only_waiting(size_t i) {
    std::lock_guard lock(mu_);
    Node& node = nodes_[i];
    if (!node.running || node.only_waiting) return;
    node.only_waiting = true;
    --busy_;
    spawn_needed();
    cv_.notify_all();
  }

  provider::WaitingFn waiting_of(const ResourceChange& c) {
    auto it = index_.find(c.address);
    if (it == index_.end()) return {};
    return [this, i = it->second] { only_waiting(i); };
  }

  // For a provider's long waits: the person asked keel to stop (the flag
  // is read without mu_: a provider's thread asks while the executor runs).
  provider::StoppingFn stopping() const {
    if (!options_.interrupted) return {};
    return [flag = options_.interrupted] { return flag->load(); };
  }

  // Whether `to` waits, directly or not, for `from` (a path along dependents).
  bool reaches(size_t from, size_t to) const {
    std::vector<size_t> todo{from};
    std::vector<bool> seen(nodes_.size());
    while (!todo.empty()) {
      size_t n = todo.back();
      todo.pop_back();
      if (n == to) return true;
      if (seen[n]) continue;
      seen[n] = true;
      for (size_t d : nodes_[n].dependents) todo.push_back(d);
    }
    return false;
  }

  // Called with mu_ held: the first thread to see the request stops the run.
  bool interrupt_requested() {
    if (!options_.interrupted || !options_.interrupted->load()) return false;
    stopping_ = true;
    result_.interrupted = true;
    cv_.notify_all();
    return true;
  }

  bool stuck() const { return !stopping_ && remaining_ > 0 && in_flight_ == 0 && ready_.empty(); }

  void finish(size_t i, const std::string& error) {
    Node& node = nodes_[i];
    node.running = false;
    if (!node.only_waiting) --busy_;
    --in_flight_;
    --remaining_;
    if (!error.empty()) {
      ++result_.failed;
      result_.errors.push_back(error);
      stopping_ = true;
    } else {
      ++result_.succeeded;
      for (size_t d : node.dependents)
        if (--nodes_[d].waiting == 0) make_ready(d);
    }
    spawn_needed();
    cv_.notify_all();
  }

  // "still creating... (20s)" for slow changes.
  void tick() {
    std::unique_lock lock(mu_);
    while (!done_) {
      tick_cv_.wait_for(lock, std::chrono::milliseconds(200));
      interrupt_requested();  // idle workers wait on cv_: wake them to leave
      auto now = Clock::now();
      for (auto& node : nodes_) {
        if (!node.running) continue;
        auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(now - node.started);
        int ticks = static_cast<int>(elapsed / options_.still_running_every);
        if (ticks > node.reported_ticks) {
          node.reported_ticks = ticks;
          hooks_.on_still_running(*node.change, elapsed);
        }
      }
    }
  }

  // ---- one change ----

  std::optional<config::Value> lookup(const std::string& address, const std::string& attribute) {
    std::lock_guard lock(state_mu_);
    return state_attribute(state_, address, attribute);
  }

  Result<DesiredAttributes> desired(const ResourceChange& c) {
    const config::Instance* inst = config_ ? config_->find(c.address) : nullptr;
    if (!inst) return fail(ErrorCode::Internal, "no configuration for " + c.address);
    auto d = desired_attributes(*config_, *inst, [this](const std::string& a, const std::string& attr) {
      return lookup(a, attr);
    });
    if (!d) return d;
    // An update leaves the ignored attributes as they are (the plan did).
    if (c.action == Action::Update) keep_ignored(*inst, current(c.address), *d);
    if (!d->unknown.empty())
      return fail(ErrorCode::Internal, *d->unknown.begin() + " is still unknown after its dependencies were applied");
    for (const auto& a : inst->schema->attributes)
      if (a.sensitive) d->sensitive.insert(a.name);
    return d;
  }

  state::ResourceState base_record(const ResourceChange& c) {
    state::ResourceState r;
    r.address = c.address;
    r.kind = c.kind;
    r.provider = c.provider;
    r.provider_type = c.provider_type;
    r.dependencies.assign(c.dependencies.begin(), c.dependencies.end());
    return r;
  }

  Status put(state::ResourceState r) {
    if (auto s = journal_.record_put(r); !s) return s;
    std::lock_guard lock(state_mu_);
    state_.resources[r.address] = std::move(r);
    return {};
  }

  Status remove(const std::string& address) {
    if (auto s = journal_.record_remove(address); !s) return s;
    std::lock_guard lock(state_mu_);
    state_.resources.erase(address);
    return {};
  }

  state::ResourceState current(const std::string& address) {
    std::lock_guard lock(state_mu_);
    return state_.resources.at(address);
  }

  Status create(const ResourceChange& c, provider::Provider& p, const DesiredAttributes& d, const SecretMask& mask) {
    provider::ResourceTags tags{options_.project, c.address};
    state::ResourceState r = base_record(c);
    r.sensitive = d.sensitive;
    r.sensitive_paths = d.sensitive_paths;
    auto progress = progress_of(c, mask);
    if (c.adopt) {  // a crashed run may have created it already
      auto found = p.find({c.kind, tags, "", d.values, progress});
      if (!found) return fail(found.error().with_context("find"));
      if (found->found) {
        r.id = found->id;
        r.attributes = found->attributes;
        if (auto s = put(r); !s) return s;
        return update_if_drifted(c, p, d, r, mask);
      }
    }
    if (auto s = journal_.record_intent(r); !s) return s;
    {
      std::lock_guard lock(state_mu_);
      state_.resources[r.address] = r;
    }
    auto created = p.create({c.kind, tags, d.values, progress, waiting_of(c), stopping()});
    if (!created) {
      // A refusal made nothing: forget the intent, so state holds no trace
      // of it. Any other failure may have made something; the intent stays
      // for the next run to find and adopt.
      if (nothing_was_made(created.error().code()))
        if (auto s = remove(c.address); !s) return s;
      return fail(created.error());
    }
    r.id = created->id;
    r.attributes = created->attributes;
    return put(std::move(r));
  }

  static bool nothing_was_made(ErrorCode code) {
    return code == ErrorCode::InvalidConfig || code == ErrorCode::PermissionDenied || code == ErrorCode::NotFound ||
           code == ErrorCode::Conflict;
  }

  // An adopted resource may differ from the configuration (the crash came
  // before its last update); bring it in line.
  Status update_if_drifted(const ResourceChange& c, provider::Provider& p, const DesiredAttributes& d,
                           state::ResourceState r, const SecretMask& mask) {
    bool differs = false;
    for (auto it = d.values.begin(); it != d.values.end(); ++it)
      differs |= !r.attributes.contains(it.key()) || r.attributes.at(it.key()) != it.value();
    if (!differs) return {};
    auto updated =
        p.update({c.kind, r.id, {options_.project, c.address}, r.attributes, d.values, progress_of(c, mask), waiting_of(c),
                  stopping()});
    if (!updated) return fail(updated.error().with_context("update"));
    r.attributes = updated->attributes;
    return put(std::move(r));
  }

  Status update(const ResourceChange& c, provider::Provider& p, const DesiredAttributes& d, const SecretMask& mask) {
    state::ResourceState r = current(c.address);
    auto updated =
        p.update({c.kind, r.id, {options_.project, c.address}, r.attributes, d.values, progress_of(c, mask), waiting_of(c),
                  stopping()});
    if (!updated) return fail(updated.error());
    r.attributes = updated->attributes;
    r.sensitive = d.sensitive;
    r.sensitive_paths = d.sensitive_paths;
    r.dependencies.assign(c.dependencies.begin(), c.dependencies.end());
    return put(std::move(r));
  }

  Status destroy(const ResourceChange& c, provider::Provider& p, const SecretMask& mask) {
    state::ResourceState r = current(c.address);
    if (r.pending()) return destroy_interrupted(c, p, r, mask);
    if (auto s = p.remove({c.kind, r.id, r.attributes, progress_of(c, mask), waiting_of(c), c.address}); !s) return s;
    return remove(c.address);
  }

  // An intent without an id: a crashed run's create, which may or may not
  // have made the object. Forgetting the intent unseen would orphan what it
  // made, so the provider looks it up by keel's tags first, as apply's
  // adoption does; the intent goes only once the object is gone or was
  // never made, and stays when the lookup fails.
  Status destroy_interrupted(const ResourceChange& c, provider::Provider& p, const state::ResourceState& r,
                             const SecretMask& mask) {
    // Providers may need the block's settings to look (a file's path); a
    // stack that still declares it has them (keel destroy).
    const bool declared = config_ && config_->find(c.address);
    provider::Attributes settings = r.attributes;
    if (declared)
      if (auto d = desired(c)) settings = d->values;
    auto found = p.find({c.kind, {options_.project, c.address}, "", settings, progress_of(c, mask)});
    if (!found) {
      Error e = found.error().with_context("find what an interrupted create made");
      if (declared) return fail(std::move(e));
      return fail(Error(e.code(), e.message() + "; its block is gone from the stack: put it back and run apply (it is "
                                                "adopted), or `keel state rm " + c.address +
                                                    "` to forget it and keep whatever it made"));
    }
    if (found->found)
      if (auto s = p.remove({c.kind, found->id, found->attributes, progress_of(c, mask), waiting_of(c), c.address}); !s)
        return s;
    return remove(c.address);
  }

  // Progress lines from the provider, with the resource's secrets masked.
  std::function<void(const std::string&)> progress_of(const ResourceChange& c, const SecretMask& mask) {
    return [this, &c, &mask](const std::string& m) { hooks_.on_progress(c, mask.apply(m)); };
  }

  // The resource's sensitive values, old (state) and new (desired), which a
  // provider's message may quote back.
  SecretMask mask_of(const ResourceChange& c, const DesiredAttributes* d) {
    SecretMask mask;
    if (d) mask.add_attributes(d->values, d->sensitive, d->sensitive_paths);
    std::lock_guard lock(state_mu_);
    if (const state::ResourceState* r = state_.find(c.address))
      mask.add_attributes(r->attributes, r->sensitive, r->sensitive_paths);
    return mask;
  }

  Status apply_change(const ResourceChange& c, provider::Provider& p) {
    Result<DesiredAttributes> d = c.action == Action::Delete ? DesiredAttributes{} : desired(c);
    if (!d) return fail(d.error());
    const SecretMask mask = mask_of(c, c.action == Action::Delete ? nullptr : &*d);
    Status s = apply_change(c, p, *d, mask);
    if (s || mask.empty()) return s;
    return fail(Error(s.error().code(), mask.apply(s.error().message())));
  }

  Status apply_change(const ResourceChange& c, provider::Provider& p, const DesiredAttributes& d,
                      const SecretMask& mask) {
    switch (c.action) {
      case Action::Delete: return destroy(c, p, mask);
      case Action::Create: return create(c, p, d, mask);
      case Action::Update: return update(c, p, d, mask);
      case Action::Replace:
        if (auto s = destroy(c, p, mask); !s) return s;
        return create(c, p, d, mask);
      default: return {};
    }
  }

  std::string run_change(const ResourceChange& c) {
    auto it = providers_.find(c.provider);
    Status s = it == providers_.end()
                   ? Status(fail(ErrorCode::InvalidConfig, "provider `" + c.provider + "` is not configured"))
                   : apply_change(c, *it->second);
    if (s) return {};
    std::string where;
    if (s.error().code() == ErrorCode::InvalidConfig && config_)
      if (const config::Instance* inst = config_->find(c.address))
        where = " (" + blamed_mark(*inst->block, s.error().message()).describe() + ")";
    return std::string(to_string(c.action)) + " " + c.address + where + ": " + s.error().message();
  }

  // Where in the stack a refused value sits: the attribute the provider's
  // message names, in any case ("You specified an invalid size ...",
  // "Version 4 is not available"), else the block.
  static SourceMark blamed_mark(const config::ResourceBlock& block, const std::string& text) {
    std::string message = text;
    for (char& ch : message) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    size_t best = std::string::npos;
    SourceMark mark = block.mark;
    for (const auto& [name, m] : block.marks) {
      for (size_t at = message.find(name); at != std::string::npos; at = message.find(name, at + 1)) {
        auto word = [&](size_t i) { return std::isalnum(static_cast<unsigned char>(message[i])) || message[i] == '_'; };
        bool whole = (at == 0 || !word(at - 1)) && (at + name.size() == message.size() || !word(at + name.size()));
        if (whole && at < best) {
          best = at;
          mark = m;
        }
        if (whole) break;
      }
    }
    return mark;
  }

  const Plan& plan_;
  const config::Configuration* config_;
  state::State& state_;
  state::StateJournal& journal_;
  const ProviderMap& providers_;
  ApplyHooks& hooks_;
  const ApplyOptions& options_;

  std::mutex mu_;  // the queue and the nodes
  std::condition_variable cv_, tick_cv_;
  std::vector<Node> nodes_;
  std::deque<size_t> ready_;
  std::map<std::string, size_t> index_;  // node by address; fixed once built
  std::vector<std::thread> workers_;
  size_t remaining_ = 0, in_flight_ = 0;
  size_t busy_ = 0;  // changes in flight holding a slot (not only waiting)
  size_t idle_ = 0;  // workers started and not running a change
  size_t live_ = 0;  // workers started and not yet returned (the cap counts these)
  bool stopping_ = false, done_ = false;
  ApplyResult result_;

  std::mutex state_mu_;  // state_.resources
};

}  // namespace

ApplyResult apply_plan(const Plan& plan, const config::Configuration* config, state::State& state,
                       state::StateJournal& journal, const ProviderMap& providers, ApplyHooks& hooks,
                       const ApplyOptions& options) {
  return Run(plan, config, state, journal, providers, hooks, options).execute();
}

Status update_outputs(const config::Configuration& config, state::State& state) {
  nlohmann::json outputs = nlohmann::json::object();
  std::set<std::string> sensitive;
  auto lookup = [&](const std::string& address, const std::string& attribute) {
    return state_attribute(state, address, attribute);
  };
  for (const auto& o : config.stack->outputs) {
    auto v = config::evaluate(o.value, config.output_context(lookup));
    if (!v) return fail(v.error().with_context("output " + o.name));
    if (v->unknown) continue;  // its resource failed or was not applied
    outputs[o.name] = v->value;
    if (o.sensitive || v->sensitive) sensitive.insert(o.name);
  }
  state.outputs = std::move(outputs);
  state.sensitive_outputs = std::move(sensitive);
  return {};
}

}  // namespace keel::engine
