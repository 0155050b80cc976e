// core/tls: a CA made on the spot and the server certificate it signs.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <catch2/catch.hpp>
#include <ctime>
#include <memory>

#include "core/tls.h"

using namespace keel;

namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using CertPtr = std::unique_ptr<X509, X509Free>;

CertPtr parse(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return CertPtr(cert);
}

// Days from now until the certificate's notAfter.
int days_left(X509* cert) {
  int days = 0, seconds = 0;
  ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(cert));
  return days;
}

}  // namespace

TEST_CASE("tls: a server certificate for 127.0.0.1 and localhost, signed by a fresh CA", "[unit][tls]") {
  auto certs = tls::generate_local_certificates();
  REQUIRE(certs);
  CHECK(certs->ca_cert_pem.rfind("-----BEGIN CERTIFICATE-----", 0) == 0);
  CHECK(certs->server_cert_pem.rfind("-----BEGIN CERTIFICATE-----", 0) == 0);
  CHECK(certs->server_key_pem.rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);

  CHECK(tls::verify_server_certificate(certs->server_cert_pem, certs->ca_cert_pem, "127.0.0.1"));
  CHECK(tls::verify_server_certificate(certs->server_cert_pem, certs->ca_cert_pem, "localhost"));
  CHECK(tls::check_key_matches(certs->server_cert_pem, certs->server_key_pem));

  // What OpenSSL itself reads from the certificates.
  auto server = parse(certs->server_cert_pem);
  auto ca = parse(certs->ca_cert_pem);
  REQUIRE(server);
  REQUIRE(ca);
  CHECK(X509_check_ip_asc(server.get(), "127.0.0.1", 0) == 1);
  CHECK(X509_check_host(server.get(), "localhost", 0, 0, nullptr) == 1);
  CHECK(X509_check_ca(ca.get()) >= 1);
  CHECK(X509_check_ca(server.get()) == 0);
  CHECK(X509_check_issued(ca.get(), server.get()) == X509_V_OK);
  EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
  CHECK(X509_verify(server.get(), ca_key) == 1);
  CHECK(EVP_PKEY_is_a(X509_get0_pubkey(server.get()), "EC"));
  CHECK(days_left(server.get()) >= tls::kDefaultValidityDays - 1);
  CHECK(days_left(server.get()) <= tls::kDefaultValidityDays);
  CHECK(X509_cmp_current_time(X509_get0_notBefore(server.get())) < 0);  // valid already
}

TEST_CASE("tls: the certificate does not verify for other hosts or against another CA", "[unit][tls]") {
  auto a = tls::generate_local_certificates();
  auto b = tls::generate_local_certificates();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->ca_cert_pem != b->ca_cert_pem);
  CHECK(a->server_key_pem != b->server_key_pem);

  auto other_ip = tls::verify_server_certificate(a->server_cert_pem, a->ca_cert_pem, "10.0.0.1");
  REQUIRE_FALSE(other_ip);
  CHECK(other_ip.error().code() == ErrorCode::Protocol);
  CHECK(other_ip.error().message().find("10.0.0.1") != std::string::npos);
  CHECK_FALSE(tls::verify_server_certificate(a->server_cert_pem, a->ca_cert_pem, "example.com"));

  auto other_ca = tls::verify_server_certificate(a->server_cert_pem, b->ca_cert_pem, "127.0.0.1");
  REQUIRE_FALSE(other_ca);
  CHECK(other_ca.error().code() == ErrorCode::Protocol);

  // The CA's own certificate is no server certificate.
  CHECK_FALSE(tls::verify_server_certificate(a->ca_cert_pem, a->ca_cert_pem, "127.0.0.1"));
  CHECK_FALSE(tls::check_key_matches(a->server_cert_pem, b->server_key_pem));
}

TEST_CASE("tls: requested names and validity", "[unit][tls]") {
  tls::ServerCertificateRequest request;
  request.common_name = "test";
  request.ip_addresses = {"127.0.0.1", "::1"};
  request.dns_names = {"localhost", "agent.internal"};
  request.validity_days = 30;
  auto certs = tls::generate_local_certificates(request);
  REQUIRE(certs);
  CHECK(tls::verify_server_certificate(certs->server_cert_pem, certs->ca_cert_pem, "::1"));
  CHECK(tls::verify_server_certificate(certs->server_cert_pem, certs->ca_cert_pem, "agent.internal"));
  auto server = parse(certs->server_cert_pem);
  REQUIRE(server);
  CHECK(days_left(server.get()) >= 29);
  CHECK(days_left(server.get()) <= 30);

  request.validity_days = 0;
  CHECK_FALSE(tls::generate_local_certificates(request));
  request.validity_days = 1;
  request.ip_addresses.clear();
  request.dns_names.clear();
  CHECK_FALSE(tls::generate_local_certificates(request));
}

TEST_CASE("tls: garbage in is an InvalidConfig error, not a crash", "[unit][tls]") {
  auto certs = tls::generate_local_certificates();
  REQUIRE(certs);
  auto bad = tls::verify_server_certificate("not a certificate", certs->ca_cert_pem, "127.0.0.1");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code() == ErrorCode::InvalidConfig);
  CHECK_FALSE(tls::verify_server_certificate(certs->server_cert_pem, "", "127.0.0.1"));
  CHECK_FALSE(tls::check_key_matches(certs->server_cert_pem, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"));
}
