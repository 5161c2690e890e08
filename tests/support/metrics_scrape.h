// Reading a ferry process's Prometheus metrics in end-to-end tests.
#pragma once

#include <string>

#include "tests/support/process.h"

namespace ferry::testing {

// The address p serves metrics on, from its log line "serving metrics on
// http://127.0.0.1:40123/metrics" (started with --metrics-addr 127.0.0.1:0);
// "" when it has not said so within 10 s.
std::string MetricsAddress(const ChildProcess& p);

// The sum of every sample of `family` in a scrape of addr; -1 when the scrape
// fails. `body`, when given, receives the whole scrape.
double Scrape(const std::string& addr, const std::string& family, std::string* body = nullptr);

}  // namespace ferry::testing
