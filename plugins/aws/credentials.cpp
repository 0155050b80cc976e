#include "plugins/aws/credentials.h"

#include <fstream>
#include <map>

#include <fmt/format.h>

#include "core/text.h"

namespace keel::aws {

namespace {

using Section = std::map<std::string, std::string>;

std::string trimmed(std::string s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

// The `section` of an INI file as the AWS CLI reads it; empty when the file
// or the section is missing. Bounded: a line longer than 64 KiB is cut.
Section read_section(const std::string& path, const std::string& section) {
  Section out;
  std::ifstream in(path);
  if (!in) return out;
  std::string line;
  bool inside = false;
  int lines = 0;
  while (std::getline(in, line) && ++lines < 100'000) {
    if (line.size() > 65536) line.resize(65536);
    line = trimmed(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      const auto end = line.find(']');
      inside = end != std::string::npos && trimmed(line.substr(1, end - 1)) == section;
      continue;
    }
    if (!inside) continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    out[trimmed(line.substr(0, eq))] = trimmed(line.substr(eq + 1));
  }
  return out;
}

std::string get(const Section& s, const std::string& key) {
  auto it = s.find(key);
  return it == s.end() ? "" : it->second;
}

}  // namespace

Result<Settings> find_settings(const Wanted& wanted, const Environment& env) {
  auto var = [&](const std::string& name) { return env(name).value_or(""); };
  const std::string home = var("HOME");
  std::string profile = wanted.profile.empty() ? var("AWS_PROFILE") : wanted.profile;
  if (profile.empty()) profile = "default";
  std::string credentials_file = var("AWS_SHARED_CREDENTIALS_FILE");
  if (credentials_file.empty() && !home.empty()) credentials_file = home + "/.aws/credentials";
  std::string config_file = var("AWS_CONFIG_FILE");
  if (config_file.empty() && !home.empty()) config_file = home + "/.aws/config";
  const Section creds = credentials_file.empty() ? Section{} : read_section(credentials_file, profile);
  const Section config =
      config_file.empty() ? Section{} : read_section(config_file, profile == "default" ? "default" : "profile " + profile);

  Settings out;
  // Environment keys win unless the block names a profile (as the CLI's --profile does).
  if (wanted.profile.empty() && !var("AWS_ACCESS_KEY_ID").empty()) {
    out.credentials = {var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"), var("AWS_SESSION_TOKEN")};
    out.source = "the environment (AWS_ACCESS_KEY_ID)";
    if (out.credentials.secret_access_key.empty())
      return fail(ErrorCode::InvalidConfig, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  } else {
    const Section& from = get(creds, "aws_access_key_id").empty() ? config : creds;
    out.credentials = {get(from, "aws_access_key_id"), get(from, "aws_secret_access_key"), get(from, "aws_session_token")};
    out.source = fmt::format("profile {} ({})", profile, &from == &creds ? credentials_file : config_file);
    if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty())
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give profile "
                              "\"{}\" aws_access_key_id and aws_secret_access_key in {} or {}",
                              profile, credentials_file, config_file));
  }
  out.region = wanted.region;
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"})
    if (out.region.empty()) out.region = var(name);
  if (out.region.empty()) out.region = get(config, "region");
  if (out.region.empty())
    return fail(ErrorCode::InvalidConfig, "no AWS region: set `region`, AWS_REGION or the profile's region");
  out.endpoint = wanted.endpoint;
  for (const char* name : {"AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"})
    if (out.endpoint.empty()) out.endpoint = var(name);
  if (out.endpoint.empty()) out.endpoint = get(config, "endpoint_url");
  return out;
}

}  // namespace keel::aws
