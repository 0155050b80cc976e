// The S3 destination: objects under "prefix/" in a bucket of S3-compatible
// object storage. The wire protocol (signing, retries, XML) is
// s3_request.h; this file keeps the Destination contract:
// - a writer buffers one part at a time: an object smaller than a part is
//   one PutObject at commit(), a larger one a multipart upload that becomes
//   visible only at CompleteMultipartUpload (abort() and the destructor
//   abort it);
// - a reader asks HeadObject for the size, then fetches ranges of
//   kReadChunk bytes, so memory stays bounded;
// - list() pages through ListObjectsV2, cleanup_leftovers() aborts the
//   unfinished multipart uploads under a prefix.
#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include "core/log.h"

#include "agent/dr/destination.h"
#include "agent/dr/object_name.h"
#include "agent/dr/s3_request.h"

namespace keel::dr {

namespace {

constexpr std::size_t kMinPartSize = 5u << 20;    // S3's minimum for all parts but the last
constexpr std::size_t kMaxPartSize = 5ull << 30;  // and its maximum
constexpr int kMaxParts = 10'000;
constexpr std::size_t kReadChunk = 8u << 20;  // bytes per ranged GET
constexpr std::size_t kMaxKeyBytes = 1024;

using ClientPtr = std::shared_ptr<const s3::Client>;

std::string trim_slashes(std::string text) {
  while (!text.empty() && text.front() == '/') text.erase(text.begin());
  while (!text.empty() && text.back() == '/') text.pop_back();
  return text;
}

s3::Request request(const char* operation, const char* method, std::string key) {
  s3::Request r;
  r.operation = operation;
  r.method = method;
  r.key = std::move(key);
  return r;
}

// --- writing ----------------------------------------------------------------------

class S3Writer final : public ObjectWriter {
 public:
  S3Writer(ClientPtr client, std::string key, std::size_t part_size)
      : client_(std::move(client)), key_(std::move(key)), part_size_(part_size) {}
  ~S3Writer() override { abort(); }

  Status write(std::string_view data) override {
    if (auto usable = check_open("write"); !usable) return usable;
    while (!data.empty()) {
      // A full buffer is sent only when more data comes: an object of
      // exactly one part is still a single PutObject at commit().
      if (buffer_.size() == part_size_) {
        if (auto sent = upload_part(); !sent) return failed(sent.error());
      }
      const std::size_t n = std::min(data.size(), part_size_ - buffer_.size());
      grow_buffer(n);
      buffer_.append(data.substr(0, n));
      data.remove_prefix(n);
    }
    return {};
  }

  Status commit() override {
    if (auto usable = check_open("commit"); !usable) return usable;
    Status done = upload_id_.empty() ? put_object() : complete_upload();
    if (!done) return failed(done.error());
    state_ = State::Committed;
    std::string().swap(buffer_);
    return {};
  }

  void abort() override {
    if (state_ == State::Committed || state_ == State::Aborted) return;
    state_ = State::Aborted;
    std::string().swap(buffer_);
    if (upload_id_.empty()) return;  // nothing was sent yet
    s3::Request r = request("AbortMultipartUpload", "DELETE", key_);
    r.query = {{"uploadId", upload_id_}};
    // 404: gone already (completed, or aborted by cleanup_leftovers).
    if (auto aborted = client_->send(r, {404}); !aborted)
      logging::warn(fmt::runtime("s3: {}; the unfinished upload stays until cleanup_leftovers removes it"),
                   aborted.error().message());
  }

 private:
  enum class State { Open, Committed, Failed, Aborted };

  Status check_open(const char* what) const {
    if (state_ == State::Open) return {};
    static constexpr const char* kStates[] = {"open", "committed", "failed", "aborted"};
    return fail(ErrorCode::Internal, fmt::format("{} {}: the writer is {}", what, client_->describe(key_),
                                                 kStates[static_cast<int>(state_)]));
  }

  // A failed writer accepts nothing more; abort() (or the destructor)
  // removes what was uploaded.
  Status failed(Error error) {
    state_ = State::Failed;
    return fail(std::move(error));
  }

