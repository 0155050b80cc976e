#pragma once
// Where backups are stored: a flat namespace of named objects under the
// destination's root (a directory, an S3 prefix, an SFTP directory). Names
// are relative paths with "/" ("main-nightly/20261127T030000Z-1a2b.data").
//
// The contract every destination keeps (tests/integration/dr_destination_test
// runs one conformance suite against all of them):
// - An object becomes visible under its name only at commit(): a writer that
//   is aborted, destroyed without commit, or whose process dies leaves no
//   object of that name (at most a leftover under a temporary name, which
//   list() does not report and cleanup_leftovers() removes).
// - Memory stays bounded whatever the object's size: writers stream (S3 with
//   multipart upload, one part buffered at a time), readers stream.
// - Errors carry the destination (without credentials) and the object name.
//
//   auto dest = open_destination(spec);                 // file://, s3://, sftp://
//   auto w = (*dest)->create("job/x.data");
//   w->write(chunk) ...; w->commit();
//   auto r = (*dest)->open("job/x.data"); r->read(buf, n) until 0.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace keel::dr {

struct ObjectInfo {
  std::string name;   // relative to the destination's root
  std::uint64_t size = 0;
};

class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;  // aborts when neither commit() nor abort() ran
  virtual Status write(std::string_view data) = 0;
  // Makes the object visible under its name, durably (fsync, a completed
  // multipart upload, a rename on the server).
  virtual Status commit() = 0;
  // Removes what was written so far; best effort, never throws.
  virtual void abort() = 0;
};

class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  // Up to `max` bytes into `buffer`; 0 at the end of the object.
  virtual Result<std::size_t> read(char* buffer, std::size_t max) = 0;
};

class Destination {
 public:
  virtual ~Destination() = default;
  // The URL without credentials, for messages and the API.
  virtual std::string describe() const = 0;
  virtual Result<std::unique_ptr<ObjectWriter>> create(const std::string& name) = 0;
  // NotFound when there is no such object.
  virtual Result<std::unique_ptr<ObjectReader>> open(const std::string& name) = 0;
  // Committed objects whose name starts with `prefix`, sorted by name.
  virtual Result<std::vector<ObjectInfo>> list(const std::string& prefix) = 0;
  // Removes an object; a missing one is fine.
  virtual Status remove(const std::string& name) = 0;
  // Removes what interrupted writers left under `prefix` (temporary files,
  // unfinished multipart uploads). Only call it when no writer of that
  // prefix is running.
  virtual Status cleanup_leftovers(const std::string& prefix) = 0;
};

// S3-compatible object storage settings (the `s3:` map beside `to:`).
struct S3Settings {
  std::string endpoint;           // "https://s3.eu-central-1.amazonaws.com"; empty: AWS for the region
  std::string region = "us-east-1";
  bool path_style = false;        // http://host/bucket/key instead of http://bucket.host/key
  std::string access_key_id;
  std::string secret_access_key;  // never in messages or logs
  std::size_t part_size = 8u << 20;  // multipart upload part size (S3's minimum is 5 MiB)
};

// SFTP settings (the `sftp:` map beside `to:`).
struct SftpSettings {
  std::string key_file;           // private key; empty: ssh-agent, then ~/.ssh/id_*
  std::string known_hosts_file;   // empty: ~/.ssh/known_hosts; the host key must be there
  int port = 22;                  // overridden by a port in the URL
};

struct DestinationSpec {
  std::string url;  // file:///dir, s3://bucket/prefix, sftp://user@host[:port]/dir
  S3Settings s3;
  SftpSettings sftp;
};

// Opens (and for file:// creates) the destination named by spec.url.
// InvalidConfig for a URL it cannot use; Unavailable when it cannot reach it.
Result<std::unique_ptr<Destination>> open_destination(const DestinationSpec& spec);

// The implementations (open_destination picks one by scheme).
Result<std::unique_ptr<Destination>> open_file_destination(const std::string& dir);
Result<std::unique_ptr<Destination>> open_s3_destination(const std::string& bucket, const std::string& prefix,
                                                         const S3Settings& settings);
Result<std::unique_ptr<Destination>> open_sftp_destination(const std::string& user, const std::string& host,
                                                           const std::string& dir, const SftpSettings& settings);

}  // namespace keel::dr
