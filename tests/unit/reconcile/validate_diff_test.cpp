// DiffDigests: how two digest lists become missing/extra/different rows.
#include "reconcile/validate_diff.h"

#include <gtest/gtest.h>

namespace ferry::reconcile {
namespace {

TEST(DiffDigestsTest, ClassifiesByKeyAndContent) {
  std::vector<RowDigest> source{{{"1"}, "a"}, {{"2"}, "b"}, {{"3"}, "c"}};
  std::vector<RowDigest> target{{{"0"}, "z"}, {{"2"}, "B"}, {{"3"}, "c"}};
  EXPECT_EQ(DiffDigests(source, target),
            (std::vector<RowMismatch>{{{"1"}, RowProblem::kMissing},
                                      {{"2"}, RowProblem::kDifferent},
                                      {{"0"}, RowProblem::kExtra}}));
}

TEST(DiffDigestsTest, CompositeKeysAreNotConfusedByTheirText) {
  std::vector<RowDigest> source{{{"a:", "b"}, "x"}};
  std::vector<RowDigest> target{{{"a", ":b"}, "x"}};
  EXPECT_EQ(DiffDigests(source, target).size(), 2u);
}

// A keyless table's "key" is the row text: duplicates count.
TEST(DiffDigestsTest, CountsDuplicateRowsAsAMultiset) {
  std::vector<RowDigest> source{{{"(1)"}, "h"}, {{"(1)"}, "h"}, {{"(1)"}, "h"}, {{"(2)"}, "i"}};
  std::vector<RowDigest> target{{{"(1)"}, "h"}, {{"(2)"}, "i"}, {{"(2)"}, "i"}};
  EXPECT_EQ(DiffDigests(source, target),
            (std::vector<RowMismatch>{{{"(1)"}, RowProblem::kMissing},
                                      {{"(1)"}, RowProblem::kMissing},
                                      {{"(2)"}, RowProblem::kExtra}}));
}

TEST(DiffDigestsTest, EqualListsInAnyOrderMatch) {
  std::vector<RowDigest> source{{{"1"}, "a"}, {{"2"}, "b"}};
  std::vector<RowDigest> target{{{"2"}, "b"}, {{"1"}, "a"}};
  EXPECT_TRUE(DiffDigests(source, target).empty());
}

}  // namespace
}  // namespace ferry::reconcile
