#include "core/diagnostics.h"

#include <algorithm>
#include <tuple>

#include "core/text.h"

namespace keel {

std::string SourceMark::describe() const {
  const std::string name = text::printable(file);
  if (line <= 0) return name;
  return name + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Diagnostic::describe() const {
  // Escaped again here: a Diagnostic may be built without Diagnostics.
  std::string text = mark.describe();
  text += severity == Severity::Error ? ": error: " : ": warning: ";
  text += text::printable(summary);
  if (!hint.empty()) text += "; " + text::printable(hint);
  return text;
}

namespace {

Diagnostic printable_diagnostic(Diagnostic::Severity severity, SourceMark mark, const std::string& summary,
                                const std::string& hint) {
  mark.file = text::printable(mark.file);
  return {severity, std::move(mark), text::printable(summary), text::printable(hint)};
}

}  // namespace

void Diagnostics::error(SourceMark mark, std::string summary, std::string hint) {
  items_.push_back(printable_diagnostic(Diagnostic::Severity::Error, std::move(mark), summary, hint));
}

void Diagnostics::warning(SourceMark mark, std::string summary, std::string hint) {
  items_.push_back(printable_diagnostic(Diagnostic::Severity::Warning, std::move(mark), summary, hint));
}

void Diagnostics::add(Diagnostics other) {
  for (auto& d : other.items_) items_.push_back(std::move(d));
}

bool Diagnostics::has_errors() const {
  return std::any_of(items_.begin(), items_.end(),
                     [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::Error; });
}

std::string Diagnostics::describe() const {
  // In file order, as a compiler reports: the reader fixes them top down.
  std::vector<const Diagnostic*> sorted;
  for (const auto& d : items_) sorted.push_back(&d);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic* a, const Diagnostic* b) {
    return std::tie(a->mark.file, a->mark.line, a->mark.column) < std::tie(b->mark.file, b->mark.line, b->mark.column);
  });
  std::string text;
  for (const auto* d : sorted) text += d->describe() + "\n";
  return text;
}

namespace {

// The edit distance of `a` and `b` when it is at most `limit`, else
// limit + 1: only the diagonal band |i - j| <= limit is computed, so a
// suggestion costs O(limit * length) per candidate, whatever the lengths.
size_t edit_distance(const std::string& a, const std::string& b, size_t limit) {
  const size_t la = a.size(), lb = b.size();
  if ((la > lb ? la - lb : lb - la) > limit) return limit + 1;
  const size_t far = limit + 1;
  std::vector<size_t> prev(lb + 1, far), row(lb + 1, far);
  for (size_t j = 0; j <= std::min(lb, limit); ++j) prev[j] = j;
  for (size_t i = 1; i <= la; ++i) {
    const size_t from = i > limit ? i - limit : 1, to = std::min(lb, i + limit);
    std::fill(row.begin(), row.end(), far);
    if (i <= limit) row[0] = i;
    size_t best = row[0];
    for (size_t j = from; j <= to; ++j) {
      row[j] = std::min({prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1), far});
      best = std::min(best, row[j]);
    }
    if (best > limit) return far;  // every path is past the limit already
    std::swap(prev, row);
  }
  return std::min(prev[lb], far);
}

}  // namespace

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  // A third of the word's length (at least 1, at most 3) is what a typo looks
  // like; anything further is a different word and a hint would mislead.
  // A word of more than 64 characters gets none: nobody types that.
  if (word.size() > 64) return {};
  const size_t limit = std::clamp<size_t>(word.size() / 3, 1, 3);
  std::string best;
  size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c, limit);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  if (best_distance > limit) return {};
  return "did you mean `" + best + "`?";
}

}  // namespace keel
