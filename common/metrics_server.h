// MetricsServer: serves a metrics Registry over HTTP for Prometheus.
//
//   GET /metrics  -> 200, text/plain; version=0.0.4 (the registry rendered)
//   GET /         -> 200, a one-line pointer to /metrics
//   other paths   -> 404; methods other than GET/HEAD -> 405
//
// One thread accepts and answers one connection at a time (a scrape is a few KB;
// a client that stalls is dropped after 2 s). Every response closes its
// connection. The destructor stops the thread and closes the socket.
//
// Thread-safety: Start and the destructor from one thread; the registry is read
// on the server's thread.
#pragma once

#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/status.h"

namespace ferry::metrics {

struct ListenAddress {
  std::string host;  // numeric IPv4 or IPv6
  int port = 0;
};

// "127.0.0.1:9187", "[::1]:9187", "localhost:9187", or ":9187" (loopback,
// 127.0.0.1). Port 0 asks the kernel for a free port. InvalidArgument otherwise.
Result<ListenAddress> ParseListenAddress(const std::string& text);

class MetricsServer {
 public:
  // Binds and listens before returning, so a failure (port in use, bad address)
  // is reported here.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& addr,
                                                      const Registry& registry);
  ~MetricsServer();
  // The address actually bound, e.g. "127.0.0.1:40123".
  const std::string& address() const;

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::metrics
