// The bounded pool refuses work when full and runs everything it accepted.
#include "server/core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>

#include "absl/synchronization/notification.h"

namespace hybrid::server {
namespace {

TEST(ThreadPool, RefusesWhenFullAndDrainsOnDestruction) {
  absl::Notification release;
  std::atomic<int> ran{0};
  {
    ThreadPool pool(/*threads=*/1, /*capacity=*/2);
    absl::Notification started;
    ASSERT_TRUE(pool.TrySchedule([&] {
      started.Notify();
      release.WaitForNotification();
      ++ran;
    }));
    started.WaitForNotification();  // The thread is busy; the queue is empty.
    EXPECT_TRUE(pool.TrySchedule([&] { ++ran; }));
    EXPECT_TRUE(pool.TrySchedule([&] { ++ran; }));
    EXPECT_FALSE(pool.TrySchedule([&] { ++ran; }));  // Capacity 2 reached.
    EXPECT_EQ(pool.queued(), 2u);
    release.Notify();
  }
  EXPECT_EQ(ran.load(), 3);
}

}  // namespace
}  // namespace hybrid::server
