#pragma once
// How DigitalOcean speaks, apart from any one resource: its error bodies,
// request bodies, paginated lists, timestamps.

#include <expected>
#include <string>
#include <vector>

#include "tests/cloudsim/router.h"

namespace keel::cloudsim::digitalocean {

// {"id": ID, "message": MESSAGE, "request_id": uuid}: every error carries a
// request_id, as DigitalOcean's do.
Reply error_reply(int status, const std::string& id, const std::string& message);
Reply not_found();                                 // 404 not_found
Reply unprocessable(const std::string& message);   // 422 unprocessable_entity
Reply bad_request(const std::string& message);     // 400 bad_request
Reply conflict(const std::string& message);        // 409 conflict
Reply json_reply(int status, Json body);
Reply no_content();                                // 204, empty body

// The request body as a JSON object. When it is not one, the error reply
// with `invalid_status`: 400 where the operation declares 400, else 422
// (which one DigitalOcean's document declares differs per operation).
std::expected<Json, Reply> object_body(const Call& call, int invalid_status);

// A list as DigitalOcean pages it: {KEY: [...], links: {pages: {...}},
// meta: {total}}. page >= 1 (default 1) and per_page 1..200 (default 20)
// come from the query and are clamped into range; links.pages has only the
// relevant first/prev/next/last, as absolute URLs that keep the other query
// parameters.
Json paged(const Call& call, const std::string& key, const std::vector<Json>& items);

// "2024-06-01T12:00:00Z": DigitalOcean's timestamps have whole seconds.
std::string iso_time(TimePoint when);
TimePoint after_seconds(TimePoint from, double seconds);

}  // namespace keel::cloudsim::digitalocean
