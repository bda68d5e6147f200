#include "sem_table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <thread>
#include <utility>
#include <vector>

namespace lambshm {
namespace {

// Fake mappings: distinct, page-aligned addresses (never dereferenced).
sem_t* fake(uint64_t i) { return reinterpret_cast<sem_t*>((i + 1) << 12); }

// A table that lives as long as the process, as the library's one does: a
// SemTable never frees its arrays (no destructor may run at exit while other
// threads still use semaphores), so a table on the stack would leak them.
SemTable& fresh_table() {
  static auto* tables = new std::deque<SemTable>;  // never destroyed; never moves them
  return tables->emplace_back();
}

sem_t* insert(SemTable& t, dev_t dev, ino_t ino, sem_t* s) {
  EXPECT_TRUE(t.reserve());
  return t.insert(dev, ino, s);
}

TEST(SemTable, AcquireFindsByInodeAndCounts) {
  SemTable& t = fresh_table();
  EXPECT_EQ(t.acquire(1, 2), nullptr);
  EXPECT_EQ(insert(t, 1, 2, fake(0)), fake(0));
  EXPECT_EQ(t.acquire(1, 2), fake(0));
  EXPECT_EQ(t.acquire(2, 1), nullptr);  // device and inode are not interchangeable
  bool unmap = true;
  EXPECT_EQ(t.release(fake(0), &unmap), 0);
  EXPECT_FALSE(unmap);
  EXPECT_EQ(t.release(fake(0), &unmap), 0);
  EXPECT_TRUE(unmap);
  EXPECT_EQ(t.release(fake(0), &unmap), -EINVAL);
  EXPECT_EQ(t.size(), 0u);
}

TEST(SemTable, ReleaseOfAnUnknownPointerIsEinval) {
  SemTable& t = fresh_table();
  bool unmap;
  EXPECT_EQ(t.release(nullptr, &unmap), -EINVAL);
  EXPECT_EQ(t.release(fake(7), &unmap), -EINVAL);
  insert(t, 1, 1, fake(1));
  EXPECT_EQ(t.release(fake(7), &unmap), -EINVAL);
}

TEST(SemTable, InsertOfAKeyAddedMeanwhileReturnsTheExistingMapping) {
  SemTable& t = fresh_table();
  insert(t, 5, 5, fake(1));
  EXPECT_EQ(insert(t, 5, 5, fake(2)), fake(1));  // the caller unmaps fake(2)
  bool unmap;
  EXPECT_EQ(t.release(fake(2), &unmap), -EINVAL);
  EXPECT_EQ(t.release(fake(1), &unmap), 0);
  EXPECT_FALSE(unmap);
  EXPECT_EQ(t.release(fake(1), &unmap), 0);
  EXPECT_TRUE(unmap);
}

// Random operations against std::map, through growth and many deletions
// (backward-shift deletion must keep every remaining entry reachable).
TEST(SemTable, MatchesAReferenceModelUnderRandomOperations) {
  SemTable& t = fresh_table();
  std::map<std::pair<uint64_t, uint64_t>, std::pair<sem_t*, int>> model;
  std::mt19937_64 rng(12345);
  uint64_t next = 0;
  for (int step = 0; step < 200000; ++step) {
    uint64_t dev = rng() % 3, ino = rng() % 5000;
    auto key = std::make_pair(dev, ino);
    switch (rng() % 3) {
      case 0: {  // open
        sem_t* got = t.acquire(dev, ino);
        auto it = model.find(key);
        if (it == model.end()) {
          ASSERT_EQ(got, nullptr);
          sem_t* s = fake(next++);
          ASSERT_EQ(insert(t, dev, ino, s), s);
          model[key] = {s, 1};
        } else {
          ASSERT_EQ(got, it->second.first);
          it->second.second++;
        }
        break;
      }
      case 1:
      case 2: {  // close something that is open
        if (model.empty()) break;
        auto it = model.lower_bound(key);
        if (it == model.end()) it = model.begin();
        bool unmap;
        ASSERT_EQ(t.release(it->second.first, &unmap), 0);
        ASSERT_EQ(unmap, --it->second.second == 0);
        if (unmap) model.erase(it);
        break;
      }
    }
    if (step % 10000 == 0) {
      ASSERT_EQ(t.size(), model.size());
      for (auto& [k, v] : model) {
        ASSERT_EQ(t.acquire(k.first, k.second), v.first);
        bool unmap;
        ASSERT_EQ(t.release(v.first, &unmap), 0);
      }
    }
  }
}

TEST(SemTable, HoldsAHundredThousandEntries) {
  SemTable& t = fresh_table();
  constexpr uint64_t kN = 100000;
  for (uint64_t i = 0; i < kN; ++i) ASSERT_EQ(insert(t, 9, i, fake(i)), fake(i));
  EXPECT_EQ(t.size(), kN);
  for (uint64_t i = 0; i < kN; i += 7) ASSERT_EQ(t.acquire(9, i), fake(i));
  bool unmap;
  for (uint64_t i = 0; i < kN; ++i) {
    if (i % 7 == 0) {
      ASSERT_EQ(t.release(fake(i), &unmap), 0);
    }
    ASSERT_EQ(t.release(fake(i), &unmap), 0);
    ASSERT_TRUE(unmap);
  }
  EXPECT_EQ(t.size(), 0u);
}

TEST(SemTable, ReservationsAreHonouredUnderConcurrency) {
  SemTable& t = fresh_table();
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&t, th] {
      for (uint64_t i = 0; i < 20000; ++i) {
        ASSERT_TRUE(t.reserve());
        if (i % 3 == 0) {
          t.unreserve();
          continue;
        }
        sem_t* s = fake(th * 1000000 + i);
        ASSERT_EQ(t.insert(th, i, s), s);
        bool unmap;
        if (i % 2 == 0) {
          ASSERT_EQ(t.release(s, &unmap), 0);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  size_t expected = 0;
  for (uint64_t i = 0; i < 20000; ++i) expected += (i % 3 != 0 && i % 2 != 0);
  EXPECT_EQ(t.size(), 4 * expected);
}

}  // namespace
}  // namespace lambshm
