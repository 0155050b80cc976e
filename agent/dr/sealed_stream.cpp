#include "agent/dr/sealed_stream.h"

#include <openssl/evp.h>
#include <zstd.h>

#include <array>
#include <cstring>

#include <fmt/format.h>

namespace keel::dr {
namespace {

constexpr std::string_view kMagicV1 = "KEELDR01", kMagicV2 = "KEELDR02";
constexpr std::size_t kKeyIdSize = 8, kSaltSize = 16, kTagSize = 16, kNonceSize = 12;
// The part every format has; format 2 follows it with the binding.
constexpr std::size_t kFixedHeaderSize = kMagicV1.size() + kKeyIdSize + kSaltSize + 4;
constexpr std::size_t kMaxBindingSize = 4 * 256;
constexpr std::size_t kFrameHeaderSize = 5;
constexpr std::size_t kMaxChunkSize = 16u << 20;  // refuse absurd sizes from a damaged header
constexpr unsigned char kFinal = 1;

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string key_id_raw(const crypto::Key& key) {
  std::string input = "keel-dr-key-id";
  input.append(reinterpret_cast<const char*>(key.data()), key.size());
  return crypto::sha256_raw(input).substr(0, kKeyIdSize);
}

crypto::Key data_key(const crypto::Key& key, int format, std::string_view salt) {
  std::string message = format == 1 ? "keel-dr-v1" : "keel-dr-v2";
  message.append(salt);
  crypto::Key out{};
  size_t out_len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(), out.size(), &out_len);
  return out;
}

std::array<unsigned char, kNonceSize> nonce_for(std::uint64_t index) {
  std::array<unsigned char, kNonceSize> nonce{};
  for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<unsigned char>((index >> (56 - 8 * i)) & 0xff);
  return nonce;
}

std::string chunk_aad(std::string_view header, std::uint64_t index, unsigned char flags) {
  std::string aad(header);
  put_u64(aad, index);
  aad.push_back(static_cast<char>(flags));
  return aad;
}

// One AES-256-GCM context reused for every chunk of a stream (the key
// schedule is computed once).
class Gcm {
 public:
  Gcm(const crypto::Key& key, bool encrypt) : ctx_(EVP_CIPHER_CTX_new()), encrypt_(encrypt) {
    EVP_CipherInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, nullptr, nullptr, encrypt ? 1 : 0);
    EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr);
    EVP_CipherInit_ex(ctx_, nullptr, nullptr, key.data(), nullptr, -1);
  }
  ~Gcm() { EVP_CIPHER_CTX_free(ctx_); }
  Gcm(const Gcm&) = delete;
  Gcm& operator=(const Gcm&) = delete;

  // Encrypts `in` into `out` (same size) and writes the tag; or decrypts and
  // checks `tag`. False when the tag does not verify.
  bool run(std::uint64_t index, std::string_view aad, const char* in, std::size_t size, char* out, unsigned char* tag) {
    auto nonce = nonce_for(index);
    int len = 0;
    if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce.data(), -1) != 1) return false;
    if (EVP_CipherUpdate(ctx_, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                         static_cast<int>(aad.size())) != 1)
      return false;
    if (size > 0 && EVP_CipherUpdate(ctx_, reinterpret_cast<unsigned char*>(out), &len,
                                     reinterpret_cast<const unsigned char*>(in), static_cast<int>(size)) != 1)
      return false;
    if (!encrypt_ && EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_TAG, kTagSize, tag) != 1) return false;
    unsigned char final_block[16];
    if (EVP_CipherFinal_ex(ctx_, final_block, &len) != 1) return false;
    if (encrypt_ && EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, kTagSize, tag) != 1) return false;
    return true;
  }

 private:
  EVP_CIPHER_CTX* ctx_;
  bool encrypt_;
};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data) { EVP_DigestUpdate(ctx_, data.data(), data.size()); }
  std::string hex() {
    unsigned char digest[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, digest, &len);
    return crypto::hex_encode(std::string_view(reinterpret_cast<char*>(digest), len));
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::unexpected<Error> corrupt(const std::string& what) {
  return fail(ErrorCode::Corrupt, "backup is damaged or not a keel backup: " + what);
}

// job, id, started, source: each a u8 length and its bytes.
std::string encode_binding(const StreamBinding& b) {
  std::string out;
  for (const std::string* field : {&b.job, &b.id, &b.started, &b.source}) {
    out.push_back(static_cast<char>(std::min<std::size_t>(field->size(), 255)));
    out.append(field->substr(0, 255));
  }
  return out;
}

std::optional<StreamBinding> decode_binding(std::string_view bytes) {
  StreamBinding b;
  for (std::string* field : {&b.job, &b.id, &b.started, &b.source}) {
    if (bytes.empty()) return std::nullopt;
    auto size = static_cast<unsigned char>(bytes.front());
    bytes.remove_prefix(1);
    if (bytes.size() < size) return std::nullopt;
    field->assign(bytes.substr(0, size));
    bytes.remove_prefix(size);
  }
  if (!bytes.empty()) return std::nullopt;
  return b;
}

}  // namespace

