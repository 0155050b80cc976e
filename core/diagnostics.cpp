#include "core/diagnostics.h"

#include <algorithm>
#include <tuple>

namespace keel {

std::string SourceMark::describe() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Diagnostic::describe() const {
  std::string text = mark.describe();
  text += severity == Severity::Error ? ": error: " : ": warning: ";
  text += summary;
  if (!hint.empty()) text += "; " + hint;
  return text;
}

void Diagnostics::error(SourceMark mark, std::string summary, std::string hint) {
  items_.push_back({Diagnostic::Severity::Error, std::move(mark), std::move(summary), std::move(hint)});
}

void Diagnostics::warning(SourceMark mark, std::string summary, std::string hint) {
  items_.push_back({Diagnostic::Severity::Warning, std::move(mark), std::move(summary), std::move(hint)});
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

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = 0;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (best.empty() || d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  // A third of the word's length (at least 1, at most 3) is what a typo looks
  // like; anything further is a different word and a hint would mislead.
  size_t limit = std::clamp<size_t>(word.size() / 3, 1, 3);
  if (best.empty() || best_distance > limit) return {};
  return "did you mean `" + best + "`?";
}

}  // namespace keel
