#include "common/status_block_sink.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

namespace ferry {

namespace {

void WriteStderr(std::string_view bytes) {
  std::fwrite(bytes.data(), 1, bytes.size(), stderr);
  std::fflush(stderr);
}

int StderrWidth() {
  winsize w{};
  return ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 ? w.ws_col : 0;
}

// As spdlog's ansicolor_sink colours each level.
std::string_view LevelColor(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "\x1b[37m";
    case spdlog::level::debug: return "\x1b[36m";
    case spdlog::level::info: return "\x1b[32m";
    case spdlog::level::warn: return "\x1b[33m\x1b[1m";
    case spdlog::level::err: return "\x1b[31m\x1b[1m";
    case spdlog::level::critical: return "\x1b[1m\x1b[41m";
    default: return "";
  }
}

}  // namespace

StatusBlockSink::StatusBlockSink(Write write, std::function<int()> width)
    : write_(write ? std::move(write) : Write(WriteStderr)), width_(width ? std::move(width) : StderrWidth) {}

StatusBlockSink::~StatusBlockSink() { write_(Erase()); }

void StatusBlockSink::SetBlock(std::vector<std::string> lines) {
  std::lock_guard lock(mutex_);
  std::string out = Erase();
  block_ = std::move(lines);
  out += Draw();
  write_(out);
}

void StatusBlockSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  std::string out = Erase();
  out += Colored(msg, fmt::to_string(formatted));
  out += Draw();
  write_(out);
}

std::string StatusBlockSink::Erase() const {
  if (drawn_ == 0) return "";
  return "\r\x1b[" + std::to_string(drawn_) + "A\x1b[J";
}

std::string StatusBlockSink::Draw() {
  const int width = width_();
  std::string out;
  for (const std::string& line : block_) {
    // One column spare: a line exactly as wide as the terminal wraps on some.
    out += width > 1 && line.size() >= static_cast<size_t>(width) ? line.substr(0, width - 1) : line;
    out += '\n';
  }
  drawn_ = block_.size();
  return out;
}

std::string StatusBlockSink::Colored(const spdlog::details::log_msg& msg, const std::string& line) const {
  if (msg.color_range_end <= msg.color_range_start || msg.color_range_end > line.size()) return line;
  return line.substr(0, msg.color_range_start) + std::string(LevelColor(msg.level)) +
         line.substr(msg.color_range_start, msg.color_range_end - msg.color_range_start) + "\x1b[m" +
         line.substr(msg.color_range_end);
}

}  // namespace ferry
