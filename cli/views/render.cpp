#include "cli/views/render.h"

#include "cli/views/attribute_diff.h"
#include "core/text.h"

#include <cstdio>
#include <mutex>
#include <unistd.h>

namespace keel::views {

namespace {

const char* symbol(engine::Action a) {
  switch (a) {
    case engine::Action::Create: return "+";
    case engine::Action::Update: return "~";
    case engine::Action::Replace: return "-/+";
    case engine::Action::Delete: return "-";
    default: return " ";
  }
}

const char* verb(engine::Action a) {
  switch (a) {
    case engine::Action::Create: return "created";
    case engine::Action::Update: return "updated in place";
    case engine::Action::Replace: return "replaced";
    case engine::Action::Delete: return "destroyed";
    default: return "unchanged";
  }
}

const char* progressive(engine::Action a) {
  switch (a) {
    case engine::Action::Create: return "creating";
    case engine::Action::Update: return "modifying";
    case engine::Action::Replace: return "replacing";
    case engine::Action::Delete: return "destroying";
    default: return "reading";
  }
}

// ANSI colours of the actions, as Terraform's: + green, ~ yellow, - red,
// -/+ magenta; data loss in bold red.
const char* color_of(engine::Action a) {
  switch (a) {
    case engine::Action::Create: return "\033[32m";
    case engine::Action::Update: return "\033[33m";
    case engine::Action::Replace: return "\033[35m";
    case engine::Action::Delete: return "\033[31m";
    default: return "";
  }
}

constexpr const char* kBoldRed = "\033[1;31m";
constexpr const char* kReset = "\033[0m";

std::string paint(bool color, const char* code, const std::string& text) {
  if (!color || !*code) return text;
  return code + text + kReset;
}

std::string shown(const nlohmann::json& v, bool sensitive, bool unknown) {
  if (sensitive) return kSensitive;
  if (unknown) return kKnownAfterApply;
  return render_value(v);
}

std::string leaf_side(bool present, bool sensitive, bool unknown, const nlohmann::json& value) {
  if (!present) return "(none)";
  if (sensitive) return kSensitive;
  if (unknown) return kKnownAfterApply;
  return render_value(value);
}

// The attribute lines under a change: `name = value` for a create; for an
// update or replace, one `path : before -> after` line per changed leaf.
std::string render_attributes(const engine::ResourceChange& c) {
  struct Line {
    std::string name, text;
  };
  std::vector<Line> lines;
  for (const auto& a : c.attributes) {
    if (c.action == engine::Action::Create) {
      lines.push_back({a.name, " = " + shown_after(a)});
      continue;
    }
    for (const auto& leaf : leaf_changes(a))
      lines.push_back({leaf.path, " : " + leaf_side(leaf.had, leaf.before_sensitive, false, leaf.before) + " -> " +
                                      leaf_side(leaf.has, leaf.after_sensitive, leaf.after_unknown, leaf.after) +
                                      (a.forces_replacement ? "  # forces replacement" : "")});
  }
  size_t width = 0;
  for (const auto& l : lines) width = std::max(width, l.name.size());
  std::string out;
  for (const auto& l : lines) out += "      " + l.name + std::string(width - l.name.size(), ' ') + l.text + "\n";
  return out;
}

nlohmann::json leaf_to_json(const LeafChange& leaf) {
  return {{"path", leaf.path},
          {"pointer", leaf.pointer},
          {"action", !leaf.had ? "create" : !leaf.has ? "delete" : "update"},
          {"before", leaf.before},
          {"after", leaf.after},
          {"before_sensitive", leaf.before_sensitive},
          {"after_sensitive", leaf.after_sensitive},
          {"unknown", leaf.after_unknown}};
}

}  // namespace

std::string render_value(const nlohmann::json& v) {
  if (v.is_null()) return "null";
  return text::printable(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::string shown_text(std::string_view s) { return text::printable(s); }

std::string json_document(const nlohmann::json& doc, int indent) {
  return doc.dump(indent, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
}

std::string format_elapsed(std::chrono::milliseconds elapsed) {
  char buf[32];
  if (elapsed < std::chrono::seconds(10)) std::snprintf(buf, sizeof buf, "%.1fs", elapsed.count() / 1000.0);
  else if (elapsed < std::chrono::minutes(1)) std::snprintf(buf, sizeof buf, "%llds", (long long)(elapsed.count() / 1000));
  else std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(elapsed.count() / 60000), (long long)(elapsed.count() / 1000 % 60));
  return buf;
}

std::string render_plan(const engine::Plan& plan, bool color) {
  std::string out;
  for (const auto& m : plan.moved) out += "  " + m.from + " has moved to " + m.to + "\n";
  for (const auto& c : plan.changes) {
    if (c.action == engine::Action::NoOp) continue;
    out += std::string("  ") + paint(color, color_of(c.action), symbol(c.action)) + " " + c.address + " (" +
           (c.action == engine::Action::Update ? "update in place" : engine::to_string(c.action)) +
           (c.replace_requested ? ", as requested" : "") +
           (!c.adopt                             ? ""
            : c.action == engine::Action::Delete ? ", whatever an interrupted run created, once found"
                                                 : ", adopting what an interrupted run created") +
           ")\n";
    if (c.data_loss)
      out += "      " +
             paint(color, kBoldRed,
                   "# " + c.address + " holds data: " + (c.action == engine::Action::Delete ? "deleting" : "replacing") +
                       " it loses the data in it") +
             "\n";
    out += render_attributes(c);
  }
  std::string outputs;
  for (const auto& o : plan.outputs) {
    if (!o.changed) continue;
    bool removed = o.after.is_null() && !o.after_unknown;
    outputs += "  " + o.name + " = " + (removed ? std::string("(removed)") : shown(o.after, o.sensitive, o.after_unknown)) + "\n";
  }
  // Which of the stack's states this is about, first: "No changes" in
  // staging says nothing of production.
  std::string head = plan.environment.empty() ? "" : "Environment: " + plan.environment + "\n\n";
  if (!plan.has_changes()) return head + "No changes. The infrastructure matches the stack.\n";
  if (!out.empty()) head += "keel will perform these actions:\n\n" + out + "\n";
  if (!outputs.empty()) head += "Changes to outputs:\n" + outputs + "\n";
  std::string losing;
  for (const auto& c : plan.changes)
    if (c.data_loss) losing += (losing.empty() ? "" : ", ") + c.address;
  if (!losing.empty()) head += paint(color, kBoldRed, "Data will be lost in: " + losing + ".") + "\n";
  auto n = plan.counts();
  head += "Plan: " + std::to_string(n.add) + " to add, " + std::to_string(n.change) + " to change, " +
          std::to_string(n.destroy) + " to destroy.\n";
  return head;
}

nlohmann::json plan_to_json(const engine::Plan& plan) {
  nlohmann::json changes = nlohmann::json::array();
  for (const auto& c : plan.changes) {
    nlohmann::json attrs = nlohmann::json::array();
    for (const auto& a : c.attributes) {
      nlohmann::json attr = {{"name", a.name},
                             {"before", masked_before(a)},
                             {"after", masked_after(a)},
                             {"unknown", a.after_unknown},
                             {"sensitive", a.sensitive},
                             {"forces_replacement", a.forces_replacement}};
      if (!a.before_sensitive_paths.empty() || !a.after_sensitive_paths.empty())
        attr["sensitive_paths"] = {{"before", a.before_sensitive_paths}, {"after", a.after_sensitive_paths}};
      if (!a.after_unknown_paths.empty()) attr["unknown_paths"] = a.after_unknown_paths;
      if (c.action != engine::Action::Create) {
        nlohmann::json leaves = nlohmann::json::array();
        for (const auto& leaf : leaf_changes(a)) leaves.push_back(leaf_to_json(leaf));
        attr["changes"] = std::move(leaves);
      }
      attrs.push_back(std::move(attr));
    }
    changes.push_back({{"address", c.address}, {"kind", c.kind}, {"provider", c.provider},
                       {"action", engine::to_string(c.action)}, {"replace_requested", c.replace_requested},
                       {"adopt", c.adopt}, {"data_loss", c.data_loss}, {"attributes", attrs},
                       {"dependencies", c.dependencies}});
  }
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& o : plan.outputs)
    outputs.push_back({{"name", o.name}, {"changed", o.changed}, {"sensitive", o.sensitive},
                       {"unknown", o.after_unknown},
                       {"after", o.sensitive || o.after_unknown ? nlohmann::json() : o.after}});
  auto n = plan.counts();
  nlohmann::json moved = nlohmann::json::array();
  for (const auto& m : plan.moved) moved.push_back({{"from", m.from}, {"to", m.to}});
  return {{"format_version", 1},
          {"environment", plan.environment.empty() ? nlohmann::json() : nlohmann::json(plan.environment)},
          {"lineage", plan.lineage},
          {"moved", moved},
          {"serial", plan.serial},
          {"destroy", plan.destroy},
          {"changes", changes},
          {"outputs", outputs},
          {"summary", {{"add", n.add}, {"change", n.change}, {"destroy", n.destroy}, {"has_changes", plan.has_changes()}}}};
}

std::string render_diagnostics(const Diagnostics& diags) {
  std::string out = diags.describe();
  size_t errors = 0;
  for (const auto& d : diags.items()) errors += d.severity == Diagnostic::Severity::Error;
  if (errors) out += std::to_string(errors) + (errors == 1 ? " error" : " errors") + " in the stack; nothing was changed.\n";
  return out;
}

nlohmann::json diagnostics_to_json(const Diagnostics& diags) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& d : diags.items())
    arr.push_back({{"severity", d.severity == Diagnostic::Severity::Error ? "error" : "warning"},
                   {"file", d.mark.file},
                   {"line", d.mark.line},
                   {"column", d.mark.column},
                   {"summary", d.summary},
                   {"hint", d.hint}});
  return arr;
}

