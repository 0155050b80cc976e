#include "tests/cloudsim/router.h"

#include <utility>

namespace keel::cloudsim {

namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

bool is_parameter(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// The number of literal segments matched, or -1 when the route does not fit.
int match_score(const Route& route, const std::vector<std::string>& segments,
                std::map<std::string, std::string>& params) {
  if (route.segments.size() != segments.size()) return -1;
  int literals = 0;
  std::map<std::string, std::string> found;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& want = route.segments[i];
    if (is_parameter(want)) {
      found[want.substr(1, want.size() - 2)] = segments[i];
    } else if (want == segments[i]) {
      ++literals;
    } else {
      return -1;
    }
  }
  params = std::move(found);
  return literals;
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler) {
  auto segments = split_path(pattern);
  routes_.push_back({std::move(method), std::move(pattern), std::move(segments), std::move(handler)});
}

const Route* Router::find(std::string_view method, std::string_view path,
                          std::map<std::string, std::string>& params) const {
  auto segments = split_path(path);
  const Route* best = nullptr;
  int best_score = -1;
  for (const auto& route : routes_) {
    if (route.method != method) continue;
    std::map<std::string, std::string> candidate;
    int score = match_score(route, segments, candidate);
    if (score > best_score) {
      best = &route;
      best_score = score;
      params = std::move(candidate);
    }
  }
  return best;
}

}  // namespace keel::cloudsim
