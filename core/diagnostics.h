#pragma once
// Diagnostics: every problem found in a user's file, reported at once, each
// with where it is (file:line:column, 1-based) and, where obvious, a hint.
// Produced by validators, rendered only by views.
//
// Messages quote what the file says (an unknown key, a bad value), and the
// file may come from anyone (a pull request): Diagnostics stores summary,
// hint and file name through text::printable(), so no terminal escape, CR
// or invalid UTF-8 reaches a terminal or a JSON document from here.

#include <string>
#include <vector>

namespace keel {

struct SourceMark {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
  std::string describe() const;  // "keel.yaml:12:5" (or just the file)
};

struct Diagnostic {
  enum class Severity { Error, Warning };
  Severity severity = Severity::Error;
  SourceMark mark;
  std::string summary;  // "unknown key `sise`"
  std::string hint;     // "did you mean `size`?" (may be empty)

  std::string describe() const;  // "keel.yaml:12:5: error: unknown key `sise`; did you mean `size`?"
};

class Diagnostics {
 public:
  void error(SourceMark mark, std::string summary, std::string hint = {});
  void warning(SourceMark mark, std::string summary, std::string hint = {});
  void add(Diagnostics other);

  bool has_errors() const;
  const std::vector<Diagnostic>& items() const { return items_; }
  bool empty() const { return items_.empty(); }
  // One line per diagnostic, in the order found.
  std::string describe() const;

 private:
  std::vector<Diagnostic> items_;
};

// The closest candidate by edit distance, when it is close enough to be a
// likely typo ("sise" -> "size"); empty otherwise.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace keel