nlohmann::json masked_attributes(const state::ResourceState& r) {
  nlohmann::json out = nlohmann::json::object();
  for (auto it = r.attributes.begin(); it != r.attributes.end(); ++it)
    out[it.key()] = r.sensitive.count(it.key()) ? nlohmann::json(kSensitive) : it.value();
  return out;
}

namespace {

class HumanApplyView : public ApplyView {
 public:
  HumanApplyView(std::FILE* out, std::FILE* err) : out_(out), err_(err) {}
  void summary(const engine::ApplyResult& r, const engine::Plan& plan, bool destroy,
               const state::State& state) override {
    auto n = plan.counts();
    std::lock_guard lock(mu_);
    if (r.interrupted && r.failed == 0) {
      std::fprintf(out_, "\nInterrupted: %d finished, %d not started; state saved.\n", r.succeeded, r.skipped);
    } else if (!r.ok()) {
      std::fprintf(out_, "\n%s failed: %d done, %d failed, %d not started.\n", destroy ? "Destroy" : "Apply",
                   r.succeeded, r.failed, r.skipped);
      std::fflush(out_);
      for (const auto& e : r.errors) std::fprintf(err_, "Error: %s\n", e.c_str());
    } else {
      // A saved plan's apply printed no plan: say here which state it was.
      if (!plan.environment.empty()) std::fprintf(out_, "\nEnvironment: %s", plan.environment.c_str());
      if (destroy) std::fprintf(out_, "\nDestroy complete! Resources: %d destroyed.\n", n.destroy);
      else
        std::fprintf(out_, "\nApply complete! Resources: %d added, %d changed, %d destroyed.\n", n.add, n.change,
                     n.destroy);
      bool any = false;
      for (auto it = state.outputs.begin(); it != state.outputs.end(); ++it) {
        if (!any) std::fprintf(out_, "\nOutputs:\n\n");
        any = true;
        bool secret = state.sensitive_outputs.count(it.key()) > 0;
        std::string v = secret ? std::string(kSensitive) + "  (keel output " + it.key() + ")"
                               : (it.value().is_string() ? shown_text(it.value().get<std::string>())
                                                         : render_value(it.value()));
        std::fprintf(out_, "  %s = %s\n", it.key().c_str(), v.c_str());
      }
    }
    std::fflush(out_);
    std::fflush(err_);
  }

