#include "common/copy_text.h"

namespace ferry {

namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool OctalDigit(char c) { return c >= '0' && c <= '7'; }

// Decodes one escaped value (no tab or newline inside).
Result<std::string> Unescape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\') {
      out += v[i];
      continue;
    }
    if (++i == v.size()) return Status::InvalidArgument("a value ends in a lone backslash");
    const char c = v[i];
    switch (c) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x': {
        int value = 0;
        int digits = 0;
        for (; digits < 2 && i + 1 < v.size() && HexDigit(v[i + 1]) >= 0; ++digits) {
          value = value * 16 + HexDigit(v[++i]);
        }
        out += digits == 0 ? 'x' : static_cast<char>(value);  // as PostgreSQL: \x without a digit is x
        break;
      }
      default:
        if (OctalDigit(c)) {
          int value = c - '0';
          for (int digits = 1; digits < 3 && i + 1 < v.size() && OctalDigit(v[i + 1]); ++digits) {
            value = value * 8 + (v[++i] - '0');
          }
          out += static_cast<char>(value & 0xff);
        } else {
          out += c;  // any other escaped character stands for itself
        }
    }
  }
  return out;
}

}  // namespace

void AppendCopyValue(std::string& out, std::optional<std::string_view> value) {
  if (!value) {
    out += "\\N";
    return;
  }
  size_t plain = 0;  // copies runs of ordinary bytes at once
  for (size_t i = 0; i < value->size(); ++i) {
    const char ch = (*value)[i];
    const char* escape = nullptr;
    switch (ch) {
      case '\\': escape = "\\\\"; break;
      case '\n': escape = "\\n"; break;
      case '\r': escape = "\\r"; break;
      case '\t': escape = "\\t"; break;
      default: continue;
    }
    out.append(value->data() + plain, i - plain);
    out += escape;
    plain = i + 1;
  }
  out.append(value->data() + plain, value->size() - plain);
}

Status ReadCopyRows(std::string_view data, size_t columns, const std::function<Status(CopyRow&)>& row) {
  CopyRow values;
  size_t number = 0;
  while (!data.empty()) {
    ++number;
    const size_t eol = data.find('\n');
    if (eol == std::string_view::npos) {
      return Status::InvalidArgument("COPY row " + std::to_string(number) + " has no newline at its end");
    }
    std::string_view line = data.substr(0, eol);
    data.remove_prefix(eol + 1);
    values.clear();
    while (columns > 0 || !line.empty()) {  // a table without columns has empty rows
      const size_t tab = line.find('\t');
      std::string_view v = line.substr(0, tab);
      if (v == "\\N") {
        values.emplace_back(std::nullopt);
      } else {
        Result<std::string> text = Unescape(v);
        if (!text.ok()) return text.status().WithContext("COPY row " + std::to_string(number));
        values.emplace_back(std::move(*text));
      }
      if (tab == std::string_view::npos) break;
      line.remove_prefix(tab + 1);
    }
    if (values.size() != columns) {
      return Status::InvalidArgument("COPY row " + std::to_string(number) + " has " + std::to_string(values.size()) +
                                     " values, not " + std::to_string(columns));
    }
    FERRY_RETURN_IF_ERROR(row(values));
  }
  return Status::OK();
}

}  // namespace ferry
