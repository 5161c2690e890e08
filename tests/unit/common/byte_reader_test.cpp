#include "common/byte_reader.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry {
namespace {

TEST(ByteReaderTest, ReadsBigEndianIntegersAndStrings) {
  std::string bytes("\x01\x00\x02\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x04"
                    "ab\0xyz",
                    21);
  ByteReader r(bytes);
  EXPECT_EQ(*r.ReadU8(), 1);
  EXPECT_EQ(*r.ReadU16(), 2);
  EXPECT_EQ(*r.ReadU32(), 3u);
  EXPECT_EQ(*r.ReadU64(), 4u);
  EXPECT_EQ(*r.ReadCString(), "ab");
  EXPECT_EQ(*r.ReadBytes(2), "xy");
  EXPECT_EQ(r.ReadRest(), "z");
  EXPECT_TRUE(r.AtEnd());
}

TEST(ByteReaderTest, TruncatedReadFailsAndDoesNotAdvance) {
  std::string bytes("\x00\x01\x02", 3);
  ByteReader r(bytes);
  auto v = r.ReadU32();
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(v.status().IsCorruption());
  EXPECT_EQ(r.position(), 0u);
  EXPECT_EQ(*r.ReadU16(), 1);
}

TEST(ByteReaderTest, LengthFromWireLargerThanInputIsAnError) {
  std::string bytes("abc");
  ByteReader r(bytes);
  EXPECT_FALSE(r.ReadBytes(4).ok());
  EXPECT_FALSE(r.ReadBytes(SIZE_MAX).ok());
  EXPECT_EQ(*r.ReadBytes(3), "abc");
}

TEST(ByteReaderTest, UnterminatedStringIsAnError) {
  ByteReader r(std::string_view("abc"));
  EXPECT_TRUE(r.ReadCString().status().IsCorruption());
  ByteReader empty(std::string_view(""));
  EXPECT_TRUE(empty.ReadCString().status().IsCorruption());
}

TEST(ByteReaderTest, SignedValues) {
  std::string bytes("\xff\xff\xff\xff\xff\xfe", 6);
  ByteReader r(bytes);
  EXPECT_EQ(*r.ReadI32(), -1);
  EXPECT_EQ(*r.ReadI16(), -2);
}

}  // namespace
}  // namespace ferry
