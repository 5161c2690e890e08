// MetricsServer over a real socket: what Prometheus (or curl) sees.
#include "common/metrics_server.h"

#include <gtest/gtest.h>

#include <chrono>

#include "tests/support/http.h"

namespace ferry::metrics {
namespace {

std::string Fetch(const std::string& addr, const std::string& request) {
  return testing::HttpExchange(addr, request);
}

std::string Get(const std::string& addr, const std::string& path) {
  return Fetch(addr, "GET " + path + " HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
}

TEST(MetricsServerTest, ServesTheRegistryOnGetMetrics) {
  Registry r;
  Counter& c = r.counter("ferry_test_events_total", "Events.", {{"table", "public.t"}});
  c.Increment(41);
  auto server = MetricsServer::Start("127.0.0.1:0", r);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  std::string addr = (*server)->address();
  ASSERT_TRUE(addr.starts_with("127.0.0.1:")) << addr;
  EXPECT_NE(addr, "127.0.0.1:0");

  std::string first = Get(addr, "/metrics");
  EXPECT_TRUE(first.starts_with("HTTP/1.1 200 OK\r\n")) << first;
  EXPECT_NE(first.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << first;
  EXPECT_NE(first.find("\r\n\r\n# HELP ferry_test_events_total Events.\n"), std::string::npos) << first;
  EXPECT_NE(first.find("ferry_test_events_total{table=\"public.t\"} 41\n"), std::string::npos) << first;
  std::string body = first.substr(first.find("\r\n\r\n") + 4);
  EXPECT_NE(first.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos);

  c.Increment();
  EXPECT_NE(Get(addr, "/metrics?x=1").find("ferry_test_events_total{table=\"public.t\"} 42\n"), std::string::npos);
}

TEST(MetricsServerTest, AnswersOtherPathsAndMethods) {
  Registry r;
  auto server = MetricsServer::Start(":0", r);  // ":port" is loopback
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  std::string addr = (*server)->address();
  EXPECT_TRUE(addr.starts_with("127.0.0.1:")) << addr;
  EXPECT_TRUE(Get(addr, "/nope").starts_with("HTTP/1.1 404 ")) << Get(addr, "/nope");
  EXPECT_TRUE(Get(addr, "/").starts_with("HTTP/1.1 200 "));
  EXPECT_TRUE(Fetch(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
  EXPECT_TRUE(Fetch(addr, "garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));
  std::string head = Fetch(addr, "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200 ")) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << "HEAD has no body";
}

TEST(MetricsServerTest, StopsPromptlyAndFreesThePort) {
  Registry r;
  std::string addr;
  {
    auto server = MetricsServer::Start("127.0.0.1:0", r);
    ASSERT_TRUE(server.ok());
    addr = (*server)->address();
    auto start = std::chrono::steady_clock::now();
    server->reset();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  }
  EXPECT_EQ(Get(addr, "/metrics"), "<connect failed>");
  auto again = MetricsServer::Start(addr, r);
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

TEST(MetricsServerTest, ReportsAPortInUse) {
  Registry r;
  auto first = MetricsServer::Start("127.0.0.1:0", r);
  ASSERT_TRUE(first.ok());
  auto second = MetricsServer::Start((*first)->address(), r);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen"), std::string::npos) << second.status().ToString();
}

TEST(MetricsServerTest, ParsesListenAddresses) {
  auto a = ParseListenAddress(":9187");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9187);
  auto b = ParseListenAddress("[::1]:80");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  auto c = ParseListenAddress("localhost:1");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "127.0.0.1");
  auto d = ParseListenAddress("0.0.0.0:9187");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->host, "0.0.0.0");
  for (const char* bad : {"9187", ":", ":x", ":70000", "example.com:80", "1.2.3:4", ":-1"}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace ferry::metrics
