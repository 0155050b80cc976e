// The S3 request builder (agent/dr/s3_request.h) against capture servers on
// 127.0.0.1: the signature examples of AWS's "Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk", S3's URI
// encoding and canonical queries, the XML answers, retries, and errors that
// name S3's Code and Message but never a secret.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "agent/dr/destination.h"
#include "agent/dr/s3_request.h"
#include "core/crypto.h"
#include "tests/support/capture_server.h"

using namespace keel;
using namespace keel::dr;
using namespace std::chrono_literals;

namespace {

using keel::testing::Captured;
using keel::testing::CaptureServer;

constexpr const char* kAccessKey = "AKIAIOSFODNN7EXAMPLE";
constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

// The AWS examples: bucket "examplebucket", virtual-hosted on
// s3.amazonaws.com, us-east-1, at 20130524T000000Z; CURLOPT_CONNECT_TO sends
// the request to the capture server instead.
s3::Client aws_example_client(int port) {
  s3::ClientConfig config;
  config.endpoint = "http://s3.amazonaws.com";
  config.region = "us-east-1";
  config.access_key_id = kAccessKey;
  config.secret_access_key = kSecret;
  config.amz_date = "20130524T000000Z";
  config.connect_to = fmt::format("examplebucket.s3.amazonaws.com:80:127.0.0.1:{}", port);
  config.attempts = 1;
  auto client = s3::Client::make(config, "examplebucket");
  REQUIRE(client.has_value());
  return *client;
}

// A path-style client of a local server, with quick retries.
s3::Client local_client(int port, int attempts = 3) {
  s3::ClientConfig config;
  config.endpoint = fmt::format("http://127.0.0.1:{}", port);
  config.region = "eu-west-1";
  config.path_style = true;
  config.access_key_id = "AKIDLOCAL";
  config.secret_access_key = "local-secret-do-not-print";
  config.attempts = attempts;
  config.initial_backoff = 1ms;
  config.max_backoff = 5ms;
  auto client = s3::Client::make(config, "bkt");
  REQUIRE(client.has_value());
  return *client;
}

std::string error_xml(const std::string& code, const std::string& message) {
  return fmt::format(R"(<?xml version="1.0" encoding="UTF-8"?><Error><Code>{}</Code><Message>{}</Message>)"
                     R"(<StringToSign>AWS4-HMAC-SHA256 leaked?</StringToSign><RequestId>1</RequestId></Error>)",
                     code, message);
}

}  // namespace

TEST_CASE("S3 URI encoding follows S3's rules", "[dr][s3]") {
  CHECK(s3::uri_encode("test$file.text", true) == "test%24file.text");
  CHECK(s3::uri_encode("a b/c+d=e~f_g-h.i", true) == "a%20b/c%2Bd%3De~f_g-h.i");
  CHECK(s3::uri_encode("a/b", false) == "a%2Fb");
  CHECK(s3::uri_encode("\xc3\xbc", true) == "%C3%BC");  // UTF-8 bytes, upper-case hex
  CHECK(s3::uri_encode("*'()!", true) == "%2A%27%28%29%21");
}

TEST_CASE("S3 canonical query is sorted and encoded, with name= for empty values", "[dr][s3]") {
  CHECK(s3::canonical_query({{"uploadId", "a/b+c"}, {"partNumber", "1"}}) == "partNumber=1&uploadId=a%2Fb%2Bc");
  CHECK(s3::canonical_query({{"uploads", ""}}) == "uploads=");
  CHECK(s3::canonical_query({{"prefix", "p q/"}, {"list-type", "2"}, {"continuation-token", "x=="}}) ==
        "continuation-token=x%3D%3D&list-type=2&prefix=p%20q%2F");
}

