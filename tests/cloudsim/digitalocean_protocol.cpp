#include "tests/cloudsim/digitalocean_protocol.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>

#include "core/crypto.h"

namespace keel::cloudsim::digitalocean {

Reply error_reply(int status, const std::string& id, const std::string& message) {
  return Reply{status, Json{{"id", id}, {"message", message}, {"request_id", crypto::uuid_v4()}}};
}

Reply not_found() { return error_reply(404, "not_found", "The resource you were accessing could not be found."); }
Reply unprocessable(const std::string& message) { return error_reply(422, "unprocessable_entity", message); }
Reply bad_request(const std::string& message) { return error_reply(400, "bad_request", message); }
Reply conflict(const std::string& message) { return error_reply(409, "conflict", message); }
Reply json_reply(int status, Json body) { return Reply{status, std::move(body)}; }
Reply no_content() { return Reply{204, std::nullopt}; }

std::expected<Json, Reply> object_body(const Call& call, int invalid_status) {
  Json body = Json::parse(call.body, nullptr, false);
  if (body.is_discarded()) {
    std::string id = invalid_status == 400 ? "bad_request" : "unprocessable_entity";
    return std::unexpected(error_reply(invalid_status, id, "The request body is not valid JSON."));
  }
  if (!body.is_object()) {
    std::string id = invalid_status == 400 ? "bad_request" : "unprocessable_entity";
    return std::unexpected(error_reply(invalid_status, id, "The request body must be a JSON object."));
  }
  return body;
}

namespace {

// A positive integer from the query, or `fallback` when absent or not a number.
int64_t query_int(const Call& call, const std::string& name, int64_t fallback) {
  auto text = call.query_value(name);
  if (!text || text->empty() || text->size() > 9 || text->find_first_not_of("0123456789") != std::string::npos)
    return fallback;
  return std::stoll(*text);
}

std::string url_encode(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string page_url(const Call& call, int64_t page, int64_t per_page) {
  std::string url = call.base_url + call.path + "?";
  for (const auto& [key, value] : call.query) {
    if (key == "page" || key == "per_page") continue;
    url += url_encode(key) + "=" + url_encode(value) + "&";
  }
  return url + "page=" + std::to_string(page) + "&per_page=" + std::to_string(per_page);
}

}  // namespace

Json paged(const Call& call, const std::string& key, const std::vector<Json>& items) {
  const int64_t total = static_cast<int64_t>(items.size());
  const int64_t page = std::max<int64_t>(1, query_int(call, "page", 1));
  const int64_t per_page = std::clamp<int64_t>(query_int(call, "per_page", 20), 1, call.max_per_page);
  const int64_t last = std::max<int64_t>(1, (total + per_page - 1) / per_page);

  Json slice = Json::array();
  for (int64_t i = (page - 1) * per_page; i < std::min(total, page * per_page); ++i) slice.push_back(items[i]);

  Json pages = Json::object();
  if (page > 1) {
    pages["first"] = page_url(call, 1, per_page);
    pages["prev"] = page_url(call, std::min(page - 1, last), per_page);
  }
  if (page < last) {
    pages["next"] = page_url(call, page + 1, per_page);
    pages["last"] = page_url(call, last, per_page);
  }
  return Json{{key, slice}, {"links", {{"pages", pages}}}, {"meta", {{"total", total}}}};
}

std::string iso_time(TimePoint when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

TimePoint after_seconds(TimePoint from, double seconds) {
  return from + std::chrono::milliseconds(std::llround(seconds * 1000));
}

}  // namespace keel::cloudsim::digitalocean
