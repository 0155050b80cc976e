#include "plugins/digitalocean/naming.h"

#include <cctype>

#include <fmt/format.h>

#include "core/crypto.h"

namespace keel::digitalocean {

namespace {

bool upper_hex(char c) { return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'A' && c <= 'F'); }
bool alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool lower_alnum(char c) { return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'z'); }

struct Address {
  std::string kind, name, index;
};

// "servers.web[2]" -> {servers, web, 2}; no '.': all of it is the name.
Address parse_address(const std::string& address) {
  Address a;
  std::string rest = address;
  if (auto dot = rest.find('.'); dot != std::string::npos) {
    a.kind = rest.substr(0, dot);
    rest = rest.substr(dot + 1);
  }
  if (auto open = rest.find('['); open != std::string::npos && rest.back() == ']') {
    a.index = rest.substr(open + 1, rest.size() - open - 2);
    rest = rest.substr(0, open);
  }
  a.name = rest;
  return a;
}

// Keeps `text` within `limit` characters; a cut text ends in "-" and a hash
// of the whole, so that two long names cut alike stay apart.
std::string fit(const std::string& text, std::size_t limit) {
  if (text.size() <= limit) return text;
  const std::string hash = crypto::sha256_hex(text).substr(0, 8);
  std::string cut = text.substr(0, limit - hash.size() - 1);
  while (!cut.empty() && !alnum(cut.back())) cut.pop_back();
  return fmt::format("{}-{}", cut, hash);
}

}  // namespace

std::string encode_tag_part(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    // A literal `_` before two upper-case hex digits would read as an escape.
    const bool reads_as_escape = c == '_' && i + 2 < text.size() && upper_hex(text[i + 1]) && upper_hex(text[i + 2]);
    if (alnum(c) || c == '-' || (c == '_' && !reads_as_escape)) out += c;
    else out += fmt::format("_{:02X}", static_cast<unsigned char>(c));
  }
  return out;
}

std::string decode_tag_part(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '_' && i + 2 < text.size() && upper_hex(text[i + 1]) && upper_hex(text[i + 2])) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string project_tag(const std::string& project) { return fit(fmt::format("keel:{}", encode_tag_part(project)), kMaxTagLength); }

std::string address_tag(const provider::ResourceTags& tags) {
  const Address a = parse_address(tags.address);
  std::string tag = fmt::format("keel:{}", encode_tag_part(tags.project));
  if (!a.kind.empty()) tag += fmt::format(":{}", encode_tag_part(a.kind));
  tag += fmt::format(":{}", encode_tag_part(a.name));
  if (!a.index.empty()) tag += fmt::format(":{}", encode_tag_part(a.index));
  return fit(tag, kMaxTagLength);
}

bool is_keel_tag(std::string_view tag) { return tag.substr(0, 5) == "keel:"; }

std::optional<std::string> tag_problem(const std::string& tag) {
  if (tag.empty() || tag.size() > kMaxTagLength) return fmt::format("tag \"{}\" must be 1 to 255 characters", tag);
  for (char c : tag)
    if (!alnum(c) && c != '_' && c != '-' && c != ':')
      return fmt::format("tag \"{}\" may hold only letters, digits, `_`, `-` and `:`", tag);
  if (is_keel_tag(tag)) return fmt::format("tag \"{}\": tags starting with `keel:` are keel's own", tag);
  return std::nullopt;
}

std::string default_name(const provider::ResourceTags& tags, NameRules rules) {
  const Address a = parse_address(tags.address);
  // Databases and caches share one namespace at DigitalOcean (both are
  // database clusters): databases.main and caches.main must not collide.
  std::string raw = a.kind == "caches" ? fmt::format("{}-cache-{}", tags.project, a.name)
                                       : fmt::format("{}-{}", tags.project, a.name);
  if (!a.index.empty()) raw += fmt::format("-{}", a.index);
  const bool lower = rules == NameRules::Database || rules == NameRules::Volume;
  std::string name;
  for (char c : raw) {
    if (lower) {
      const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      name += lower_alnum(l) ? l : '-';
    } else {
      name += alnum(c) || c == '.' || c == '-' ? c : '-';
    }
  }
  while (!name.empty() && !alnum(name.front())) name.erase(name.begin());
  while (!name.empty() && !alnum(name.back())) name.pop_back();
  if (name.empty()) name = "keel";
  if (lower && !std::isalpha(static_cast<unsigned char>(name.front()))) name = fmt::format("keel-{}", name);
  switch (rules) {
    case NameRules::Database: return fit(name, 63);
    case NameRules::Volume: return fit(name, 64);
    default: return fit(name.size() < 2 ? fmt::format("{}-1", name) : name, 255);
  }
}

std::optional<std::string> name_problem(const std::string& name, NameRules rules) {
  if (name.empty()) return "`name` must not be empty";
  switch (rules) {
    case NameRules::Droplet:
    case NameRules::LoadBalancer:
    case NameRules::Firewall: {
      if (name.size() > 255) return fmt::format("`name` \"{}\" is longer than 255 characters", name);
      for (char c : name)
        if (!alnum(c) && c != '.' && c != '-')
          return fmt::format("`name` \"{}\" may hold only letters, digits, `.` and `-`", name);
      if (!alnum(name.front())) return fmt::format("`name` \"{}\" must start with a letter or a digit", name);
      if (rules == NameRules::Firewall && name.size() < 2)
        return fmt::format("`name` \"{}\" must be at least 2 characters", name);
      if (rules != NameRules::Firewall && !alnum(name.back()))
        return fmt::format("`name` \"{}\" must end with a letter or a digit", name);
      return std::nullopt;
    }
    case NameRules::Database:
    case NameRules::Volume: {
      const std::size_t limit = rules == NameRules::Database ? 63 : 64;
      if (name.size() > limit) return fmt::format("`name` \"{}\" is longer than {} characters", name, limit);
      for (char c : name)
        if (!lower_alnum(c) && c != '-')
          return fmt::format("`name` \"{}\" may hold only lower-case letters, digits and `-`", name);
      if (!std::isalpha(static_cast<unsigned char>(name.front())))
        return fmt::format("`name` \"{}\" must start with a letter", name);
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace keel::digitalocean
