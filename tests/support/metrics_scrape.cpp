#include "tests/support/metrics_scrape.h"

#include <chrono>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/support/http.h"

namespace ferry::testing {

std::string MetricsAddress(const ChildProcess& p) {
  for (int i = 0; i < 200; ++i) {
    std::string text = ReadLog(p);
    std::smatch m;
    if (std::regex_search(text, m, std::regex("serving metrics on http://([0-9.]+:[0-9]+)/metrics"))) {
      return m[1];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

double Scrape(const std::string& addr, const std::string& family, std::string* body) {
  std::string text = HttpGetBody(addr, "/metrics");
  if (body != nullptr) *body = text;
  if (text.empty()) return -1;
  double sum = 0;
  std::regex sample("^" + family + "(\\{[^}]*\\})? ([-+0-9.eE]+|NaN)$");
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, sample)) sum += std::stod(m[2]);
  }
  return sum;
}

}  // namespace ferry::testing
