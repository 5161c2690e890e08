// WatermarkWindow: one chunk of an incremental snapshot between its low and high
// watermarks (Netflix DBLog).
//
// Capture writes a low watermark into the WAL, selects the chunk, writes a high
// watermark, and Fill()s the window with the chunk's rows. Reading the stream
// on, every change to one of the chunk's rows drops that row from the chunk:
// the stream carries a value at least as new as the one selected (a change
// committed after the select would otherwise be reverted by the older selected
// row). At the high watermark the rows left are emitted as READ events, in the
// watermark's transaction; later changes follow them. A truncate of the table
// inside the window drops every row.
//
// Unlike DBLog's, the window opens at Fill, not at the low watermark: in
// PostgreSQL a transaction's commit record can precede the low watermark's in
// the WAL and still be invisible to the select (its backend had not yet left
// the proc array), and its change must drop the row too. Capture reads the
// stream on the thread that selects, so every change it reads after Fill
// follows the select; dropping a row whose change the select did see is
// harmless (the stream carries that row).
//
// A dropped row reaches the target through the stream alone, so an update of it
// that leaves a TOASTed column unchanged (pgoutput does not send the value)
// would leave the target without that value. The window completes such an
// update from the row as it knows it: the selected row, with every change seen
// in the window applied to it (a column the update did not change has the
// value it had before the update).
//
// Thread-safety: one thread.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "transport/change_event.pb.h"

namespace ferry::capture {

class WatermarkWindow {
 public:
  struct Row {
    std::string key;  // Kafka key, as the stream's events of the row have it
    ferry::v1::ChangeEvent event;
  };

  void Fill(std::string id, std::string schema, std::string table, std::vector<Row> rows);
  // Filled and its high watermark not reached yet.
  bool active() const { return filled_; }
  const std::string& table() const { return table_; }
  const std::string& schema() const { return schema_; }
  void OnLow(const std::string& id);
  bool low_seen() const { return low_seen_; }
  // A change event the stream is about to publish. Returns the event completed
  // with the values of its unchanged-TOAST columns when it is an update of a
  // chunk row that left some unsent; nullopt when it is to be published as is.
  std::optional<ferry::v1::ChangeEvent> OnChange(const ferry::v1::ChangeEvent& e, const std::string& key);
  // At this window's high watermark: the rows left, in chunk order, and the
  // window is empty again. nullopt for another window's watermark.
  std::optional<std::vector<Row>> OnHigh(const std::string& id);
  void Clear();

 private:
  std::string id_, schema_, table_;
  bool filled_ = false;
  bool low_seen_ = false;  // the low watermark arrived (for the record; see above)
  std::vector<Row> rows_;
  std::vector<bool> dropped_;
  std::vector<bool> deleted_;  // the row as known is gone (deleted inside the window)
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace ferry::capture
