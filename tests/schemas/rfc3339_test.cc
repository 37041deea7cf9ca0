// FormatRfc3339 / ParseRfc3339 (declared in schemas/event_json.h).

#include <string>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "schemas/event_json.h"

namespace wake {
namespace {

absl::Time Micros(int64_t us) { return absl::FromUnixMicros(us); }

TEST(Rfc3339Test, FormatsUtcWithSixFractionDigits) {
  EXPECT_EQ(FormatRfc3339(Micros(1'763'809'706'123'456)), "2025-11-22T11:08:26.123456Z");
  EXPECT_EQ(FormatRfc3339(absl::UnixEpoch()), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339(Micros(-1)), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatRfc3339(Micros(951'782'400'000'001)), "2000-02-29T00:00:00.000001Z");  // leap day
  // Sub-microsecond parts are truncated, never rounded up into the next microsecond.
  EXPECT_EQ(FormatRfc3339(Micros(5) + absl::Nanoseconds(999)), "1970-01-01T00:00:00.000005Z");
}

TEST(Rfc3339Test, ParsesOffsetsAndAnyFractionLength) {
  const absl::Time t = Micros(1'763'809'706'123'456);
  EXPECT_EQ(ParseRfc3339("2025-11-22T11:08:26.123456Z").value(), t);
  EXPECT_EQ(ParseRfc3339("2025-11-22t11:08:26.123456z").value(), t);
  EXPECT_EQ(ParseRfc3339("2025-11-22T12:08:26.123456+01:00").value(), t);
  EXPECT_EQ(ParseRfc3339("2025-11-22T05:38:26.123456-05:30").value(), t);
  EXPECT_EQ(ParseRfc3339("2025-11-22T11:08:26.123456+00:00").value(), t);
  EXPECT_EQ(ParseRfc3339("2025-11-22T11:08:26Z").value(), Micros(1'763'809'706'000'000));
  EXPECT_EQ(ParseRfc3339("2025-11-22T11:08:26.1Z").value(), Micros(1'763'809'706'100'000));
  EXPECT_EQ(ParseRfc3339("2025-11-22T11:08:26.123456789Z").value(),
            t + absl::Nanoseconds(789));
  EXPECT_EQ(ParseRfc3339("2024-02-29T00:00:00Z").value(), absl::FromUnixSeconds(1'709'164'800));
  // A leap second reads as the first second of the next minute.
  EXPECT_EQ(ParseRfc3339("2016-12-31T23:59:60Z").value(), absl::FromUnixSeconds(1'483'228'800));
}

TEST(Rfc3339Test, FormatThenParseIsIdentityAtMicroseconds) {
  for (int64_t us : {int64_t{0}, int64_t{1}, int64_t{-1'000'001}, int64_t{1'763'809'706'123'456},
                     int64_t{253'402'300'799'999'999}}) {
    EXPECT_EQ(ParseRfc3339(FormatRfc3339(Micros(us))).value(), Micros(us)) << us;
  }
}

TEST(Rfc3339Test, RejectsGarbage) {
  for (const char* bad : {
           "",
           "garbage",
           "2025-11-22",
           "2025-11-22T11:08:26",           // no offset
           "2025-11-22 11:08:26Z",          // space separator
           "2025-11-22T11:08Z",             // no seconds
           "2025-11-22T11:08:26.Z",         // '.' without digits
           "2025-11-22T11:08:26.1234567890Z",  // 10 fraction digits
           "2025-13-01T00:00:00Z",          // month 13
           "2025-00-01T00:00:00Z",
           "2025-02-29T00:00:00Z",          // not a leap year
           "2025-04-31T00:00:00Z",
           "2025-11-22T24:00:00Z",
           "2025-11-22T11:60:00Z",
           "2025-11-22T11:08:61Z",
           "2025-11-22T11:08:26+0100",      // offset without colon
           "2025-11-22T11:08:26+24:00",
           "2025-11-22T11:08:26+01:60",
           "2025-11-22T11:08:26ZZ",         // trailing characters
           "2025-11-22T11:08:26Z ",
           " 2025-11-22T11:08:26Z",
           "+2025-11-22T11:08:26Z",
           "20251-11-22T11:08:26Z",
           "2025-1-22T11:08:26Z",
           "2025-11-22T11:08:2xZ",
       }) {
    absl::StatusOr<absl::Time> t = ParseRfc3339(bad);
    EXPECT_FALSE(t.ok()) << "accepted \"" << bad << "\" as " << *t;
    if (!t.ok()) {
      EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_TRUE(absl::StrContains(t.status().message(), "invalid RFC 3339 time")) << t.status();
    }
  }
}

}  // namespace
}  // namespace wake