std::string key_id(const crypto::Key& key) { return crypto::hex_encode(key_id_raw(key)); }

// ---- writing ----

struct SealingWriter::State {
  State(const crypto::Key& key, const StreamBinding& binding, int level)
      : salt(crypto::random_bytes(kSaltSize)), gcm(data_key(key, 2, salt), true) {
    header.append(kMagicV2);
    header.append(key_id_raw(key));
    header.append(salt);
    put_u32(header, kChunkSize);
    std::string bound = encode_binding(binding);
    put_u16(header, static_cast<std::uint16_t>(bound.size()));
    header.append(bound);
    cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    // A second thread compresses while this one seals and stores: the
    // pipeline keeps pace with the source. Ignored by a libzstd built
    // without threads.
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, 1);
    out_buffer.resize(ZSTD_CStreamOutSize());
  }
  ~State() { ZSTD_freeCCtx(cctx); }

  std::string salt, header;
  Gcm gcm;
  ZSTD_CCtx* cctx = nullptr;
  std::string out_buffer;  // zstd's output, moved into `pending`
  std::string pending;     // compressed bytes not sealed yet
  std::string frame;       // reused for each sealed chunk
  std::uint64_t index = 0;
  bool header_written = false, finished = false;
  Sha256 sha;
};

SealingWriter::SealingWriter(ObjectWriter& out, const crypto::Key& key, const StreamBinding& binding, int zstd_level)
    : out_(out), state_(std::make_unique<State>(key, binding, zstd_level)) {}

SealingWriter::~SealingWriter() = default;

Status SealingWriter::store(std::string_view bytes) {
  if (!state_->header_written) {
    state_->header_written = true;
    if (auto ok = store(state_->header); !ok) return ok;
  }
  state_->sha.update(bytes);
  totals_.stored_bytes += bytes.size();
  return out_.write(bytes);
}

Status SealingWriter::seal_chunk(bool final) {
  State& s = *state_;
  std::size_t size = std::min(s.pending.size(), kChunkSize);
  unsigned char flags = final ? kFinal : 0;
  s.frame.clear();
  put_u32(s.frame, static_cast<std::uint32_t>(size));
  s.frame.push_back(static_cast<char>(flags));
  std::size_t at = s.frame.size();
  s.frame.resize(at + size + kTagSize);
  auto* tag = reinterpret_cast<unsigned char*>(s.frame.data() + at + size);
  if (!s.gcm.run(s.index, chunk_aad(s.header, s.index, flags), s.pending.data(), size, s.frame.data() + at, tag))
    return fail(ErrorCode::Internal, "AES-256-GCM encryption failed");
  ++s.index;
  s.pending.erase(0, size);
  return store(s.frame);
}

Status SealingWriter::write(std::string_view raw) {
  State& s = *state_;
  totals_.raw_bytes += raw.size();
  ZSTD_inBuffer in{raw.data(), raw.size(), 0};
  while (in.pos < in.size) {
    ZSTD_outBuffer out{s.out_buffer.data(), s.out_buffer.size(), 0};
    std::size_t rc = ZSTD_compressStream2(s.cctx, &out, &in, ZSTD_e_continue);
    if (ZSTD_isError(rc)) return fail(ErrorCode::Internal, fmt::format("zstd: {}", ZSTD_getErrorName(rc)));
    s.pending.append(s.out_buffer.data(), out.pos);
    while (s.pending.size() >= kChunkSize)
      if (auto ok = seal_chunk(false); !ok) return ok;
  }
  return {};
}

