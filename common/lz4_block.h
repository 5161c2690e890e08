// LZ4 blocks (liblz4's block format, no frame): capture compresses a
// snapshot batch's rows with it, so that the bytes flow control counts are the
// bytes Kafka keeps (the dev broker's retention is of stored, compressed
// bytes, and Kafka's own compression is invisible to the producer).
//
// Thread-safety: functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ferry {

// `data` compressed into `out` (replaced); false, `out` unspecified, when
// that would not be smaller.
bool Lz4Compress(std::string_view data, std::string& out);

// The `size` bytes `block` decompresses to, into `out` (replaced). A block that
// does not decompress to exactly `size` bytes is Corruption.
Status Lz4Decompress(std::string_view block, size_t size, std::string& out);

}  // namespace ferry
