#include "cli/views/attribute_diff.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "cli/views/render.h"
#include "core/text.h"

namespace keel::views {

namespace {

using nlohmann::json;

std::string pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return out;
}

// `.key`, or `["key"]` for a key that would not read as one.
std::string path_segment(const std::string& key) {
  // fmt, not "." + key: g++ 12's -Wrestrict misfires on a literal + string.
  if (text::is_name(key, 256, "_", "_-")) return fmt::format(".{}", key);
  return fmt::format("[{}]", render_value(json(key)));
}

// Is `pointer` itself, or something it lies inside, in `paths`?
bool under(const std::string& pointer, const std::set<std::string>& paths) {
  for (const auto& p : paths)
    if (pointer == p || (pointer.size() > p.size() && pointer.compare(0, p.size(), p) == 0 && pointer[p.size()] == '/'))
      return true;
  return false;
}

// Does something inside `pointer` (but not it) hold one of `paths`?
bool holds(const std::string& pointer, const std::set<std::string>& paths) {
  for (const auto& p : paths)
    if (p.size() > pointer.size() && p.compare(0, pointer.size(), pointer) == 0 && p[pointer.size()] == '/') return true;
  return false;
}

// `value` with the parts under `paths` (pointers relative to `at`) replaced.
json replace_under(const json& value, const std::set<std::string>& paths, const std::string& at, const json& marker) {
  if (under(at, paths)) return marker;
  if (!holds(at, paths)) return value;
  json out = value;
  if (value.is_object())
    for (auto it = out.begin(); it != out.end(); ++it) it.value() = replace_under(it.value(), paths, at + "/" + pointer_token(it.key()), marker);
  else if (value.is_array())
    for (size_t i = 0; i < out.size(); ++i) out[i] = replace_under(out[i], paths, at + "/" + std::to_string(i), marker);
  return out;
}

struct Walk {
  const engine::AttributeChange& a;
  bool whole_sensitive;  // masked whole: no parts shown
  std::vector<LeafChange> out;

  bool before_secret(const std::string& p) const { return whole_sensitive || under(p, a.before_sensitive_paths); }
  bool after_secret(const std::string& p) const { return whole_sensitive || under(p, a.after_sensitive_paths); }
  bool unknown(const std::string& p) const {
    return a.after_unknown && (a.after_partial.is_null() || under(p, a.after_unknown_paths));
  }
  // A leaf: no structure to go into on either side, or masked/unknown here.
  bool leaf(const std::string& p, const json* b, const json* f) const {
    // An added or removed list or map is shown whole, on one line.
    bool absent = !b || b->is_null() || ((!f || f->is_null()) && !unknown(p));
    bool structured = (b && (b->is_object() || b->is_array())) || (f && (f->is_object() || f->is_array()));
    return absent || !structured || before_secret(p) || after_secret(p) || unknown(p) ||
           (b && f && b->type() != f->type());
  }

  void visit(const std::string& path, const std::string& p, const json* b, const json* f) {
    if (leaf(p, b, f)) {
      bool changed = unknown(p) || !b || !f || *b != *f;
      if (!changed) return;
      LeafChange c;
      c.path = path;
      c.pointer = p;
      c.had = b != nullptr && !b->is_null();
      c.has = unknown(p) || (f != nullptr && !f->is_null());
      c.before_sensitive = c.had && before_secret(p);
      c.after_sensitive = c.has && after_secret(p);
      c.after_unknown = unknown(p);
      c.before = c.had && !c.before_sensitive ? replace_under(*b, a.before_sensitive_paths, p, nullptr) : json();
      if (c.has && !c.after_sensitive && !c.after_unknown)
        c.after = replace_under(replace_under(*f, a.after_sensitive_paths, p, nullptr), a.after_unknown_paths, p, nullptr);
      out.push_back(std::move(c));
      return;
    }
    if ((b && b->is_object()) || (f && f->is_object())) {
      std::set<std::string> keys;
      for (const json* side : {b, f})
        if (side && side->is_object())
          for (auto it = side->begin(); it != side->end(); ++it) keys.insert(it.key());
      for (const auto& k : keys) {
        const json* bk = b && b->contains(k) ? &(*b)[k] : nullptr;
        const json* fk = f && f->contains(k) ? &(*f)[k] : nullptr;
        visit(path + path_segment(k), p + "/" + pointer_token(k), bk, fk);
      }
      return;
    }
    size_t n = std::max(b && b->is_array() ? b->size() : 0, f && f->is_array() ? f->size() : 0);
    for (size_t i = 0; i < n; ++i) {
      const json* bi = b && i < b->size() ? &(*b)[i] : nullptr;
      const json* fi = f && i < f->size() ? &(*f)[i] : nullptr;
      visit(path + "[" + std::to_string(i) + "]", p + "/" + std::to_string(i), bi, fi);
    }
  }
};

bool whole_sensitive(const engine::AttributeChange& a) {
  return a.sensitive && a.before_sensitive_paths.empty() && a.after_sensitive_paths.empty();
}

const json* after_side(const engine::AttributeChange& a) {
  if (!a.after_unknown) return &a.after;
  return a.after_partial.is_null() ? nullptr : &a.after_partial;
}

}  // namespace

std::vector<LeafChange> leaf_changes(const engine::AttributeChange& a) {
  Walk w{a, whole_sensitive(a), {}};
  static const json null_value;
  const json* after = after_side(a);
  w.visit(a.name, "", &a.before, after ? after : &null_value);
  return std::move(w.out);
}

std::string shown_after(const engine::AttributeChange& a) {
  if (whole_sensitive(a)) return kSensitive;
  const json* after = after_side(a);
  if (!after) return kKnownAfterApply;
  json shown = replace_under(*after, a.after_sensitive_paths, "", kSensitive);
  if (a.after_unknown) shown = replace_under(shown, a.after_unknown_paths, "", kKnownAfterApply);
  return render_value(shown);
}

json masked_before(const engine::AttributeChange& a) {
  if (whole_sensitive(a)) return nullptr;
  return replace_under(a.before, a.before_sensitive_paths, "", nullptr);
}

json masked_after(const engine::AttributeChange& a) {
  if (whole_sensitive(a)) return nullptr;
  const json* after = after_side(a);
  if (!after) return nullptr;
  return replace_under(replace_under(*after, a.after_sensitive_paths, "", nullptr), a.after_unknown_paths, "", nullptr);
}

}  // namespace keel::views
