// RFC 3339 timestamps (declared in schemas/event_json.h): `processed_at` on the wire.
//
// The parser is hand-written rather than absl::ParseTime because the grammar is small and must be
// exact: absl accepts forms RFC 3339 does not (e.g. signed or long years) and normalises invalid
// dates such as February 30 instead of rejecting them.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "schemas/event_json.h"
#include "base/strings.h"

namespace wake {
namespace {

// Parses exactly `n` ASCII digits at s[pos...] into *out. False when any is not a digit.
bool ParseDigits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// Writes `v` as exactly `width` decimal digits (zero-padded; REQUIRES 0 <= v < 10^width).
void AppendDigits(std::string& out, int64_t v, int width) {
  char buf[20];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, static_cast<size_t>(width));
}

}  // namespace

std::string FormatRfc3339(absl::Time t) {
  // Floor to microseconds, the precision wake keeps, then split into whole seconds and a
  // non-negative fraction (times before 1970 have a negative micros count).
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1'000'000;
  int64_t fraction = micros % 1'000'000;
  if (fraction < 0) {
    fraction += 1'000'000;
    --seconds;
  }
  const absl::CivilSecond cs = absl::ToCivilSecond(absl::FromUnixSeconds(seconds), absl::UTCTimeZone());
  std::string out;
  out.reserve(27);
  // Years outside 0..9999 are not representable in RFC 3339; they cannot come from ParseRfc3339 and
  // are clamped rather than printed in a form no parser accepts.
  AppendDigits(out, std::clamp<int64_t>(cs.year(), 0, 9999), 4);
  out.push_back('-');
  AppendDigits(out, cs.month(), 2);
  out.push_back('-');
  AppendDigits(out, cs.day(), 2);
  out.push_back('T');
  AppendDigits(out, cs.hour(), 2);
  out.push_back(':');
  AppendDigits(out, cs.minute(), 2);
  out.push_back(':');
  AppendDigits(out, cs.second(), 2);
  out.push_back('.');
  AppendDigits(out, fraction, 6);
  out.push_back('Z');
  return out;
}

absl::StatusOr<absl::Time> ParseRfc3339(std::string_view s) {
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid RFC 3339 time \"", ToAbsl(s.substr(0, 64)),
                                                   s.size() > 64 ? "..." : "", "\": ", ToAbsl(why)));
  };
  // date-time = YYYY-MM-DD "T" hh:mm:ss [.fraction] ("Z" / +hh:mm / -hh:mm)
  int year, month, day, hour, minute, second;
  if (!ParseDigits(s, 0, 4, &year) || s.size() < 19 || s[4] != '-' || !ParseDigits(s, 5, 2, &month) ||
      s[7] != '-' || !ParseDigits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
      !ParseDigits(s, 11, 2, &hour) || s[13] != ':' || !ParseDigits(s, 14, 2, &minute) ||
      s[16] != ':' || !ParseDigits(s, 17, 2, &second)) {
    return invalid("expected YYYY-MM-DDThh:mm:ss");
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) {
    return invalid("no such date");
  }
  // Second 60 is a leap second; like absl, treat it as the first second of the next minute.
  if (hour > 23 || minute > 59 || second > 60) return invalid("no such time of day");

  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (++digits > 9) return invalid("more than 9 fraction digits");
      nanos = nanos * 10 + (s[pos] - '0');
      ++pos;
    }
    if (digits == 0) return invalid("expected digits after '.'");
    for (int i = digits; i < 9; ++i) nanos *= 10;
  }

  int offset_seconds = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int off_hour, off_minute;
    if (!ParseDigits(s, pos + 1, 2, &off_hour) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !ParseDigits(s, pos + 4, 2, &off_minute) || off_hour > 23 || off_minute > 59) {
      return invalid("expected an offset like +hh:mm");
    }
    offset_seconds = (off_hour * 3600 + off_minute * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return invalid("expected 'Z' or an offset like +hh:mm");
  }
  if (pos != s.size()) return invalid("unexpected characters after the time");

  const absl::Time local =
      absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second), absl::UTCTimeZone());
  return local - absl::Seconds(offset_seconds) + absl::Nanoseconds(nanos);
}

}  // namespace wake