TEST_CASE("S3 URLs: virtual-hosted by default, path style on request, AWS when no endpoint", "[dr][s3]") {
  s3::ClientConfig config;
  config.region = "eu-central-1";
  config.access_key_id = "a";
  config.secret_access_key = "b";
  s3::Request object;
  object.key = "dir/a b";
  s3::Request bucket;
  bucket.query = {{"list-type", "2"}};

  auto aws = s3::Client::make(config, "bkt");
  REQUIRE(aws.has_value());
  CHECK(aws->url(object) == "https://bkt.s3.eu-central-1.amazonaws.com/dir/a%20b");
  CHECK(aws->url(bucket) == "https://bkt.s3.eu-central-1.amazonaws.com/?list-type=2");

  config.endpoint = "http://127.0.0.1:9000/";
  config.path_style = true;
  auto local = s3::Client::make(config, "bkt");
  REQUIRE(local.has_value());
  CHECK(local->url(object) == "http://127.0.0.1:9000/bkt/dir/a%20b");
  CHECK(local->url(bucket) == "http://127.0.0.1:9000/bkt?list-type=2");
  CHECK(local->describe("dir/a b") == "s3://bkt/dir/a b");

  config.endpoint = "ftp://host";
  CHECK(s3::Client::make(config, "bkt").error().code() == ErrorCode::InvalidConfig);
  config.endpoint = "http://host/path";
  CHECK(s3::Client::make(config, "bkt").error().code() == ErrorCode::InvalidConfig);
  config.endpoint = "";
  CHECK(s3::Client::make(config, "").error().code() == ErrorCode::InvalidConfig);
}

