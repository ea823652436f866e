// The tape's address-keyed gradient regions: slices of one buffer share its gradient, unknown
// addresses get their own region, straddling slices are rejected, nodes run in reverse order,
// and buffers are reused after clear() (same sizes, no new allocations).
#include <gtest/gtest.h>

#include <vector>

#include "autograd/tape.h"
#include "core/check.h"

namespace r1::autograd {
namespace {

TEST(Tape, SlicesShareTheBufferGradient) {
  Tape t;
  float* a = t.alloc(10);
  float* g = t.grad(a, 10);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(g[i], 0.0f);
  float* gs = t.grad(a + 4, 3);
  EXPECT_EQ(gs, g + 4);
  EXPECT_EQ(t.grad_if(a + 9), g + 9);
  EXPECT_THROW(t.grad(a + 8, 5), CheckError);  // runs past the buffer
}

TEST(Tape, ParamsAndUnknownBuffers) {
  Tape t;
  std::vector<float> w(6, 1.0f), gw(6, 0.0f), other(4, 0.0f);
  t.add_param(w.data(), 6, gw.data());
  EXPECT_EQ(t.grad(w.data() + 2, 2), gw.data() + 2);
  EXPECT_EQ(t.grad_if(other.data()), nullptr);
  float* go = t.grad(other.data(), 4);
  ASSERT_NE(go, nullptr);
  EXPECT_EQ(t.grad_if(other.data() + 1), go + 1);
  t.clear();
  EXPECT_EQ(t.grad(w.data(), 6), gw.data());  // parameters survive clear()
}

TEST(Tape, BackwardRunsNodesInReverseAndReusesBuffers) {
  Tape t;
  std::vector<int> order;
  t.record([&] { order.push_back(1); });
  t.record([&] { order.push_back(2); });
  float* a = t.alloc(100);
  t.grad(a, 100)[5] = 3.0f;
  t.backward();
  EXPECT_EQ(order, (std::vector<int>{2, 1}));
  EXPECT_EQ(t.n_nodes(), 0);
  t.clear();
  float* b = t.alloc(100);
  float* gb = t.grad(b, 100);
  EXPECT_EQ(gb[5], 0.0f);  // a reused gradient buffer is zeroed again
  EXPECT_TRUE(b == a || gb == a);  // one of the two freed buffers came back
}

TEST(Tape, ReusesALargerFreeBufferForAVaryingSize) {
  // The rows routed to an expert change every step: a buffer of up to twice the size asked for
  // is reused (its gradient region still has the size asked for), a much larger one is not.
  Tape t;
  float* a = t.alloc(1000);
  t.clear();
  float* b = t.alloc(900);
  EXPECT_EQ(b, a);
  float* gb = t.grad(b, 900);
  gb[899] = 1.0f;
  t.clear();
  float* c = t.alloc(400);  // 1000-float buffers are free, but 1000 > 2 * 400
  EXPECT_NE(c, a);
  EXPECT_NE(c, gb);
  EXPECT_EQ(t.grad(c, 400)[0], 0.0f);
}

}  // namespace
}  // namespace r1::autograd
