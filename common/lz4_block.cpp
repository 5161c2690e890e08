#include "common/lz4_block.h"

#include <lz4.h>

#include <limits>

namespace ferry {

bool Lz4Compress(std::string_view data, std::string& out) {
  if (data.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) return false;
  const int src = static_cast<int>(data.size());
  out.resize(static_cast<size_t>(LZ4_compressBound(src)));
  const int n = LZ4_compress_default(data.data(), out.data(), src, static_cast<int>(out.size()));
  if (n <= 0 || static_cast<size_t>(n) >= data.size()) return false;
  out.resize(static_cast<size_t>(n));
  return true;
}

Status Lz4Decompress(std::string_view block, size_t size, std::string& out) {
  if (size > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      block.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return Status::Corruption("an LZ4 block of " + std::to_string(size) + " bytes is too large");
  }
  out.resize(size);
  const int n = LZ4_decompress_safe(block.data(), out.data(), static_cast<int>(block.size()), static_cast<int>(size));
  if (n < 0 || static_cast<size_t>(n) != size) {
    return Status::Corruption("an LZ4 block of " + std::to_string(block.size()) +
                              " bytes does not decompress to the " + std::to_string(size) + " bytes it claims");
  }
  return Status::OK();
}

}  // namespace ferry
