#include "core/tls.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>

#include <fmt/format.h>

namespace keel::tls {

namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using Name = std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>>;
using Extension = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

// The OpenSSL error queue as text (and emptied), for messages.
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

std::unexpected<Error> tls_error(const std::string& what) {
  return fail(ErrorCode::Internal, fmt::format("tls: {}: {}", what, openssl_errors()));
}

Result<PKey> make_key() {
  PKey key(EVP_EC_gen("P-256"));
  if (!key) return tls_error("generate an ECDSA P-256 key");
  return key;
}

Result<std::string> bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  if (n < 0 || !data) return tls_error("read PEM buffer");
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> cert_to_pem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return tls_error("write certificate PEM");
  return bio_text(bio.get());
}

Result<std::string> key_to_pem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return tls_error("write private key PEM");
  return bio_text(bio.get());
}

Result<Cert> cert_from_pem(const std::string& pem, const char* what) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    ERR_clear_error();
    return fail(ErrorCode::InvalidConfig, fmt::format("tls: the {} is not a PEM certificate", what));
  }
  return cert;
}

Result<PKey> key_from_pem(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PKey key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) {
    ERR_clear_error();
    return fail(ErrorCode::InvalidConfig, "tls: the key is not a PEM private key");
  }
  return key;
}

Status set_name(X509* cert, const std::string& common_name, bool issuer_too) {
  Name name(X509_NAME_new());
  if (!name ||
      X509_NAME_add_entry_by_txt(name.get(), "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>("keel"), -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) != 1 ||
      X509_set_subject_name(cert, name.get()) != 1 || (issuer_too && X509_set_issuer_name(cert, name.get()) != 1))
    return tls_error("set the certificate's name");
  return {};
}

// A random positive 159-bit serial, as RFC 5280 allows (at most 20 octets).
Status set_serial(X509* cert) {
  Bignum bn(BN_new());
  if (!bn || BN_rand(bn.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)))
    return tls_error("set the serial number");
  return {};
}

Status set_validity(X509* cert, int days) {
  // Five minutes back, for clocks that disagree a little.
  if (!X509_gmtime_adj(X509_getm_notBefore(cert), -300) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(days) * 86400L))
    return tls_error("set the validity period");
  return {};
}

Status add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Extension ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    return tls_error(fmt::format("add extension {} = {}", OBJ_nid2sn(nid), value));
  return {};
}

// A new certificate for `key` with the common fields set.
Result<Cert> new_cert(EVP_PKEY* key, const std::string& common_name, int days, bool self_signed) {
  Cert cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1 || X509_set_pubkey(cert.get(), key) != 1)
    return tls_error("create a certificate");
  if (auto st = set_serial(cert.get()); !st) return fail(st.error());
  if (auto st = set_validity(cert.get(), days); !st) return fail(st.error());
  if (auto st = set_name(cert.get(), common_name, self_signed); !st) return fail(st.error());
  return cert;
}

std::string subject_alt_names(const ServerCertificateRequest& request) {
  std::string out;
  auto add = [&out](const char* type, const std::string& value) {
    if (!out.empty()) out += ',';
    out += type;
    out += value;
  };
  for (const auto& ip : request.ip_addresses) add("IP:", ip);
  for (const auto& dns : request.dns_names) add("DNS:", dns);
  return out;
}

}  // namespace

Result<LocalCertificates> generate_local_certificates(const ServerCertificateRequest& request) {
  if (request.validity_days <= 0) return fail(ErrorCode::InvalidConfig, "tls: validity must be at least one day");
  if (request.ip_addresses.empty() && request.dns_names.empty())
    return fail(ErrorCode::InvalidConfig, "tls: a server certificate needs an IP address or a DNS name");

  // The CA: self-signed, allowed to sign certificates and nothing else.
  auto ca_key = make_key();
  if (!ca_key) return fail(ca_key.error());
  auto ca = new_cert(ca_key->get(), request.common_name + " CA", request.validity_days, true);
  if (!ca) return fail(ca.error());
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                            std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                            std::pair{NID_subject_key_identifier, "hash"}}) {
    if (auto st = add_extension(ca->get(), ca->get(), nid, value); !st) return fail(st.error());
  }
  if (auto st = add_extension(ca->get(), ca->get(), NID_authority_key_identifier, "keyid:always"); !st)
    return fail(st.error());
  if (X509_sign(ca->get(), ca_key->get(), EVP_sha256()) <= 0) return tls_error("sign the CA certificate");

  // The server: signed by the CA, for the requested addresses only.
  auto server_key = make_key();
  if (!server_key) return fail(server_key.error());
  auto server = new_cert(server_key->get(), request.common_name, request.validity_days, false);
  if (!server) return fail(server.error());
  if (X509_set_issuer_name(server->get(), X509_get_subject_name(ca->get())) != 1)
    return tls_error("set the issuer");
  for (auto [nid, value] : {std::pair{NID_basic_constraints, std::string("critical,CA:FALSE")},
                            std::pair{NID_key_usage, std::string("critical,digitalSignature")},
                            std::pair{NID_ext_key_usage, std::string("serverAuth")},
                            std::pair{NID_subject_key_identifier, std::string("hash")},
                            std::pair{NID_authority_key_identifier, std::string("keyid:always")},
                            std::pair{NID_subject_alt_name, subject_alt_names(request)}}) {
    if (auto st = add_extension(server->get(), ca->get(), nid, value); !st) return fail(st.error());
  }
  if (X509_sign(server->get(), ca_key->get(), EVP_sha256()) <= 0) return tls_error("sign the server certificate");

  LocalCertificates out;
  auto ca_pem = cert_to_pem(ca->get());
  if (!ca_pem) return fail(ca_pem.error());
  auto server_pem = cert_to_pem(server->get());
  if (!server_pem) return fail(server_pem.error());
  auto key_pem = key_to_pem(server_key->get());
  if (!key_pem) return fail(key_pem.error());
  out.ca_cert_pem = std::move(*ca_pem);
  out.server_cert_pem = std::move(*server_pem);
  out.server_key_pem = std::move(*key_pem);
  return out;
}

Status verify_server_certificate(const std::string& cert_pem, const std::string& ca_pem, const std::string& host) {
  auto cert = cert_from_pem(cert_pem, "server certificate");
  if (!cert) return fail(cert.error());
  auto ca = cert_from_pem(ca_pem, "CA certificate");
  if (!ca) return fail(ca.error());
  Store store(X509_STORE_new());
  StoreCtx ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca->get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr) != 1)
    return tls_error("set up verification");
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  if (!host.empty()) {
    // An IP address is matched against IP SANs, anything else as a DNS name.
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
      ERR_clear_error();
      if (X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) != 1) return tls_error("set the host name");
    }
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int code = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return fail(ErrorCode::Protocol,
                fmt::format("tls: certificate does not verify{}{}: {}", host.empty() ? "" : " for ", host,
                            X509_verify_cert_error_string(code)));
  }
  return {};
}

Status check_key_matches(const std::string& cert_pem, const std::string& key_pem) {
  auto cert = cert_from_pem(cert_pem, "certificate");
  if (!cert) return fail(cert.error());
  auto key = key_from_pem(key_pem);
  if (!key) return fail(key.error());
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return fail(ErrorCode::InvalidConfig, "tls: the private key does not belong to the certificate");
  }
  return {};
}

}  // namespace keel::tls
