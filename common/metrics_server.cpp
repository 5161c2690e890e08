#include "common/metrics_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>

namespace ferry::metrics {

namespace {

constexpr size_t kMaxRequestHead = 8192;
constexpr int kClientTimeoutSec = 2;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

Status Errno(const std::string& what) { return Status::IOError(what + ": " + std::strerror(errno)); }

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads up to the end of the request head; "" when the client sent none in time.
std::string ReadRequestHead(int fd) {
  std::string head;
  char buf[1024];
  while (head.size() < kMaxRequestHead && head.find("\r\n\r\n") == std::string::npos &&
         head.find("\n\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    head.append(buf, static_cast<size_t>(n));
  }
  return head;
}

std::string Response(int code, const std::string& reason, const std::string& content_type,
                     const std::string& body, bool head_only) {
  std::string r = "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\n";
  r += "Content-Type: " + content_type + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (code == 405) r += "Allow: GET, HEAD\r\n";
  r += "Connection: close\r\n\r\n";
  if (!head_only) r += body;
  return r;
}

}  // namespace

Result<ListenAddress> ParseListenAddress(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("--metrics-addr '" + text + "': " + why +
                                   " (expected HOST:PORT, [IPv6]:PORT or :PORT for loopback)");
  };
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return bad("no port");
  std::string host = text.substr(0, colon);
  std::string port_text = text.substr(colon + 1);
  ListenAddress out;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), out.port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      out.port < 0 || out.port > 65535) {
    return bad("the port is not a number from 0 to 65535");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  in6_addr v6;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) != 1 && inet_pton(AF_INET6, host.c_str(), &v6) != 1) {
    return bad("the host is not a numeric IPv4 or IPv6 address");
  }
  out.host = host;
  return out;
}

struct MetricsServer::Impl {
  explicit Impl(const Registry& r) : registry(r) {}
  ~Impl() {
    if (thread.joinable()) {
      char b = 0;
      [[maybe_unused]] ssize_t n = ::write(wake_write.get(), &b, 1);
      thread.join();
    }
  }
  void Serve();
  void Answer(int client);

  const Registry& registry;
  Fd listener, wake_read, wake_write;
  std::string address;
  std::thread thread;
};

void MetricsServer::Impl::Serve() {
  for (;;) {
    pollfd fds[2] = {{listener.get(), POLLIN, 0}, {wake_read.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents & POLLIN)) return;
    if (!(fds[0].revents & POLLIN)) continue;
    Fd client(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (client.get() < 0) continue;
    Answer(client.get());
  }
}

void MetricsServer::Impl::Answer(int client) {
  timeval tv{kClientTimeoutSec, 0};
  ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string head = ReadRequestHead(client);
  std::string_view line(head);
  line = line.substr(0, line.find_first_of("\r\n"));
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) {
    SendAll(client, Response(400, "Bad Request", "text/plain", "bad request\n", false));
    return;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    SendAll(client, Response(405, "Method Not Allowed", "text/plain", "only GET\n", false));
  } else if (target == "/metrics") {
    SendAll(client, Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                             registry.Render(), head_only));
  } else if (target == "/") {
    SendAll(client, Response(200, "OK", "text/plain", "ferry: metrics at /metrics\n", head_only));
  } else {
    SendAll(client, Response(404, "Not Found", "text/plain", "not found; try /metrics\n", head_only));
  }
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetricsServer::~MetricsServer() = default;
const std::string& MetricsServer::address() const { return impl_->address; }

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& addr,
                                                            const Registry& registry) {
  FERRY_ASSIGN_OR_RETURN(ListenAddress la, ParseListenAddress(addr));
  auto impl = std::make_unique<Impl>(registry);
  sockaddr_storage ss{};
  socklen_t len = 0;
  bool v6 = la.host.find(':') != std::string::npos;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(la.port));
    inet_pton(AF_INET6, la.host.c_str(), &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(la.port));
    inet_pton(AF_INET, la.host.c_str(), &a->sin_addr);
    len = sizeof *a;
  }
  impl->listener = Fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (impl->listener.get() < 0) return Errno("metrics socket");
  int one = 1;
  ::setsockopt(impl->listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(impl->listener.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return Status::InvalidArgument("--metrics-addr " + addr + ": cannot listen: " + std::strerror(errno));
  }
  if (::listen(impl->listener.get(), 16) != 0) return Errno("listening on " + addr);
  if (::getsockname(impl->listener.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return Errno("getsockname");
  }
  int port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                      : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  impl->address = (v6 ? "[" + la.host + "]" : la.host) + ":" + std::to_string(port);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Errno("pipe");
  impl->wake_read = Fd(pipe_fds[0]);
  impl->wake_write = Fd(pipe_fds[1]);
  impl->thread = std::thread([p = impl.get()] { p->Serve(); });
  spdlog::info("serving metrics on http://{}/metrics", impl->address);
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

}  // namespace ferry::metrics
