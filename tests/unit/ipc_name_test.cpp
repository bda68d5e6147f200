#include "ipc_name.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace lambshm {
namespace {

struct Case {
  std::string name;
  const char* prefix;
  int result;
  std::string file;  // expected file name when result is 0
};

// gtest would otherwise print the struct's bytes, padding included (valgrind
// reports reading uninitialised memory).
void PrintTo(const Case& c, std::ostream* os) { *os << c.name.size() << "-byte name"; }

class IpcNameTest : public ::testing::TestWithParam<Case> {};

TEST_P(IpcNameTest, TranslatesOrRejects) {
  const Case& c = GetParam();
  IpcName out{};
  EXPECT_EQ(make_ipc_name(c.name.c_str(), c.prefix, &out), c.result) << "name: " << c.name;
  if (c.result == 0) {
    EXPECT_EQ(std::string(out.file), c.file);
    EXPECT_EQ(strlen(out.file), c.file.size());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Names, IpcNameTest,
    ::testing::Values(
        Case{"x", kShmPrefix, 0, "x"}, Case{"/x", kShmPrefix, 0, "x"},
        Case{"///x", kShmPrefix, 0, "x"}, Case{"/x", kSemPrefix, 0, "sem.x"},
        Case{"", kShmPrefix, -EINVAL, ""}, Case{"/", kShmPrefix, -EINVAL, ""},
        Case{"////", kSemPrefix, -EINVAL, ""}, Case{"a/b", kShmPrefix, -EINVAL, ""},
        Case{"/a/", kShmPrefix, -EINVAL, ""}, Case{".", kShmPrefix, -EINVAL, ""},
        Case{"/..", kSemPrefix, -EINVAL, ""}, Case{"...", kShmPrefix, 0, "..."},
        Case{".hidden", kShmPrefix, 0, ".hidden"},
        // The backing directory's marker is no object (ownership.h).
        Case{"/.lambshm-dir", kShmPrefix, -EINVAL, ""},
        Case{"/.lambshm-dir", kSemPrefix, 0, "sem..lambshm-dir"},
        Case{"\xff\xfe\x01\t name", kShmPrefix, 0, "\xff\xfe\x01\t name"},
        // NAME_MAX (255) is the limit of the file name, prefix included.
        Case{std::string(255, 'a'), kShmPrefix, 0, std::string(255, 'a')},
        Case{std::string(256, 'a'), kShmPrefix, -ENAMETOOLONG, ""},
        Case{"/" + std::string(255, 'a'), kShmPrefix, 0, std::string(255, 'a')},
        Case{std::string(251, 'a'), kSemPrefix, 0, "sem." + std::string(251, 'a')},
        Case{std::string(252, 'a'), kSemPrefix, -ENAMETOOLONG, ""},
        Case{std::string(4096, 'a'), kShmPrefix, -ENAMETOOLONG, ""},
        // An embedded slash is EINVAL even in a name that is also too long.
        Case{std::string(300, 'a') + "/b", kShmPrefix, -EINVAL, ""}));

TEST(IpcName, NullIsInvalid) {
  IpcName out{};
  EXPECT_EQ(make_ipc_name(nullptr, kShmPrefix, &out), -EINVAL);
}

}  // namespace
}  // namespace lambshm
