// StatusBlockSink: the log on a terminal, with a status block under it that
// is rewritten in place (snapshot progress: capture/snapshot_reporter.h).
//
// The block is a few lines drawn below the last log line, each ended by a
// newline, so the cursor rests on the line under it. To change it, or to write
// a log line, the sink moves the cursor up over the block and clears to the
// end of the screen ("\r\x1b[<n>A\x1b[J"), writes the log line if any, and
// draws the block again: log lines scroll up above the block and are never cut
// into. Block lines are cut to the terminal's width, since a line that wraps
// would take two rows and the cursor-up count would leave one behind. Levels
// are coloured as spdlog's stderr_color_sink colours them.
//
// Thread-safety: thread-safe (spdlog's sink mutex guards log lines and block).
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

class StatusBlockSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  using Write = std::function<void(std::string_view)>;
  // `write` receives every byte (default: stderr, flushed); `width` the
  // terminal's columns (0: lines are not cut; default: stderr's, asked on each draw).
  explicit StatusBlockSink(Write write = {}, std::function<int()> width = {});
  ~StatusBlockSink() override;

  // Replaces the block and redraws it at once; empty: erases it.
  void SetBlock(std::vector<std::string> lines);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  std::string Erase() const;
  std::string Draw();  // the block's lines; it counts as drawn from then on
  std::string Colored(const spdlog::details::log_msg& msg, const std::string& line) const;

  Write write_;
  std::function<int()> width_;
  std::vector<std::string> block_;
  size_t drawn_ = 0;  // rows of the block on the screen now
};

}  // namespace ferry