  // Grows the buffer geometrically, but never past one part.
  void grow_buffer(std::size_t n) {
    if (buffer_.size() + n <= buffer_.capacity()) return;
    buffer_.reserve(std::min(part_size_, std::max(buffer_.size() + n, 2 * buffer_.capacity())));
  }

  Status put_object() {
    s3::Request r = request("PutObject", "PUT", key_);
    r.content_type = "application/octet-stream";
    r.body = buffer_;
    if (auto put = client_->send(r); !put) return fail(put.error());
    return {};
  }

  Status create_upload() {
    s3::Request r = request("CreateMultipartUpload", "POST", key_);
    r.query = {{"uploads", ""}};
    r.content_type = "application/octet-stream";  // becomes the object's type
    auto created = client_->send(r);
    if (!created) return fail(created.error());
    auto id = s3::parse_upload_id(created->body);
    if (!id) return fail(id.error().with_context(client_->describe(key_)));
    upload_id_ = std::move(*id);
    return {};
  }

  Status upload_part() {
    if (upload_id_.empty()) {
      if (auto created = create_upload(); !created) return created;
    }
    const int number = static_cast<int>(etags_.size()) + 1;
    if (number > kMaxParts)
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("UploadPart {}: more than {} parts of {} bytes; raise the part size",
                              client_->describe(key_), kMaxParts, part_size_));
    s3::Request r = request("UploadPart", "PUT", key_);
    r.query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id_}};
    r.body = buffer_;
    auto sent = client_->send(r);
    if (!sent) return fail(sent.error());
    std::string etag = sent->header("etag");
    if (etag.empty())
      return fail(ErrorCode::Protocol,
                  fmt::format("UploadPart {}: part {}: no ETag in the answer", client_->describe(key_), number));
    etags_.push_back(std::move(etag));
    buffer_.clear();  // keeps its capacity for the next part
    return {};
  }

  Status complete_upload() {
    if (!buffer_.empty()) {
      if (auto sent = upload_part(); !sent) return sent;
    }
    const std::string body = s3::complete_multipart_body(etags_);
    s3::Request r = request("CompleteMultipartUpload", "POST", key_);
    r.query = {{"uploadId", upload_id_}};
    r.content_type = "application/xml";
    r.body = body;
    r.error_in_ok_body = true;
    if (auto done = client_->send(r); !done) return fail(done.error());
    return {};
  }

  ClientPtr client_;
  std::string key_;
  std::size_t part_size_;
  State state_ = State::Open;
  std::string buffer_;  // at most one part
  std::string upload_id_;
  std::vector<std::string> etags_;  // of parts 1..n
};

// --- reading ------------------------------------------------------------------------

// A Content-Length header's value.
Result<std::uint64_t> parse_length(const std::string& value) {
  std::uint64_t length = 0;
  auto [stop, error] = std::from_chars(value.data(), value.data() + value.size(), length);
  if (value.empty() || error != std::errc() || stop != value.data() + value.size())
    return fail(ErrorCode::Protocol, fmt::format("bad Content-Length '{}'", value));
  return length;
}

class S3Reader final : public ObjectReader {
 public:
  // HeadObject first: it tells the size and the ETag, and NotFound comes
  // from here. (A range of an empty object is an error on S3, and s3rver
  // answers it with a broken 206.)
  static Result<std::unique_ptr<ObjectReader>> open(ClientPtr client, std::string key) {
    auto reader = std::unique_ptr<S3Reader>(new S3Reader(std::move(client), std::move(key)));
    if (auto found = reader->head(); !found) return fail(found.error());
    return std::unique_ptr<ObjectReader>(std::move(reader));
  }

