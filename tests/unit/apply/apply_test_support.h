// Shared by the apply tests: one throwaway target cluster for the whole test
// binary, and a builder for hand-made ChangeEvents.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apply/conflict_stats.h"
#include "tests/support/pg_cluster.h"
#include "transport/change_event.pb.h"

namespace ferry::apply::testing {

using ferry::v1::ChangeEvent;
using ferry::v1::Column;

// Every conflict rule, for TEST_P suites, named as --conflict spells them.
inline auto AllRules() {
  return ::testing::Values(ConflictRule::kReplace, ConflictRule::kMerge, ConflictRule::kNone);
}
inline std::string RuleName(const ::testing::TestParamInfo<ConflictRule>& info) {
  switch (info.param) {
    case ConflictRule::kReplace: return "replace";
    case ConflictRule::kMerge: return "merge";
    default: return "none";
  }
}

// Started on first use, stopped when the test binary exits. Tests that stop
// the server start their own cluster instead.
inline ferry::testing::PgCluster* SharedTarget() {
  static std::unique_ptr<ferry::testing::PgCluster> cluster = [] {
    auto c = ferry::testing::PgCluster::Start("apply", /*logical=*/false);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }();
  return cluster.get();
}

// Event("app", "t", OP_UPDATE).Key({"id"}).Text("id", "1").Toast("big").Build()
class Event {
 public:
  Event(const std::string& schema, const std::string& table, ferry::v1::Operation op) {
    e_.set_schema(schema);
    e_.set_table(table);
    e_.set_op(op);
    e_.set_commit_lsn(0x1'0000'ABCDull);
  }
  Event& Key(const std::vector<std::string>& names) {
    for (const auto& n : names) e_.add_key_columns(n);
    return *this;
  }
  Event& Text(const std::string& name, const std::string& value) {
    return Add(e_.add_columns(), name, Column::KIND_TEXT, value);
  }
  Event& Null(const std::string& name) {
    return Add(e_.add_columns(), name, Column::KIND_NULL, "");
  }
  Event& Toast(const std::string& name) {
    return Add(e_.add_columns(), name, Column::KIND_UNCHANGED_TOAST, "");
  }
  Event& Binary(const std::string& name, const std::string& value) {
    return Add(e_.add_columns(), name, Column::KIND_BINARY, value);
  }
  // An old key column (delete, key-changing update).
  Event& OldText(const std::string& name, const std::string& value) {
    if (e_.old_tuple() == ChangeEvent::OLD_NONE) e_.set_old_tuple(ChangeEvent::OLD_KEY);
    return Add(e_.add_old_columns(), name, Column::KIND_TEXT, value);
  }
  Event& OldNull(const std::string& name) {
    if (e_.old_tuple() == ChangeEvent::OLD_NONE) e_.set_old_tuple(ChangeEvent::OLD_KEY);
    return Add(e_.add_old_columns(), name, Column::KIND_NULL, "");
  }
  Event& KeyChanged() {
    e_.set_key_changed(true);
    return *this;
  }
  Event& At(uint64_t commit_lsn, uint32_t index_in_tx) {
    e_.set_commit_lsn(commit_lsn);
    e_.set_index_in_tx(index_in_tx);
    return *this;
  }
  Event& TruncateOptions(bool cascade, bool restart_identity) {
    e_.mutable_truncate()->set_cascade(cascade);
    e_.mutable_truncate()->set_restart_identity(restart_identity);
    return *this;
  }
  ChangeEvent Build() const { return e_; }
  operator ChangeEvent() const { return e_; }  // NOLINT: reads well in vectors

 private:
  Event& Add(Column* c, const std::string& name, Column::Kind kind, const std::string& value) {
    c->set_name(name);
    c->set_kind(kind);
    c->set_value(value);
    c->set_is_key(std::find(e_.key_columns().begin(), e_.key_columns().end(), name) !=
                  e_.key_columns().end());
    return *this;
  }
  ChangeEvent e_;
};

// Shorthands for the common single-key (id) shapes.
inline Event Insert(const std::string& table, const std::string& id) {
  return Event("app", table, ferry::v1::OP_INSERT).Key({"id"}).Text("id", id);
}
inline Event Update(const std::string& table, const std::string& id) {
  return Event("app", table, ferry::v1::OP_UPDATE).Key({"id"}).Text("id", id);
}
inline Event Delete(const std::string& table, const std::string& id) {
  return Event("app", table, ferry::v1::OP_DELETE).Key({"id"}).OldText("id", id);
}

}  // namespace ferry::apply::testing
