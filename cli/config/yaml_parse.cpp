#include "cli/config/yaml_parse.h"

#include <yaml.h>

#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace keel::config {
struct YamlNodeAccess {};
}  // namespace keel::config

// yaml-cpp makes a Node from its internal node only for its own builder and
// its friends, which include every as_if<T, S>: this one wraps the tree
// built below, exactly as yaml-cpp's NodeBuilder::Root() does.
template <>
struct YAML::as_if<keel::config::YamlNodeAccess, keel::config::YamlNodeAccess> {
  static Node wrap(detail::node& root, detail::shared_memory_holder memory) { return Node(root, std::move(memory)); }
};

namespace keel::config {

namespace {

constexpr size_t kMaxNesting = 2000;  // like yaml-cpp's own guard; the loader allows far less

struct ParserGuard {
  yaml_parser_t parser;
  ParserGuard() { yaml_parser_initialize(&parser); }
  ~ParserGuard() { yaml_parser_delete(&parser); }
  ParserGuard(const ParserGuard&) = delete;
  ParserGuard& operator=(const ParserGuard&) = delete;
};

struct EventGuard {
  yaml_event_t event;
  ~EventGuard() { yaml_event_delete(&event); }
};

YAML::Mark to_mark(const yaml_mark_t& m) {
  YAML::Mark mark;
  mark.pos = static_cast<int>(m.index);
  mark.line = static_cast<int>(m.line);
  mark.column = static_cast<int>(m.column);
  return mark;
}

yaml_mark_t mark_at(const std::string& text, size_t offset) {
  yaml_mark_t m{};
  m.index = offset;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++m.line;
      m.column = 0;
    } else {
      ++m.column;
    }
  }
  return m;
}

std::string_view text_of(const yaml_char_t* s) { return s ? std::string_view(reinterpret_cast<const char*>(s)) : ""; }

// yaml-cpp's null: an untagged plain scalar that is empty, ~ or null.
bool is_null_scalar(std::string_view value) {
  return value.empty() || value == "~" || value == "null" || value == "Null" || value == "NULL";
}

class Builder {
 public:
  Builder() : memory_(std::make_shared<YAML::detail::memory_holder>()) {}

  // Handles one event; false at the end of the first document.
  bool on(const yaml_event_t& e) {
    const YAML::Mark mark = to_mark(e.start_mark);
    switch (e.type) {
      case YAML_SCALAR_EVENT: {
        YAML::detail::node& n = make(mark, e.data.scalar.anchor);
        const std::string_view tag = text_of(e.data.scalar.tag);
        const std::string_view value(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
        const bool plain = e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (plain && tag.empty() && is_null_scalar(value)) {
          n.set_null();
        } else {
          n.set_scalar(std::string(value));
          n.set_tag(!tag.empty() ? std::string(tag) : plain ? "?" : "!");
        }
        add(n);
        return true;
      }
      case YAML_SEQUENCE_START_EVENT:
        open(mark, YAML::NodeType::Sequence, e.data.sequence_start.tag, e.data.sequence_start.anchor,
             e.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE);
        return true;
      case YAML_MAPPING_START_EVENT:
        open(mark, YAML::NodeType::Map, e.data.mapping_start.tag, e.data.mapping_start.anchor,
             e.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE);
        return true;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        stack_.pop_back();
        return true;
      case YAML_ALIAS_EVENT: {
        auto it = anchors_.find(std::string(text_of(e.data.alias.anchor)));
        if (it == anchors_.end())
          throw YAML::ParserException(mark, "the alias *" + std::string(text_of(e.data.alias.anchor)) +
                                                " names no anchor before it");
        add(*it->second);
        return true;
      }
      case YAML_DOCUMENT_END_EVENT:
      case YAML_STREAM_END_EVENT:
        return false;
      default:  // stream and document start
        return true;
    }
  }

  YAML::Node root() const {
    if (!root_) return YAML::Node();  // an empty document: null, as YAML::Load("")
    return YAML::as_if<YamlNodeAccess, YamlNodeAccess>::wrap(*root_, memory_);
  }

 private:
  struct Frame {
    YAML::detail::node* node;
    YAML::detail::node* key = nullptr;  // a map's key, waiting for its value
  };

  YAML::detail::node& make(const YAML::Mark& mark, const yaml_char_t* anchor) {
    YAML::detail::node& n = memory_->create_node();
    n.set_mark(mark);
    if (anchor) anchors_[std::string(text_of(anchor))] = &n;
    return n;
  }

  void open(const YAML::Mark& mark, YAML::NodeType::value type, const yaml_char_t* tag, const yaml_char_t* anchor,
            bool flow) {
    if (stack_.size() >= kMaxNesting)
      throw YAML::ParserException(mark, "lists and maps nested more than 2000 deep");
    YAML::detail::node& n = make(mark, anchor);
    n.set_type(type);
    n.set_tag(tag ? std::string(text_of(tag)) : "?");
    n.set_style(flow ? YAML::EmitterStyle::Flow : YAML::EmitterStyle::Block);
    add(n);
    stack_.push_back({&n});
  }

  // Into the open collection (the node is complete or filled later: nodes
  // are shared by pointer).
  void add(YAML::detail::node& n) {
    if (stack_.empty()) {
      if (!root_) root_ = &n;
      return;
    }
    Frame& top = stack_.back();
    if (top.node->type() == YAML::NodeType::Sequence) {
      top.node->push_back(n, memory_);
    } else if (!top.key) {
      top.key = &n;
    } else {
      top.node->insert(*top.key, n, memory_);
      top.key = nullptr;
    }
  }

  YAML::detail::shared_memory_holder memory_;
  YAML::detail::node* root_ = nullptr;
  std::vector<Frame> stack_;
  std::unordered_map<std::string, YAML::detail::node*> anchors_;
};

}  // namespace

YAML::Node parse_yaml(const std::string& text) {
  ParserGuard guard;
  yaml_parser_set_input_string(&guard.parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  Builder builder;
  for (;;) {
    EventGuard event;
    if (!yaml_parser_parse(&guard.parser, &event.event)) {
      const yaml_parser_t& p = guard.parser;
      std::string message = p.problem ? p.problem : "cannot parse";
      if (p.context) message = std::string(p.context) + ": " + message;
      yaml_mark_t where = p.problem_mark;
      if (p.error == YAML_READER_ERROR) where = mark_at(text, p.problem_offset);  // the reader has no mark
      throw YAML::ParserException(to_mark(where), message);
    }
    if (!builder.on(event.event)) break;
  }
  return builder.root();
}

}  // namespace keel::config
