// A target table for tests of the COPY paths (copy_run_test.cpp,
// row_batches_test.cpp): t (id key, v text with a CHECK refusing 'refused',
// n numeric, note with a default, g generated), and an ALWAYS trigger that
// logs how each write came (COPY or INSE).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apply/conflict_stats.h"
#include "common/copy_text.h"
#include "common/lz4_block.h"
#include "tests/unit/apply/apply_test_support.h"

namespace ferry::apply::testing {

// Values COPY's text format must escape, and some it must not touch.
inline const std::vector<std::string> kAwkward = {"tab\there", "new\nline", "carriage\rreturn", "back\\slash",
                                                  "\\N",       "",          "quote \" and 'single'", "ünïcødé ✓",
                                                  "\\.",       "end\\"};

// `rows` events of schema.t, `op(i)` for id i (from 1), with awkward values
// among them; the one of id `refused_at` has a value the CHECK refuses, and
// `with_g` gives each a value for g, which the target computes.
inline std::vector<ferry::v1::ChangeEvent> AwkwardRows(const std::string& schema, int rows,
                                                       const std::function<ferry::v1::Operation(int)>& op,
                                                       const std::string& refused_at = "", bool with_g = false) {
  std::vector<ferry::v1::ChangeEvent> out;
  for (int i = 1; i <= rows; ++i) {
    const std::string id = std::to_string(i);
    Event e(schema, "t", op(i));
    e.Key({"id"}).Text("id", id);
    if (id == refused_at) {
      e.Text("v", "refused");
    } else if (i % 7 == 0) {
      e.Null("v");
    } else {
      e.Text("v", kAwkward[i % kAwkward.size()] + id);
    }
    e.Text("n", std::to_string(i % 100) + ".25");
    if (with_g) e.Text("g", "0");
    out.push_back(e.Build());
  }
  return out;
}

class CopyTargetTest : public ::testing::TestWithParam<ConflictRule> {
 protected:
  void SetUp() override {
    cluster_ = SharedTarget();
    ASSERT_NE(cluster_, nullptr);
  }

  // A fresh schema holding table t; `existing` ids are there already.
  void MakeSchema(const std::string& schema, const std::string& existing = "") {
    cluster_->Sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " +
                  schema + "; CREATE TABLE " + schema +
                  ".t (id int PRIMARY KEY, v text, n numeric(6,2), note text DEFAULT 'dflt', "
                  "g int GENERATED ALWAYS AS (id * 2) STORED, CHECK (v IS DISTINCT FROM 'refused'));"
                  "CREATE TABLE " + schema + ".log (query text);"
                  "CREATE FUNCTION " + schema + ".log_query() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                  "INSERT INTO " + schema + ".log VALUES (left(current_query(), 4)); RETURN NULL; END $$;"
                  "CREATE TRIGGER log AFTER INSERT ON " + schema + ".t FOR EACH STATEMENT EXECUTE FUNCTION " +
                  schema + ".log_query(); ALTER TABLE " + schema + ".t ENABLE ALWAYS TRIGGER log");
    if (!existing.empty()) {
      cluster_->Sql("INSERT INTO " + schema + ".t (id, v, note) SELECT i, 'target', 'mine' FROM unnest('{" +
                    existing + "}'::int[]) i; TRUNCATE " + schema + ".log");
    }
  }

  // The rows of schema.t, as a checksum and a count.
  std::string Rows(const std::string& schema) {
    return cluster_->Sql("SELECT md5(string_agg(t::text, '|' ORDER BY id)) || ' ' || count(*) FROM " + schema + ".t t");
  }
  // How the writes into schema.t came: "COPY", "INSE", or both.
  std::string Log(const std::string& schema) {
    return cluster_->Sql("SELECT coalesce(string_agg(DISTINCT query, ','), '') FROM " + schema + ".log");
  }

  ferry::testing::PgCluster* cluster_ = nullptr;
};

// The same rows as row batches (`op`: OP_READ_ROWS or OP_INSERT_ROWS) of
// `per_batch` rows, as capture writes them: every other one LZ4-compressed.
inline std::vector<ferry::v1::ChangeEvent> RowBatches(const std::vector<ferry::v1::ChangeEvent>& reads,
                                                      size_t per_batch, ferry::v1::Operation op) {
  std::vector<ferry::v1::ChangeEvent> out;
  for (size_t at = 0; at < reads.size(); at += per_batch) {
    ferry::v1::ChangeEvent b = reads[at];
    b.set_op(op);
    for (auto& c : *b.mutable_columns()) {
      c.clear_value();
      c.clear_kind();
    }
    for (size_t i = at; i < std::min(reads.size(), at + per_batch); ++i) {
      for (int c = 0; c < reads[i].columns_size(); ++c) {
        const auto& col = reads[i].columns(c);
        if (c > 0) *b.mutable_copy_rows() += '\t';
        AppendCopyValue(*b.mutable_copy_rows(), col.kind() == ferry::v1::Column::KIND_NULL
                                                     ? std::nullopt
                                                     : std::optional<std::string_view>(col.value()));
      }
      *b.mutable_copy_rows() += '\n';
      b.set_row_count(b.row_count() + 1);
    }
    std::string block;
    if (out.size() % 2 == 1 && Lz4Compress(b.copy_rows(), block)) {
      b.set_copy_rows_lz4_size(static_cast<uint32_t>(b.copy_rows().size()));
      b.set_copy_rows(block);
    }
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace ferry::apply::testing