  Result<std::size_t> read(char* buffer, std::size_t max) override {
    if (pos_ == chunk_.size()) {
      if (next_ >= size_) return std::size_t{0};
      if (auto fetched = fetch_next(); !fetched) return fail(fetched.error());
    }
    const std::size_t n = std::min(max, chunk_.size() - pos_);
    std::memcpy(buffer, chunk_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  S3Reader(ClientPtr client, std::string key) : client_(std::move(client)), key_(std::move(key)) {}

  Status head() {
    auto got = client_->send(request("HeadObject", "HEAD", key_));
    if (!got) return fail(got.error());
    auto size = parse_length(got->header("content-length"));
    if (!size) return fail(size.error().with_context(fmt::format("HeadObject {}", client_->describe(key_))));
    size_ = *size;
    etag_ = got->header("etag");
    return {};
  }

  Status fetch_next() {
    const std::uint64_t last = std::min<std::uint64_t>(next_ + kReadChunk, size_) - 1;
    s3::Request r = request("GetObject", "GET", key_);
    r.headers.emplace_back("Range", fmt::format("bytes={}-{}", next_, last));
    // The object must not change between two ranges (412 if it did).
    if (!etag_.empty()) r.headers.emplace_back("If-Match", etag_);
    r.max_response_bytes = kReadChunk;
    auto got = client_->send(r);
    if (!got) return fail(got.error());
    const std::uint64_t expected = last - next_ + 1;
    // 200 is fine when the range was the whole object.
    const bool whole = got->status == 200 && next_ == 0 && expected == size_;
    if ((got->status != 206 && !whole) || got->body.size() != expected)
      return fail(ErrorCode::Protocol,
                  fmt::format("GetObject {}: asked for bytes {}-{}, got {} bytes (HTTP {})", client_->describe(key_),
                              next_, last, got->body.size(), got->status));
    chunk_ = std::move(got->body);
    pos_ = 0;
    next_ += expected;
    return {};
  }

  ClientPtr client_;
  std::string key_;
  std::string etag_;
  std::uint64_t size_ = 0;
  std::uint64_t next_ = 0;  // the first byte not fetched yet
  std::string chunk_;       // at most kReadChunk bytes
  std::size_t pos_ = 0;     // in chunk_
};

// --- the destination -------------------------------------------------------------------

class S3Destination final : public Destination {
 public:
  S3Destination(ClientPtr client, std::string prefix, std::size_t part_size)
      : client_(std::move(client)),
        prefix_(std::move(prefix)),
        root_(prefix_.empty() ? "" : prefix_ + "/"),
        part_size_(part_size) {}

  std::string describe() const override { return client_->describe(prefix_); }

  Result<std::unique_ptr<ObjectWriter>> create(const std::string& name) override {
    auto key = key_for(name);
    if (!key) return fail(key.error());
    return std::unique_ptr<ObjectWriter>(std::make_unique<S3Writer>(client_, std::move(*key), part_size_));
  }

  Result<std::unique_ptr<ObjectReader>> open(const std::string& name) override {
    auto key = key_for(name);
    if (!key) return fail(key.error());
    return S3Reader::open(client_, std::move(*key));
  }

  Result<std::vector<ObjectInfo>> list(const std::string& prefix) override {
    std::vector<ObjectInfo> out;
    std::string token;
    do {
      s3::Request r = request("ListObjectsV2", "GET", "");
      r.query = {{"list-type", "2"}, {"prefix", root_ + prefix}};
      if (!token.empty()) r.query.emplace_back("continuation-token", token);
      auto got = client_->send(r);
      if (!got) return fail(got.error());
      auto page = s3::parse_list_objects(got->body);
      if (!page) return fail(page.error().with_context(describe()));
      for (auto& object : page->objects) {
        // Keys outside the root, or a "folder" marker for it, are not ours.
        if (object.key.size() <= root_.size() || object.key.compare(0, root_.size(), root_) != 0) continue;
        out.push_back(ObjectInfo{object.key.substr(root_.size()), object.size});
      }
      if (page->truncated && page->next_continuation_token.empty())
        return fail(ErrorCode::Protocol,
                    fmt::format("ListObjectsV2 {}: truncated without a continuation token", describe()));
      token = page->truncated ? page->next_continuation_token : "";
    } while (!token.empty());
    std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
    return out;
  }

  Status remove(const std::string& name) override {
    auto key = key_for(name);
    if (!key) return fail(key.error());
    if (auto removed = client_->send(request("DeleteObject", "DELETE", *key), {404}); !removed)
      return fail(removed.error());
    return {};
  }

  Status cleanup_leftovers(const std::string& prefix) override {
    std::string key_marker, id_marker;
    Status result;
    for (;;) {
      s3::Request r = request("ListMultipartUploads", "GET", "");
      r.query = {{"uploads", ""}, {"prefix", root_ + prefix}};
      if (!key_marker.empty()) r.query.emplace_back("key-marker", key_marker);
      if (!id_marker.empty()) r.query.emplace_back("upload-id-marker", id_marker);
      auto got = client_->send(r, {501});
      if (!got) return fail(got.error());
      if (got->status == 501) {
        // s3rver, for one, has no ListMultipartUploads: nothing to find them with.
        logging::warn(fmt::runtime("s3: {}: the server cannot list multipart uploads (NotImplemented); unfinished "
                                  "ones stay until a lifecycle rule (AbortIncompleteMultipartUpload) removes them"),
                     describe());
        return {};
      }
      auto page = s3::parse_list_uploads(got->body);
      if (!page) return fail(page.error().with_context(describe()));
      for (const auto& upload : page->uploads) {
        if (auto aborted = abort_upload(upload); !aborted && result) result = aborted;
      }
      if (!page->truncated) return result;
      if (page->next_key_marker.empty())
        return fail(ErrorCode::Protocol,
                    fmt::format("ListMultipartUploads {}: truncated without a NextKeyMarker", describe()));
      key_marker = page->next_key_marker;
      id_marker = page->next_upload_id_marker;
    }
  }

 private:
  Result<std::string> key_for(const std::string& name) const {
    if (auto valid = check_object_name(name); !valid) return fail(valid.error().with_context(describe()));
    std::string key = root_ + name;
    if (key.size() > kMaxKeyBytes)
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("{}: object name '{}' makes a key longer than {} bytes", describe(), name, kMaxKeyBytes));
    return key;
  }

  Status abort_upload(const s3::MultipartUpload& upload) {
    s3::Request r = request("AbortMultipartUpload", "DELETE", upload.key);
    r.query = {{"uploadId", upload.upload_id}};
    if (auto aborted = client_->send(r, {404}); !aborted) return fail(aborted.error());
    logging::info(fmt::runtime("s3: aborted the unfinished upload of {}"), client_->describe(upload.key));
    return {};
  }

  ClientPtr client_;
  std::string prefix_;  // without leading or trailing '/'
  std::string root_;    // prefix_ + "/", or "" for the whole bucket
  std::size_t part_size_;
};

}  // namespace