TEST_CASE("S3 signing reproduces AWS's GET Object example", "[dr][s3][sigv4]") {
  CaptureServer server;
  auto client = aws_example_client(server.port());
  s3::Request r;
  r.operation = "GetObject";
  r.key = "test.txt";
  r.headers = {{"Range", "bytes=0-9"}};
  auto response = client.send_once(r);
  INFO((response ? "" : response.error().message()));
  REQUIRE(response.has_value());

  auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  const Captured& got = requests[0];
  CHECK(got.method == "GET");
  CHECK(got.target == "/test.txt");
  CHECK(got.header("Host") == "examplebucket.s3.amazonaws.com");
  CHECK(got.header("x-amz-content-sha256") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(got.header("Authorization") ==
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST_CASE("S3 signing reproduces AWS's PUT Object example", "[dr][s3][sigv4]") {
  CaptureServer server;
  auto client = aws_example_client(server.port());
  s3::Request r;
  r.operation = "PutObject";
  r.method = "PUT";
  r.key = "test$file.text";
  r.headers = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  r.body = "Welcome to Amazon S3.";
  auto response = client.send_once(r);
  INFO((response ? "" : response.error().message()));
  REQUIRE(response.has_value());

  auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  const Captured& got = requests[0];
  CHECK(got.method == "PUT");
  CHECK(got.target == "/test%24file.text");
  CHECK(got.body == "Welcome to Amazon S3.");
  CHECK(got.header("Content-Type").empty());  // libcurl adds none of its own
  CHECK(got.header("x-amz-content-sha256") == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  CHECK(got.header("Authorization") ==
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST_CASE("S3 XML answers are read with libxml2", "[dr][s3]") {
  const std::string ns = R"( xmlns="http://s3.amazonaws.com/doc/2006-03-01/")";
  auto doc = [&](const char* root, const std::string& inner) {
    return fmt::format("<{}{}>{}</{}>", root, ns, inner, root);
  };
  SECTION("ListObjectsV2") {
    auto page = s3::parse_list_objects(fmt::format(
        "<?xml version=\"1.0\"?>{}",
        doc("ListBucketResult",
            "<Name>b</Name><IsTruncated>true</IsTruncated><NextContinuationToken>tok&amp;1</NextContinuationToken>"
            "<Contents><Key>p/a &amp; b</Key><Size>12</Size></Contents>"
            "<Contents><Key>p/c</Key><Size>0</Size></Contents>")));
    REQUIRE(page.has_value());
    REQUIRE(page->objects.size() == 2);
    CHECK(page->objects[0].key == "p/a & b");
    CHECK(page->objects[0].size == 12);
    CHECK(page->objects[1].size == 0);
    CHECK(page->truncated);
    CHECK(page->next_continuation_token == "tok&1");
  }
  SECTION("ListMultipartUploads") {
    auto page = s3::parse_list_uploads(doc("ListMultipartUploadsResult",
                                           "<IsTruncated>false</IsTruncated>"
                                           "<Upload><Key>k1</Key><UploadId>u1</UploadId></Upload>"
                                           "<Upload><Key>k2</Key><UploadId>u2</UploadId></Upload>"));
    REQUIRE(page.has_value());
    REQUIRE(page->uploads.size() == 2);
    CHECK(page->uploads[1].key == "k2");
    CHECK(page->uploads[1].upload_id == "u2");
    CHECK_FALSE(page->truncated);
  }
  SECTION("InitiateMultipartUploadResult and errors") {
    auto id = s3::parse_upload_id(
        doc("InitiateMultipartUploadResult", "<Bucket>b</Bucket><Key>k</Key><UploadId>xyz</UploadId>"));
    REQUIRE(id.has_value());
    CHECK(*id == "xyz");
    auto error = s3::parse_error(error_xml("NoSuchKey", "The specified key does not exist."));
    CHECK(error.code == "NoSuchKey");
    CHECK(error.message == "The specified key does not exist.");
    CHECK(s3::parse_error("not xml").code.empty());
  }
  SECTION("malformed or unexpected answers are Protocol errors") {
    CHECK(s3::parse_list_objects("<ListBucketResult><Contents>").error().code() == ErrorCode::Protocol);
    CHECK(s3::parse_list_objects("<Other/>").error().code() == ErrorCode::Protocol);
    CHECK(s3::parse_list_objects("<ListBucketResult><Contents><Key>k</Key><Size>x</Size></Contents>"
                                 "</ListBucketResult>")
              .error()
              .code() == ErrorCode::Protocol);
    CHECK(s3::parse_upload_id("<InitiateMultipartUploadResult/>").error().code() == ErrorCode::Protocol);
  }
  SECTION("CompleteMultipartUpload body") {
    CHECK(s3::complete_multipart_body({"\"e1\"", "\"e2\""}) ==
          R"(<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)"
          R"(<Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag></Part>)"
          R"(<Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part></CompleteMultipartUpload>)");
  }
}

TEST_CASE("S3 requests retry 5xx, 429 and SlowDown, then succeed", "[dr][s3]") {
  CaptureServer server([](const Captured&, httplib::Response& res, int index) {
    if (index == 0) {
      res.status = 503;
      res.set_content(error_xml("SlowDown", "Please reduce your request rate."), "application/xml");
    } else if (index == 1) {
      res.status = 429;
    } else if (index == 2) {
      res.status = 500;
      res.set_content(error_xml("InternalError", "We encountered an internal error."), "application/xml");
    } else {
      res.set_content("hello", "application/octet-stream");
    }
  });
  auto client = local_client(server.port(), 4);
  s3::Request r;
  r.operation = "PutObject";
  r.method = "PUT";
  r.key = "k";
  r.body = "payload";
  auto response = client.send(r);
  INFO((response ? "" : response.error().message()));
  REQUIRE(response.has_value());
  CHECK(response->body == "hello");
  auto requests = server.requests();
  REQUIRE(requests.size() == 4);
  for (const auto& got : requests) CHECK(got.body == "payload");  // the body is sent again each time
}

TEST_CASE("S3 CompleteMultipartUpload's 200 with an <Error> body is retried", "[dr][s3]") {
  CaptureServer server([](const Captured&, httplib::Response& res, int index) {
    if (index == 0)
      res.set_content(error_xml("InternalError", "try again"), "application/xml");
    else
      res.set_content("<CompleteMultipartUploadResult/>", "application/xml");
  });
  auto client = local_client(server.port());
  s3::Request r;
  r.operation = "CompleteMultipartUpload";
  r.method = "POST";
  r.key = "k";
  r.query = {{"uploadId", "u"}};
  r.body = "<CompleteMultipartUpload/>";
  r.error_in_ok_body = true;
  auto response = client.send(r);
  REQUIRE(response.has_value());
  CHECK(server.requests().size() == 2);
}

TEST_CASE("S3 errors name the operation, the key and S3's Code and Message, never a secret", "[dr][s3]") {
  SECTION("403 AccessDenied is not retried") {
    CaptureServer server([](const Captured&, httplib::Response& res, int) {
      res.status = 403;
      res.set_content(error_xml("AccessDenied", "Access Denied"), "application/xml");
    });
    auto client = local_client(server.port());
    s3::Request r;
    r.operation = "UploadPart";
    r.method = "PUT";
    r.key = "dir/obj";
    r.query = {{"partNumber", "1"}, {"uploadId", "secret-upload-id"}};
    r.body = "x";
    auto response = client.send(r);
    REQUIRE_FALSE(response.has_value());
    const std::string& message = response.error().message();
    CHECK(response.error().code() == ErrorCode::PermissionDenied);
    CHECK(message == "UploadPart s3://bkt/dir/obj: HTTP 403 AccessDenied: Access Denied");
    CHECK(server.requests().size() == 1);
  }
  SECTION("500 until the attempts run out") {
    CaptureServer server([](const Captured&, httplib::Response& res, int) {
      res.status = 500;
      res.set_content(error_xml("InternalError", "We encountered an internal error."), "application/xml");
    });
    auto client = local_client(server.port(), 3);
    s3::Request r;
    r.key = "k";
    auto response = client.send(r);
    REQUIRE_FALSE(response.has_value());
    CHECK(response.error().code() == ErrorCode::Transient);
    CHECK(response.error().message() ==
          "GetObject s3://bkt/k: HTTP 500 InternalError: We encountered an internal error. (after 3 attempts)");
    CHECK(server.requests().size() == 3);
  }
  SECTION("404 NoSuchKey is NotFound") {
    CaptureServer server([](const Captured&, httplib::Response& res, int) {
      res.status = 404;
      res.set_content(error_xml("NoSuchKey", "The specified key does not exist."), "application/xml");
    });
    auto response = local_client(server.port()).send(s3::Request{});
    REQUIRE_FALSE(response.has_value());
    CHECK(response.error().code() == ErrorCode::NotFound);
  }
  SECTION("no server: Unavailable, retried") {
    int port = 0;
    {
      CaptureServer gone;
      port = gone.port();
    }
    auto response = local_client(port, 2).send(s3::Request{});
    REQUIRE_FALSE(response.has_value());
    CHECK(response.error().code() == ErrorCode::Unavailable);
    CHECK_THAT(response.error().message(),
               Catch::Contains("GetObject s3://bkt") && Catch::Contains("(after 2 attempts)"));
    CHECK_THAT(response.error().message(), !Catch::Contains("local-secret") && !Catch::Contains("AKIDLOCAL"));
  }
}

TEST_CASE("S3 credentials go only into the signature", "[dr][s3][sigv4]") {
  CaptureServer server;
  auto client = local_client(server.port());
  s3::Request r;
  r.key = "k";
  REQUIRE(client.send(r).has_value());
  auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  for (const auto& [name, value] : requests[0].headers) CHECK_THAT(value, !Catch::Contains("local-secret"));
  CHECK_THAT(requests[0].target, !Catch::Contains("AKIDLOCAL"));
  CHECK_THAT(requests[0].header("Authorization"), Catch::StartsWith("AWS4-HMAC-SHA256 Credential=AKIDLOCAL/") &&
                                                      Catch::Contains("/eu-west-1/s3/aws4_request"));
}

TEST_CASE("S3 destination settings are checked when it is opened", "[dr][s3]") {
  S3Settings settings;
  settings.endpoint = "http://127.0.0.1:9";
  settings.path_style = true;
  settings.access_key_id = "a";
  settings.secret_access_key = "b";

  auto dest = open_s3_destination("bkt", "/backups/host-1/", settings);
  REQUIRE(dest.has_value());
  CHECK((*dest)->describe() == "s3://bkt/backups/host-1");
  CHECK((*open_s3_destination("bkt", "", settings))->describe() == "s3://bkt");
  CHECK((*dest)->create("../x").error().code() == ErrorCode::InvalidConfig);
  CHECK((*dest)->create(std::string(1100, 'n')).error().code() == ErrorCode::InvalidConfig);

  settings.part_size = 1u << 20;  // below S3's 5 MiB
  CHECK(open_s3_destination("bkt", "p", settings).error().code() == ErrorCode::InvalidConfig);
  settings.part_size = 8u << 20;
  settings.secret_access_key.clear();
  CHECK(open_s3_destination("bkt", "p", settings).error().code() == ErrorCode::InvalidConfig);
  settings.secret_access_key = "b";
  settings.endpoint = "127.0.0.1:9000";  // no scheme
  auto bad = open_s3_destination("bkt", "p", settings);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code() == ErrorCode::InvalidConfig);
}
