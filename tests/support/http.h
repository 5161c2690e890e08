// A bare HTTP/1.1 exchange over a loopback socket, for tests of the metrics
// endpoints (no client library: the server is what is under test).
#pragma once

#include <string>

namespace ferry::testing {

// Sends `request` verbatim to addr ("127.0.0.1:port") and returns everything
// the server sent until it closed; "<connect failed>" when nothing listens.
std::string HttpExchange(const std::string& addr, const std::string& request);

// The body of GET http://addr<path> when the status is 200, else "".
std::string HttpGetBody(const std::string& addr, const std::string& path);

}  // namespace ferry::testing
