// Status and Result<T>: errors as values, after LevelDB's Status.
//
// A Status is cheap when OK (no allocation). Errors carry a code that says how
// a caller should react (IsRetriable: try again later; anything else: stop or
// park) and a message that names what failed and how to fix it.
//
// Thread-safety: values; copy freely.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ferry {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,  // bad input from the user or config: fix and rerun
    kNotFound,
    kCorruption,   // malformed bytes off the wire or from storage
    kIOError,      // local I/O (RocksDB, files)
    kUnavailable,  // a server is unreachable or busy: retriable
    kDataLoss,     // events we needed are gone (e.g. evicted from Kafka)
    kAborted,      // stopped on request (signal)
    kInternal,     // a bug or an unexpected server answer
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status DataLoss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
  static Status Aborted(std::string m) { return {Code::kAborted, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsRetriable() const { return code_ == Code::kUnavailable; }
  bool IsAborted() const { return code_ == Code::kAborted; }

  // "Corruption: <message>"
  std::string ToString() const;

  // Prefixes the message with context, keeping the code: "decoding Insert: <msg>".
  Status WithContext(const std::string& context) const;

  // Makes dropping an error explicit and greppable (RocksDB's habit).
  void PermitUncheckedError() const {}

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // OK when holding a value.
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ferry

// Early-return helpers; keep call sites flat.
#define FERRY_RETURN_IF_ERROR(expr)           \
  do {                                        \
    ::ferry::Status _st = (expr);             \
    if (!_st.ok()) return _st;                \
  } while (0)

#define FERRY_CONCAT_INNER(a, b) a##b
#define FERRY_CONCAT(a, b) FERRY_CONCAT_INNER(a, b)
#define FERRY_ASSIGN_OR_RETURN(lhs, expr) \
  FERRY_ASSIGN_OR_RETURN_IMPL(FERRY_CONCAT(_res_, __LINE__), lhs, expr)
#define FERRY_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
