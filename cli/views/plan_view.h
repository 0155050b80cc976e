#pragma once
// How `keel plan`, `keel show` and the plan step of `keel apply` present
// themselves, chosen once from --json / --format (OpenTofu's views): the
// commands call the view and never branch on the format.
//
//   human     the plan as text, coloured on a terminal; drift on stdout
//   json      the document of docs/json-output.md on stdout; drift on stderr
//   markdown  a summary for a merge-request comment; drift on stderr

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/engine/plan.h"

namespace keel::views {

// Where a view writes, and what it may assume about it.
struct Streams {
  std::FILE* out = stdout;
  std::FILE* err = stderr;
  bool out_color = false;   // ANSI colours on out
  bool err_is_tty = false;  // progress redrawn in place on err
};

// "Refreshing N resources… (k/N)" on stderr while refresh reads: one line
// redrawn in place on a terminal; otherwise a plain line every
// `plain_every` (nothing at all for a refresh that ends sooner, so that
// pipelines stay quiet). Called from the reading threads one at a time.
class RefreshProgress {
 public:
  RefreshProgress(std::FILE* err, bool tty, std::chrono::seconds plain_every = std::chrono::seconds(5))
      : err_(err), tty_(tty), every_(plain_every) {}
  void update(size_t done, size_t total);

 private:
  std::FILE* err_;
  bool tty_;
  std::chrono::seconds every_;
  std::chrono::steady_clock::time_point started_{}, last_{};
};

class PlanView {
 public:
  virtual ~PlanView() = default;
  // Refresh before planning: (0, total) first, then after each read.
  virtual void refreshing(size_t done, size_t total) = 0;
  // What changed outside keel, one line each.
  virtual void drift(const std::vector<std::string>& lines) = 0;
  virtual void plan(const engine::Plan& plan) = 0;
  // apply and destroy: the plan shown before asking for approval. Text:
  // the plan; a document: nothing (apply's events are the document).
  virtual void proposed(const engine::Plan& plan) = 0;
  // plan --out: where the plan was saved.
  virtual void saved(const std::string& path) = 0;
};

enum class PlanFormat { Human, Json, Markdown };
// "human", "json", "markdown"; "" is `json ? json : human`.
std::optional<PlanFormat> plan_format(const std::string& name, bool json);

std::unique_ptr<PlanView> make_plan_view(PlanFormat format, const Streams& streams);

// The markdown summary: counts, a table of the changes, the data-loss
// warnings, sensitive values masked; the attribute changes inside a
// collapsible <details> (closed for long plans).
std::string render_plan_markdown(const engine::Plan& plan);

}  // namespace keel::views
