#include "transport/naming.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <set>

namespace ferry::transport {
namespace {

TEST(TopicForTest, PlainNamesPassThrough) {
  EXPECT_EQ(TopicFor("ferry", "public", "orders"), "ferry.public.orders");
  EXPECT_EQ(TopicFor("ferry", "Sales_2024", "line-items"), "ferry.Sales_2024.line-items");
  EXPECT_EQ(TopicFor("prod.ferry", "public", "orders"), "prod.ferry.public.orders");
}

TEST(TopicForTest, IllegalCharactersBecomeUnderscoreAndAddAPinnedHash) {
  // The hash is part of the topic name users see: it must never change.
  // FNV-1a 32 of "public\0order items".
  EXPECT_EQ(TopicFor("ferry", "public", "order items"), "ferry.public.order_items-ef0de76c");
  std::string unicode = TopicFor("ferry", "public", "t\xc3\xa9st");  // "tést"
  EXPECT_EQ(unicode.substr(0, 19), "ferry.public.t__st-");
  EXPECT_EQ(unicode.size(), 19u + 8u);
}

TEST(TopicForTest, DotsInsideNamesCannotCollide) {
  std::set<std::string> names = {
      TopicFor("ferry", "a.b", "c"), TopicFor("ferry", "a", "b.c"), TopicFor("ferry", "a_b", "c"),
      TopicFor("ferry", "a", "b_c"), TopicFor("ferry", "a b", "c"),
  };
  EXPECT_EQ(names.size(), 5u);
  EXPECT_EQ(TopicFor("ferry", "a_b", "c"), "ferry.a_b.c");
}

TEST(TopicForTest, LongNamesAreCutTo249WithAHash) {
  std::string table_a(300, 'a');
  std::string table_b = table_a + "b";
  std::string a = TopicFor("ferry", "public", table_a);
  std::string b = TopicFor("ferry", "public", table_b);
  EXPECT_EQ(a.size(), 249u);
  EXPECT_EQ(b.size(), 249u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a[240], '-');

  // Exactly at the limit: unchanged.
  std::string fits(249 - std::string("ferry.public.").size(), 'x');
  EXPECT_EQ(TopicFor("ferry", "public", fits), "ferry.public." + fits);
}

TEST(TopicForTest, OnlyLegalCharactersComeOut) {
  std::string name = TopicFor("fe rry", "s\"chema", "t/a\\ble\n");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    EXPECT_TRUE(ok) << "'" << c << "' in " << name;
  }
}

TEST(EncodeRowKeyTest, KeyColumnsInKeyOrder) {
  EXPECT_EQ(EncodeRowKey({{"id", "42"}, {"region", "eu"}}), R"({"id":"42","region":"eu"})");
  EXPECT_EQ(EncodeRowKey({{"region", "eu"}, {"id", "42"}}), R"({"region":"eu","id":"42"})");
  EXPECT_EQ(EncodeRowKey({}), "{}");
}

TEST(EncodeRowKeyTest, NullValues) {
  EXPECT_EQ(EncodeRowKey({{"id", "1"}, {"tenant", std::nullopt}}), R"({"id":"1","tenant":null})");
  // The text "null" is a string, not null.
  EXPECT_EQ(EncodeRowKey({{"tenant", "null"}}), R"({"tenant":"null"})");
}

TEST(EncodeRowKeyTest, EscapesQuotesControlsAndUnicode) {
  EXPECT_EQ(EncodeRowKey({{"na\"me", "say \"hi\"\\"}}), R"({"na\"me":"say \"hi\"\\"})");
  EXPECT_EQ(EncodeRowKey({{"k", "a\nb\tc"}}), R"({"k":"a\nb\tc"})");
  EXPECT_EQ(EncodeRowKey({{"k", "caf\xc3\xa9"}}), R"({"k":"caf\u00e9"})");
  EXPECT_EQ(EncodeRowKey({{"k", "\xf0\x9f\x98\x80"}}), R"({"k":"\ud83d\ude00"})");
}

TEST(EncodeRowKeyTest, SameInputSameBytes) {
  std::vector<KeyValue> key = {{"id", "7"}, {"name", "Zo\xc3\xab"}, {"x", std::nullopt}};
  std::string first = EncodeRowKey(key);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(EncodeRowKey(key), first);
}

// Keys already in Kafka must keep their bytes: every single byte, alone and
// among plain text, encodes as the JSON library encodes it.
TEST(EncodeRowKeyTest, EveryByteEncodesAsTheJsonLibraryDoes) {
  auto library = [](const std::string& s) {
    return nlohmann::json(s).dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
  };
  for (int b = 0; b < 256; ++b) {
    const std::string byte(1, static_cast<char>(b));
    for (const std::string& s : {byte, "id " + byte + " 42"}) {
      EXPECT_EQ(EncodeRowKey({{"k", s}}), "{\"k\":" + library(s) + "}") << "byte " << b;
    }
  }
}

TEST(EncodeRowKeyTest, InvalidUtf8DoesNotThrow) {
  std::string key = EncodeRowKey({{"k", "\xff\xfe"}});
  EXPECT_EQ(key, EncodeRowKey({{"k", "\xff\xfe"}}));
  EXPECT_EQ(key.front(), '{');
}

// One origin per pipeline, named from its topic prefix, recognisable as ferry's
// and short enough for PostgreSQL's views.
TEST(ReplicationOriginNameTest, FromThePrefixAndAlwaysFerrys) {
  EXPECT_EQ(ReplicationOriginName("ferry"), "ferry_ferry");
  EXPECT_EQ(ReplicationOriginName("prod.orders_reverse"), "ferry_prod.orders_reverse");
  EXPECT_EQ(ReplicationOriginName("a b"), "ferry_a_b");
  std::string long_name = ReplicationOriginName(std::string(200, 'x'));
  EXPECT_EQ(long_name.size(), 63u);
  EXPECT_NE(long_name, ReplicationOriginName(std::string(201, 'x')));
  EXPECT_TRUE(IsFerryOrigin(ReplicationOriginName("ferry")));
  EXPECT_TRUE(IsFerryOrigin(long_name));
  EXPECT_FALSE(IsFerryOrigin("pg_16384"));
  EXPECT_FALSE(IsFerryOrigin("ferry"));
}

}  // namespace
}  // namespace ferry::transport