Result<std::unique_ptr<Destination>> open_s3_destination(const std::string& bucket, const std::string& prefix,
                                                         const S3Settings& settings) {
  const std::string where = fmt::format("s3://{}/{}", bucket, prefix);
  if (settings.part_size < kMinPartSize || settings.part_size > kMaxPartSize)
    return fail(ErrorCode::InvalidConfig, fmt::format("{}: part_size {} is outside S3's limits ({} to {} bytes)", where,
                                                      settings.part_size, kMinPartSize, kMaxPartSize));
  if (settings.access_key_id.empty() || settings.secret_access_key.empty())
    return fail(ErrorCode::InvalidConfig, fmt::format("{}: access_key_id and secret_access_key are required", where));
  s3::ClientConfig config;
  config.endpoint = settings.endpoint;
  config.region = settings.region;
  config.path_style = settings.path_style;
  config.access_key_id = settings.access_key_id;
  config.secret_access_key = settings.secret_access_key;
  auto client = s3::Client::make(std::move(config), bucket);
  if (!client) return fail(client.error().with_context(where));
  return std::unique_ptr<Destination>(std::make_unique<S3Destination>(
      std::make_shared<const s3::Client>(std::move(*client)), trim_slashes(prefix), settings.part_size));
}

}  // namespace keel::dr
