#include "cli/views/plan_view.h"

#include <algorithm>

#include "cli/views/attribute_diff.h"
#include "cli/views/render.h"

namespace keel::views {

namespace {

void put(std::FILE* stream, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

std::string plural(size_t n, const char* one) { return std::to_string(n) + " " + one + (n == 1 ? "" : "s"); }

void put_drift(std::FILE* stream, const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  std::string text = "Changed outside keel:\n";
  for (const auto& d : lines) text += "  " + d + "\n";
  put(stream, text + "\n");
}

class HumanPlanView : public PlanView {
 public:
  explicit HumanPlanView(const Streams& s) : s_(s), progress_(s.err, s.err_is_tty) {}
  void refreshing(size_t done, size_t total) override { progress_.update(done, total); }
  void drift(const std::vector<std::string>& lines) override { put_drift(s_.out, lines); }
  void plan(const engine::Plan& plan) override { put(s_.out, render_plan(plan, s_.out_color)); }
  void proposed(const engine::Plan& p) override { plan(p); }
  void saved(const std::string& path) override {
    put(s_.out, "\nSaved the plan to " + path + ". Run `keel apply " + path + "` to apply exactly it.\n");
  }

 private:
  Streams s_;
  RefreshProgress progress_;
};

// JSON and markdown: stdout holds the document alone; the rest goes to
// stderr, progress only when a person watches it.
class DocumentPlanView : public PlanView {
 public:
  DocumentPlanView(const Streams& s, PlanFormat format) : s_(s), format_(format), progress_(s.err, true) {}
  void refreshing(size_t done, size_t total) override {
    if (s_.err_is_tty) progress_.update(done, total);
  }
  void drift(const std::vector<std::string>& lines) override { put_drift(s_.err, lines); }
  void plan(const engine::Plan& plan) override {
    put(s_.out, format_ == PlanFormat::Json ? json_document(plan_to_json(plan)) + "\n" : render_plan_markdown(plan));
  }
  void proposed(const engine::Plan&) override {}
  void saved(const std::string& path) override {
    if (s_.err_is_tty) put(s_.err, "Saved the plan to " + path + ".\n");
  }

 private:
  Streams s_;
  PlanFormat format_;
  RefreshProgress progress_;
};

// Markdown table cells: no line breaks, no column separators.
std::string cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

// `text` as inline code, made a cell. (Built by appends: g++ 12 warns
// wrongly about "literal" + std::string&& here, -Wrestrict.)
std::string code(const std::string& text) {
  std::string out = "`";
  out += cell(text);
  out += '`';
  return out;
}

const char* action_words(const engine::ResourceChange& c) {
  switch (c.action) {
    case engine::Action::Create: return "create";
    case engine::Action::Update: return "update in place";
    case engine::Action::Replace: return c.replace_requested ? "replace (as requested)" : "replace";
    case engine::Action::Delete: return "delete";
    default: return "no change";
  }
}

const char* symbol_of(engine::Action a) {
  switch (a) {
    case engine::Action::Create: return "+";
    case engine::Action::Update: return "~";
    case engine::Action::Replace: return "-/+";
    case engine::Action::Delete: return "-";
    default: return " ";
  }
}

// A code fence longer than any run of backticks in `text`, so that no
// value can close it.
std::string fence_for(const std::string& text) {
  size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

// A plan this long gets its details folded away.
constexpr size_t kOpenDetailsUpTo = 10;

}  // namespace

void RefreshProgress::update(size_t done, size_t total) {
  const auto now = std::chrono::steady_clock::now();
  if (done == 0) started_ = last_ = now;
  const std::string line = "Refreshing " + plural(total, "resource") + "… (" + std::to_string(done) + "/" +
                           std::to_string(total) + ")";
  if (tty_) {
    put(err_, "\r" + line + (done == total ? "\n" : ""));
    return;
  }
  if (done == 0 || done == total || now - last_ < every_) return;
  last_ = now;
  put(err_, line + "\n");
}

std::optional<PlanFormat> plan_format(const std::string& name, bool json) {
  if (name.empty()) return json ? PlanFormat::Json : PlanFormat::Human;
  if (name == "human") return PlanFormat::Human;
  if (name == "json") return PlanFormat::Json;
  if (name == "markdown") return PlanFormat::Markdown;
  return std::nullopt;
}

std::unique_ptr<PlanView> make_plan_view(PlanFormat format, const Streams& streams) {
  if (format == PlanFormat::Human) return std::make_unique<HumanPlanView>(streams);
  return std::make_unique<DocumentPlanView>(streams, format);
}

std::string render_plan_markdown(const engine::Plan& plan) {
  auto n = plan.counts();
  std::string out = plan.environment.empty() ? "### keel plan\n\n" : "### keel plan: " + cell(plan.environment) + "\n\n";
  if (!plan.has_changes()) return out + "No changes. The infrastructure matches the stack.\n";
  out += "**" + std::to_string(n.add) + " to add, " + std::to_string(n.change) + " to change, " +
         std::to_string(n.destroy) + " to destroy.**\n\n";
  std::string losing;
  for (const auto& c : plan.changes)
    if (c.data_loss) losing += std::string("> :warning: **") + cell(c.address) + "** holds data: " +
                               (c.action == engine::Action::Delete ? "deleting" : "replacing") +
                               " it loses the data in it.\n";
  if (!losing.empty()) out += losing + "\n";
  for (const auto& m : plan.moved) out += "- " + code(m.from) + " has moved to " + code(m.to) + "\n";
  if (!plan.moved.empty()) out += "\n";
  size_t changed = 0;
  std::string table = "| | resource | action |\n| --- | --- | --- |\n";
  for (const auto& c : plan.changes) {
    if (c.action == engine::Action::NoOp) continue;
    ++changed;
    table += std::string("| `") + symbol_of(c.action) + "` | " + code(c.address) + " | " + action_words(c) +
             (c.data_loss ? " :warning: data loss" : "") + " |\n";
  }
  if (changed) out += table + "\n";
  std::string outputs;
  for (const auto& o : plan.outputs) {
    if (!o.changed) continue;
    bool removed = o.after.is_null() && !o.after_unknown;
    std::string value = removed ? "(removed)" : o.sensitive ? kSensitive : o.after_unknown ? kKnownAfterApply : "";
    if (value.empty()) value = code(render_value(o.after));
    outputs += "- ";
    outputs += code(o.name);
    outputs += " = ";
    outputs += value;
    outputs += "\n";
  }
  if (!outputs.empty()) out += "Changes to outputs:\n\n" + outputs + "\n";
  // The text plan (values masked as in the terminal) for whoever wants the
  // attributes; folded when long.
  const std::string text = render_plan(plan, false);
  const std::string fence = fence_for(text);
  out += std::string("<details") + (changed <= kOpenDetailsUpTo ? " open" : "") +
         "><summary>Attribute changes</summary>\n\n" + fence + "\n" + text + fence + "\n\n</details>\n";
  return out;
}

}  // namespace keel::views
