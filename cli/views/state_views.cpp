#include "cli/views/state_views.h"

#include "cli/views/render.h"

#include <fmt/format.h>

#include "core/text.h"

namespace keel::views {

namespace {

using nlohmann::json;

void put(std::FILE* stream, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

std::string plain_value(const json& v) { return v.is_string() ? shown_text(v.get<std::string>()) : render_value(v); }

// validate

class HumanValidateView : public ValidateView {
 public:
  explicit HumanValidateView(const Streams& s) : s_(s) {}
  void valid(size_t n) override {
    put(s_.out, "The stack is valid: " + std::to_string(n) + " resource" + (n == 1 ? "" : "s") + ".\n");
  }

 private:
  Streams s_;
};

class JsonValidateView : public ValidateView {
 public:
  explicit JsonValidateView(const Streams& s) : s_(s) {}
  void valid(size_t n) override {
    put(s_.out, json_document(json({{"valid", true}, {"resources", n}, {"diagnostics", json::array()}})) + "\n");
  }

 private:
  Streams s_;
};

// graph

class DotGraphView : public GraphView {
 public:
  explicit DotGraphView(const Streams& s) : s_(s) {}
  void graph(const engine::Graph& g) override { put(s_.out, g.to_dot()); }

 private:
  Streams s_;
};

class JsonGraphView : public GraphView {
 public:
  explicit JsonGraphView(const Streams& s) : s_(s) {}
  void graph(const engine::Graph& g) override {
    json resources = json::array();
    for (const auto& [address, deps] : g.nodes()) resources.push_back({{"address", address}, {"dependencies", deps}});
    put(s_.out, json_document(json({{"resources", std::move(resources)}})) + "\n");
  }

 private:
  Streams s_;
};

// refresh: progress on stderr as before a plan (plan_view.h)

class HumanRefreshView : public RefreshView {
 public:
  HumanRefreshView(const Streams& s, bool recorded) : s_(s), progress_(s.err, s.err_is_tty), recorded_(recorded) {}
  void refreshing(size_t done, size_t total) override { progress_.update(done, total); }
  void refreshed(const std::vector<std::string>& drift, long) override {
    if (drift.empty()) return put(s_.out, "No drift: every resource in state is as keel left it.\n");
    std::string text = recorded_ ? "Changed outside keel (now recorded in state; `keel plan` shows how to converge):\n"
                                 : "Changed outside keel (state unchanged: `keel plan` shows how to converge, "
                                   "`keel refresh` records it):\n";
    for (const auto& d : drift) text += "  " + d + "\n";
    put(s_.out, text);
  }

 private:
  Streams s_;
  RefreshProgress progress_;
  bool recorded_;
};

class JsonRefreshView : public RefreshView {
 public:
  explicit JsonRefreshView(const Streams& s) : s_(s), progress_(s.err, true) {}
  void refreshing(size_t done, size_t total) override {
    if (s_.err_is_tty) progress_.update(done, total);
  }
  void refreshed(const std::vector<std::string>& drift, long serial) override {
    put(s_.out, json_document(json({{"drift", drift}, {"serial", serial}})) + "\n");
  }

 private:
  Streams s_;
  RefreshProgress progress_;
};

// output

class HumanOutputView : public OutputView {
 public:
  explicit HumanOutputView(const Streams& s) : s_(s) {}
  void all(const state::State& st) override {
    std::string text;
    for (auto it = st.outputs.begin(); it != st.outputs.end(); ++it) {
      bool secret = st.sensitive_outputs.count(it.key()) > 0;
      text += it.key() + " = " + (secret ? std::string(kSensitive) : plain_value(it.value())) + "\n";
    }
    put(s_.out, text);
  }
  void one(const json& v, bool raw) override {
    put(s_.out, raw && v.is_string() ? v.get<std::string>() : plain_value(v) + "\n");
  }

 private:
  Streams s_;
};

class JsonOutputView : public OutputView {
 public:
  explicit JsonOutputView(const Streams& s) : s_(s) {}
  void all(const state::State& st) override {
    json out = json::object();
    for (auto it = st.outputs.begin(); it != st.outputs.end(); ++it) {
      bool secret = st.sensitive_outputs.count(it.key()) > 0;
      out[it.key()] = {{"sensitive", secret}, {"value", secret ? json() : it.value()}};
    }
    put(s_.out, json_document(out) + "\n");
  }
  // --raw is for scripts: the string's bytes exactly (docs/cli.md).
  void one(const json& v, bool raw) override { put(s_.out, raw && v.is_string() ? v.get<std::string>() : json_document(v) + "\n"); }

 private:
  Streams s_;
};

// state

class HumanStateView : public StateView {
 public:
  explicit HumanStateView(const Streams& s) : s_(s) {}
  void list(const state::State& st) override {
    std::string text;
    for (const auto& [address, r] : st.resources)
      text += address + (r.pending() ? "  (create interrupted; adopted or created by the next apply)" : "") + "\n";
    put(s_.out, text);
  }
  void show(const state::ResourceState& r) override {
    std::string text = "# " + r.address + "  (provider " + r.provider + ", id " + shown_text(r.id) + ")\n";
    const json attrs = masked_attributes(r);
    for (auto it = attrs.begin(); it != attrs.end(); ++it)
      text += "  " + it.key() + " = " + (it.value() == kSensitive ? std::string(kSensitive) : render_value(it.value())) + "\n";
    put(s_.out, text);
  }
  void saved(long, const std::string& done) override { put(s_.out, done + "\n"); }
  void history(const std::vector<state::HistoryEntry>& entries, const std::string& where) override {
    std::string out = "# " + text::printable(where) + "\n";
    out += fmt::format("{:>7}  {:<20}  {:<24}  {:<16}  {}\n", "SERIAL", "SAVED (UTC)", "BY", "COMMAND", "SUMMARY");
    for (const auto& e : entries)
      out += fmt::format("{:>7}  {:<20}  {:<24}  {:<16}  {}\n", e.serial, text::printable(e.saved_at.substr(0, 19)),
                          text::printable(e.saved_by), text::printable(e.command), text::printable(e.summary));
    put(s_.out, out);
  }

 private:
  Streams s_;
};

class JsonStateView : public StateView {
 public:
  explicit JsonStateView(const Streams& s) : s_(s) {}
  void list(const state::State& st) override {
    json arr = json::array();
    for (const auto& [address, r] : st.resources)
      arr.push_back({{"address", address}, {"kind", r.kind}, {"provider", r.provider}, {"id", r.id}, {"pending", r.pending()}});
    put(s_.out, json_document(json({{"serial", st.serial}, {"lineage", st.lineage}, {"resources", arr}})) + "\n");
  }
  void show(const state::ResourceState& r) override {
    const json doc = {{"address", r.address},         {"kind", r.kind},
                      {"provider", r.provider},       {"id", r.id},
                      {"attributes", masked_attributes(r)}, {"dependencies", r.dependencies},
                      {"sensitive_attributes", r.sensitive}};
    put(s_.out, json_document(doc, 2) + "\n");
  }
  void saved(long serial, const std::string&) override { put(s_.out, json_document(json({{"ok", true}, {"serial", serial}})) + "\n"); }
  void history(const std::vector<state::HistoryEntry>& entries, const std::string& where) override {
    json arr = json::array();
    for (const auto& e : entries)
      arr.push_back({{"serial", e.serial},
                     {"saved_at", e.saved_at},
                     {"saved_by", e.saved_by},
                     {"command", e.command},
                     {"summary", e.summary}});
    put(s_.out, json_document(json({{"backend", where}, {"history", arr}})) + "\n");
  }

 private:
  Streams s_;
};

}  // namespace

std::unique_ptr<ValidateView> make_validate_view(bool json, const Streams& streams) {
  if (json) return std::make_unique<JsonValidateView>(streams);
  return std::make_unique<HumanValidateView>(streams);
}

std::unique_ptr<GraphView> make_graph_view(bool json, const Streams& streams) {
  if (json) return std::make_unique<JsonGraphView>(streams);
  return std::make_unique<DotGraphView>(streams);
}

std::unique_ptr<RefreshView> make_refresh_view(bool json, const Streams& streams, bool recorded) {
  if (json) return std::make_unique<JsonRefreshView>(streams);
  return std::make_unique<HumanRefreshView>(streams, recorded);
}

std::unique_ptr<OutputView> make_output_view(bool json, const Streams& streams) {
  if (json) return std::make_unique<JsonOutputView>(streams);
  return std::make_unique<HumanOutputView>(streams);
}

std::unique_ptr<StateView> make_state_view(bool json, const Streams& streams) {
  if (json) return std::make_unique<JsonStateView>(streams);
  return std::make_unique<HumanStateView>(streams);
}

}  // namespace keel::views
