#pragma once
// Building a provider schema entry as a readable chain, for the built-in
// providers:
//   Attr("port", Integer, "...").optional().computed()

#include <string>
#include <utility>
#include <vector>

#include "core/provider.h"

namespace keel::providers::schema {

class Attr {
 public:
  Attr(std::string name, provider::AttributeType type, std::string description) {
    schema_.name = std::move(name);
    schema_.type = type;
    schema_.description = std::move(description);
  }
  Attr& required() { return set(schema_.required); }
  Attr& optional() { return set(schema_.optional); }
  Attr& computed() { return set(schema_.computed); }
  Attr& force_new() { return set(schema_.force_new); }
  Attr& sensitive() { return set(schema_.sensitive); }
  Attr& default_to(nlohmann::json value) {
    schema_.default_value = std::move(value);
    return *this;
  }
  Attr& one_of(std::vector<std::string> values) {
    schema_.one_of = std::move(values);
    return *this;
  }
  // String: values refused; "pg_*" refuses a prefix (AttributeSchema::reserved).
  Attr& reserved(std::vector<std::string> values) {
    schema_.reserved = std::move(values);
    return *this;
  }
  // Number, Integer: from `min` to `max`, inclusive.
  Attr& range(double min, double max) {
    schema_.minimum = min;
    schema_.maximum = max;
    return *this;
  }
  // String: `min` to `max` bytes, the first character in `first`, the
  // others in `rest` (classes like "A-Za-z0-9_-"; empty `first`: as `rest`).
  Attr& text(size_t min, size_t max, std::string first, std::string rest) {
    schema_.min_length = min;
    schema_.max_length = max;
    schema_.first_character = std::move(first);
    schema_.characters = std::move(rest);
    return *this;
  }
  operator provider::AttributeSchema() const { return schema_; }

 private:
  Attr& set(bool& flag) {
    flag = true;
    return *this;
  }
  provider::AttributeSchema schema_;
};

}  // namespace keel::providers::schema
