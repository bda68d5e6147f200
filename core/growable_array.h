// A growable array of trivially copyable T, on malloc: for code that ships
// without a C++ runtime (the keeper, the core) and for the command's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

namespace lambshm {

template <typename T>
class GrowableArray {
  static_assert(std::is_trivially_copyable_v<T>, "moved with realloc");

 public:
  GrowableArray() = default;
  ~GrowableArray() { free(items_); }
  GrowableArray(GrowableArray&& o) noexcept : items_(o.items_), size_(o.size_), capacity_(o.capacity_) {
    o.items_ = nullptr;
    o.size_ = o.capacity_ = 0;
  }
  GrowableArray& operator=(GrowableArray&& o) noexcept {
    if (this != &o) {
      free(items_);
      items_ = o.items_;
      size_ = o.size_;
      capacity_ = o.capacity_;
      o.items_ = nullptr;
      o.size_ = o.capacity_ = 0;
    }
    return *this;
  }
  GrowableArray(const GrowableArray&) = delete;
  GrowableArray& operator=(const GrowableArray&) = delete;

  // Room for `n` items in all, by doubling: false when memory is short (the
  // array is then unchanged).
  bool reserve(size_t n) {
    if (n <= capacity_) return true;
    size_t capacity = capacity_ != 0 ? capacity_ : 8;
    while (capacity < n) {
      if (capacity > SIZE_MAX / 2 / sizeof(T)) return false;
      capacity *= 2;
    }
    auto* grown = static_cast<T*>(realloc(items_, capacity * sizeof(T)));
    if (grown == nullptr) return false;
    items_ = grown;
    capacity_ = capacity;
    return true;
  }
  bool push(const T& item) {
    if (!reserve(size_ + 1)) return false;
    items_[size_++] = item;
    return true;
  }
  // Removes item i; the last takes its place (order is not kept).
  void remove_at(size_t i) { items_[i] = items_[--size_]; }
  void clear() { size_ = 0; }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return items_; }
  T& operator[](size_t i) { return items_[i]; }
  const T& operator[](size_t i) const { return items_[i]; }
  T* begin() { return items_; }
  T* end() { return items_ + size_; }
  const T* begin() const { return items_; }
  const T* end() const { return items_ + size_; }

 private:
  T* items_ = nullptr;
  size_t size_ = 0, capacity_ = 0;
};

}  // namespace lambshm
