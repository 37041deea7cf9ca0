#include "sandbox/docker/internal/tar.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace wake::docker_internal {
namespace {

constexpr size_t kBlock = 512;

// Field offsets and widths of a ustar header.
constexpr size_t kNameOff = 0, kNameLen = 100;
constexpr size_t kModeOff = 100;
constexpr size_t kUidOff = 108;
constexpr size_t kGidOff = 116;
constexpr size_t kSizeOff = 124, kSizeLen = 12;
constexpr size_t kMtimeOff = 136;
constexpr size_t kChecksumOff = 148, kChecksumLen = 8;
constexpr size_t kTypeOff = 156;
constexpr size_t kLinkOff = 157, kLinkLen = 100;
constexpr size_t kMagicOff = 257;
constexpr size_t kPrefixOff = 345, kPrefixLen = 155;

size_t Padding(size_t size) { return (kBlock - size % kBlock) % kBlock; }

// Writes `value` as zero-padded octal filling `width - 1` digits and a NUL.
void PutOctal(char* field, size_t width, uint64_t value) {
  field[width - 1] = '\0';
  for (size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
}

uint32_t HeaderChecksum(const char* header) {
  uint32_t sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    const bool in_field = i >= kChecksumOff && i < kChecksumOff + kChecksumLen;
    sum += in_field ? static_cast<uint32_t>(' ') : static_cast<unsigned char>(header[i]);
  }
  return sum;
}

void AppendHeader(std::string& out, char type, std::string_view name, uint64_t size, uint32_t mode,
                  int64_t mtime) {
  char header[kBlock];
  std::memset(header, 0, sizeof(header));
  std::memcpy(header + kNameOff, name.data(), std::min(name.size(), kNameLen));
  PutOctal(header + kModeOff, 8, mode & 07777);
  PutOctal(header + kUidOff, 8, 0);
  PutOctal(header + kGidOff, 8, 0);
  PutOctal(header + kSizeOff, kSizeLen, size);
  PutOctal(header + kMtimeOff, 12, static_cast<uint64_t>(std::max<int64_t>(0, mtime)));
  header[kTypeOff] = type;
  std::memcpy(header + kMagicOff, "ustar\0" "00", 8);
  PutOctal(header + kChecksumOff, 7, HeaderChecksum(header));  // six digits, NUL, then the space
  header[kChecksumOff + 7] = ' ';
  out.append(header, kBlock);
}

void AppendData(std::string& out, std::string_view data) {
  out.append(data);
  out.append(Padding(data.size()), '\0');
}

// One PAX record, "<length> <key>=<value>\n", where <length> counts the whole record.
std::string PaxRecord(std::string_view key, std::string_view value) {
  const size_t rest = 1 + key.size() + 1 + value.size() + 1;  // " key=value\n"
  size_t length = rest + 1;
  while (std::to_string(length).size() + rest != length) length = std::to_string(length).size() + rest;
  return absl::StrCat(length, " ", ToAbsl(key), "=", ToAbsl(value), "\n");
}

// A NUL-terminated (or full-width) string field.
std::string_view Field(std::string_view header, size_t offset, size_t width) {
  std::string_view field = header.substr(offset, width);
  return field.substr(0, field.find('\0'));
}

// A numeric field: octal digits (space or NUL padded), or GNU base-256 when the high bit is set.
bool ParseNumber(std::string_view field, uint64_t* value) {
  *value = 0;
  if (!field.empty() && (static_cast<unsigned char>(field[0]) & 0x80) != 0) {
    if ((static_cast<unsigned char>(field[0]) & 0x40) != 0) return false;  // negative
    uint64_t v = static_cast<unsigned char>(field[0]) & 0x7f;
    for (size_t i = 1; i < field.size(); ++i) {
      if (v >> 56 != 0) return false;
      v = (v << 8) | static_cast<unsigned char>(field[i]);
    }
    *value = v;
    return true;
  }
  size_t i = 0;
  while (i < field.size() && field[i] == ' ') ++i;
  for (; i < field.size() && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (*value >> 60 != 0) return false;
    *value = (*value << 3) | static_cast<uint64_t>(field[i] - '0');
  }
  for (; i < field.size(); ++i) {
    if (field[i] != ' ' && field[i] != '\0') return false;
  }
  return true;
}

// Applies the records of a PAX header that matter here (path, linkpath, size).
bool ApplyPax(std::string_view records, std::string* path, std::string* linkpath, std::optional<uint64_t>* size) {
  while (!records.empty()) {
    const size_t space = records.find(' ');
    uint64_t length = 0;
    if (space == std::string_view::npos || !absl::SimpleAtoi(ToAbsl(records.substr(0, space)), &length) ||
        length <= space + 1 || length > records.size() || records[length - 1] != '\n') {
      return false;
    }
    const std::string_view record = records.substr(space + 1, length - space - 2);
    records.remove_prefix(length);
    const size_t eq = record.find('=');
    if (eq == std::string_view::npos) return false;
    const std::string_view key = record.substr(0, eq);
    const std::string_view value = record.substr(eq + 1);
    if (key == "path") {
      *path = std::string(value);
    } else if (key == "linkpath") {
      *linkpath = std::string(value);
    } else if (key == "size") {
      uint64_t n = 0;
      if (!absl::SimpleAtoi(ToAbsl(value), &n)) return false;
      *size = n;
    }
  }
  return true;
}

}  // namespace

