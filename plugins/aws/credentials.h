#pragma once
// Credentials, region and endpoint as the AWS CLI finds them:
//
// - keys: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, else
//   the profile's aws_access_key_id / aws_secret_access_key /
//   aws_session_token in the shared credentials file
//   (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials) or the config
//   file (AWS_CONFIG_FILE, default ~/.aws/config);
// - the profile: the provider block's `profile`, else AWS_PROFILE, else
//   "default" (in the config file a profile is `[profile NAME]`, the
//   default `[default]`);
// - region: the block's `region`, else AWS_REGION, AWS_DEFAULT_REGION, the
//   profile's `region`;
// - endpoint: the block's `endpoint`, else AWS_ENDPOINT_URL_EC2,
//   AWS_ENDPOINT_URL, the profile's `endpoint_url`; none: AWS's own.
//
// Errors name the variable or file and line, never a key's value.

#include <functional>
#include <optional>
#include <string>

#include "core/error.h"
#include "core/sigv4.h"

namespace keel::aws {

using Environment = std::function<std::optional<std::string>(const std::string& name)>;

struct Settings {
  sigv4::Credentials credentials;
  std::string region;
  std::string endpoint;   // empty: AWS's
  std::string source;     // where the keys came from, for messages ("the environment", "profile dev")
};

struct Wanted {
  std::string profile;   // empty: AWS_PROFILE, else "default"
  std::string region;    // empty: as found
  std::string endpoint;  // empty: as found
};

Result<Settings> find_settings(const Wanted& wanted, const Environment& environment);

}  // namespace keel::aws