Result<StreamTotals> SealingWriter::finish() {
  State& s = *state_;
  if (s.finished) return fail(ErrorCode::Internal, "sealed stream finished twice");
  s.finished = true;
  ZSTD_inBuffer in{nullptr, 0, 0};
  for (;;) {
    ZSTD_outBuffer out{s.out_buffer.data(), s.out_buffer.size(), 0};
    std::size_t remaining = ZSTD_compressStream2(s.cctx, &out, &in, ZSTD_e_end);
    if (ZSTD_isError(remaining)) return fail(ErrorCode::Internal, fmt::format("zstd: {}", ZSTD_getErrorName(remaining)));
    s.pending.append(s.out_buffer.data(), out.pos);
    if (remaining == 0) break;
  }
  while (s.pending.size() > kChunkSize)
    if (auto ok = seal_chunk(false); !ok) return fail(ok.error());
  if (auto ok = seal_chunk(true); !ok) return fail(ok.error());
  totals_.sha256 = s.sha.hex();
  return totals_;
}

// ---- reading ----

namespace {

// Exact reads over an ObjectReader, hashing and copying what passes.
class StoredInput {
 public:
  StoredInput(ObjectReader& in, const UnsealOptions& options) : in_(in), options_(options) {}

  // Fills `out` with exactly n bytes; false at a clean end before any byte.
  Result<bool> read_exact(std::string& out, std::size_t n) {
    out.resize(n);
    std::size_t got = 0;
    while (got < n) {
      auto r = in_.read(out.data() + got, n - got);
      if (!r) return fail(r.error());
      if (*r == 0) {
        if (got == 0) return false;
        return corrupt(fmt::format("truncated after {} bytes", total_ + got));
      }
      got += *r;
    }
    total_ += n;
    sha_.update(out);
    if (options_.copy)
      if (auto ok = options_.copy(out); !ok) return fail(ok.error());
    if (options_.progress) options_.progress(total_);
    return true;
  }
  std::uint64_t total() const { return total_; }
  std::string sha_hex() { return sha_.hex(); }

 private:
  ObjectReader& in_;
  const UnsealOptions& options_;
  Sha256 sha_;
  std::uint64_t total_ = 0;
};

class Decompressor {
 public:
  Decompressor() : dctx_(ZSTD_createDCtx()), buffer_(ZSTD_DStreamOutSize(), '\0') {}
  ~Decompressor() { ZSTD_freeDCtx(dctx_); }
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  Status feed(std::string_view compressed, const std::function<Status(std::string_view)>& sink, std::uint64_t& raw) {
    ZSTD_inBuffer in{compressed.data(), compressed.size(), 0};
    while (in.pos < in.size) {
      ZSTD_outBuffer out{buffer_.data(), buffer_.size(), 0};
      last_ = ZSTD_decompressStream(dctx_, &out, &in);
      if (ZSTD_isError(last_)) return corrupt(fmt::format("zstd: {}", ZSTD_getErrorName(last_)));
      raw += out.pos;
      if (out.pos > 0)
        if (auto ok = sink(std::string_view(buffer_.data(), out.pos)); !ok) return ok;
    }
    return {};
  }
  // Flushes what zstd still holds; true when a whole frame was decoded.
  Result<bool> drain(const std::function<Status(std::string_view)>& sink, std::uint64_t& raw) {
    while (last_ != 0) {
      ZSTD_inBuffer in{nullptr, 0, 0};
      ZSTD_outBuffer out{buffer_.data(), buffer_.size(), 0};
      last_ = ZSTD_decompressStream(dctx_, &out, &in);
      if (ZSTD_isError(last_)) return corrupt(fmt::format("zstd: {}", ZSTD_getErrorName(last_)));
      if (out.pos == 0) return false;
      raw += out.pos;
      if (auto ok = sink(std::string_view(buffer_.data(), out.pos)); !ok) return fail(ok.error());
    }
    return true;
  }