std::string TarOneFile(std::string_view name, std::string_view content, uint32_t mode, int64_t mtime_seconds) {
  std::string out;
  out.reserve(content.size() + 4 * kBlock);
  if (name.size() > kNameLen) {
    const std::string records = PaxRecord("path", name);
    AppendHeader(out, 'x', "PaxHeader", records.size(), 0644, mtime_seconds);
    AppendData(out, records);
  }
  AppendHeader(out, '0', name, content.size(), mode, mtime_seconds);
  AppendData(out, content);
  out.append(2 * kBlock, '\0');  // the end-of-archive marker
  return out;
}

absl::StatusOr<TarEntry> FirstTarEntry(std::string_view archive) {
  std::string pax_path;
  std::string pax_link;
  std::optional<uint64_t> pax_size;
  size_t pos = 0;
  while (true) {
    if (pos + kBlock > archive.size()) return absl::DataLossError("tar archive cut short in a header");
    const std::string_view header = archive.substr(pos, kBlock);
    if (header.find_first_not_of('\0') == std::string_view::npos) {
      return absl::NotFoundError("tar archive holds no entry");
    }
    uint64_t checksum = 0;
    if (!ParseNumber(header.substr(kChecksumOff, kChecksumLen), &checksum) ||
        checksum != HeaderChecksum(header.data())) {
      return absl::DataLossError(absl::StrCat("tar header at offset ", pos, " has a bad checksum"));
    }
    uint64_t size = 0;
    uint64_t mode = 0;
    if (!ParseNumber(header.substr(kSizeOff, kSizeLen), &size) || !ParseNumber(header.substr(kModeOff, 8), &mode)) {
      return absl::DataLossError(absl::StrCat("tar header at offset ", pos, " has a malformed number"));
    }
    const char type = header[kTypeOff];
    if (pax_size && type != 'x' && type != 'g' && type != 'L' && type != 'K') size = *pax_size;
    pos += kBlock;
    if (size > archive.size() - pos) return absl::DataLossError("tar archive cut short in an entry's data");
    const std::string_view data = archive.substr(pos, size);
    pos += size + std::min<uint64_t>(Padding(size), archive.size() - pos - size);

    switch (type) {
      case 'x':  // PAX extended header for the next entry
        if (!ApplyPax(data, &pax_path, &pax_link, &pax_size)) return absl::DataLossError("malformed PAX header");
        continue;
      case 'g':  // PAX global header: nothing in it matters here
        continue;
      case 'L':  // GNU long name for the next entry
        pax_path = std::string(data.substr(0, data.find('\0')));
        continue;
      case 'K':  // GNU long link name
        pax_link = std::string(data.substr(0, data.find('\0')));
        continue;
      default:
        break;
    }
    TarEntry entry;
    entry.type = type == '\0' ? '0' : type;
    entry.mode = static_cast<uint32_t>(mode & 07777);
    if (!pax_path.empty()) {
      entry.name = pax_path;
    } else {
      entry.name = std::string(Field(header, kNameOff, kNameLen));
      const std::string_view prefix = Field(header, kPrefixOff, kPrefixLen);
      if (header.substr(kMagicOff, 5) == "ustar" && !prefix.empty()) {
        entry.name = absl::StrCat(ToAbsl(prefix), "/", entry.name);
      }
    }
    entry.link_target = !pax_link.empty() ? pax_link : std::string(Field(header, kLinkOff, kLinkLen));
    if (entry.type == '0' || entry.type == '7') entry.content = std::string(data);
    return entry;
  }
}

}  // namespace wake::docker_internal
