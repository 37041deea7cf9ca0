#pragma once
// Large, short-lived buffers (a replayed session's events: ~600 bytes each, 60 MB for 100,000) come
// from fresh anonymous memory every time, and faulting it in 4 KiB pages costs more than decoding
// into it. Linux backs a range advised with MADV_HUGEPAGE with 2 MiB pages when transparent huge
// pages are in "madvise" mode (Debian's default), 512x fewer faults.

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace wake {

// Advises the kernel to back the 2 MiB-aligned part of [data, data + bytes) with huge pages. Only
// advice: a no-op for ranges under 2 MiB, without THP, or when the kernel declines. The memory must be
// the caller's (e.g. a vector's capacity), since the advice stays with those pages after it is freed.
inline void AdviseHugePages(const void* data, size_t bytes) {
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHugePage - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace wake