 private:
  ZSTD_DCtx* dctx_;
  std::string buffer_;
  std::size_t last_ = 1;
};

struct Header {
  std::string bytes, key_id, salt;  // bytes: the whole header, as authenticated
  std::uint32_t chunk_size = 0;
  int format = 0;
  std::optional<StreamBinding> binding;
};

// Format 2's binding, after the fixed part of the header.
Status read_binding(StoredInput& input, Header& h) {
  std::string length, bound;
  auto got = input.read_exact(length, 2);
  if (!got) return fail(got.error());
  if (!*got) return corrupt("truncated in the header");
  std::size_t size = (static_cast<unsigned char>(length[0]) << 8) | static_cast<unsigned char>(length[1]);
  if (size > kMaxBindingSize) return corrupt(fmt::format("header binding of {} bytes", size));
  got = input.read_exact(bound, size);
  if (!got) return fail(got.error());
  if (!*got && size > 0) return corrupt("truncated in the header");
  h.binding = decode_binding(bound);
  if (!h.binding) return corrupt("malformed header binding");
  h.bytes += length;
  h.bytes += bound;
  return {};
}

Result<Header> read_header(StoredInput& input, const crypto::Key& key) {
  Header h;
  auto got = input.read_exact(h.bytes, kFixedHeaderSize);
  if (!got) return fail(got.error());
  if (!*got) return corrupt("empty");
  std::string_view magic = std::string_view(h.bytes).substr(0, kMagicV1.size());
  if (magic == kMagicV1) h.format = 1;
  else if (magic == kMagicV2) h.format = 2;
  else return corrupt("unknown format (bad magic)");
  h.key_id = h.bytes.substr(kMagicV1.size(), kKeyIdSize);
  h.salt = h.bytes.substr(kMagicV1.size() + kKeyIdSize, kSaltSize);
  h.chunk_size = get_u32(h.bytes.data() + kMagicV1.size() + kKeyIdSize + kSaltSize);
  if (h.chunk_size == 0 || h.chunk_size > kMaxChunkSize) return corrupt(fmt::format("chunk size {}", h.chunk_size));
  if (h.format == 2)
    if (auto ok = read_binding(input, h); !ok) return fail(ok.error());
  if (h.key_id != key_id_raw(key))
    return fail(ErrorCode::Corrupt, fmt::format("backup was sealed with key {} but this agent has key {}: "
                                                "restore needs the stack's backup key",
                                                crypto::hex_encode(h.key_id), key_id(key)));
  return h;
}

}  // namespace

Result<StreamTotals> unseal(ObjectReader& in, const crypto::Key& key, const UnsealOptions& options) {
  StoredInput input(in, options);
  auto header = read_header(input, key);
  if (!header) return fail(header.error());
  Gcm gcm(data_key(key, header->format, header->salt), false);
  Decompressor zstd;
  StreamTotals totals;
  totals.format = header->format;
  totals.binding = header->binding;
  std::string frame_header, body, plain;
  for (std::uint64_t index = 0;; ++index) {
    auto got = input.read_exact(frame_header, kFrameHeaderSize);
    if (!got) return fail(got.error());
    if (!*got) return corrupt(fmt::format("truncated: ends after chunk {} without its final chunk", index));
    std::uint32_t size = get_u32(frame_header.data());
    auto flags = static_cast<unsigned char>(frame_header[4]);
    if (size > header->chunk_size || (flags & ~kFinal) != 0)
      return corrupt(fmt::format("chunk {} has a bad length or flags", index));
    got = input.read_exact(body, size + kTagSize);
    if (!got) return fail(got.error());
    if (!*got) return corrupt(fmt::format("truncated in chunk {}", index));
    plain.resize(size);
    auto* tag = reinterpret_cast<unsigned char*>(body.data() + size);
    if (!gcm.run(index, chunk_aad(header->bytes, index, flags), body.data(), size, plain.data(), tag))
      return corrupt(fmt::format("chunk {} fails its authentication tag (altered, or another key)", index));
    if (options.sink)
      if (auto ok = zstd.feed(plain, options.sink, totals.raw_bytes); !ok) return fail(ok.error());
    if (flags & kFinal) break;
  }
  std::string extra;
  auto more = input.read_exact(extra, 1);
  if (!more) return fail(more.error());
  if (*more) return corrupt("bytes after the final chunk");
  if (options.sink) {
    auto whole = zstd.drain(options.sink, totals.raw_bytes);
    if (!whole) return fail(whole.error());
    if (!*whole) return corrupt("the compressed stream ends in the middle");
  }
  totals.stored_bytes = input.total();
  totals.sha256 = input.sha_hex();
  return totals;
}

}  // namespace keel::dr