 protected:
  void emit(const nlohmann::json&, const std::string& text) override {
    std::lock_guard lock(mu_);
    const std::string line = text + "\n";
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  std::FILE* err_;
  std::mutex mu_;
};

class JsonApplyView : public ApplyView {
 public:
  explicit JsonApplyView(std::FILE* out) : out_(out) {}
  void summary(const engine::ApplyResult& r, const engine::Plan& plan, bool, const state::State& state) override {
    auto n = plan.counts();
    emit({{"type", "summary"}, {"ok", r.ok()}, {"succeeded", r.succeeded}, {"failed", r.failed},
          {"skipped", r.skipped}, {"errors", r.errors}, {"interrupted", r.interrupted}, {"serial", state.serial},
          {"planned", {{"add", n.add}, {"change", n.change}, {"destroy", n.destroy}}}},
         "");
  }

 protected:
  void emit(const nlohmann::json& event, const std::string&) override {
    std::lock_guard lock(mu_);
    const std::string line = json_document(event) + "\n";
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<ApplyView> make_apply_view(bool json, std::FILE* out, std::FILE* err) {
  if (json) return std::make_unique<JsonApplyView>(out);
  return std::make_unique<HumanApplyView>(out, err);
}

void ApplyView::on_start(const engine::ResourceChange& c) {
  std::string what = progressive(c.action);
  what[0] = static_cast<char>(std::toupper(what[0]));
  emit({{"type", "start"}, {"address", c.address}, {"action", engine::to_string(c.action)}},
       c.address + ": " + what + "...");
}

void ApplyView::on_progress(const engine::ResourceChange& c, const std::string& message) {
  emit({{"type", "progress"}, {"address", c.address}, {"message", message}}, c.address + ": " + message);
}

void ApplyView::on_still_running(const engine::ResourceChange& c, std::chrono::seconds elapsed) {
  emit({{"type", "still_running"}, {"address", c.address}, {"elapsed_seconds", elapsed.count()}},
       c.address + ": still " + progressive(c.action) + "... (" + std::to_string(elapsed.count()) + "s elapsed)");
}

void ApplyView::on_finish(const engine::ResourceChange& c, const std::string& error, std::chrono::milliseconds elapsed) {
  nlohmann::json event = {{"type", "finish"}, {"address", c.address}, {"action", engine::to_string(c.action)},
                          {"ok", error.empty()}, {"elapsed_seconds", elapsed.count() / 1000.0}};
  if (!error.empty()) event["error"] = error;
  std::string text = error.empty() ? c.address + ": " + verb(c.action) + " after " + format_elapsed(elapsed)
                                   : c.address + ": failed after " + format_elapsed(elapsed) + ": " + error;
  emit(event, text);
}

}  // namespace keel::views
